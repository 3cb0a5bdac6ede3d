"""Appending to and verifying the audit chain (decisions 0013, 0025).

The chain: entries numbered gaplessly under a lock on the head row (``audit_head``; ``UPDATE … RETURNING``
takes the row lock on PostgreSQL, SQLite serialises writers anyway), each linked to the previous one with
``rhip.security.audit.link``, the head moved with them.

An event is *staged* in the caller's transaction (``audit_staging``: the record as JSON, one insert; on
PostgreSQL sent with a read's COMMIT in one message) and ``settle`` chains staged events in batches, in
staging order: by a background thread of the process that staged them (``Settings.audit_settle_ms``
later), and before anything reads the trail (``search``, ``read``, ``head``, ``verify``), so what they show
is never missing a committed event. An event still commits or vanishes with the action it describes;
only its number and link come later (decision 0025: one insert per request instead of a locked head,
three index inserts and, on PostgreSQL, a PL/pgSQL call — the largest part of the audit overhead of a
small search).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from rhip.security.audit import GENESIS, AuditRecord, decode_record, encode_record, link, patients_of, render
from rhip.store import dialect
from rhip.store.audit_tables import audit_events, audit_head, audit_patients

log = logging.getLogger(__name__)

_CHAIN = 0


def _lock_head(conn: Connection) -> tuple[int, str]:
    """Lock the chain head row and read it in one statement (``UPDATE … RETURNING``)."""
    mark = dialect.placeholder(conn)
    lock = f"UPDATE audit_head SET seq = seq WHERE chain = {mark} RETURNING seq, hash"
    row = conn.exec_driver_sql(lock, (_CHAIN,)).first()
    if row is None:
        conn.exec_driver_sql(
            f"INSERT INTO audit_head (chain, seq, hash) VALUES ({mark}, 0, {mark}) ON CONFLICT DO NOTHING",
            (_CHAIN, GENESIS),
        )
        row = conn.exec_driver_sql(lock, (_CHAIN,)).first()
    assert row is not None
    return int(row[0]), str(row[1])


@dataclass(slots=True)
class _Linked:
    events: list[tuple[Any, ...]]
    patients: list[tuple[int, str]]
    head: tuple[int, str]


def _linked(key: bytes, head: tuple[int, str], records: Sequence[AuditRecord]) -> _Linked:
    """Number, render and link ``records`` after ``head``."""
    seq, prev = head
    out = _Linked([], [], head)
    for rec in records:
        seq += 1
        content = render(seq, rec)
        digest = link(key, prev, seq, content)
        out.events.append((seq, rec.ts, rec.kind, rec.action, rec.outcome, rec.ctx.subject[:80], content, prev, digest))
        out.patients += [(seq, p) for p in rec.patients]
        prev = digest
    out.head = (seq, prev)
    return out


def append(conn: Connection, key: bytes, records: Sequence[AuditRecord], *, relaxed: bool = False) -> None:
    """Stage events in order inside the caller's transaction; ``settle`` numbers and chains them.

    ``relaxed``: the transaction commits without waiting for the WAL flush (a read's event, decision
    0013; PostgreSQL only)."""
    if not records:
        return
    if relaxed:
        dialect.relax_commit(conn)
    dialect.stage_audit(conn, [encode_record(r) for r in records])
    _staged(conn.engine, key)


def append_and_commit(conn: Connection, key: bytes, record: AuditRecord, *, relaxed: bool = False) -> None:
    """Stage the event of a unit that wrote nothing and commit its transaction (PostgreSQL: in the same
    message as the COMMIT, one round trip)."""
    if dialect.is_postgres(conn):
        dialect.stage_audit_and_commit(conn, encode_record(record), relaxed)
        _staged(conn.engine, key)
        return
    append(conn, key, [record], relaxed=relaxed)
    conn.commit()


SETTLE_BATCH = 2000
"""Staged events chained per transaction by ``settle``."""
_YIELD_EVERY = 8
"""Events rendered and linked between two releases of the GIL: a background settle of a busy server's
batch (≈ 50 µs of Python per event under load) must not hold up its requests for milliseconds."""

_keys: WeakKeyDictionary[Engine, tuple[bytes, float]] = WeakKeyDictionary()
"""The chain key and background settling delay (seconds; 0: none) each engine's repository uses."""


