"""SQL on the master person index tables: keys and blocks, candidates, registrations, persons, decisions.

Everything here runs on the caller's connection, inside the caller's transaction (a repository unit
or a dedupe chunk). Lock order, to keep concurrent writers free of deadlocks on PostgreSQL: advisory
locks on the blocking-key hashes (sorted), then ``mpi_blocks`` / ``mpi_term_counts`` rows (sorted),
then ``mpi_persons`` rows (ascending person). SQLite runs one writer at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from rhip.fhir.errors import FhirError
from rhip.mpi import records_json
from rhip.mpi.golden import Member, golden_values
from rhip.mpi.keys import StoredKey
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
from rhip.store import dialect

TOTAL_SHARDS = 16
"""Totals of term counts are spread over 16 rows so concurrent writers rarely wait on the same one."""
DEDUPE_LOCK = 0x6D70_6964_6564_7570
"""PostgreSQL advisory-lock key of a running ``rhip mpi dedupe``: writers take it shared with their
key locks, the dedupe's reset takes it exclusively (so no writer is halfway through when it starts)."""
DEDUPE_STATE = "dedupe"
"""``mpi_state`` row present while a dedupe run is under way (its cursor)."""


@dataclass(slots=True)
class Registration:
    """A stored registration (``record`` decoded)."""

    rid: int
    id: str
    person: int
    status: str
    source: str
    trust: int
    lu: int
    record: dict[str, Any]


@dataclass(slots=True)
class Person:
    person: int
    status: str
    replaced_by: int | None
    ric_valid: str | None
    version: int
    golden: dict[str, Any]


def _insert(conn: Connection, table: Any) -> Any:
    return (postgresql.insert if dialect.is_postgres(conn) else sqlite.insert)(table)


def lock_keys(conn: Connection, hashes: Iterable[int]) -> None:
    """PostgreSQL: transaction-scoped advisory locks on the key hashes, in ascending order.

    Two writers of the same person share at least one key (the one that would make them candidates),
    so the second waits until the first commits and then sees its registration. Ascending order means
    two writers never wait on each other in a cycle. SQLite needs nothing (one writer at a time).
    """
    keys = sorted(set(hashes))
    if dialect.is_postgres(conn):
        conn.exec_driver_sql(_LOCK_SQL, {"g": DEDUPE_LOCK, "k": keys})


def lock_keys_planned(conn: Connection, hashes: Iterable[int]) -> str:
    """:func:`lock_keys` that also lets PostgreSQL reuse a generic plan for the rest of the transaction
    (``plan_cache_mode = auto``); returns the mode to restore (see :mod:`rhip.mpi.index_pg`)."""
    keys = sorted(set(hashes))
    row = conn.exec_driver_sql(_PLANNED_SQL, {"g": DEDUPE_LOCK, "k": keys}).first()
    assert row is not None
    return str(row[0])


_PLANNED_SQL = (
    "SELECT m.before FROM (SELECT current_setting('plan_cache_mode') AS before) m "
    "CROSS JOIN LATERAL (SELECT set_config('plan_cache_mode', 'auto', true)) s "
    "CROSS JOIN LATERAL (SELECT pg_advisory_xact_lock_shared(%(g)s)) g "
    "CROSS JOIN LATERAL (SELECT count(*) FROM (SELECT pg_advisory_xact_lock(k) "
    "FROM (SELECT unnest(%(k)s::bigint[]) AS k ORDER BY 1) o) l) x"
)

_LOCK_SQL = (
    "SELECT 1 FROM (SELECT pg_advisory_xact_lock_shared(%(g)s)) g UNION ALL "
    "SELECT 1 FROM (SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(%(k)s::bigint[]) AS k ORDER BY 1) s) l"
)


def check_not_deduping(conn: Connection) -> None:
    """Refuse a Patient write while ``rhip mpi dedupe`` rebuilds the index (503: retry when it is done).

    A write matched against a half-rebuilt index could found a duplicate person, and the job would not
    see it; the run's ``mpi_state`` row marks it (an interrupted run too, until it is resumed).
    """
    if conn.execute(select(mpi_state.c.name).where(mpi_state.c.name == DEDUPE_STATE)).first() is not None:
        raise dedupe_running()


def dedupe_running() -> FhirError:
    return FhirError.of(
        503,
        "transient",
        "the master person index is being rebuilt (rhip mpi dedupe); retry the Patient write when it is done",
        "居民主索引正在重建（批量去重），请稍后重试",
    )


