"""Access facts in ``resources.imask`` (decision 0023): set on write from the version's index rows,
backfilled by migration 0013 to the same values, and consulted by row access (the inline predicate,
``$everything``'s record) only to skip probes that would find nothing; on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from sqlalchemy import Engine, text
from test_access_matrix import V, as_user, ids, obs, put, treated

from rhip.store.write import SOLE_PATIENT, UNLABELLED, access_facts

FACTS = UNLABELLED | SOLE_PATIENT
BACKFILL = importlib.import_module("rhip.store.migrations.versions.0013_access_facts").BACKFILL


SUBJECT_P1 = ("subject", 0, "Patient", "p1", None)
CASES = [
    ("Observation", "o", {"token": [("code", 0, None, None, "x")], "reference": [SUBJECT_P1]}, FACTS),
    ("Observation", "o", {"token": [("_security", 0, "s", "V", None)], "reference": [SUBJECT_P1]}, SOLE_PATIENT),
    ("Observation", "o", {"reference": [SUBJECT_P1, ("performer", 0, "Patient", "p2", None)]}, UNLABELLED),
    ("Observation", "o", {"reference": [SUBJECT_P1, ("patient", 0, "Patient", "p1", None)]}, FACTS),
    ("Patient", "p1", {"reference": [("link", 0, "Patient", "p2", None)]}, UNLABELLED),
    ("Patient", "p1", {}, FACTS),
    ("Organization", "org", {"reference": [("partof", 0, "Organization", "up", None)]}, FACTS),
]


@pytest.mark.parametrize(("rtype", "id", "rows", "facts"), CASES)
def test_facts_follow_the_index_rows(rtype: str, id: str, rows: dict[str, Any], facts: int) -> None:
    assert access_facts(rtype, id, rows) == facts


@pytest.fixture
def stored(api: Any) -> Any:
    """p1 treated at org-a; o1 plain, o1v very restricted, o12 naming p1 and p2; p2 linked to p1."""
    treated(api, {"resourceType": "Patient", "id": "p1"}, "org-a")
    put(
        api,
        {"resourceType": "Patient", "id": "p2", "link": [{"other": {"reference": "Patient/p1"}, "type": "seealso"}]},
    )
    put(api, obs("o1", "p1"))
    put(api, obs("o1v", "p1", V))
    put(api, obs("o12", "p1") | {"performer": [{"reference": "Patient/p2"}]})
    return api


def facts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT rtype, id, imask FROM resources WHERE rtype IN ('Patient', 'Observation')"))
        return {f"{t}/{i}": m & FACTS for t, i, m in rows}


def test_writes_set_the_facts_and_the_backfill_computes_the_same(stored: Any, engine: Engine) -> None:
    written = facts(engine)
    assert written == {
        "Patient/p1": FACTS,
        "Patient/p2": UNLABELLED,  # links another patient
        "Observation/o1": FACTS,
        "Observation/o1v": SOLE_PATIENT,  # labelled
        "Observation/o12": UNLABELLED,  # names p1 and p2
    }
    with engine.begin() as conn:  # rows as stored before migration 0013
        conn.execute(text(f"UPDATE resources SET imask = imask & {~FACTS}"))
        conn.execute(text(BACKFILL))
    assert facts(engine) == written


def clinician_sees(api: Any) -> set[str]:
    doctor = as_user(api, "clinician", organization="org-a")
    seen: set[str] = set()
    for url in ("/Observation?subject=Patient/p1", "/Patient/p1/$everything"):
        r = doctor("GET", url)
        assert r.status_code == 200, r.text
        seen |= ids(r.json(), mode=None)
    return seen


def test_rows_without_facts_are_probed_and_the_facts_are_what_skips_the_probe(stored: Any, engine: Engine) -> None:
    expected = clinician_sees(stored)
    assert {"Observation/o1", "Observation/o12"} <= expected
    assert "Observation/o1v" not in expected
    with engine.begin() as conn:  # no facts at all (rows stored before migration 0013): same answer
        conn.execute(text(f"UPDATE resources SET imask = imask & {~FACTS}"))
    assert clinician_sees(stored) == expected
    with engine.begin() as conn:  # a false fact would be believed: the label test is really skipped
        conn.execute(text(f"UPDATE resources SET imask = imask | {UNLABELLED} WHERE id = 'o1v'"))
    assert "Observation/o1v" in clinician_sees(stored)


def test_everything_of_a_patient_whose_own_row_is_hidden_is_not_found(stored: Any) -> None:
    # The clinician sees p1 (care relationship), but p1's own Patient row is very restricted: the record
    # check that answers both questions in one statement must not let the Patient through.
    put(stored, {"resourceType": "Patient", "id": "p1", "meta": {"security": [V]}})
    doctor = as_user(stored, "clinician", organization="org-a")
    for url in ("/Patient/p1", "/Patient/p1/$everything"):
        r = doctor("GET", url)
        assert r.status_code == 404, (url, r.text)
    assert doctor("GET", "/Observation?subject=Patient/p1").json()["total"] == 2