def use_key(engine: Engine, key: bytes, settle_after: float) -> None:
    """Let ``settle`` chain the staged events of ``engine`` with ``key`` (the repository registers its own),
    and, when ``settle_after`` > 0, a background thread do so that many seconds after a read stages one."""
    _keys[engine] = (key, settle_after)


def settle(engine: Engine, key: bytes | None = None, *, wait_ms: int = 200, look_first: bool = True) -> int:
    """Chain every staged event (decision 0025): under the head's lock, take the staged events
    in staging order, number, render and link them after the head, insert them with their patient rows,
    move the head and delete them from staging, one transaction per ``SETTLE_BATCH``. Returns how many.

    Waits at most ``wait_ms`` for the head (another settler, or a write appending) and then leaves the
    rest to whoever holds it or settles next (0 chained). Without ``key`` the registered one is used;
    with none known nothing is chained: only a holder of the key can extend the chain. ``look_first``:
    look for staged events before taking the head (a reader of the trail, when usually nothing is
    staged); the background settler, woken by a staged event, goes straight to the head."""
    if key is None:
        key = _keys.get(engine, (b"", 0.0))[0]
        if not key:
            return 0
    done = 0
    while True:
        if look_first:
            with engine.connect() as conn:  # nothing staged (most reads of the trail): no write transaction
                if conn.exec_driver_sql("SELECT 1 FROM audit_staging LIMIT 1").first() is None:
                    return done
        look_first = True  # after a full batch: more may or may not be staged
        try:
            with engine.connect() as conn, dialect.write_transaction(conn, wait_ms):
                head = _lock_head(conn)
                rows = conn.exec_driver_sql(
                    "DELETE FROM audit_staging WHERE id IN (SELECT id FROM audit_staging ORDER BY id "
                    f"LIMIT {SETTLE_BATCH}) RETURNING id, data"
                ).all()
                if not rows:
                    return done
                dialect.relax_commit(conn)  # the staged rows stay until this commits: nothing is lost
                linked = _Linked([], [], head)
                staged = sorted(rows)
                for start in range(0, len(staged), _YIELD_EVERY):
                    if start:
                        time.sleep(0)  # let request threads have the GIL between small chunks
                    chunk = [decode_record(r.data) for r in staged[start : start + _YIELD_EVERY]]
                    part = _linked(key, linked.head, chunk)
                    linked.events += part.events
                    linked.patients += part.patients
                    linked.head = part.head
                dialect.write_audit(conn, linked.events, linked.patients, (*linked.head, _CHAIN))
        except DBAPIError as exc:
            if dialect.lock_busy(exc):  # the head is busy: its holder, or the next settle, goes on
                return done
            raise
        done += len(rows)
        if len(rows) < SETTLE_BATCH:
            return done


_settlers: WeakKeyDictionary[Engine, _Settler] = WeakKeyDictionary()
_settlers_lock = threading.Lock()


def _staged(engine: Engine, key: bytes) -> None:
    """This process staged an event on ``engine``: wake (or start) its background settler."""
    known = _keys.get(engine)
    after = known[1] if known is not None else 0.0
    if known is None:
        _keys[engine] = (key, after)
    if after <= 0:
        return
    settler = _settlers.get(engine)
    if settler is not None:
        settler.wake.set()  # before looking at ``retired``: a settler retires only with no wake pending
        if not settler.retired:
            return
    with _settlers_lock:
        settler = _settlers.get(engine)
        if settler is None or settler.retired:
            settler = _Settler(engine, after)
            _settlers[engine] = settler
            settler.start()
    settler.wake.set()


