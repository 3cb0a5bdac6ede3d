"""``rhip mpi dedupe`` in memory: the online matcher's decisions, replayed without a round trip each.

The online matcher reads its inputs from the database (candidates sharing a blocking key, the name's
count, the valid 身份证号 of each candidate person) and writes its outputs there. Here the same state
lives in memory, in two halves:

- :class:`BlockIndex` — blocks (capped ones as a list ordered by sort value and rid, the sorted
  neighbourhood of :func:`rhip.mpi.index.candidate_rids`), records, name counts. Which registrations
  are candidates and how they score depends only on earlier registrations' records, not on any
  decision, so :meth:`BlockIndex.prepare` can run ahead in another process (:mod:`rhip.mpi.jobs`);
  scoring is most of the work.
- :class:`PersonIndex` — registrations with their persons, members, held 身份证号 and reviewed pairs:
  :class:`BatchMatcher` hands them with the scored candidates to
  :func:`rhip.mpi.matching.decide_registration`, the code online matching runs, so every registration
  gets the decision it would get online.

:class:`ChunkWriter` writes what the online path would have written (registrations, keys, block and
name counts, persons and golden records, decisions, review tasks) for a chunk in a few bulk statements
(COPY on PostgreSQL), in the transaction that also moves the job's cursor; after an interruption both
halves are rebuilt from the tables.

New persons get provisional numbers above every real one while a chunk is decided, in creation order,
and are renumbered from the persons' sequence when the chunk is written: numbers keep the order online
matching gives them, so every "lower person first" choice (review tasks) is the same.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, select
from sqlalchemy.engine import Connection

from rhip.mpi import index, records_json
from rhip.mpi.golden import Member, golden_value
from rhip.mpi.index import Registration
from rhip.mpi.keys import StoredKey, record_keys
from rhip.mpi.linker import Scored, score_candidates
from rhip.mpi.matching import (
    TF_FIELD,
    TF_WIDTH,
    Candidate,
    Plan,
    decide_registration,
    decision_rows,
    frequencies_of,
    golden_of,
    term_rows,
)
from rhip.mpi.model import MatchModel
from rhip.mpi.spec import LinkSpec
from rhip.mpi.tables import (
    mpi_keys,
    mpi_persons,
    mpi_registrations,
    mpi_reviews,
    mpi_term_counts,
)
from rhip.store import dialect

PROVISIONAL = 1 << 62
"""New persons of the chunk being matched are numbered from here until the chunk is written."""
_TOP = 1 << 63


def _member(reg: Registration) -> Member:
    return Member(f"Patient/{reg.id}", reg.trust, reg.lu, reg.record)


Found = tuple[int, int, tuple[int, ...], tuple[float, ...], float, int, str]
"""A scored candidate as sent between processes: (rid, rule number, levels, tf parts, weight, code, rule)."""

Sealed = tuple[Any, Any, Any]
"""What the chunk writer stores for a registration, sealed ahead of its decision by the process that
reads it (:class:`Sealer`): its record, and, should it found a person alone, that person's golden
values and valid 身份证号."""


@dataclass(slots=True)
class Prepared:
    """A registration with its keys and its candidates scored, strongest first (decision-independent:
    candidates follow from the keys of earlier registrations, scores from the records and name counts)."""

    rid: int
    id: str
    lu: int
    source: str
    record: dict[str, Any]
    keys: list[tuple[int, int, str]]  # (rule, kh, sort)
    found: list[Found]
    pending: bool = False  # a (pending) registration row exists, which the chunk writer replaces
    sealed: Sealed | None = None


class BlockIndex:
    """Blocks, records and name counts: what finding and scoring candidates reads (no persons)."""

    def __init__(self, spec: LinkSpec, model: MatchModel) -> None:
        self.spec = spec
        self.model = model
        self.records: dict[int, dict[str, Any]] = {}
        self.blocks: dict[int, int | list[int]] = {}  # kh → the rid, or the rids, holding it
        self.ordered: dict[int, list[tuple[str, int]]] = {}  # capped blocks: (sort, rid) ascending
        self.names: dict[str, int] = {}  # counted name (truncated) → registrations
        self.name_total = 0

    def block_size(self, kh: int) -> int:
        held = self.blocks.get(kh)
        return 0 if held is None else 1 if isinstance(held, int) else len(held)

    def _sorted(self, kh: int, rule: int) -> list[tuple[str, int]]:
        """The capped block ``kh`` by (sort value, rid), built on first use from the members' records."""
        lst = self.ordered.get(kh)
        if lst is None:
            held = self.blocks[kh]
            rids = [held] if isinstance(held, int) else held
            lst = sorted((self._sort_of(rid, rule), rid) for rid in rids)
            self.ordered[kh] = lst
        return lst

    def _sort_of(self, rid: int, rule: int) -> str:
        for k in record_keys(self.records[rid], self.spec):
            if k.rule == rule:
                return k.sort
        raise KeyError((rid, rule))

    def candidates(self, rid: int, keys: Sequence[StoredKey]) -> dict[int, int]:
        """Registrations sharing a key (capped blocks: the ``window`` nearest each side) → first rule,
        as :func:`rhip.mpi.index.candidate_rids` answers after the keys were added."""
        found: dict[int, int] = {}
        max_block, window = self.spec.max_block, self.spec.window
        seen: set[int] = set()
        for key in keys:
            if key.kh in seen:
                continue
            seen.add(key.kh)
            held = self.blocks.get(key.kh)
            if held is None:
                continue
            if self.block_size(key.kh) + 1 <= max_block:
                rids: Iterable[int] = (held,) if isinstance(held, int) else held
            else:
                lst = self._sorted(key.kh, key.rule)
                hi = bisect_right(lst, (key.sort, _TOP))
                lo = bisect_left(lst, (key.sort, -1))
                rids = [r for _, r in lst[hi : hi + window]] + [r for _, r in lst[max(0, lo - window) : lo]]
            for r in rids:
                if r != rid and found.get(r, 1 << 30) > key.rule:
                    found[r] = key.rule
        return found

    def prepare(
        self,
        rid: int,
        id: str,
        lu: int,
        source: str,
        record: dict[str, Any],
        pending: bool = False,
        sealed: Sealed | None = None,
    ) -> Prepared:
        """Find and score the candidates of a new registration, then index it (keys, name count)."""
        keys = record_keys(record, self.spec)
        found = self.candidates(rid, keys)
        value = record.get(TF_FIELD)
        name = str(value)[:TF_WIDTH] if value else None
        count = self.names.get(name, 0) + 1 if name else 0
        tf = frequencies_of(record, count, self.name_total + (1 if name else 0))
        ordered = sorted(found.items(), key=lambda x: (x[1], x[0]))
        scored = score_candidates(
            record, [(other, self.records[other]) for other, _ in ordered], self.spec, self.model, tf
        )
        self.add(rid, record, keys)
        return Prepared(
            rid,
            id,
            lu,
            source,
            record,
            [(k.rule, k.kh, k.sort) for k in keys],
            [(o, found[o], x.row, x.adj, x.total, x.code, x.rule) for o, x in scored],
            pending,
            sealed,
        )

    def add(self, rid: int, record: dict[str, Any], keys: Sequence[StoredKey]) -> None:
        self.records[rid] = record
        for kh in {k.kh for k in keys}:
            held = self.blocks.get(kh)
            if held is None:
                self.blocks[kh] = rid
            elif isinstance(held, int):
                self.blocks[kh] = [held, rid]
            else:
                held.append(rid)
            lst = self.ordered.get(kh)
            if lst is not None:
                key = next(k for k in keys if k.kh == kh)
                lst.insert(bisect_left(lst, (key.sort, rid)), (key.sort, rid))
        value = record.get(TF_FIELD)
        if value:
            name = str(value)[:TF_WIDTH]
            self.names[name] = self.names.get(name, 0) + 1
            self.name_total += 1

    def load(self, conn: Connection, records: dict[int, dict[str, Any]] | None = None) -> None:
        """Rebuild from the tables (a resumed run); ``records`` when the caller has read them already."""
        self.records = records if records is not None else {r.rid: r.record for r in _registrations(conn)}
        k = mpi_keys.c
        for krid, kkh in conn.execute(select(k.rid, k.kh).order_by(k.rid, k.rule)):
            kh, rid = int(kkh), int(krid)
            held = self.blocks.get(kh)
            self.blocks[kh] = rid if held is None else [held, rid] if isinstance(held, int) else [*held, rid]
        t = mpi_term_counts.c
        for value, n in conn.execute(select(t.value, t.n).where(t.field == TF_FIELD)):
            if str(value).startswith("#"):
                self.name_total += int(n)
            else:
                self.names[str(value)] = int(n)