def add_keys(conn: Connection, rid: int, keys: Sequence[StoredKey]) -> dict[int, int]:
    """Store a registration's keys; returns each key's block size afterwards (``kh`` → n)."""
    if not keys:
        return {}
    conn.execute(mpi_keys.insert(), [{"rid": rid, "rule": k.rule, "kh": k.kh, "sort": k.sort} for k in keys])
    stmt = _insert(conn, mpi_blocks)
    stmt = stmt.on_conflict_do_update(index_elements=["kh"], set_={"n": mpi_blocks.c.n + stmt.excluded.n})
    conn.execute(stmt, [{"kh": kh, "n": 1} for kh in sorted({k.kh for k in keys})])
    rows = conn.execute(select(mpi_blocks.c.kh, mpi_blocks.c.n).where(mpi_blocks.c.kh.in_([k.kh for k in keys])))
    return {int(r.kh): int(r.n) for r in rows}


def block_sizes(conn: Connection, hashes: Sequence[int]) -> dict[int, int]:
    if not hashes:
        return {}
    rows = conn.execute(select(mpi_blocks.c.kh, mpi_blocks.c.n).where(mpi_blocks.c.kh.in_(list(hashes))))
    return {int(r.kh): int(r.n) for r in rows}


def stored_keys(conn: Connection, rid: int) -> list[StoredKey]:
    rows = conn.execute(select(mpi_keys.c.rule, mpi_keys.c.kh, mpi_keys.c.sort).where(mpi_keys.c.rid == rid))
    return [StoredKey(int(r.rule), int(r.kh), str(r.sort)) for r in rows]


def remove_keys(conn: Connection, rid: int, keys: Sequence[StoredKey]) -> None:
    if not keys:
        return
    conn.execute(delete(mpi_keys).where(mpi_keys.c.rid == rid))
    hashes = sorted({k.kh for k in keys})
    mark = dialect.placeholder(conn)
    conn.exec_driver_sql(f"UPDATE mpi_blocks SET n = n - 1 WHERE kh = {mark}", [(h,) for h in hashes])


def count_terms(conn: Connection, rid: int, values: dict[str, str], delta: int) -> None:
    """Add ``delta`` to the counts of a record's term-frequency values and to the field totals."""
    rows = []
    for field, value in sorted(values.items()):
        rows.append({"field": field, "value": value[:128], "n": delta})
        rows.append({"field": field, "value": f"#{rid % TOTAL_SHARDS}", "n": delta})
    if not rows:
        return
    rows.sort(key=lambda r: (r["field"], r["value"]))
    stmt = _insert(conn, mpi_term_counts)
    stmt = stmt.on_conflict_do_update(
        index_elements=["field", "value"], set_={"n": mpi_term_counts.c.n + stmt.excluded.n}
    )
    conn.execute(stmt, rows)


def term_counts(conn: Connection, field: str, values: Iterable[str]) -> tuple[dict[str, int], int]:
    """Counts of ``values`` in ``field`` and the field's total (number of registrations carrying it)."""
    t = mpi_term_counts.c
    wanted = sorted({v[:128] for v in values})
    counts: dict[str, int] = {}
    total = 0
    shards = [f"#{i}" for i in range(TOTAL_SHARDS)]  # by value: a LIKE '#%' would scan every count
    rows = conn.execute(select(t.value, t.n).where(t.field == field, t.value.in_([*wanted, *shards])))
    for r in rows:
        if str(r.value).startswith("#"):
            total += int(r.n)
        else:
            counts[str(r.value)] = int(r.n)
    return counts, total


