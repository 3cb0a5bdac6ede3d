"""NDJSON bulk loading (``rhip import``): new resources by COPY, existing ones updated, bad lines rejected."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from rhip.cli import main
from rhip.fhir.search.parse import parse_query
from rhip.security.context import RequestContext
from rhip.store.bulk import drop_search_indexes, files_of, load, ndjson_lines
from rhip.store.db import migrate
from rhip.store.repository import Repository
from rhip.store.schema import INDEX_TABLES, deferrable_indexes


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _patient(i: int, gender: str = "female") -> str:
    return json.dumps(
        {
            "resourceType": "Patient",
            "id": f"p{i}",
            "identifier": [{"system": "urn:oid:2.16.156.10011.1.3", "value": f"id{i}"}],
            "name": [{"family": "王", "given": [f"{i}"]}],
            "gender": gender,
        },
        ensure_ascii=False,
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_load_new_existing_and_rejected(repo: Repository, system: RequestContext, tmp_path: Path, workers: int) -> None:
    first = _write(tmp_path / "Patient.ndjson", [_patient(i) for i in range(5)])
    report = load(repo, ndjson_lines(files_of(first)), system, chunk=2, workers=workers)
    assert (report.loaded, report.updated, report.rejected) == (5, 0, 0)

    second = _write(
        tmp_path / "more.ndjson",
        [
            _patient(1, gender="male"),  # exists: becomes version 2
            _patient(9),  # new
            "{not json",
            json.dumps({"resourceType": "Patient", "gender": "yes"}),
            json.dumps(
                {
                    "resourceType": "Observation",
                    "id": "o1",
                    "status": "final",
                    "code": {"text": "x"},
                    "subject": {"reference": "Patient/p9"},
                }
            ),
        ],
    )
    report = load(repo, ndjson_lines(files_of(second)), system, workers=workers)
    assert (report.loaded, report.updated, report.rejected) == (2, 1, 2)
    assert any("more.ndjson:3" in e for e in report.errors)
    assert any("more.ndjson:4" in e and "yes" in e for e in report.errors)

    with repo.unit(system) as unit:
        p1 = unit.read("Patient", "p1")
        assert (p1.version, p1.resource()["gender"]) == (2, "male")
        found = unit.search(parse_query("Patient", [("identifier", "urn:oid:2.16.156.10011.1.3|id9")]))
        assert [m.id for m in found.matches] == ["p9"]
        obs = unit.search(parse_query("Observation", [("subject", "Patient/p9")]))
        assert [m.id for m in obs.matches] == ["o1"]
        everyone = unit.search(parse_query("Patient", [("_count", "100")]))
        assert sorted(m.id for m in everyone.matches) == sorted(f"p{i}" for i in [0, 1, 2, 3, 4, 9])


def test_import_command(engine: Engine, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "nd"
    folder.mkdir()
    _write(folder / "Patient.ndjson", [_patient(i) for i in range(3)])
    url = engine.url.render_as_string(hide_password=False)
    assert main(["import", str(folder), "--db", url, "--data-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["loaded"], out["rejected"], out["deferred_indexes"]) == (3, 0, True)
    _write(folder / "Patient.ndjson", [_patient(i) for i in range(3, 5)])
    assert main(["import", str(folder), "--db", url, "--data-dir", str(tmp_path), "--deferred-indexes"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["loaded"], out["deferred_indexes"]) == (2, True)
    assert main(["import", str(folder), "--db", url, "--data-dir", str(tmp_path), "--no-deferred-indexes"]) == 0
    assert json.loads(capsys.readouterr().out)["deferred_indexes"] is False
    assert main(["import", str(tmp_path / "missing"), "--db", url]) == 1
    assert "no such file" in capsys.readouterr().err


def _index_definitions(engine: Engine) -> dict[str, str]:
    """Every index of the database as the engine itself describes it (name -> DDL)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            ).all()
        else:
            rows = conn.exec_driver_sql("SELECT name, coalesce(sql, '') FROM sqlite_master WHERE type = 'index'").all()
    return {str(name): str(ddl) for name, ddl in rows}


