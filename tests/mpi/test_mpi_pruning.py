"""Scoring only the candidates that can matter decides exactly what scoring all of them decides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rhip.mpi.batch import BlockIndex
from rhip.mpi.index import Registration
from rhip.mpi.keys import record_keys
from rhip.mpi.matching import decide_registration, frequencies_of, score_candidates
from rhip.mpi.model_store import default_model
from rhip.mpi.records import patient_record
from rhip.mpi.spec import person_spec


@pytest.fixture(scope="module")
def registrations(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict[str, Any], int]]:
    """A noisy synthetic region's Patients (records) with their true person as a number."""
    from rhip.synth import generate

    out: Path = tmp_path_factory.mktemp("region")
    generate(seed=11, residents=400, years=1, out=out, formats=("fhir-ndjson",), noise=0.4)
    truth = {}
    for line in (out / "ground_truth.csv").read_text(encoding="utf-8").splitlines()[1:]:
        reg, person = line.split(",")[:2]
        truth[reg] = person
    numbers: dict[str, int] = {}
    rows = []
    with (out / "fhir" / "Patient.ndjson").open(encoding="utf-8") as fh:
        for line in fh:
            p = json.loads(line)
            person = numbers.setdefault(truth[f"Patient/{p['id']}"], len(numbers) + 1)
            rows.append((patient_record(p), person))
    return rows


def test_pruned_scoring_gives_the_same_decisions(registrations: list[tuple[dict[str, Any], int]]) -> None:
    spec, model = person_spec(), default_model()
    blocks = BlockIndex(spec, model)
    regs: dict[int, Registration] = {}
    compared = pruned = 0
    for rid, (record, person) in enumerate(registrations, start=1):
        keys = record_keys(record, spec)
        found = [(regs[o], rule) for o, rule in blocks.candidates(rid, keys).items()]
        tf = frequencies_of(record, blocks.names.get(str(record.get("name"))[:128], 0) + 1, blocks.name_total + 1)
        full = score_candidates(record, found, spec, model, tf, prune=False)
        kept = score_candidates(record, found, spec, model, tf)
        holders = {c.reg.person: None for c in full}
        a = decide_registration(record, full, holders, model)
        b = decide_registration(record, kept, holders, model)
        assert (a.target, a.decision, a.status) == (b.target, b.decision, b.status)
        assert [(p.person, p.cand.reg.rid, p.why) for p in a.pairs] == [
            (p.person, p.cand.reg.rid, p.why) for p in b.pairs
        ]
        assert (a.top and (a.top.cand.reg.rid, a.top.why)) == (b.top and (b.top.cand.reg.rid, b.top.why))
        compared += len(full)
        pruned += len(full) - len(kept)
        regs[rid] = Registration(rid, str(rid), person, "auto", "x", 0, rid, record)
        blocks.add(rid, record, keys)
    assert compared > 1000
    assert pruned > compared // 5  # a good share is left out before every comparison ran