def candidate_rids(
    conn: Connection, rid: int, keys: Sequence[StoredKey], sizes: dict[int, int], max_block: int, window: int
) -> dict[int, int]:
    """Registrations sharing a key with ``rid`` → the first rule (number) that found them.

    A block of at most ``max_block`` registrations gives all its members; a larger one only the
    ``window`` nearest on each side by the rule's sort value (the batch cap's sorted neighbourhood),
    so one write costs at most ``2 × window`` candidates per capped key however large the block.
    """
    out: dict[int, int] = {}
    small = [k for k in keys if sizes.get(k.kh, 0) <= max_block]
    large = [k for k in keys if sizes.get(k.kh, 0) > max_block]
    rule_of = {k.kh: k.rule for k in keys}
    k = mpi_keys.c
    if small:
        rows = conn.execute(select(k.kh, k.rid).where(k.kh.in_([x.kh for x in small]), k.rid != rid))
        for r in rows:
            rule = rule_of[int(r.kh)]
            if out.get(int(r.rid), 1 << 30) > rule:
                out[int(r.rid)] = rule
    for key in large:
        above = select(k.rid).where(k.kh == key.kh, k.sort > key.sort).order_by(k.sort, k.rid).limit(window)
        below = (
            select(k.rid).where(k.kh == key.kh, k.sort < key.sort).order_by(k.sort.desc(), k.rid.desc()).limit(window)
        )
        for q in (above, below):
            for r in conn.execute(q):
                if int(r.rid) != rid and out.get(int(r.rid), 1 << 30) > key.rule:
                    out[int(r.rid)] = key.rule
    return out


REG_COLUMNS = (
    mpi_registrations.c.rid,
    mpi_registrations.c.id,
    mpi_registrations.c.person,
    mpi_registrations.c.status,
    mpi_registrations.c.source,
    mpi_registrations.c.trust,
    mpi_registrations.c.lu,
    mpi_registrations.c.record,
)


def registration_of(row: Any) -> Registration:
    """A ``Registration`` from a row of :data:`REG_COLUMNS`."""
    return Registration(
        int(row.rid),
        str(row.id),
        int(row.person),
        str(row.status),
        str(row.source),
        int(row.trust),
        int(row.lu),
        records_json.loads(row.record),
    )


def registrations(conn: Connection, rids: Iterable[int]) -> dict[int, Registration]:
    wanted = list(rids)
    out: dict[int, Registration] = {}
    for start in range(0, len(wanted), 500):
        rows = conn.execute(select(*REG_COLUMNS).where(mpi_registrations.c.rid.in_(wanted[start : start + 500])))
        out.update((int(r.rid), registration_of(r)) for r in rows)
    return out


def registration(conn: Connection, rid: int) -> Registration | None:
    return registrations(conn, [rid]).get(rid)


def registration_by_id(conn: Connection, id: str) -> Registration | None:
    row = conn.execute(select(*REG_COLUMNS).where(mpi_registrations.c.id == id)).first()
    return registration_of(row) if row else None


def members(conn: Connection, person: int) -> list[Registration]:
    rows = conn.execute(
        select(*REG_COLUMNS).where(mpi_registrations.c.person == person).order_by(mpi_registrations.c.rid)
    )
    return [registration_of(r) for r in rows]


def save_registration(conn: Connection, reg: Registration, *, new: bool) -> None:
    values = {
        "id": reg.id,
        "person": reg.person,
        "status": reg.status,
        "source": reg.source[:80],
        "trust": reg.trust,
        "lu": reg.lu,
        "record": records_json.dumps(reg.record),
    }
    if new:
        conn.execute(mpi_registrations.insert().values(rid=reg.rid, **values))
    else:
        conn.execute(update(mpi_registrations).where(mpi_registrations.c.rid == reg.rid).values(**values))


def move(conn: Connection, rids: Sequence[int], person: int, status: str | None = None) -> None:
    """Attach registrations to ``person`` (optionally with a new link status)."""
    if not rids:
        return
    values: dict[str, Any] = {"person": person}
    if status is not None:
        values["status"] = status
    conn.execute(update(mpi_registrations).where(mpi_registrations.c.rid.in_(list(rids))).values(**values))


def delete_registration(conn: Connection, rid: int) -> None:
    conn.execute(delete(mpi_registrations).where(mpi_registrations.c.rid == rid))


def new_person(conn: Connection, now: int) -> int:
    result = conn.execute(
        mpi_persons.insert().values(status="active", golden="{}", version=0, created=now, updated=now)
    )
    return _new_id(result)


