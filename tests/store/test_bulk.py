"""NDJSON bulk loading (``rhip import``): new resources by COPY, existing ones updated, bad lines rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from rhip.cli import main
from rhip.fhir.search.parse import parse_query
from rhip.security.context import RequestContext
from rhip.store.bulk import files_of, load, ndjson_lines
from rhip.store.repository import Repository


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
    assert (out["loaded"], out["rejected"]) == (3, 0)
    assert main(["import", str(tmp_path / "missing"), "--db", url]) == 1
    assert "no such file" in capsys.readouterr().err
