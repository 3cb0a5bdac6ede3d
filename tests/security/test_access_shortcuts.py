"""Row-access shortcuts of server-side searches (decision 0024): a row with both access facts whose patient is
clear (visible, no Consent rule for the actor) is decided without the access function. The answers must be
those of the full rules for every role and patient, whichever way the patient is named; on both engines
(SQLite keeps the inline predicate, so there the same tests check the rules themselves)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import pytest
from sqlalchemy import Engine, text
from test_access_matrix import ROLES, VISIBLE_OBSERVATIONS, V, ids, obs, put, refusal, region, user

from rhip.fhir.search.parse import parse_query
from rhip.store.search.terms import Env, pinned_patient, selective
from rhip.store.write import SOLE_PATIENT, UNLABELLED

__all__ = ["region"]  # the fixture, imported for the tests below

PATIENTS = ("p1", "p2", "p3")


def pin(rtype: str, query: str, base_url: str | None = "http://fhir.test") -> str | None:
    params = [(k, v) for k, _, v in (p.partition("=") for p in query.split("&"))]
    q = parse_query(rtype, params)
    return pinned_patient(q.types, q.criteria, Env(UTC, base_url, 0))


@pytest.mark.parametrize(
    ("rtype", "query", "pinned"),
    [
        ("Observation", "subject=Patient/p1", "p1"),
        ("Observation", "subject=http://fhir.test/Patient/p1", "p1"),
        ("Observation", "subject:Patient=p1", "p1"),
        ("Observation", "patient=p1", "p1"),  # Observation.subject.where(resolve() is Patient)
        ("Observation", "patient=Patient/p1&code=http://loinc.org|29463-7", "p1"),
        ("Encounter", "subject=Patient/p1", "p1"),
        ("Condition", "patient=p1", "p1"),
        ("Observation", "subject=p1", None),  # could be a Group or a Device
        ("Observation", "subject=Group/g1", None),
        ("Observation", "subject=Patient/p1,Patient/p2", None),  # two patients
        ("Observation", "subject=http://elsewhere.example/Patient/p1", None),  # not this server's
        ("Observation", "subject:Patient.name=p1", None),  # a chain
        ("Observation", "subject:missing=false", None),
        ("Observation", "focus=Patient/p1", None),  # not a compartment parameter of Observation
        ("Observation", "code=http://loinc.org|29463-7", None),
        ("Patient", "identifier=x|1", None),
    ],
)
def test_the_patient_a_search_is_pinned_to(rtype: str, query: str, pinned: str | None) -> None:
    assert pin(rtype, query) == pinned


def test_a_system_search_over_several_types_is_not_pinned() -> None:
    q = parse_query(None, [("_type", "Observation,Condition"), ("patient", "Patient/p1")])
    assert pinned_patient(q.types, q.criteria, Env(UTC, None, 0)) is None


@pytest.mark.parametrize(
    ("rtype", "query", "expected"),
    [
        ("Patient", "_id=p1", True),
        ("Patient", "_id=p1,p2&name=x", True),
        ("Observation", "_id=o1", True),
        ("Patient", "identifier=http://id.example|110101", True),
        ("Patient", "identifier=http://id.example|1,http://id.example|2", True),
        ("Patient", "identifier=110101", False),  # any system: not unique
        ("Patient", "identifier=|110101", False),  # no system
        ("Patient", "identifier=http://id.example|", False),  # every value of a system
        ("Patient", "identifier:of-type=http://t|MR|1", False),
        ("Patient", "_id:missing=false", False),
        ("Patient", "name=张", False),
        ("Patient", "_id=" + ",".join(f"p{i}" for i in range(11)), False),  # more than SELECTIVE_VALUES
    ],
)
def test_the_searches_that_name_their_matches(rtype: str, query: str, expected: bool) -> None:
    q = parse_query(rtype, [(k, v) for k, _, v in (p.partition("=") for p in query.split("&"))])
    assert selective(q.types, q.criteria) is expected


def test_a_system_search_is_not_selective() -> None:
    q = parse_query(None, [("_type", "Patient,Observation"), ("_id", "p1")])
    assert not selective(q.types, q.criteria)


@pytest.mark.parametrize("name", sorted(n for n, v in VISIBLE_OBSERVATIONS.items() if v is not None))
def test_pinned_searches_answer_as_the_full_rules(region: Any, name: str) -> None:
    """Each patient's observations, named in every pinned form, are exactly that patient's share of the
    unpinned search (refusals of p1 and p3, the label V and the other roles' scopes included)."""
    call = user(region, name)
    everyone = call("GET", "/Observation").json()
    for patient in PATIENTS:
        theirs = {
            f"Observation/{e['resource']['id']}"
            for e in everyone.get("entry", [])
            if e["resource"]["subject"]["reference"] == f"Patient/{patient}"
        }
        for form in (f"subject=Patient/{patient}", f"patient={patient}", f"subject:Patient={patient}"):
            r = call("GET", f"/Observation?{form}")
            assert r.status_code == 200, r.text
            assert ids(r.json()) == theirs, (name, form)
            assert r.json()["total"] == len(theirs)
            assert call("GET", f"/Observation?{form}&_summary=count").json()["total"] == len(theirs)


@pytest.mark.parametrize("name", sorted(ROLES))
def test_patient_searches_answer_as_the_full_rules(region: Any, name: str) -> None:
    call = user(region, name)
    for patient in PATIENTS:
        by_id, read = call("GET", f"/Patient?_id={patient}"), call("GET", f"/Patient/{patient}")
        if by_id.status_code == 403:
            continue
        assert ids(by_id.json()) == ({f"Patient/{patient}"} if read.status_code == 200 else set()), (name, patient)


@pytest.mark.parametrize("name", sorted(ROLES))
def test_searches_naming_their_matches_answer_as_the_full_rules(region: Any, name: str) -> None:
    """``_id`` and ``identifier`` searches (``terms.selective``: each row tested on its own, decision 0024)
    find exactly the resources a read shows, for every role, one value or several; ``_summary=count``
    agrees. p3 refuses org-a (not clear: the access function answers per row), o1v is very restricted,
    o1psy a refused category."""
    call = user(region, name)
    for pid in PATIENTS:
        identifier = [{"system": "http://id.example", "value": pid}]
        put(region, {"resourceType": "Patient", "id": pid, "identifier": identifier, "name": [{"text": pid}]})
    named = [*(f"Patient/{p}" for p in PATIENTS), *(f"Observation/{o}" for o in ("o1", "o1v", "o1psy", "o2", "o3"))]
    readable = {ref for ref in named if call("GET", f"/{ref}").status_code == 200}
    queries = [
        *(f"/Patient?identifier=http://id.example|{p}" for p in PATIENTS),
        "/Patient?identifier=" + ",".join(f"http://id.example|{p}" for p in PATIENTS),
        "/Patient?_id=p1,p2,p3",
        "/Observation?_id=o1,o1v,o1psy,o2,o3",
    ]
    for query in queries:
        r = call("GET", query)
        if r.status_code == 403:
            continue
        assert r.status_code == 200, r.text
        named = {f"{query.split('?')[0].strip('/')}/{v.rsplit('|', 1)[-1]}" for v in query.split("=")[1].split(",")}
        assert ids(r.json()) == named & readable, (name, query)
        assert r.json()["total"] == len(named & readable)
        assert call("GET", f"{query}&_summary=count").json()["total"] == len(named & readable)


def test_a_new_rule_of_a_clear_patient_is_obeyed_at_once(region: Any) -> None:
    """p2 is clear for org-b until p2 refuses Observations: then the pinned search is decided by the full
    rules and shows nothing, while p2's own Patient row stays visible."""
    b = user(region, "clinician-b")
    assert ids(b("GET", "/Observation?subject=Patient/p2").json()) == {"Observation/o2"}
    assert region.post("/Consent", json=refusal("p2", **{"class": [{"code": "Observation"}]})).status_code == 201
    assert ids(b("GET", "/Observation?subject=Patient/p2").json()) == set()
    assert ids(b("GET", "/Patient?_id=p2").json()) == {"Patient/p2"}


def test_the_shortcut_believes_the_facts_on_postgresql(region: Any, engine: Engine) -> None:
    """o2p1 is in p2's record and names p1 too (``performer``); p1 refuses Observations, so the full rules
    hide it from org-b although org-b treats p2. Given a false SOLE_PATIENT fact, the PostgreSQL shortcut
    (p2 is clear for org-b) shows it without probing p1: proof that the shortcut is what answers there.
    SQLite's inline predicate probes every named patient whatever the facts say."""
    put(region, obs("o2p1", "p2") | {"performer": [{"reference": "Patient/p1"}]})
    assert region.post("/Consent", json=refusal("p1", **{"class": [{"code": "Observation"}]})).status_code == 201
    b = user(region, "clinician-b")
    assert ids(b("GET", "/Observation?subject=Patient/p2").json()) == {"Observation/o2"}
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE resources SET imask = imask | {SOLE_PATIENT} WHERE id = 'o2p1'"))
    seen = ids(b("GET", "/Observation?subject=Patient/p2").json())
    if engine.dialect.name == "postgresql":
        assert seen == {"Observation/o2", "Observation/o2p1"}
    else:
        assert seen == {"Observation/o2"}
    assert ids(b("GET", "/Observation").json()) == {"Observation/o2"}  # unpinned: the function decides


def test_a_patient_row_is_decided_by_its_facts(region: Any, engine: Engine) -> None:
    """A very restricted Patient row is hidden from the clinician who treats them; with a false UNLABELLED
    fact it shows: on PostgreSQL the per-row shortcut answered (the access function ignores facts), on
    SQLite the inline predicate skipped its label probe."""
    put(region, {"resourceType": "Patient", "id": "p2", "meta": {"security": [V]}})
    b = user(region, "clinician-b")
    assert ids(b("GET", "/Patient?_id=p2").json()) == set()
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE resources SET imask = imask | {UNLABELLED} WHERE rtype = 'Patient' AND id = 'p2'"))
    assert ids(b("GET", "/Patient?_id=p2").json()) == {"Patient/p2"}


def test_a_patient_read_is_decided_by_its_facts(region: Any, engine: Engine) -> None:
    """Reading a Patient, or its ``$everything``, asks nothing more when the patient is clear and the row
    carries both facts (``access.clear_patient_row``): a very restricted Patient is hidden from the
    clinician who treats them until a false UNLABELLED fact says otherwise, on both engines."""
    put(region, {"resourceType": "Patient", "id": "p2", "meta": {"security": [V]}})
    b = user(region, "clinician-b")
    assert b("GET", "/Patient/p2").status_code == 404
    assert b("GET", "/Patient/p2/$everything").status_code == 404
    assert b("GET", "/Patient/p1").status_code == 404  # treated elsewhere
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE resources SET imask = imask | {UNLABELLED} WHERE rtype = 'Patient' AND id = 'p2'"))
    assert b("GET", "/Patient/p2").status_code == 200
    everything = b("GET", "/Patient/p2/$everything")
    assert everything.status_code == 200
    assert {"Patient/p2", "Observation/o2"} <= ids(everything.json())
    assert b("GET", "/Patient/p1").status_code == 404
