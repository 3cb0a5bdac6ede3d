"""A resident sees every registration the master person index links to them (on both engines)."""

from __future__ import annotations

from typing import Any

from feeds import person_of, write
from sqlalchemy import Engine

from rhip.fhir.search.parse import parse_query
from rhip.security.accounts import ROLE_SCOPES
from rhip.security.context import RequestContext
from rhip.store.repository import Repository

RIC = {"system": "urn:oid:2.16.156.10011.1.3", "value": "330523194504251214"}


def registration(mrn_system: str, mrn: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [RIC, {"system": mrn_system, "value": mrn}],
        "name": [{"text": "罗勇", "family": "罗", "given": ["勇"]}],
        "gender": "male",
        "birthDate": "1945-04-25",
        "telecom": [{"system": "phone", "value": "17663848242"}],
    }


def test_resident_sees_the_hospitals_registrations_of_the_same_person(repo: Repository, engine: Engine) -> None:
    own = write(repo, registration("http://rhip.cn/fhir/sid/mrn/hosp-a", "A1"), "hospital-a")
    other = write(repo, registration("http://rhip.cn/fhir/sid/mrn/hosp-b", "B7"), "hospital-b")
    stranger = write(
        repo,
        {
            "resourceType": "Patient",
            "identifier": [{"system": "urn:oid:2.16.156.10011.1.3", "value": "11010519491231002X"}],
            "name": [{"text": "王芳"}],
            "gender": "female",
            "birthDate": "1949-12-31",
        },
        "hospital-b",
    )
    assert person_of(engine, own) == person_of(engine, other) != person_of(engine, stranger)
    scopes = frozenset(ROLE_SCOPES["resident"].split())
    me = RequestContext(subject="luo", kind="user", role="resident", scopes=scopes, patients=(own,))
    with repo.unit(me, write=False) as unit:
        seen = {row.id for row in unit.search(parse_query("Patient", [])).matches}
    assert seen == {own, other}
