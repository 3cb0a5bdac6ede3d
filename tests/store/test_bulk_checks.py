"""The bulk loader applies what every write path applies: China-profile findings per source
strictness, Consent refusals, and an AuditEvent per chunk naming the residents; on both engines."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, select

from rhip.fhir import json as fjson
from rhip.security.context import RequestContext
from rhip.store import audit_log
from rhip.store.access_tables import consent_rules
from rhip.store.bulk import load
from rhip.store.quality_tables import validation_issues
from rhip.store.repository import Repository
from rhip.store.sources import set_source

GOOD_ID = "330523194504251214"
BAD_ID = "330523194504251219"  # wrong check character


def patient(pid: str, ric: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "urn:oid:2.16.156.10011.1.3", "value": ric}],
        "name": [{"text": "罗勇"}],
        "gender": "male",
        "birthDate": "1945-04-25",
    }


def lines(*resources: dict[str, Any]) -> list[tuple[str, int, str]]:
    return [("test.ndjson", n, json.dumps(r, ensure_ascii=False)) for n, r in enumerate(resources, 1)]


CTX = RequestContext.system("bulk import")


@pytest.mark.parametrize("workers", [1, 2])
def test_findings_are_kept_by_default(repo: Repository, engine: Engine, workers: int) -> None:
    report = load(repo, lines(patient("a", GOOD_ID), patient("b", BAD_ID)), CTX, workers=workers)
    assert report.loaded == 2
    with engine.connect() as conn:
        v = validation_issues.c
        found = sorted(tuple(r) for r in conn.execute(select(v.rule, v.source, v.expression)))
    assert ("cn-ident-1", "system:bulk import", "Patient.identifier[0].value") in found


def test_a_rejecting_source_loses_only_the_bad_lines(repo: Repository, engine: Engine) -> None:
    set_source(engine, "system:bulk import", "reject")
    repo.sources.invalidate()
    report = load(repo, lines(patient("a", GOOD_ID), patient("b", BAD_ID)), CTX, workers=1)
    assert (report.loaded, report.rejected) == (1, 1)
    assert "test.ndjson:2" in report.errors[0]
    assert "Patient.identifier[0].value" in report.errors[0]


def test_loaded_consents_are_enforced_and_chunks_audited(repo: Repository, engine: Engine) -> None:
    consent = {
        "resourceType": "Consent",
        "id": "c1",
        "status": "active",
        "scope": {"text": "privacy"},
        "category": [{"text": "privacy"}],
        "patient": {"reference": "Patient/a"},
        "provision": {"type": "deny"},
    }
    load(repo, lines(patient("a", GOOD_ID), consent), CTX, workers=1)
    with engine.connect() as conn:
        rules = conn.execute(select(consent_rules.c.patient, consent_rules.c.actor, consent_rules.c.category)).all()
    with engine.connect() as conn:  # a snapshot taken after the staged events are chained (SQLite)
        events = audit_log.search(conn, count=10)
    assert [tuple(r) for r in rules] == [("a", "*", "*")]
    (event,) = [fjson.loads(c) for _, c in events]
    assert event["action"] == "C"
    assert {"what": {"reference": "Patient/a"}} | {"role": event["entity"][0]["role"]} == event["entity"][0]


def test_loaded_encounters_create_care_links(repo: Repository, engine: Engine) -> None:
    from rhip.store.access_tables import care_links

    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": {"reference": "Patient/a"},
        "serviceProvider": {"reference": "Organization/h1"},
    }
    load(repo, lines(patient("a", GOOD_ID), encounter), CTX, workers=1)
    with engine.connect() as conn:
        links = conn.execute(select(care_links.c.patient, care_links.c.organization)).all()
    assert [tuple(r) for r in links] == [("a", "h1")]
