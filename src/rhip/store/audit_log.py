"""Appending to and verifying the audit chain (decision 0013).

Appends lock the chain head row (``UPDATE audit_head …`` takes the row lock on PostgreSQL; SQLite
writers are serialised anyway), number entries gaplessly, link each to the previous one with
``rhip.security.audit.link`` and move the head, all inside the caller's transaction: the entries
commit or vanish together with the action they describe.

On PostgreSQL one event (every request's case) is first appended *optimistically*: linked to the head
this process last wrote or saw, by one call of ``rhip_audit_append`` (migration 0011) that locks the head,
appends only if it still is that ``(seq, hash)`` and reports whether it did. The guard, not the
remembered head, is what keeps the chain right: if another process appended in between (or the
remembered append rolled back), nothing is appended and the transaction, now holding the head's lock and
knowing it, appends with a second statement. One round trip instead of two when a process appends in
turn, as each request of a busy node's worker mostly does (decision 0013).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection, Engine

from rhip.security.audit import GENESIS, AuditRecord, link, patients_of, render
from rhip.store import dialect
from rhip.store.audit_tables import audit_events, audit_head, audit_patients

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


_heads: WeakKeyDictionary[Engine, tuple[int, str]] = WeakKeyDictionary()
"""The chain head each engine's last append left (or found): a hint for the optimistic append only."""


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


def append(conn: Connection, key: bytes, records: Sequence[AuditRecord], *, relaxed: bool = False) -> list[int]:
    """Append events in order inside the caller's transaction; returns their sequence numbers.

    ``relaxed``: the transaction commits without waiting for the WAL flush (a read's event, decision
    0013; PostgreSQL only). PostgreSQL: one round trip when the optimistic append holds (module
    docstring), else two: the same statement has locked and read the head, and a second one inserts
    the events and their patient index rows and moves the head (``dialect.write_audit``).
    """
    if not records:
        return []
    known = _heads.get(conn.engine)
    head = None
    if known is not None and len(records) == 1 and dialect.is_postgres(conn):
        linked = _linked(key, known, records)
        appended, head = _guarded(conn, linked, known, relaxed, commit=False)
        if appended:
            return [linked.events[0][0]]
    return _append_locked(conn, key, records, relaxed, head)


def append_and_commit(conn: Connection, key: bytes, record: AuditRecord, *, relaxed: bool = False) -> int:
    """Append the event of a unit that wrote nothing and commit its transaction; returns the sequence
    number. PostgreSQL: the optimistic append and the COMMIT leave in one message (one round trip);
    should the guard fail, the read's transaction has committed without its event, which is then
    appended in a second transaction, linked to the head that statement found, before returning (as
    decision 0013 does for every read on SQLite): the caller returns no data before its event is in
    the chain either way."""
    known = _heads.get(conn.engine)
    if known is not None and dialect.is_postgres(conn):
        for _ in range(3):
            linked = _linked(key, known, [record])
            appended, head = _guarded(conn, linked, known, relaxed, commit=True)
            if appended:
                return int(linked.events[0][0])
            conn.begin()
            if head is None:
                break
            known = head
    seq = append(conn, key, [record], relaxed=relaxed)[0]
    conn.commit()
    return seq


def _guarded(
    conn: Connection, linked: _Linked, known: tuple[int, str], relaxed: bool, *, commit: bool
) -> tuple[bool, tuple[int, str] | None]:
    event, patients = linked.events[0], [p for _, p in linked.patients]
    appended, head = dialect.write_audit_guarded(conn, event, patients, (*known, _CHAIN), relaxed, commit=commit)
    if appended:
        _heads[conn.engine] = linked.head
    elif head is not None:
        _heads[conn.engine] = head
    return appended, head


def _append_locked(
    conn: Connection, key: bytes, records: Sequence[AuditRecord], relaxed: bool, head: tuple[int, str] | None = None
) -> list[int]:
    """The pessimistic append: ``head`` is the current head when the caller already holds its lock."""
    if relaxed and head is None:
        dialect.relax_commit(conn)  # else the guarded statement has set it
    linked = _linked(key, head or _lock_head(conn), records)
    dialect.write_audit(conn, linked.events, linked.patients, (*linked.head, _CHAIN))
    _heads[conn.engine] = linked.head
    return [e[0] for e in linked.events]


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


def head(engine: Engine) -> tuple[int, str]:
    """The chain's last link ``(seq, hash)``: copies kept elsewhere (an *anchor*) let ``verify`` detect
    a truncated tail even when the head row was rewritten to match."""
    with engine.connect() as conn:
        row = conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.chain == _CHAIN)).first()
    return (0, GENESIS) if row is None else (int(row.seq), str(row.hash))


def verify(engine: Engine, key: bytes, *, batch: int = 5000, anchor: tuple[int, str] | None = None) -> Verification:
    """Walk the whole chain: contiguous numbering, every link recomputed with the key, the patient
    index equal to each event's patients, the head pointing at the last entry, and (given an anchor
    taken earlier) the anchored entry still present with the same hash."""
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
    """Events newest first as ``(seq, AuditEvent JSON)``, keyset-paged by ``before_seq``."""
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
    row = conn.execute(select(audit_events.c.content).where(audit_events.c.seq == seq)).first()
    return None if row is None else str(row.content)