def persons(conn: Connection, ids: Iterable[int], *, lock: bool = False) -> dict[int, Person]:
    """Persons by number; ``lock`` takes their rows FOR UPDATE in ascending order (PostgreSQL)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    p = mpi_persons.c
    stmt = select(p.person, p.status, p.replaced_by, p.ric_valid, p.version, p.golden).where(p.person.in_(wanted))
    if lock and dialect.lock_suffix(conn):
        stmt = stmt.order_by(p.person).with_for_update()
    out = {}
    for r in conn.execute(stmt):
        out[int(r.person)] = Person(
            int(r.person),
            str(r.status),
            None if r.replaced_by is None else int(r.replaced_by),
            r.ric_valid,
            int(r.version),
            json.loads(r.golden),
        )
    return out


def person(conn: Connection, pid: int, *, lock: bool = False) -> Person | None:
    return persons(conn, [pid], lock=lock).get(pid)


def refresh_person(conn: Connection, pid: int, now: int, *, replaced_by: int | None = None) -> Person | None:
    """Recompute a person's golden values from its registrations (survivorship) and bump its version.

    A person left without registrations is retired (``replaced_by`` the person they went to, if any).
    """
    regs = members(conn, pid)
    current = person(conn, pid)
    if current is None:
        return None
    if not regs:
        status = "merged" if replaced_by is not None else "retired"
        conn.execute(
            update(mpi_persons)
            .where(mpi_persons.c.person == pid)
            .values(status=status, replaced_by=replaced_by, ric_valid=None, version=current.version + 1, updated=now)
        )
        return person(conn, pid)
    golden = golden_values([Member(f"Patient/{r.id}", r.trust, r.lu, r.record) for r in regs])
    text = golden_text(golden)
    conn.execute(
        update(mpi_persons)
        .where(mpi_persons.c.person == pid)
        .values(
            status="active",
            replaced_by=None,
            ric_valid=golden.get("ric_valid"),
            golden=text,
            version=current.version + 1,
            updated=now,
        )
    )
    return Person(pid, "active", None, golden.get("ric_valid"), current.version + 1, golden)


def golden_text(golden: dict[str, Any]) -> str:
    """The stored form of a person's golden values (``mpi_persons.golden``)."""
    return json.dumps(golden, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def ric_values(conn: Connection, pid: int) -> set[str]:
    """Every valid 身份证号 among a person's registrations (exclusivity is per person, not per pair)."""
    return {str(r.record["ric_valid"]) for r in members(conn, pid) if r.record.get("ric_valid")}


def record_decisions(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert decision rows; returns their ids (needed by review tasks)."""
    ids = []
    for row in rows:
        result = conn.execute(mpi_decisions.insert().values(**row))
        ids.append(_new_id(result))
    return ids


def open_review(
    conn: Connection, a: int, b: int, rid: int, other: int, decision: int, score: float, now: int
) -> int | None:
    """Open a review task for persons ``a`` and ``b`` unless one is open or a clerk already said no-link."""
    lo, hi = min(a, b), max(a, b)
    r = mpi_reviews.c
    existing = conn.execute(
        select(r.id).where(
            r.person_a == lo,
            r.person_b == hi,
            or_(r.status == "open", and_(r.status == "closed", r.resolution == "no-link")),
        )
    ).first()
    if existing is not None:
        return None
    result = conn.execute(
        mpi_reviews.insert().values(
            status="open",
            person_a=lo,
            person_b=hi,
            rid=rid,
            other=other,
            decision=decision,
            score=score,
            created=now,
        )
    )
    return _new_id(result)


def close_reviews_of(conn: Connection, pid: int, now: int, resolution: str, agent: str) -> None:
    """Close the open tasks that involve a person that no longer exists (merged away or retired)."""
    r = mpi_reviews.c
    conn.execute(
        update(mpi_reviews)
        .where(r.status == "open", or_(r.person_a == pid, r.person_b == pid))
        .values(status="closed", resolution=resolution, closed=now, closed_by=agent)
    )


def counts(conn: Connection) -> dict[str, int]:
    """Sizes of the index (for the CLI and the benchmark)."""
    return {
        "persons": int(conn.execute(select(func.count()).where(mpi_persons.c.status == "active")).scalar_one()),
        "registrations": int(conn.execute(select(func.count()).select_from(mpi_registrations)).scalar_one()),
        "open_reviews": int(conn.execute(select(func.count()).where(mpi_reviews.c.status == "open")).scalar_one()),
    }


def _new_id(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


# -- bulk statements of the batch job (rhip.mpi.batch) ------------------------------------------
def lock_dedupe(conn: Connection) -> None:
    """PostgreSQL: wait until no writer holds the dedupe key shared (see :data:`DEDUPE_LOCK`)."""
    if dialect.is_postgres(conn):
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%(g)s)", {"g": DEDUPE_LOCK})


def clear(conn: Connection) -> None:
    """Empty the automatic state (keys, blocks, counts, persons, reviews) for a dedupe from scratch."""
    names = ("mpi_keys", "mpi_blocks", "mpi_term_counts", "mpi_persons", "mpi_reviews")
    if dialect.is_postgres(conn):
        conn.exec_driver_sql(f"TRUNCATE {', '.join(names)}")
    else:
        for name in names:
            conn.exec_driver_sql(f"DELETE FROM {name}")


def delete_registrations(conn: Connection, rids: Sequence[int]) -> None:
    if dialect.is_postgres(conn):
        conn.exec_driver_sql("DELETE FROM mpi_registrations WHERE rid = ANY(%(r)s)", {"r": list(rids)})
    else:
        conn.exec_driver_sql("DELETE FROM mpi_registrations WHERE rid = ?", [(r,) for r in rids])


def add_counts(
    conn: Connection, table: str, key: tuple[str, ...], deltas: Sequence[tuple[tuple[Any, ...], int]]
) -> None:
    """Add ``n`` to the counter of each key (``mpi_blocks`` by ``kh``, ``mpi_term_counts`` by field/value)."""
    if not deltas:
        return
    cols = [*key, "n"]
    update_set = f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET n = {table}.n + excluded.n"
    if dialect.is_postgres(conn):
        types = {"kh": "bigint", "field": "varchar", "value": "varchar"}
        arrays = ", ".join(f"%(c{i})s::{types[c]}[]" for i, c in enumerate(key))
        params: dict[str, Any] = {f"c{i}": [k[i] for k, _ in deltas] for i in range(len(key))}
        params["n"] = [n for _, n in deltas]
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(cols)}) SELECT * FROM unnest({arrays}, %(n)s::bigint[]) {update_set}",
            params,
        )
    else:
        marks = ", ".join("?" for _ in cols)
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}) {update_set}", [(*k, n) for k, n in deltas]
        )


def update_goldens(conn: Connection, rows: Sequence[tuple[int, Any, Any, int, int]]) -> None:
    """Set (person, ric_valid, golden, version, updated) of existing persons; values as stored (sealed)."""
    if not rows:
        return
    if dialect.is_postgres(conn):
        conn.exec_driver_sql(
            "UPDATE mpi_persons p SET status = 'active', replaced_by = NULL, ric_valid = v.ric, golden = v.golden, "
            "version = v.version, updated = v.updated FROM unnest(%(p)s::bigint[], %(r)s::text[], %(g)s::text[], "
            "%(v)s::int[], %(u)s::bigint[]) AS v(person, ric, golden, version, updated) WHERE p.person = v.person",
            {
                "p": [r[0] for r in rows],
                "r": [r[1] for r in rows],
                "g": [r[2] for r in rows],
                "v": [r[3] for r in rows],
                "u": [r[4] for r in rows],
            },
        )
    else:
        conn.exec_driver_sql(
            "UPDATE mpi_persons SET status = 'active', replaced_by = NULL, ric_valid = ?, golden = ?, version = ?, "
            "updated = ? WHERE person = ?",
            [(r[1], r[2], r[3], r[4], r[0]) for r in rows],
        )


ANALYZED = ("mpi_keys", "mpi_blocks", "mpi_registrations", "mpi_persons", "mpi_term_counts", "mpi_decisions")
"""Tables a dedupe rewrites (their statistics are refreshed after it: autovacuum may be off or late)."""

_DEFERRED = (mpi_keys, mpi_registrations, mpi_decisions)
"""Tables whose secondary indexes a dedupe from scratch drops and builds again at its end: nothing
reads them while it runs (Patient writes are refused) and index upkeep was most of the database's work."""


def drop_secondary_indexes(conn: Connection) -> None:
    for table in _DEFERRED:
        for ix in table.indexes:
            ix.drop(conn, checkfirst=True)


def build_secondary_indexes(conn: Connection) -> None:
    """Create the indexes :func:`drop_secondary_indexes` dropped (those missing), as declared."""
    dialect.prepare_index_build(conn)
    for table in _DEFERRED:
        for ix in table.indexes:
            ix.create(conn, checkfirst=True)


def count_blocks(conn: Connection) -> None:
    """``mpi_blocks`` from ``mpi_keys`` (a dedupe writes the keys only, and counts once at its end)."""
    conn.execute(delete(mpi_blocks))
    k = mpi_keys.c
    conn.execute(mpi_blocks.insert().from_select(["kh", "n"], select(k.kh, func.count()).group_by(k.kh)))
