"""Batch jobs of the index: ``rhip mpi train`` (EM on the stored registrations) and ``rhip mpi dedupe``.

Dedupe re-links the whole database by replaying the online matcher (:class:`rhip.mpi.online.Matcher`)
over every current Patient in write (rid) order, so its result is by construction the one online
matching gives for the same registrations in the same order — a separate batch algorithm could not
promise that. It runs in chunks of ``chunk`` registrations, one transaction each, and keeps its cursor
in ``mpi_state``: an interrupted run continues where it stopped (``--restart`` starts over). Automatic
state (persons, keys, counts, reviews, match decisions) is rebuilt; each registration keeps its
source and trust; clerk decisions stay in ``mpi_decisions`` as history but are not replayed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.engine import Connection

from rhip.fhir import json as fjson
from rhip.mpi import index
from rhip.mpi.model import MatchModel
from rhip.mpi.model_store import store_model
from rhip.mpi.online import Matcher
from rhip.mpi.records import patient_record
from rhip.mpi.tables import (
    mpi_blocks,
    mpi_decisions,
    mpi_keys,
    mpi_persons,
    mpi_registrations,
    mpi_reviews,
    mpi_state,
    mpi_term_counts,
)
from rhip.mpi.training import train
from rhip.store.schema import resource_versions, resources

STATE = "dedupe"


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


def _reset(conn: Connection) -> None:
    for table in (mpi_keys, mpi_blocks, mpi_term_counts, mpi_persons, mpi_reviews):
        conn.execute(delete(table))
    conn.execute(delete(mpi_decisions).where(mpi_decisions.c.kind.in_(("match", "delete"))))
    conn.execute(update(mpi_registrations).values(status="pending", person=0))


def _state(conn: Connection) -> dict[str, Any] | None:
    text = conn.execute(select(mpi_state.c.value).where(mpi_state.c.name == STATE)).scalar()
    return json.loads(text) if text else None


def _save_state(conn: Connection, state: dict[str, Any], *, new: bool) -> None:
    text = json.dumps(state)
    if new:
        conn.execute(mpi_state.insert().values(name=STATE, value=text))
    else:
        conn.execute(update(mpi_state).where(mpi_state.c.name == STATE).values(value=text))


def dedupe(
    engine: Engine,
    matcher: Matcher,
    *,
    restart: bool = False,
    chunk: int = 500,
    stop_after: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> DedupeReport:
    """Re-link every Patient (resumable); ``stop_after`` chunks simulates an interruption (tests)."""
    t0 = time.perf_counter()
    report = DedupeReport()
    with engine.connect().execution_options(rhip_write=True) as conn:
        conn.begin()
        state = _state(conn)
        if state is None or restart:
            if state is not None:
                conn.execute(delete(mpi_state).where(mpi_state.c.name == STATE))
            _reset(conn)
            state = {"cursor": 0, "started": time.time_ns() // 1_000_000}
            _save_state(conn, state, new=True)
        conn.commit()
    report.resumed_from = int(state["cursor"])
    cursor = report.resumed_from
    while stop_after is None or report.chunks < stop_after:
        with engine.connect().execution_options(rhip_write=True) as conn:
            conn.begin()
            rows = _patients(conn, cursor, chunk)
            if not rows:
                conn.rollback()
                break
            existing = index.registrations(conn, [int(r.rid) for r in rows])
            for row in rows:
                old = existing.get(int(row.rid))
                if old is not None and old.status != "pending":
                    continue  # registered online while the job ran
                source = old.source if old is not None else "bulk"
                out = matcher.register(
                    conn, int(row.rid), str(row.id), fjson.loads(row.content), int(row.lu), source, fresh=old is None
                )
                report.decisions[out.decision] = report.decisions.get(out.decision, 0) + 1
                report.registrations += 1
            cursor = int(rows[-1].rid)
            _save_state(conn, {**state, "cursor": cursor}, new=False)
            conn.commit()
        report.chunks += 1
        if progress is not None:
            progress(report.registrations)
    else:
        report.seconds = time.perf_counter() - t0
        return report  # interrupted on purpose: the cursor stays
    with engine.connect().execution_options(rhip_write=True) as conn:
        conn.begin()
        conn.execute(delete(mpi_registrations).where(mpi_registrations.c.status == "pending"))
        conn.execute(delete(mpi_state).where(mpi_state.c.name == STATE))
        report.index = index.counts(conn)
        conn.commit()
    report.seconds = time.perf_counter() - t0
    return report
