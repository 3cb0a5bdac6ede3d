"""The research export of a synthetic county, on SQLite and PostgreSQL (the acceptance test of issue 6:
every quasi-identifier combination released occurs for at least k persons)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from rhip.security.context import RequestContext
from rhip.security.deid import ExportReport, Keys, export
from rhip.settings import Settings
from rhip.store.bulk import files_of, load, ndjson_lines
from rhip.store.repository import Repository
from rhip.store.schema import metadata
from rhip.synth.engine import generate

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
K = 5


@dataclass
class Run:
    source: dict[str, list[dict[str, Any]]]
    out: Path
    report: ExportReport
    released: dict[str, list[dict[str, Any]]]


def read(folder: Path) -> dict[str, list[dict[str, Any]]]:
    return {f.stem: [json.loads(line) for line in f.read_text().splitlines()] for f in sorted(folder.glob("*.ndjson"))}


@pytest.fixture(scope="module")
def runs(engines: dict[str, Engine], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """The same synthetic county loaded into both engines and exported with the same key."""
    synth = tmp_path_factory.mktemp("synth")
    generate(seed=11, residents=60, years=1, out=synth, noise=0.0)
    source = read(synth / "fhir")
    made = {}
    for name, engine in engines.items():
        with engine.begin() as conn:  # the suite's wipe: this fixture outlives the per-test `engine`
            for table in reversed(metadata.sorted_tables):
                conn.execute(text(f"DELETE FROM {table.name}"))
        tmp = tmp_path_factory.mktemp(f"deid-{name}")
        repo = Repository(engine, Settings(data_dir=tmp, jwt_secret="test-secret-key-of-sufficient-length-0123"))
        load(repo, ndjson_lines(files_of(synth / "fhir")), RequestContext.system("test"), workers=1)
        report = export(repo, tmp / "out", key=KEY, k=K)
        made[name] = Run(source, tmp / "out", report, read(tmp / "out"))
    return made


@pytest.fixture(params=["sqlite", "postgresql"])
def run(request: pytest.FixtureRequest, runs: dict[str, Run]) -> Run:
    return runs[request.param]


def test_every_quasi_identifier_combination_occurs_for_at_least_k_persons(run: Run) -> None:
    persons: dict[str, set[str]] = defaultdict(set)
    for p in run.released["Patient"]:
        released = {key: value for key, value in p.items() if key not in ("id", "meta", "identifier")}
        persons[json.dumps(released, sort_keys=True)].add(p["identifier"][0]["value"])
    assert persons
    assert min(len(v) for v in persons.values()) >= K
    assert run.report.classes == len(persons)


def test_suppression_stays_within_the_budget(run: Run) -> None:
    assert run.report.feasible
    assert run.report.suppressed_persons <= 0.05 * run.report.persons


def identifying_values(source: dict[str, list[dict[str, Any]]]) -> set[str]:
    found: set[str] = set()
    for rtype, resources in source.items():
        for res in resources:
            found.add(res["id"])
            if rtype != "Location":  # GB/T 2260 codes of jurisdictions: released as generalised addresses
                idents = res.get("identifier", [])
                found.update(i["value"] for i in (idents if isinstance(idents, list) else [idents]))
            if rtype in ("Patient", "RelatedPerson", "Practitioner"):
                found.update(n["text"] for n in res.get("name", []))
                found.update(t["value"] for t in res.get("telecom", []))
                for a in res.get("address", []):
                    found.add(a["text"])
                    found.update(line for line in a.get("line", []) if len(line) >= 3)
    return {v for v in found if len(v) >= 2}


def strings(node: Any) -> set[str]:
    if isinstance(node, dict):
        return {s for v in node.values() for s in strings(v)}
    if isinstance(node, list):
        return {s for v in node for s in strings(v)}
    return {node} if isinstance(node, str) else set()


PSEUDONYM = re.compile(r"^(?:[A-Za-z]+/)?[0-9a-f]{32}$")


def test_no_direct_identifier_of_the_input_appears_in_the_output(run: Run) -> None:
    values = strings(run.released) | strings(json.loads((run.out / "report.json").read_text()))
    secrets = identifying_values(run.source)
    assert len(secrets) > 3000
    assert secrets.isdisjoint(values)
    # Inside longer strings too (pseudonyms are random hex: an ID number cannot hide in one).
    text = "\n".join(v for v in values if not PSEUDONYM.match(v))
    assert sorted(s for s in secrets if s in text) == []


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        ref = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return ref + [r for v in node.values() for r in references(v)]
    if isinstance(node, list):
        return [r for v in node for r in references(v)]
    return []


def test_every_reference_resolves_within_the_export(run: Run) -> None:
    out = run.released
    present = {f"{rtype}/{r['id']}" for rtype, rs in out.items() for r in rs}
    refs = [ref for rs in out.values() for r in rs for ref in references(r) if not ref.startswith("#")]
    assert len(refs) > 1000
    assert [ref for ref in refs if ref not in present] == []


def test_every_date_of_a_person_moves_by_one_nonzero_offset(run: Run) -> None:
    keys = Keys(KEY)
    out = {(rtype, r["id"]): r for rtype, rs in run.released.items() for r in rs}
    offsets: dict[str, set[int]] = defaultdict(set)
    compared = 0
    for rtype in ("Encounter", "Condition", "Observation", "MedicationRequest", "Immunization"):
        for res in run.source.get(rtype, []):
            released = out.get((rtype, keys.resource_id(rtype, res["id"])))
            if released is None:
                continue
            person = (res.get("subject") or res.get("patient"))["reference"]
            for field in ("effectiveDateTime", "onsetDateTime", "recordedDate", "authoredOn", "occurrenceDateTime"):
                if field in res:
                    offsets[person].add((_day(released[field]) - _day(res[field])).days)
                    assert released[field][10:] == res[field][10:]  # time of day and zone kept
                    compared += 1
            if "period" in res and "end" in res["period"]:
                before = _day(res["period"]["end"]) - _day(res["period"]["start"])
                after = _day(released["period"]["end"]) - _day(released["period"]["start"])
                assert after == before
    assert compared > 500
    assert all(len(v) == 1 for v in offsets.values())
    assert all(0 < abs(next(iter(v))) <= 180 for v in offsets.values())
    assert len({next(iter(v)) for v in offsets.values()}) > 10


def _day(value: str) -> date:
    return date.fromisoformat(value[:10])


def without_last_updated(released: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {t: [{**r, "meta": {**r.get("meta", {}), "lastUpdated": ""}} for r in rs] for t, rs in released.items()}


def test_the_same_key_gives_the_same_export_on_both_engines(runs: dict[str, Run]) -> None:
    """Only meta.lastUpdated differs: it is the (shifted) time each database loaded the resource."""
    sqlite, postgresql = runs["sqlite"], runs["postgresql"]
    assert without_last_updated(sqlite.released) == without_last_updated(postgresql.released)
    for t in sqlite.released:  # same order too
        assert [r["id"] for r in sqlite.released[t]] == [r["id"] for r in postgresql.released[t]]
    assert sqlite.report.to_json() == postgresql.report.to_json()


def test_the_report_describes_the_export_without_the_key(run: Run) -> None:
    report = json.loads((run.out / "report.json").read_text())
    assert KEY.hex() not in json.dumps(report)
    assert report["keyFingerprint"] == Keys(KEY).fingerprint()
    assert report["k"] == K
    assert set(report["levels"]) == {"birth", "gender", "address", "ethnicity", "marital", "deceased"}
    assert report["dateShift"] == {"minDays": -180, "maxDays": 180, "zeroExcluded": True}
    lines = {f.stem: len(f.read_text().splitlines()) for f in run.out.glob("*.ndjson")}
    assert report["counts"] == lines
    households = [{m["entity"]["reference"] for m in g["member"]} for g in run.source["Group"]]
    assert report["dropped"]["several-persons"] >= sum(len(h) > 1 for h in households) > 0


def test_household_groups_of_several_persons_are_not_released(run: Run) -> None:
    assert all(len(g.get("member", [])) <= 1 for g in run.released.get("Group", []))


def test_an_export_refuses_a_folder_that_holds_one(runs: dict[str, Run], engines: dict[str, Engine]) -> None:
    run = runs["sqlite"]
    repo = Repository(engines["sqlite"], Settings(jwt_secret="test-secret-key-of-sufficient-length-0123"))
    with pytest.raises(FileExistsError):
        export(repo, run.out, key=KEY)


def test_short_keys_and_unknown_quasi_identifiers_are_refused(runs: dict[str, Run], engines: dict[str, Engine]) -> None:
    run = runs["sqlite"]
    repo = Repository(engines["sqlite"], Settings(jwt_secret="test-secret-key-of-sufficient-length-0123"))
    with pytest.raises(ValueError, match="16 bytes"):
        export(repo, run.out / "x", key=b"short")
    with pytest.raises(ValueError, match="unknown quasi-identifiers"):
        export(repo, run.out / "y", key=KEY, quasi=("birth", "occupation"))