def _registrations(conn: Connection) -> list[Registration]:
    stmt = select(*index.REG_COLUMNS).where(mpi_registrations.c.status != "pending")
    return [index.registration_of(row) for row in conn.execute(stmt)]


class PersonIndex:
    """Registrations, persons, their members and held 身份证号, reviewed pairs: what deciding reads."""

    def __init__(self) -> None:
        self.regs: dict[int, Registration] = {}
        self.members: dict[int, list[int]] = {}  # person → rids
        self.holders: dict[int, str | None] = {}  # person → golden ric_valid
        self.versions: dict[int, int] = {}
        self.reviewed: set[tuple[int, int]] = set()  # person pairs with an open or refused task
        self.next_provisional = PROVISIONAL

    def add(self, reg: Registration) -> None:
        self.regs[reg.rid] = reg
        self.members.setdefault(reg.person, []).append(reg.rid)

    def refresh_holder(self, person: int) -> None:
        regs = [self.regs[r] for r in self.members.get(person, [])]
        self.holders[person] = golden_value([_member(r) for r in regs], "ric_valid")

    def new_person(self) -> int:
        pid = self.next_provisional
        self.next_provisional += 1
        self.versions[pid] = 0
        return pid

    def renumber(self, mapping: dict[int, int], reviews: Iterable[tuple[int, int]]) -> None:
        """Give the chunk's new persons their real numbers (``reviews``: the chunk's new pairs)."""
        for old, new in mapping.items():
            rids = self.members.pop(old, [])
            self.members[new] = rids
            for r in rids:
                self.regs[r].person = new
            self.holders[new] = self.holders.pop(old, None)
            self.versions[new] = self.versions.pop(old, 0)
        for a, b in reviews:
            if a >= PROVISIONAL or b >= PROVISIONAL:
                self.reviewed.discard((a, b))
                x, y = mapping.get(a, a), mapping.get(b, b)
                self.reviewed.add((min(x, y), max(x, y)))
        self.next_provisional = PROVISIONAL

    def load(self, conn: Connection) -> list[Registration]:
        """Rebuild from the tables (a resumed run); returns the registrations read."""
        regs = _registrations(conn)
        for reg in regs:
            self.add(reg)
        v = mpi_reviews.c
        pairs = select(v.person_a, v.person_b).where(
            (v.status == "open") | ((v.status == "closed") & (v.resolution == "no-link"))
        )
        self.reviewed = {(int(a), int(b)) for a, b in conn.execute(pairs)}
        p = mpi_persons.c
        for person, version in conn.execute(select(p.person, p.version).where(p.status == "active")):
            self.versions[int(person)] = int(version)
        for person in self.members:
            self.refresh_holder(person)
        return regs


