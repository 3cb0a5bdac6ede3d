"""Patient rows reached through ``Patient.link`` (the Patient compartment's own parameter): a
registration linking to a patient the user may see is visible, one linking elsewhere is not, and a
label or a Consent refusal still hides it; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from test_access_matrix import V, as_user, ids, obs, put, treated


@pytest.fixture
def links(api: Any) -> Any:
    """p1 treated at org-a, p2 at org-b; q1 (no care relationship of its own) links to p1, q2 to p2,
    and q1v links to p1 but is very restricted."""
    for pid, org in (("p1", "org-a"), ("p2", "org-b")):
        treated(api, {"resourceType": "Patient", "id": pid, "name": [{"text": pid}]}, org)

    def linked(id: str, to: str, **more: Any) -> None:
        link = [{"other": {"reference": f"Patient/{to}"}, "type": "seealso"}]
        put(api, {"resourceType": "Patient", "id": id, "name": [{"text": id}], "link": link, **more})

    linked("q1", "p1")
    linked("q2", "p2")
    linked("q1v", "p1", meta={"security": [V]})
    return api


@pytest.mark.parametrize("path", ["/Patient", "/Patient?_summary=count"])
def test_a_clinician_sees_registrations_linked_to_their_patients(links: Any, path: str) -> None:
    clinician_a = as_user(links, "clinician", organization="org-a")
    r = clinician_a("GET", path)
    assert r.status_code == 200, r.text
    if path.endswith("count"):
        assert r.json()["total"] == 2
    else:
        assert ids(r.json()) == {"Patient/p1", "Patient/q1"}
    assert clinician_a("GET", "/Patient/q1").status_code == 200
    assert clinician_a("GET", "/Patient/q2").status_code in (403, 404)
    assert clinician_a("GET", "/Patient/q1v").status_code in (403, 404)
    clinician_b = as_user(links, "clinician", organization="org-b")
    assert ids(clinician_b("GET", "/Patient").json()) == {"Patient/p2", "Patient/q2"}


def test_everything_of_a_patient_seen_only_through_a_link_shows_no_record(links: Any) -> None:
    # $everything takes a shortcut (only each row's own tests) for a patient the user sees itself;
    # q1 is seen only because it links to p1, so its own record stays invisible.
    put(links, obs("o-q1", "q1"))
    put(links, obs("o-p1", "p1"))
    put(links, obs("o-p1v", "p1", V))
    clinician_a = as_user(links, "clinician", organization="org-a")
    q1 = clinician_a("GET", "/Patient/q1/$everything")
    assert q1.status_code == 200, q1.text
    assert "Observation/o-q1" not in ids(q1.json(), None)
    p1 = ids(clinician_a("GET", "/Patient/p1/$everything").json(), None)
    assert "Observation/o-p1" in p1
    assert "Observation/o-p1v" not in p1
    system = ids(links.get("/Patient/q1/$everything").json(), None)
    assert "Observation/o-q1" in system
