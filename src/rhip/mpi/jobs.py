"""Batch jobs of the index: ``rhip mpi train`` (EM on the stored registrations) and ``rhip mpi dedupe``.

Dedupe re-links the whole database by replaying online matching over every current Patient in write
(rid) order: the same decision code (:func:`rhip.mpi.matching.decide_registration`) over the same
inputs, which it keeps in memory instead of reading them from the tables one registration at a time
(:mod:`rhip.mpi.batch`), so its result is by construction the one online matching gives for the same
registrations in the same order. It runs in chunks of ``chunk`` registrations, each written in bulk in
one transaction together with the job's cursor in ``mpi_state``: an interrupted run continues where it
stopped (the memory is rebuilt from the tables), ``--restart`` starts over. Automatic state (persons,
keys, counts, reviews, match decisions) is rebuilt; each registration keeps its source and trust;
clerk decisions stay in ``mpi_decisions`` as history but are not replayed. While a run is under way
(its cursor row exists) Patient writes are refused with 503: matched against a half-built index they
could found duplicate persons the job would not see. Nothing reads the index tables while a run is
under way, so a run from scratch drops their secondary indexes and counts the blocks only at its end,
where it builds the indexes again (an interrupted run leaves them for the run that completes it).

Normalising the Patients (``patient_record``: pinyin, simplified characters, ID numbers) is the
larger part of the work and independent per Patient; with ``workers`` > 0 it runs in that many
processes, reading ahead of the matching.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.engine import Connection

from rhip.fhir import json as fjson
from rhip.mpi import index
from rhip.mpi.batch import BatchMatcher, BlockIndex, ChunkWriter, PersonIndex, Prepared, Sealed, Sealer
from rhip.mpi.model import MatchModel
from rhip.mpi.model_store import store_model
from rhip.mpi.online import Matcher
from rhip.mpi.records import patient_record
from rhip.mpi.tables import mpi_decisions, mpi_registrations, mpi_state
from rhip.mpi.training import train
from rhip.store import dialect
from rhip.store.schema import resource_versions, resources

STATE = index.DEDUPE_STATE


def _patients(conn: Connection, after: int, limit: int) -> list[Any]:
    r, v = resources.c, resource_versions.c
    j = resources.join(resource_versions, (v.rid == r.rid) & (v.version == r.version))
    stmt = (
        select(r.rid, r.id, r.lu, v.content)
        .select_from(j)
        .where(r.rtype == "Patient", r.deleted.is_(False), r.rid > after)
        .order_by(r.rid)
        .limit(limit)
    )
    return list(conn.execute(stmt))


def stored_records(engine: Engine, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Match records of every current Patient, read in rid order."""
    after = 0
    while True:
        with engine.connect() as conn:
            rows = _patients(conn, after, batch)
        if not rows:
            return
        for row in rows:
            yield patient_record(fjson.loads(row.content))
        after = int(rows[-1].rid)