def test_load_into_empty_database_defers_and_rebuilds_the_same_indexes(
    repo: Repository, system: RequestContext, engine: Engine, tmp_path: Path
) -> None:
    migrated = _index_definitions(engine)
    assert {ix.name for ix in deferrable_indexes()} <= set(migrated)
    nd = _write(tmp_path / "Patient.ndjson", [_patient(i) for i in range(5)])
    report = load(repo, ndjson_lines(files_of(nd)), system, chunk=2, workers=1)
    assert (report.loaded, report.deferred_indexes) == (5, True)
    assert _index_definitions(engine) == migrated
    with repo.unit(system) as unit:
        found = unit.search(parse_query("Patient", [("identifier", "urn:oid:2.16.156.10011.1.3|id3")]))
    assert [m.id for m in found.matches] == ["p3"]


def test_load_into_non_empty_database_keeps_indexes(repo: Repository, system: RequestContext, tmp_path: Path) -> None:
    load(repo, ndjson_lines(files_of(_write(tmp_path / "a.ndjson", [_patient(1)]))), system, workers=1)
    report = load(repo, ndjson_lines(files_of(_write(tmp_path / "b.ndjson", [_patient(2)]))), system, workers=1)
    assert (report.loaded, report.deferred_indexes) == (1, False)


def test_failing_deferred_load_restores_indexes(
    repo: Repository, system: RequestContext, engine: Engine, tmp_path: Path
) -> None:
    migrated = _index_definitions(engine)
    nd = _write(tmp_path / "Patient.ndjson", [_patient(i) for i in range(6)])

    def lines_then_failure() -> Iterator[tuple[str, int, str]]:
        yield from ndjson_lines(files_of(nd))
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        load(repo, lines_then_failure(), system, chunk=2, workers=1, defer_indexes=True)
    assert _index_definitions(engine) == migrated
    with repo.unit(system) as unit:  # the chunks written before the failure are searchable
        found = unit.search(parse_query("Patient", [("identifier", "urn:oid:2.16.156.10011.1.3|id1")]))
    assert [m.id for m in found.matches] == ["p1"]


def test_migrate_recreates_indexes_a_dead_load_left_dropped(engine: Engine) -> None:
    migrated = _index_definitions(engine)
    drop_search_indexes(engine)  # what a load killed before its rebuild leaves behind
    assert set(migrated) - set(_index_definitions(engine)) == {ix.name for ix in deferrable_indexes()}
    migrate(engine)
    assert _index_definitions(engine) == migrated


def _stored_rows(engine: Engine, rid: int) -> dict[str, list[tuple[object, ...]]]:
    out: dict[str, list[tuple[object, ...]]] = {}
    with engine.connect() as conn:
        for table in INDEX_TABLES.values():
            cols = [c.name for c in table.columns if c.name != "rid"]
            rows = conn.exec_driver_sql(f"SELECT {', '.join(cols)} FROM {table.name} WHERE rid = {rid}").all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
        out["content"] = [tuple(conn.exec_driver_sql(f"SELECT content FROM resource_versions WHERE rid = {rid}").one())]
    return out


def test_bulk_rows_equal_the_rows_of_a_normal_write(
    repo: Repository, system: RequestContext, engine: Engine, tmp_path: Path
) -> None:
    # Values COPY's text format must escape (tab, newline, backslash), floats, dates and references.
    obs = {
        "resourceType": "Observation",
        "id": "o-bulk",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body\tweight\\kg\nx"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-03-01T08:30:00+08:00",
        "valueQuantity": {"value": 72.15, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
        "note": [{"text": "制\\表\t符"}],
    }
    load(repo, ndjson_lines(files_of(_write(tmp_path / "o.ndjson", [json.dumps(obs)]))), system, workers=1)
    with repo.unit(system) as unit:
        unit.create({**obs, "id": "ignored"})
    with engine.connect() as conn:
        rids = dict(conn.exec_driver_sql("SELECT id, rid FROM resources").all())
    other = next(i for i in rids if i != "o-bulk")
    bulk, normal = _stored_rows(engine, rids["o-bulk"]), _stored_rows(engine, rids[other])
    assert all(bulk[t] for t in ("idx_quantity", "idx_token", "idx_date", "idx_reference"))
    assert {k: v for k, v in bulk.items() if k != "content"} == {k: v for k, v in normal.items() if k != "content"}
    stored = json.loads(str(bulk["content"][0][0]))
    assert stored["code"]["coding"][0]["display"] == "Body\tweight\\kg\nx"
    assert stored["note"][0]["text"] == "制\\表\t符"