@dataclass
class Step:
    """One registration decided (what the chunk writer stores for it)."""

    reg: Registration
    keys: list[tuple[int, int, str]]
    plan: Plan
    target: int
    now: int
    rows: list[dict[str, Any]]
    reviews: list[tuple[int, int, int, float]]  # (index of the pair's decision row, person a, person b, score)
    review_rids: list[tuple[int, int]] = field(default_factory=list)  # (rid, other rid) per review
    sealed: Sealed | None = None


class BatchMatcher:
    """Decides prepared registrations with the online rules and records them in the person index."""

    def __init__(self, spec: LinkSpec, model: MatchModel, persons: PersonIndex, trusted: frozenset[str]) -> None:
        self.spec = spec
        self.model = model
        self.persons = persons
        self.trusted = trusted

    def decide(self, item: Prepared) -> Step:
        mem, record, rules = self.persons, item.record, self.spec.blocking_rules
        trust = 1 if item.source in self.trusted else 0
        reg = Registration(item.rid, item.id, 0, "auto", item.source, trust, item.lu, record)
        scored = [
            Candidate(mem.regs[o], rules[rule].name, Scored(row, adj, total, code, text))
            for o, rule, row, adj, total, code, text in item.found
        ]
        holders = {c.reg.person: mem.holders.get(c.reg.person) for c in scored}
        plan = decide_registration(record, scored, holders, self.model)
        target = plan.target if plan.target is not None else mem.new_person()
        reg.person, reg.status = target, plan.status
        mem.add(reg)
        mem.versions[target] = mem.versions.get(target, 0) + 1
        mem.refresh_holder(target)
        now = time.time_ns() // 1_000_000
        rows = decision_rows(plan, now, reg.rid, target, self.model, item.source)
        step = Step(reg, item.keys, plan, target, now, rows, [], sealed=item.sealed)
        for i, pair in enumerate(plan.pairs):
            if pair.person == target:
                continue
            lo, hi = min(target, pair.person), max(target, pair.person)
            if (lo, hi) in mem.reviewed:
                continue
            mem.reviewed.add((lo, hi))
            step.reviews.append((i, lo, hi, pair.why.total_weight))
            step.review_rids.append((reg.rid, pair.cand.reg.rid))
        return step