def release(engine: Engine) -> int:
    """Chain what is staged on ``engine`` and stop settling for it (its key forgotten, its settler left to
    retire, nothing at exit): for a database about to be dropped or closed for good. Returns how many
    events were chained. Waits for a settle the settler has under way, so none is left running on the
    database afterwards."""
    key = _keys.get(engine, (b"", 0.0))[0]
    settler = _settlers.get(engine)
    with settler.busy if settler is not None else contextlib.nullcontext(), _settlers_lock:
        _keys.pop(engine, None)  # a settler woken from now on finds no key and touches nothing
        _settlers.pop(engine, None)
    return settle(engine, key) if key else 0


@atexit.register
def _settle_at_exit() -> None:
    """A command that staged events (``rhip import``, a stopping server) chains them before it exits,
    rather than leaving them to the next settle of another process."""
    for engine in list(_settlers.keys()):
        try:
            settle(engine)
        except Exception as exc:  # the database may be gone; the events stay staged for the next settle
            log.warning("staged audit events left for the next settle: %s", str(exc).splitlines()[0])


class _Settler(threading.Thread):
    """Chains the events this process staged, ``after`` seconds after the first of a batch; retires when
    nothing was staged for a minute or its engine is gone (the next staged event starts another)."""

    IDLE = 60.0
    VACUUM_EVERY = 1_000
    """Events chained between two VACUUMs of the staging table where autovacuum is off: every settle reads
    the whole table, dead rows included (72,000 of them, 23 MB, doubled the database's work per chained
    event: 167 → 285 µs)."""

    def __init__(self, engine: Engine, after: float) -> None:
        super().__init__(name="rhip-audit-settler", daemon=True)
        self.engine = weakref.ref(engine)
        self.after = after
        self.wake = threading.Event()
        self.retired = False
        self.since_vacuum = 0
        self.busy = threading.Lock()
        """Held while settling (``release`` waits for it)."""

    def run(self) -> None:
        while True:
            if not self.wake.wait(self.IDLE):
                with _settlers_lock:
                    if not self.wake.is_set():
                        self.retired = True
                        return
            time.sleep(self.after)  # let a batch gather
            self.wake.clear()
            engine = self.engine()
            if engine is None:
                self.retired = True
                return
            self._settle(engine)
            del engine

    def _settle(self, engine: Engine) -> None:
        with self.busy:
            self._settle_now(engine)

    def _settle_now(self, engine: Engine) -> None:
        try:
            self.since_vacuum += settle(engine, look_first=False)
            # A queue table: keep it small where autovacuum is off (SQLite reuses the pages it frees).
            if self.since_vacuum >= self.VACUUM_EVERY and dialect.is_postgres(engine):
                self.since_vacuum = 0
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM audit_staging")
        except DBAPIError as exc:  # e.g. the database is unreachable: the events stay staged
            log.warning("settling staged audit events failed: %s", str(exc.orig).splitlines()[0])
        except Exception:  # a bug: the events stay staged; the next settle chains them
            log.exception("settling staged audit events failed")


@dataclass(slots=True)
class Verification:
    entries: int = 0
    head: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "head": self.head, "problems": self.problems[:100]}


def _rows(engine: Engine, batch: int) -> Iterator[Any]:
    last = 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                select(audit_events.c.seq, audit_events.c.content, audit_events.c.prev, audit_events.c.hash)
                .where(audit_events.c.seq > last)
                .order_by(audit_events.c.seq)
                .limit(batch)
            ).all()
            seqs = [r.seq for r in rows]
            index: dict[int, list[str]] = {}
            if seqs:
                for p in conn.execute(
                    select(audit_patients.c.seq, audit_patients.c.patient).where(
                        and_(audit_patients.c.seq >= seqs[0], audit_patients.c.seq <= seqs[-1])
                    )
                ):
                    index.setdefault(p.seq, []).append(p.patient)
        if not rows:
            return
        for r in rows:
            yield r, sorted(index.get(r.seq, []))
        last = rows[-1].seq