def train_stored(engine: Engine, matcher: Matcher, *, u_pairs: int = 200_000, seed: int = 42) -> MatchModel:
    """Fit a model (u from random pairs, m by EM) on the stored Patients and store it as the newest."""
    records = list(stored_records(engine))
    if len(records) < 2:
        raise ValueError("at least two Patients are needed to train a model")
    model, _ = train(records, matcher.spec, u_pairs=u_pairs, seed=seed)
    with engine.connect().execution_options(rhip_write=True) as conn:
        conn.begin()
        store_model(conn, model, time.time_ns() // 1_000_000)
        conn.commit()
    matcher.models.invalidate()
    return model


@dataclass
class DedupeReport:
    registrations: int = 0
    resumed_from: int = 0
    chunks: int = 0
    seconds: float = 0.0
    decisions: dict[str, int] = field(default_factory=dict)
    index: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # registered online while the run was under way (not expected: writes are refused)


def _reset(conn: Connection) -> None:
    index.clear(conn)
    conn.execute(delete(mpi_decisions).where(mpi_decisions.c.kind.in_(("match", "delete"))))
    conn.execute(update(mpi_registrations).values(status="pending", person=0))
    index.drop_secondary_indexes(conn)


def _state(conn: Connection) -> dict[str, Any] | None:
    text = conn.execute(select(mpi_state.c.value).where(mpi_state.c.name == STATE)).scalar()
    return json.loads(text) if text else None


def _save_state(conn: Connection, state: dict[str, Any], *, new: bool) -> None:
    text = json.dumps(state)
    if new:
        conn.execute(mpi_state.insert().values(name=STATE, value=text))
    else:
        conn.execute(update(mpi_state).where(mpi_state.c.name == STATE).values(value=text))


def _existing(conn: Connection, rids: list[int]) -> dict[int, tuple[str, str]]:
    """Registration rows (source, status) of the chunk's Patients (pending since the reset)."""
    r = mpi_registrations.c
    rows = conn.execute(select(r.rid, r.source, r.status).where(r.rid.in_(rids)))
    return {int(x.rid): (str(x.source), str(x.status)) for x in rows}


Chunk = tuple[int, list[Prepared]]
"""A chunk's last rid (the cursor after it) and its registrations, prepared (keys, scored candidates)."""


Normalised = tuple[int, list[tuple[int, str, int, str, dict[str, Any], bool, Sealed]]]
"""A chunk's last rid and its new registrations: (rid, id, lu, source, match record, whether a pending
registration row exists, what the writer stores sealed)."""


def _normalised(engine: Engine, cursor: int, chunk: int, trusted: frozenset[str]) -> Iterator[Normalised]:
    """Read, normalise and seal the Patients after ``cursor``, a chunk at a time (with their sources)."""
    sealer: Sealer | None = None
    while True:
        with engine.connect() as conn:
            sealer = sealer or Sealer(conn, trusted)
            rows = _patients(conn, cursor, chunk)
            existing = _existing(conn, [int(r.rid) for r in rows]) if rows else {}
        if not rows:
            return
        out = []
        for r in rows:
            old = existing.get(int(r.rid))
            if old is not None and old[1] != "pending":
                continue  # registered online while the run was under way (writes are refused: not expected)
            source = old[0] if old is not None else "bulk"
            rid, id, lu, record = int(r.rid), str(r.id), int(r.lu), patient_record(fjson.loads(r.content))
            out.append((rid, id, lu, source, record, old is not None, sealer.seal(rid, id, lu, source, record)))
        cursor = int(rows[-1].rid)
        yield cursor, out


def _prepared(
    engine: Engine, matcher: Matcher, model: MatchModel, chunks: Iterable[Normalised], blocks: BlockIndex | None
) -> Iterator[Chunk]:
    """Keys and scored candidates of every registration (``blocks``: None = load it when resuming)."""
    if blocks is None:
        blocks = BlockIndex(matcher.spec, model)
        with engine.connect() as conn:
            blocks.load(conn)
    for cursor, items in chunks:
        yield cursor, [blocks.prepare(*item) for item in items]


def _child(queue: Any, engine: Engine, make: Callable[[], Iterable[Any]]) -> None:
    """Child process: put what ``make()`` yields on ``queue``, then None (or the failure)."""
    engine.dispose(close=False)  # the parent's pooled connections are not ours
    try:
        for item in make():
            queue.put(item)
        queue.put(None)
    except BaseException as exc:  # reported to the parent, which raises it
        queue.put(RuntimeError(f"dedupe worker failed: {exc!r}"))


def _drain(queue: Any) -> Iterator[Any]:
    while True:
        item = queue.get()
        if item is None:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


@contextmanager
def _chunks(
    engine: Engine,
    matcher: Matcher,
    model: MatchModel,
    cursor: int,
    chunk: int,
    workers: int,
    blocks: BlockIndex | None,
) -> Iterator[Iterator[Chunk]]:
    """The prepared chunks after ``cursor``: in this process (``workers`` 0), from one child that reads,
    normalises and prepares (1), or from two children, one reading and normalising, one preparing (2)."""
    if workers <= 0 or "fork" not in mp.get_all_start_methods():
        yield _prepared(engine, matcher, model, _normalised(engine, cursor, chunk, matcher.trusted), blocks)
        return
    ctx = mp.get_context("fork")
    procs = []
    out = ctx.Queue(maxsize=2)
    if workers == 1:
        make: Callable[[], Iterable[Any]] = lambda: _prepared(  # noqa: E731
            engine, matcher, model, _normalised(engine, cursor, chunk, matcher.trusted), None
        )
        procs.append(ctx.Process(target=_child, args=(out, engine, make), daemon=True))
    else:
        mid = ctx.Queue(maxsize=2)
        read: Callable[[], Iterable[Any]] = lambda: _normalised(engine, cursor, chunk, matcher.trusted)  # noqa: E731
        prep: Callable[[], Iterable[Any]] = lambda: _prepared(engine, matcher, model, _drain(mid), None)  # noqa: E731
        procs.append(ctx.Process(target=_child, args=(mid, engine, read), daemon=True))
        procs.append(ctx.Process(target=_child, args=(out, engine, prep), daemon=True))
    for proc in procs:
        proc.start()
    try:
        yield _drain(out)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()


def dedupe(
    engine: Engine,
    matcher: Matcher,
    *,
    restart: bool = False,
    chunk: int = 5000,
    stop_after: int | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> DedupeReport:
    """Re-link every Patient (resumable); ``stop_after`` chunks simulates an interruption (tests);
    ``workers``: child processes preparing ahead of the decisions (see :func:`_chunks`; default 2 with
    2+ CPUs, else 0)."""
    t0 = time.perf_counter()
    report = DedupeReport()
    persons = PersonIndex()
    if workers is None:
        workers = 2 if (os.cpu_count() or 1) > 1 else 0
    with engine.connect().execution_options(rhip_write=True) as conn:
        conn.begin()
        state = _state(conn)
        model = matcher.models.current(conn)
        blocks: BlockIndex | None = None
        if state is None or restart:
            index.lock_dedupe(conn)
            if state is not None:
                conn.execute(delete(mpi_state).where(mpi_state.c.name == STATE))
            _reset(conn)
            state = {"cursor": 0, "started": time.time_ns() // 1_000_000}
            _save_state(conn, state, new=True)
            if workers <= 0:
                blocks = BlockIndex(matcher.spec, model)
        elif int(state["cursor"]) > 0:
            regs = persons.load(conn)
            if workers <= 0:  # one process: the block index shares the records
                blocks = BlockIndex(matcher.spec, model)
                blocks.load(conn, {r.rid: r.record for r in regs})
        conn.commit()
    batch = BatchMatcher(matcher.spec, model, persons, matcher.trusted)
    writer = ChunkWriter(persons)
    report.resumed_from = int(state["cursor"])
    finished = False
    with _chunks(engine, matcher, model, report.resumed_from, chunk, workers, blocks) as chunks:
        for part in chunks:
            if stop_after is not None and report.chunks >= stop_after:
                break
            _dedupe_chunk(engine, batch, writer, state, part, report)
            report.chunks += 1
            if progress is not None:
                progress(report.registrations)
        else:
            finished = True
    if not finished:
        report.seconds = time.perf_counter() - t0
        return report  # interrupted on purpose: the cursor stays
    with engine.connect().execution_options(rhip_write=True) as conn:
        conn.begin()
        conn.execute(delete(mpi_registrations).where(mpi_registrations.c.status == "pending"))
        index.count_blocks(conn)
        index.build_secondary_indexes(conn)
        conn.execute(delete(mpi_state).where(mpi_state.c.name == STATE))
        report.index = index.counts(conn)
        conn.commit()
    dialect.analyze(engine, list(index.ANALYZED))  # planner statistics of the rebuilt tables
    report.seconds = time.perf_counter() - t0
    return report


def _dedupe_chunk(
    engine: Engine,
    batch: BatchMatcher,
    writer: ChunkWriter,
    state: dict[str, Any],
    part: Chunk,
    report: DedupeReport,
) -> None:
    """Decide one prepared chunk and write it with the cursor, in one transaction."""
    cursor, items = part
    with engine.connect().execution_options(rhip_write=True) as conn:
        conn.begin()
        steps = []
        for item in items:
            step = batch.decide(item)
            steps.append(step)
            report.decisions[step.plan.decision] = report.decisions.get(step.plan.decision, 0) + 1
        writer.write(conn, steps, {item.rid for item in items if item.pending})
        report.registrations += len(steps)
        _save_state(conn, {**state, "cursor": cursor}, new=False)
        conn.commit()