def _processed(conn: Connection, column: Column[Any]) -> Any:
    """The column type's bind processing (a sealing type seals here too), for rows written by COPY."""
    proc = column.type.bind_processor(conn.dialect)
    return proc if proc is not None else (lambda v: v)


class Sealer:
    """Seals a registration's stored values where it is read (:data:`Sealed`), off the deciding process:
    sealing (SM4) was a third of the chunk writer's work. The golden values of a person with one
    member depend on that registration only, so they are known before any decision."""

    def __init__(self, conn: Connection, trusted: frozenset[str]) -> None:
        self.trusted = trusted
        self.record = _processed(conn, mpi_registrations.c.record)
        self.golden = _processed(conn, mpi_persons.c.golden)
        self.ric = _processed(conn, mpi_persons.c.ric_valid)

    def seal(self, rid: int, id: str, lu: int, source: str, record: dict[str, Any]) -> Sealed:
        trust = 1 if source in self.trusted else 0
        golden = golden_of([Registration(rid, id, 0, "auto", source, trust, lu, record)])
        return (
            self.record(records_json.dumps(record)),
            self.golden(index.golden_text(golden)),
            self.ric(golden.get("ric_valid")),
        )


class ChunkWriter:
    """Writes the steps of one chunk in bulk, in the caller's transaction."""

    def __init__(self, persons: PersonIndex) -> None:
        self.persons = persons

    def write(self, conn: Connection, steps: Sequence[Step], existing: set[int]) -> dict[int, int]:
        """Store the chunk; ``existing``: rids whose (pending) registration row is replaced. Returns the
        provisional → real person numbers."""
        mem = self.persons
        created = sorted({s.target for s in steps if s.target >= PROVISIONAL})
        mapping = dict(zip(created, _allocate(conn, "mpi_persons", "person", len(created)), strict=True))

        def real(p: int | None) -> int | None:
            return None if p is None else mapping.get(p, p)

        seal_record = _processed(conn, mpi_registrations.c.record)
        if existing:
            index.delete_registrations(conn, sorted(existing))
        regs = [
            (
                s.reg.rid,
                s.reg.id,
                real(s.reg.person),
                s.reg.status,
                s.reg.source[:80],
                s.reg.trust,
                s.reg.lu,
                s.sealed[0] if s.sealed is not None else seal_record(records_json.dumps(s.reg.record)),
            )
            for s in steps
        ]
        dialect.copy_rows(
            conn,
            "mpi_registrations",
            ["rid", "id", "person", "status", "source", "trust", "lu", "record"],
            regs,
        )
        keys = [(s.reg.rid, rule, kh, sort) for s in steps for rule, kh, sort in s.keys]
        dialect.copy_rows(conn, "mpi_keys", ["rid", "rule", "kh", "sort"], keys)
        # mpi_blocks is counted from mpi_keys when the run ends (index.count_blocks)
        terms: dict[tuple[str, str], int] = {}
        for s in steps:
            for row in term_rows(s.reg.rid, s.reg.record, index.TOTAL_SHARDS):
                terms[row] = terms.get(row, 0) + 1
        index.add_counts(conn, "mpi_term_counts", ("field", "value"), sorted(terms.items()))
        self._persons(conn, steps, mapping)
        rows = [row for s in steps for row in s.rows]
        ids = _allocate(conn, "mpi_decisions", "id", len(rows))
        cols = list(rows[0]) if rows else []
        dialect.copy_rows(
            conn,
            "mpi_decisions",
            ["id", *cols],
            [
                (i, *(real(v) if c in ("person", "other_person") else v for c, v in row.items()))
                for i, row in zip(ids, rows, strict=True)
            ],
        )
        reviews = []
        base = 0
        for s in steps:
            for (k, lo, hi, score), (rid, other) in zip(s.reviews, s.review_rids, strict=True):
                a, b = real(lo), real(hi)
                assert a is not None
                assert b is not None
                reviews.append(("open", min(a, b), max(a, b), rid, other, ids[base + k], score, s.now))
            base += len(s.rows)
        dialect.copy_rows(
            conn,
            "mpi_reviews",
            ["status", "person_a", "person_b", "rid", "other", "decision", "score", "created"],
            reviews,
        )
        mem.renumber(mapping, [(lo, hi) for s in steps for _, lo, hi, _ in s.reviews])
        return mapping

    def _persons(self, conn: Connection, steps: Sequence[Step], mapping: dict[int, int]) -> None:
        mem = self.persons
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        sealed: dict[int, Sealed] = {}
        for s in steps:
            first.setdefault(s.target, s.now)
            last[s.target] = s.now
            if s.sealed is not None:
                sealed[s.reg.rid] = s.sealed
        seal_golden = _processed(conn, mpi_persons.c.golden)
        seal_ric = _processed(conn, mpi_persons.c.ric_valid)
        new, changed = [], []
        for pid, now in last.items():
            rids = mem.members[pid]
            alone = sealed.get(rids[0]) if len(rids) == 1 else None
            if alone is not None:  # its only member's golden values, sealed by the reading process
                values = (alone[2], alone[1], mem.versions[pid], now)
            else:
                golden = golden_of([mem.regs[r] for r in rids])
                values = (
                    seal_ric(golden.get("ric_valid")),
                    seal_golden(index.golden_text(golden)),
                    mem.versions[pid],
                    now,
                )
            if pid in mapping:
                new.append((mapping[pid], "active", None, values[0], values[1], values[2], first[pid], now))
            else:
                changed.append((pid, *values))
        dialect.copy_rows(
            conn,
            "mpi_persons",
            ["person", "status", "replaced_by", "ric_valid", "golden", "version", "created", "updated"],
            sorted(new),
        )
        index.update_goldens(conn, sorted(changed))


def _allocate(conn: Connection, table: str, column: str, n: int) -> list[int]:
    """``n`` new surrogate keys of ``table.column``, ascending (PostgreSQL: its sequence)."""
    if n <= 0:
        return []
    if dialect.is_postgres(conn):
        rows = conn.exec_driver_sql(
            f"SELECT nextval('{table}_{column}_seq') FROM generate_series(1, %(n)s)", {"n": n}
        ).all()
        return sorted(int(r[0]) for r in rows)
    top = conn.exec_driver_sql(f"SELECT coalesce(max({column}), 0) FROM {table}").scalar_one()
    return list(range(int(top) + 1, int(top) + n + 1))
