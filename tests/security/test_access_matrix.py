"""The authorisation matrix of the security issue: every role × interaction, allowed and denied,
including the leak paths (_include/_revinclude, chains, _has, counts, history, $everything, bundle
GET entries), consent refusals, confidentiality labels and break-glass; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rhip.security import tokens
from rhip.security.accounts import ROLE_SCOPES
from rhip.security.context import RequestContext

V = {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "V"}
PSY = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "PSY"}


def put(api: Any, res: dict[str, Any]) -> None:
    r = api.put(f"/{res['resourceType']}/{res['id']}", json=res)
    assert r.status_code in (200, 201), r.text


def obs(id: str, patient: str, *labels: dict[str, str]) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": {"text": id},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2025-03-01",
    }
    if labels:
        res["meta"] = {"security": list(labels)}
    return res


def treated(api: Any, patient: dict[str, Any], org: str) -> None:
    """Store ``patient`` and an Encounter at ``org`` (stored too): a care relationship there."""
    put(api, {"resourceType": "Organization", "id": org, "name": org})
    put(api, patient)
    put(
        api,
        {
            "resourceType": "Encounter",
            "id": f"e-{patient['id']}",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": f"Patient/{patient['id']}"},
            "serviceProvider": {"reference": f"Organization/{org}"},
        },
    )


@pytest.fixture
def region(api: Any) -> Any:
    """p1 treated at org-a (o1, o1v very restricted, o1psy mental health), p2 at org-b (o2),
    p3 treated at org-a but refusing org-a by Consent (o3)."""
    for pid, org in (("p1", "org-a"), ("p2", "org-b"), ("p3", "org-a")):
        treated(api, {"resourceType": "Patient", "id": pid, "name": [{"text": f"患者{pid}", "family": pid}]}, org)
    put(api, obs("o1", "p1"))
    put(api, obs("o1v", "p1", V))
    put(api, obs("o1psy", "p1", PSY))
    put(api, obs("o2", "p2"))
    put(api, obs("o3", "p3"))
    org_a = [{"role": {"text": "x"}, "reference": {"reference": "Organization/org-a"}}]
    assert api.post("/Consent", json=refusal("p3", actor=org_a)).status_code == 201
    assert api.post("/Consent", json=refusal("p1", securityLabel=[PSY])).status_code == 201
    return api


def refusal(patient: str, **provision: Any) -> dict[str, Any]:
    """An active Consent of ``patient`` denying what ``provision`` names (actor, class, securityLabel)."""
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [{"code": "patient-privacy"}]},
        "category": [{"text": "privacy"}],
        "patient": {"reference": f"Patient/{patient}"},
        "provision": {"type": "deny", **provision},
    }


def as_user(api: Any, role: str, **kw: Any) -> Callable[..., Any]:
    ctx = RequestContext(
        subject=f"{role}-user", kind="user", role=role, scopes=frozenset(ROLE_SCOPES[role].split()), **kw
    )
    headers = {"Authorization": f"Bearer {tokens.issue(api.client.app.state.jwt_secret, ctx, 600)}"}

    def call(method: str, url: str, **more: Any) -> Any:
        return api.client.request(method, url, headers=headers, **more)

    return call


def ids(bundle: dict[str, Any], mode: str | None = "match") -> set[str]:
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if mode is None or e.get("search", {}).get("mode") == mode
    }


ROLES: dict[str, dict[str, Any]] = {
    "resident": {"patients": ("p1",)},
    "clinician-a": {"organization": "org-a"},
    "clinician-b": {"organization": "org-b"},
    "clinician-none": {},
    "public-health-officer": {"region": "330523"},
    "administrator": {},
    "auditor": {},
    "integrator": {"organization": "org-a"},
}


def user(api: Any, name: str) -> Callable[..., Any]:
    role = name.split("-")[0] if name.startswith("clinician") else name
    return as_user(api, role, **ROLES[name])


# Observations each role finds with GET /Observation (None: the search itself is refused, 403).
VISIBLE_OBSERVATIONS: dict[str, set[str] | None] = {
    "resident": {"o1", "o1v", "o1psy"},  # their whole record, labels included
    "clinician-a": {"o1"},  # p1 without V and the refused PSY category; p3 refused org-a; p2 elsewhere
    "clinician-b": {"o2"},
    "clinician-none": set(),
    "public-health-officer": set(),  # region 330523; the fixture's patients have no address
    "administrator": None,
    "auditor": None,
    "integrator": None,
}


@pytest.mark.parametrize("name", sorted(ROLES))
def test_search_and_count_show_only_permitted_rows(region: Any, name: str) -> None:
    call = user(region, name)
    expected = VISIBLE_OBSERVATIONS[name]
    r = call("GET", "/Observation")
    if expected is None:
        assert r.status_code == 403
        assert call("GET", "/Observation?_summary=count").status_code == 403
        return
    assert r.status_code == 200
    assert ids(r.json()) == {f"Observation/{o}" for o in expected}
    assert r.json()["total"] == len(expected)
    assert call("GET", "/Observation?_summary=count").json()["total"] == len(expected)
    system_wide = call("GET", "/?_type=Observation").json()
    assert ids(system_wide) == {f"Observation/{o}" for o in expected}


READS = {
    # url: roles that may read it (others: 404 for rows out of scope, 403 for types out of scope)
    "/Patient/p1": {"resident", "clinician-a"},
    "/Patient/p2": {"clinician-b"},
    "/Patient/p3": set(),  # refused org-a by Consent; nobody else treats p3
    "/Observation/o1": {"resident", "clinician-a"},
    "/Observation/o1v": {"resident"},
    "/Observation/o1psy": {"resident"},
    "/Observation/o1/_history/1": {"resident", "clinician-a"},
    "/Organization/org-a": {
        "resident",
        "clinician-a",
        "clinician-b",
        "clinician-none",
        "public-health-officer",
        "administrator",
    },
}


@pytest.mark.parametrize("name", sorted(ROLES))
@pytest.mark.parametrize("url", sorted(READS))
def test_reads(region: Any, name: str, url: str) -> None:
    status = user(region, name)("GET", url).status_code
    if name in READS[url]:
        assert status == 200
    else:
        assert status in (403, 404)


def test_include_revinclude_chain_and_has_do_not_leak(region: Any) -> None:
    call = user(region, "clinician-a")
    inc = call("GET", "/Observation?_include=Observation:subject").json()
    assert ids(inc, "include") == {"Patient/p1"}
    rev = call("GET", "/Patient?_revinclude=Observation:subject").json()
    assert ids(rev) == {"Patient/p1"}
    assert ids(rev, "include") == {"Observation/o1"}  # not o1v (label V), not o1psy (refused category)
    chained = call("GET", "/Observation?subject:Patient.name=p2").json()
    assert ids(chained) == set()
    assert chained["total"] == 0
    has = call("GET", "/Patient?_has:Observation:subject:status=final").json()
    assert ids(has) == {"Patient/p1"}
    iterate = call("GET", "/Encounter?_include=Encounter:subject&_revinclude:iterate=Observation:subject").json()
    assert ids(iterate, None) == {"Encounter/e-p1", "Patient/p1", "Observation/o1"}


def test_history_and_everything_do_not_leak(region: Any) -> None:
    call = user(region, "clinician-a")
    hist = call("GET", "/Observation/_history").json()
    assert {f"{e['request']['url']}" for e in hist.get("entry", [])} <= {"Observation/o1"}
    assert call("GET", "/Observation/o2/_history").status_code == 404
    everything = call("GET", "/Patient/p1/$everything").json()
    got = ids(everything, None)
    assert {"Patient/p1", "Observation/o1", "Encounter/e-p1"} <= got
    assert not got & {"Observation/o1v", "Observation/o1psy", "Observation/o2", "Patient/p2"}
    assert call("GET", "/Patient/p2/$everything").status_code == 404


@pytest.mark.parametrize("owner", ["p1", "p5"])
def test_a_refusal_by_another_patient_named_in_a_row_hides_it_in_everything(region: Any, owner: str) -> None:
    # o14 is in the owner's record (subject) and names p4 (performer); p4 refuses Observations to
    # everyone. $everything asks once whether the owner refuses anything (p1 does: PSY; p5 does not)
    # and then probes per row either every patient reference or only those to other patients.
    for pid in ("p4", "p5"):
        treated(region, {"resourceType": "Patient", "id": pid, "name": [{"text": f"患者{pid}"}]}, "org-a")
    put(region, obs("o14", owner) | {"performer": [{"reference": "Patient/p4"}]})
    put(region, obs("o4", "p4"))
    call = user(region, "clinician-a")
    assert "Observation/o14" in ids(call("GET", f"/Patient/{owner}/$everything").json(), None)
    assert region.post("/Consent", json=refusal("p4", **{"class": [{"code": "Observation"}]})).status_code == 201
    everything = ids(call("GET", f"/Patient/{owner}/$everything").json(), None)
    assert "Observation/o14" not in everything
    assert {f"Patient/{owner}", f"Encounter/e-{owner}"} <= everything
    found = ids(call("GET", "/Observation").json())
    assert not found & {"Observation/o14", "Observation/o4"}
    # The owner's own refusal of a whole type hides all of it from $everything too.
    own = refusal(owner, **{"class": [{"code": "Encounter"}]})
    assert region.post("/Consent", json=own).status_code == 201
    everything = ids(call("GET", f"/Patient/{owner}/$everything").json(), None)
    assert f"Encounter/e-{owner}" not in everything
    assert f"Patient/{owner}" in everything


def test_paged_totals_count_only_permitted_rows(region: Any) -> None:
    # The first page's total comes from the page's own statement on PostgreSQL (a window count over
    # the rows the access function kept), from a count statement elsewhere: same number either way.
    for extra in ("o1b", "o1c"):
        put(region, obs(extra, "p1"))
    call = user(region, "clinician-a")
    page = call("GET", "/Observation?_count=1&_sort=_id").json()
    assert page["total"] == 3  # o1, o1b, o1c; not o1v (V), o1psy (refused), o2, o3
    seen = ids(page)
    while nxt := next((link["url"] for link in page["link"] if link["relation"] == "next"), None):
        page = call("GET", nxt.split("http://fhir.test", 1)[1]).json()
        assert page["total"] == 3
        seen |= ids(page)
    assert seen == {"Observation/o1", "Observation/o1b", "Observation/o1c"}
    assert call("GET", "/Observation?_count=1&_total=none").json().get("total") is None


def test_bundle_get_entries_obey_the_same_rules(region: Any) -> None:
    call = user(region, "clinician-a")
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": "Patient/p1"}},
            {"request": {"method": "GET", "url": "Patient/p2"}},
            {"request": {"method": "GET", "url": "Observation?subject=Patient/p2"}},
        ],
    }
    out = call("POST", "/", json=batch).json()
    statuses = [e["response"]["status"][:3] for e in out["entry"]]
    assert statuses == ["200", "404", "200"]
    assert out["entry"][2]["resource"].get("total") == 0


def test_writes_by_role(region: Any) -> None:
    new = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/p1"},
    }
    new["effectiveDateTime"] = "2025-01-01"
    assert user(region, "resident")("POST", "/Observation", json=new).status_code == 403
    assert user(region, "auditor")("POST", "/Observation", json=new).status_code == 403
    assert user(region, "integrator")("POST", "/Observation", json=new).status_code == 201
    assert user(region, "integrator")("GET", "/Observation").status_code == 403  # write-only feed
    assert user(region, "clinician-a")("POST", "/Observation", json=new).status_code == 201


def test_audit_trail_access_by_role(region: Any) -> None:
    assert user(region, "auditor")("GET", "/AuditEvent").status_code == 200
    assert user(region, "resident")("GET", "/AuditEvent?patient=p1").status_code == 200
    assert user(region, "resident")("GET", "/AuditEvent?patient=p2").status_code == 403
    assert user(region, "resident")("GET", "/AuditEvent").status_code == 403
    assert user(region, "clinician-a")("GET", "/AuditEvent?patient=p1").status_code == 403
    assert user(region, "administrator")("GET", "/AuditEvent").status_code == 403


def test_break_glass_grants_time_limited_flagged_access(region: Any) -> None:
    doctor = user(region, "clinician-b")
    assert doctor("GET", "/Patient/p1").status_code == 404
    params = {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "昏迷急诊，需查既往史"}]}
    assert doctor("POST", "/Patient/p1/$break-glass", json={"resourceType": "Parameters"}).status_code == 400
    r = doctor("POST", "/Patient/p1/$break-glass", json=params)
    assert r.status_code == 200
    assert doctor("GET", "/Patient/p1").status_code == 200
    assert ids(doctor("GET", "/Observation?subject=Patient/p1").json()) == {"Observation/o1", "Observation/o1psy"}
    assert doctor("GET", "/Observation/o1v").status_code == 404  # V stays with the resident
    log = user(region, "resident")("GET", "/AuditEvent?patient=p1").json()
    flagged = [e["resource"] for e in log["entry"] if "break-glass" in e["resource"].get("outcomeDesc", "")]
    assert flagged
    assert flagged[0]["agent"][0]["who"]["identifier"]["value"] == "clinician-user"
    assert "昏迷急诊" in flagged[0]["outcomeDesc"]
    assert user(region, "resident")("POST", "/Patient/p1/$break-glass", json=params).status_code == 403


def test_a_withdrawn_consent_restores_access(region: Any) -> None:
    doctor = user(region, "clinician-a")
    assert doctor("GET", "/Patient/p3").status_code == 404
    consents = region.get("/Consent?patient=Patient/p3").json()["entry"]
    consent = consents[0]["resource"]
    consent["status"] = "inactive"
    assert region.put(f"/Consent/{consent['id']}", json=consent).status_code == 200
    assert doctor("GET", "/Patient/p3").status_code == 200
    assert ids(doctor("GET", "/Observation").json()) == {"Observation/o1", "Observation/o3"}


@pytest.mark.parametrize("name", ["resident", "clinician-a", "public-health-officer"])
def test_identity_operations_need_an_unrestricted_context(region: Any, name: str) -> None:
    call = user(region, name)
    params = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": {"resourceType": "Patient"}}],
    }
    assert call("POST", "/Patient/$match", json=params).status_code == 403
    assert call("GET", "/Patient/$ihe-pix?sourceIdentifier=urn:oid:2.16.156.10011.1.3|x").status_code == 403


def test_public_health_officers_see_their_region(region: Any) -> None:
    div = "http://rhip.cn/fhir/StructureDefinition/address-division-code"
    for pid, code in (("p1", "330523104001"), ("p2", "330102001002")):
        body = region.get(f"/Patient/{pid}").json()
        body["address"] = [{"use": "home", "extension": [{"url": div, "valueCode": code}]}]
        assert region.put(f"/Patient/{pid}", json=body).status_code == 200
    huzhou = as_user(region, "public-health-officer", region="330500")
    assert ids(huzhou("GET", "/Patient").json()) == {"Patient/p1"}
    assert ids(huzhou("GET", "/Observation").json()) == {"Observation/o1", "Observation/o1psy"}  # not V
    assert huzhou("GET", "/Patient/p2").status_code == 404
    assert ids(region.get("/Patient?division=3305").json()) == {"Patient/p1"}  # the search parameter itself
    hangzhou = as_user(region, "public-health-officer", region="330100")
    assert ids(hangzhou("GET", "/Patient").json()) == {"Patient/p2"}


def test_care_relationships_follow_encounter_changes(region: Any) -> None:
    doctor = user(region, "clinician-a")
    assert doctor("GET", "/Patient/p2").status_code == 404
    enc = region.get("/Encounter/e-p2").json()
    enc["serviceProvider"] = {"reference": "Organization/org-a"}
    assert region.put("/Encounter/e-p2", json=enc).status_code == 200
    assert doctor("GET", "/Patient/p2").status_code == 200
    assert region.delete("/Encounter/e-p2").status_code in (200, 204)
    assert doctor("GET", "/Patient/p2").status_code == 404


def test_a_refused_type_hides_rows_naming_the_patient_anywhere_unless_glass_is_broken(region: Any) -> None:
    """p2 refuses Observations to every organisation (``provision.class``): their own observation and
    one about p1 that names p2 outside the compartment (``focus``) disappear for clinicians, counts
    included; a break-glass grant on p2 brings both back."""
    focus = {**obs("o1focus", "p1"), "focus": [{"reference": "Patient/p2"}]}
    put(region, focus)
    assert region.post("/Consent", json=refusal("p2", **{"class": [{"code": "Observation"}]})).status_code == 201
    a, b = user(region, "clinician-a"), user(region, "clinician-b")
    assert ids(a("GET", "/Observation").json()) == {"Observation/o1"}
    assert a("GET", "/Observation?_summary=count").json()["total"] == 1
    assert a("GET", "/Observation/o1focus").status_code == 404
    assert ids(b("GET", "/Observation").json()) == set()
    assert b("GET", "/Patient/p2").status_code == 200  # the refusal covers Observations only
    params = {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": "昏迷急诊，需查既往史"}]}
    assert b("POST", "/Patient/p2/$break-glass", json=params).status_code == 200
    assert ids(b("GET", "/Observation").json()) == {"Observation/o2"}
    assert b("GET", "/Observation?_summary=count").json()["total"] == 1
    assert b("POST", "/Patient/p1/$break-glass", json=params).status_code == 200
    seen = b("GET", "/Observation").json()
    assert ids(seen) == {"Observation/o2", "Observation/o1focus", "Observation/o1psy", "Observation/o1"}
    assert seen["total"] == 4


def test_totals_match_the_permitted_rows_on_every_page(region: Any) -> None:
    """The total of a search is the number of permitted matches whether the first page holds them all
    (no separate count) or not, and on later pages."""
    for n in range(4):
        put(region, obs(f"o1-{n}", "p1"))
    doctor = user(region, "clinician-a")
    visible = {"Observation/o1", *(f"Observation/o1-{n}" for n in range(4))}
    for count in (2, 4, 5, 6, 50):
        seen: set[str] = set()
        page = doctor("GET", f"/Observation?_count={count}").json()
        while True:
            assert page["total"] == len(visible), count
            seen |= ids(page)
            nxt = next((link["url"] for link in page.get("link", []) if link["relation"] == "next"), None)
            if nxt is None:
                break
            page = doctor("GET", nxt[nxt.index("/Observation") :]).json()
        assert seen == visible
    assert "total" not in doctor("GET", "/Observation?_total=none").json()
    assert doctor("GET", "/Observation?_count=0").json()["total"] == len(visible)


def test_search_criteria_still_apply_to_permitted_rows(region: Any) -> None:
    """The predicate is an OR for Patient searches (own record or linked one) and for searches that
    can return types outside the compartment; the search criteria must still narrow the result."""
    put(region, {"resourceType": "Patient", "id": "p4", "name": [{"text": "患者p4", "family": "p4"}]})
    put(
        region,
        {
            "resourceType": "Encounter",
            "id": "e-p4",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": {"reference": "Patient/p4"},
            "serviceProvider": {"reference": "Organization/org-a"},
        },
    )
    doctor = user(region, "clinician-a")
    assert ids(doctor("GET", "/Patient").json()) == {"Patient/p1", "Patient/p4"}
    assert ids(doctor("GET", "/Patient?family=p4").json()) == {"Patient/p4"}
    assert doctor("GET", "/Patient?family=p4&_summary=count").json()["total"] == 1
    assert ids(doctor("GET", "/Patient?_id=p1,p2").json()) == {"Patient/p1"}
    both = doctor("GET", "/?_type=Patient,Organization&_id=p4,org-b").json()
    assert ids(both) == {"Patient/p4", "Organization/org-b"}
    assert both["total"] == 2
    assert ids(doctor("GET", "/Encounter?subject=Patient/p4").json()) == {"Encounter/e-p4"}
