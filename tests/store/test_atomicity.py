"""A write is all or nothing: a failure at any statement of a flush leaves no trace (both engines)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from rhip.fhir.errors import FhirError
from rhip.security.context import RequestContext
from rhip.store import dialect, write
from rhip.store.repository import Repository
from rhip.store.schema import INDEX_TABLES, resource_versions, resources

PATIENT = {"resourceType": "Patient", "name": [{"family": "李", "given": ["四"]}], "gender": "female"}


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        tables = [resources, resource_versions, *INDEX_TABLES.values()]
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables}


class InjectedError(RuntimeError):
    pass


@pytest.mark.parametrize("fail_on", ["resources", "resource_versions", "idx_string", "idx_token", "idx_date"])
def test_failure_mid_write_leaves_nothing(
    repo: Repository, engine: Engine, system: RequestContext, monkeypatch: pytest.MonkeyPatch, fail_on: str
) -> None:
    with repo.unit(system) as unit:
        kept = unit.create(dict(PATIENT)).stored
    before = _counts(engine)
    real = dialect.insert_many

    def failing(conn: Any, table: str, columns: Any, rows: Any) -> None:
        if table == fail_on:
            raise InjectedError(table)
        real(conn, table, columns, rows)

    monkeypatch.setattr(write.dialect, "insert_many", failing)
    monkeypatch.setattr(
        write.dialect, "copy_rows", lambda conn, table, columns, rows: failing(conn, table, tuple(columns), rows)
    )
    with pytest.raises(InjectedError), repo.unit(system) as unit:
        unit.create({**PATIENT, "birthDate": "1990-05-06"})
    with pytest.raises(InjectedError), repo.unit(system) as unit:
        unit.update("Patient", kept.id, {**PATIENT, "id": kept.id, "gender": "male"})
    assert _counts(engine) == before
    with repo.unit(system) as unit:
        assert unit.read("Patient", kept.id).resource()["gender"] == "female"


def test_duplicate_id_race_is_a_conflict_not_an_error(repo: Repository, system: RequestContext) -> None:
    with repo.unit(system) as unit:
        unit.create({**PATIENT, "id": "p1"}, id="p1")
    with pytest.raises(FhirError) as err, repo.unit(system) as unit:
        unit.create({**PATIENT, "id": "p1"}, id="p1")
    assert err.value.status == 409


def test_failure_in_a_large_flush_leaves_nothing(
    repo: Repository, engine: Engine, system: RequestContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bundle-sized flush (COPY on PostgreSQL) that fails part-way leaves no trace either."""
    before = _counts(engine)
    real_copy, real_insert = dialect.copy_rows, dialect.insert_many

    def fail_on_tokens(real: Any) -> Any:
        def wrapper(conn: Any, table: str, columns: Any, rows: Any) -> None:
            if table == "idx_token":
                raise InjectedError(table)
            real(conn, table, columns, rows)

        return wrapper

    monkeypatch.setattr(write.dialect, "copy_rows", fail_on_tokens(real_copy))  # PostgreSQL: COPY branch
    monkeypatch.setattr(write.dialect, "insert_many", fail_on_tokens(real_insert))  # SQLite

    def write_hundred() -> None:
        with repo.unit(system) as unit:
            unit.deferred = True
            for i in range(100):
                unit.create({**PATIENT, "birthDate": f"19{i:02d}-01-01"})
            unit.flush()

    with pytest.raises(InjectedError):
        write_hundred()
    monkeypatch.undo()
    assert _counts(engine) == before