def head(engine: Engine, key: bytes | None = None) -> tuple[int, str]:
    """The chain's last link ``(seq, hash)``, staged events chained first (``settle``): copies kept
    elsewhere (an *anchor*) let ``verify`` detect a truncated tail even when the head row was rewritten
    to match."""
    settle(engine, key)
    with engine.connect() as conn:
        row = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.chain == _CHAIN)).first()
    return (0, GENESIS) if row is None else (int(row.seq), str(row.hash))


def verify(engine: Engine, key: bytes, *, batch: int = 5000, anchor: tuple[int, str] | None = None) -> Verification:
    """Walk the whole chain: contiguous numbering, every link recomputed with the key, the patient
    index equal to each event's patients, the head pointing at the last entry, and (given an anchor
    taken earlier) the anchored entry still present with the same hash. Staged events are chained first
    (``settle``)."""
    settle(engine, key)
    out = Verification()
    prev, expected = GENESIS, 1
    anchored = anchor is None or anchor[0] == 0
    for row, indexed in _rows(engine, batch):
        if anchor is not None and row.seq == anchor[0]:
            anchored = row.hash == anchor[1]
        out.entries += 1
        if row.seq != expected:
            out.problems.append(f"entries {expected}..{row.seq - 1} are missing")
        if row.prev != prev:
            out.problems.append(f"entry {row.seq}: link to the previous entry is broken")
        if link(key, row.prev, row.seq, row.content) != row.hash:
            out.problems.append(f"entry {row.seq}: content or hash was altered")
        try:
            if patients_of(row.content) != indexed:
                out.problems.append(f"entry {row.seq}: patient index differs from the event")
        except ValueError:
            out.problems.append(f"entry {row.seq}: content is not valid JSON")
        prev, expected = row.hash, row.seq + 1
    with engine.connect() as conn:
        last = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.chain == _CHAIN)).first()
    out.head = int(last.seq) if last else 0
    if out.head != expected - 1 or (last is not None and last.hash != prev):
        out.problems.append(f"chain head ({out.head}) does not match the last entry ({expected - 1}): entries removed")
    if not anchored and anchor is not None:
        out.problems.append(f"anchored entry {anchor[0]} is missing or differs: the chain was truncated or rewritten")
    return out


def search(
    conn: Connection,
    *,
    patient: str | None = None,
    agent: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    action: list[str] | None = None,
    outcome: list[str] | None = None,
    before_seq: int | None = None,
    count: int = 50,
) -> list[tuple[int, str]]:
    """Events newest first as ``(seq, AuditEvent JSON)``, keyset-paged by ``before_seq``; staged events
    are chained first (``settle``, with the engine's registered key)."""
    settle(conn.engine)
    e = audit_events.c
    stmt = select(e.seq, e.content)
    if patient is not None:
        stmt = stmt.where(e.seq.in_(select(audit_patients.c.seq).where(audit_patients.c.patient == patient)))
    if agent is not None:
        stmt = stmt.where(e.agent == agent)
    if since_ms is not None:
        stmt = stmt.where(e.ts >= since_ms)
    if until_ms is not None:
        stmt = stmt.where(e.ts < until_ms)
    if action is not None:
        stmt = stmt.where(e.action.in_(action))
    if outcome is not None:
        stmt = stmt.where(e.outcome.in_(outcome))
    if before_seq is not None:
        stmt = stmt.where(e.seq < before_seq)
    return [(int(r.seq), str(r.content)) for r in conn.execute(stmt.order_by(e.seq.desc()).limit(count))]


def read(conn: Connection, seq: int) -> str | None:
    settle(conn.engine)
    row = conn.execute(select(audit_events.c.content).where(audit_events.c.seq == seq)).first()
    return None if row is None else str(row.content)
