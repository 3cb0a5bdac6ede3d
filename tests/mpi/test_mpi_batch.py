"""Batch jobs and hard cases: dedupe equals online (and resumes), training stores a model, a noisy
synthetic region links without false merges, namesakes stay bounded, concurrent writers make one person."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from factories import patient
from feeds import feed, write
from sqlalchemy import Engine, func, select

from rhip.identity import check_digit
from rhip.mpi.jobs import dedupe, train_stored
from rhip.mpi.model_store import newest_version
from rhip.mpi.online import Matcher
from rhip.mpi.tables import mpi_decisions, mpi_persons, mpi_registrations
from rhip.store.repository import Repository


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """A small noisy synthetic region: Patients (register + facility registrations) and ground truth."""
    from rhip.synth import generate

    out: Path = tmp_path_factory.mktemp("region")
    generate(seed=5, residents=60, years=1, out=out, formats=("fhir-ndjson",), noise=0.3)
    with (out / "fhir" / "Patient.ndjson").open(encoding="utf-8") as fh:
        patients = [json.loads(line) for line in fh]
    truth = {}
    for line in (out / "ground_truth.csv").read_text(encoding="utf-8").splitlines()[1:]:
        reg, person = line.split(",")[:2]
        truth[reg.removeprefix("Patient/")] = person
    return patients, truth


def load(repo: Repository, patients: list[dict[str, Any]]) -> None:
    with repo.unit(feed("hospital-a")) as unit:
        for p in patients:
            unit.update("Patient", p["id"], p)


def partition(engine: Engine) -> set[frozenset[str]]:
    groups: dict[int, set[str]] = defaultdict(set)
    with engine.connect() as conn:
        for row in conn.execute(select(mpi_registrations.c.id, mpi_registrations.c.person)):
            groups[int(row.person)].add(str(row.id))
    return {frozenset(g) for g in groups.values()}


def decisions(engine: Engine) -> list[tuple[Any, ...]]:
    d = mpi_decisions.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(d.rid, d.other, d.decision, d.score, d.rule, d.blocking, d.fields).where(d.kind == "match")
        )
        return sorted(tuple(r) for r in rows)


def test_online_links_noisy_region_without_false_merges_and_dedupe_is_identical(
    repo: Repository, engine: Engine, region: tuple[list[dict[str, Any]], dict[str, str]], matcher: Matcher
) -> None:
    patients, truth = region
    load(repo, patients)
    online = partition(engine)
    assert max(len({truth[i] for i in group}) for group in online) == 1  # no false merge
    persons = {truth[p["id"]] for p in patients}
    split = sum(1 for person in persons if sum(1 for g in online if any(truth[i] == person for i in g)) > 1)
    assert split / len(persons) < 0.1
    with engine.connect() as conn:
        fields = json.loads(conn.execute(select(mpi_decisions.c.fields).limit(1)).scalar_one())
    assert {"comparison", "level", "weight", "m", "u"} <= set(fields[0]) if fields else True
    before = decisions(engine)
    # resumable: stop after two chunks, then resume to the end
    partial = dedupe(engine, matcher, restart=True, chunk=40, stop_after=2)
    assert partial.registrations == 80
    report = dedupe(engine, matcher, chunk=40)
    assert (report.resumed_from > 0, report.registrations) == (True, len(patients) - 80)
    assert partition(engine) == online
    assert decisions(engine) == before


def test_train_stores_a_model_that_matching_then_uses(
    repo: Repository, engine: Engine, region: tuple[list[dict[str, Any]], dict[str, str]], matcher: Matcher
) -> None:
    load(repo, region[0][:120])
    model = train_stored(engine, matcher, u_pairs=5000)
    with engine.connect() as conn:
        assert newest_version(conn) == model.version
    write(repo, patient("a"))
    with engine.connect() as conn:
        used = conn.execute(select(mpi_decisions.c.model).order_by(mpi_decisions.c.id.desc()).limit(1)).scalar_one()
    assert used == model.version


def test_absurd_input_gets_a_person_of_its_own(repo: Repository, engine: Engine) -> None:
    nothing = write(repo, {"resourceType": "Patient", "birthDate": "1066-10-14", "gender": "unknown"})
    future = write(repo, {"resourceType": "Patient", "birthDate": "2999-01-01", "name": [{"text": "张伟"}]})
    with engine.connect() as conn:
        rows = conn.execute(select(mpi_decisions.c.rule).where(mpi_decisions.c.kind == "match")).all()
        n = conn.execute(select(func.count()).select_from(mpi_persons)).scalar_one()
    assert (n, {r.rule for r in rows}) == (2, {"no candidates share a blocking key"})
    assert nothing != future


def ric(n: int) -> str:
    body = f"11010519800101{n:03d}"
    return body + check_digit(body)


def test_two_thousand_namesakes_stay_bounded(repo: Repository, engine: Engine) -> None:
    """2,000 张伟 born the same day: a write compares a capped neighbourhood, not the whole block."""
    with repo.unit(feed("hospital-a")) as unit:
        unit.deferred = True
        for i in range(2000):
            body = patient("x", ric=None, birth="1980-01-01", phone=f"139{i:08d}", division=None, gender=None)
            unit.create({k: v for k, v in body.items() if k != "id" and v != []})
    t0 = time.perf_counter()
    last = write(repo, patient("y", ric=None, birth="1980-01-01", phone="13712345678", division=None))
    elapsed = time.perf_counter() - t0
    with engine.connect() as conn:
        rid = conn.execute(select(mpi_registrations.c.rid).where(mpi_registrations.c.id == last)).scalar_one()
        rows = conn.execute(select(func.count()).where(mpi_decisions.c.rid == rid)).scalar_one()
        block = conn.execute(select(func.count()).where(mpi_registrations.c.person > 0)).scalar_one()
    assert block == 2001
    assert rows <= 2 * 10 + 1  # at most the sorted neighbourhood of the capped name+birth block
    assert elapsed < 2.0


@pytest.mark.parametrize("rounds", [6])
def test_concurrent_writes_of_one_person_from_two_sources_make_one_person(
    repo: Repository, engine: Engine, rounds: int
) -> None:
    errors: list[BaseException] = []
    for r in range(rounds):
        number = ric(r + 1)
        barrier = threading.Barrier(2)

        def worker(who: str, phone: str, number: str = number, barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait()
                write(repo, patient("p", ric=number, birth="1980-01-01", phone=phone), who)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [
            threading.Thread(target=worker, args=("hospital-a", "13800000001")),
            threading.Thread(target=worker, args=("clinic-b", "13800000002")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads), "deadlock"
    assert errors == []
    with engine.connect() as conn:
        persons = conn.execute(select(func.count()).where(mpi_persons.c.status == "active")).scalar_one()
        regs = conn.execute(select(func.count()).select_from(mpi_registrations)).scalar_one()
    assert (persons, regs) == (rounds, 2 * rounds)
