"""A new registration on PostgreSQL in three round trips (the common online case: a Patient created).

:mod:`rhip.mpi.index` takes one statement per step (keys, blocks, counts, candidates, registrations,
persons, decisions, reviews, golden record: ≈ 15 per Patient write). Here, after the key locks
(:func:`rhip.mpi.index.lock_keys`, a statement of its own so that what follows sees every writer that
held a key before us):

1. :func:`prepare` — one statement of data-modifying CTEs stores the keys, bumps the block and name
   counts and returns the candidates (small blocks whole, capped blocks as the sorted neighbourhood,
   exactly :func:`rhip.mpi.index.candidate_rids`) with their registrations, the name's count and
   total, whether a dedupe run is under way, and each candidate person's valid 身份证号 and version
   (read with the candidates instead of in a round trip of their own);
2. :func:`store` — one statement inserts the registration, its decisions and review tasks and
   inserts the new person or updates the joined person's golden record, computed from the
   candidates of that person and guarded by its version and member count (if the person changed
   or has members that were not candidates, the guard fails; then the person is locked and
   refreshed from its members as :mod:`rhip.mpi.index` does).

Columns of ``mpi_persons`` are bound and read with their table types, so a column type that seals
values on the way in and out applies here as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from rhip.mpi import records_json
from rhip.mpi.index import Registration
from rhip.mpi.keys import StoredKey
from rhip.mpi.tables import mpi_persons, mpi_registrations

_PREPARE = text(
    """
WITH k AS (
  SELECT * FROM unnest(CAST(:rules AS smallint[]), CAST(:khs AS bigint[]), CAST(:sorts AS varchar[]))
    AS k(rule, kh, sort)
), ins AS (
  INSERT INTO mpi_keys (rid, rule, kh, sort) SELECT :rid, rule, kh, sort FROM k
), blk AS (
  INSERT INTO mpi_blocks AS b (kh, n) SELECT DISTINCT kh, 1 FROM k ORDER BY kh
  ON CONFLICT (kh) DO UPDATE SET n = b.n + 1 RETURNING kh, n
), tc AS (
  INSERT INTO mpi_term_counts AS t (field, value, n)
  SELECT :field, v, 1 FROM unnest(CAST(:tvalues AS varchar[])) AS v ORDER BY v
  ON CONFLICT (field, value) DO UPDATE SET n = t.n + excluded.n RETURNING value, n
), found AS (
  SELECT m.rid, k.rule FROM k JOIN blk ON blk.kh = k.kh JOIN mpi_keys m ON m.kh = k.kh
  WHERE blk.n <= :max_block AND m.rid <> :rid
  UNION ALL
  SELECT w.rid, k.rule FROM k JOIN blk ON blk.kh = k.kh CROSS JOIN LATERAL (
    (SELECT m.rid FROM mpi_keys m WHERE m.kh = k.kh AND m.sort > k.sort ORDER BY m.sort, m.rid LIMIT :window)
    UNION ALL
    (SELECT m.rid FROM mpi_keys m WHERE m.kh = k.kh AND m.sort < k.sort ORDER BY m.sort DESC, m.rid DESC LIMIT :window)
  ) w
  WHERE blk.n > :max_block AND w.rid <> :rid
), c AS (
  SELECT rid, min(rule) AS rule FROM found GROUP BY rid
)
SELECT h.busy, h.name_n, h.total, x.* FROM (
  SELECT (SELECT count(*) FROM mpi_state WHERE name = :state) AS busy,
         (SELECT n FROM tc WHERE value = :name) AS name_n,
         (SELECT coalesce(sum(n), 0) FROM tc WHERE value = ANY(CAST(:shards AS varchar[])))
         + (SELECT coalesce(sum(t.n), 0) FROM mpi_term_counts t
            WHERE t.field = :field AND t.value = ANY(CAST(:shards AS varchar[]))
              AND t.value <> ALL(CAST(:tvalues AS varchar[]))) AS total
) h LEFT JOIN LATERAL (
  SELECT c.rule, r.rid, r.id, r.person, r.status, r.source, r.trust, r.lu, r.record,
         p.ric_valid AS person_ric, p.version AS person_version
  FROM c JOIN mpi_registrations r ON r.rid = c.rid LEFT JOIN mpi_persons p ON p.person = r.person
  WHERE r.status <> 'pending'
) x ON true
"""
).columns(record=mpi_registrations.c.record.type, person_ric=mpi_persons.c.ric_valid.type)


@dataclass(slots=True)
class Prepared:
    """What :func:`prepare` found: candidates (registration, rule number), the name's counts, and each
    candidate person's valid 身份证号 and version (what deciding and the golden-record guard need)."""

    busy: bool
    name_count: int
    name_total: int
    found: list[tuple[Registration, int]]
    persons: dict[int, tuple[str | None, int]]


def prepare(
    conn: Connection,
    rid: int,
    keys: Sequence[StoredKey],
    terms: Sequence[tuple[str, str]],
    name: str | None,
    field: str,
    max_block: int,
    window: int,
    shards: int,
) -> Prepared:
    """Store a new registration's keys and counts; return its candidates (after :func:`index.lock_keys`)."""
    params = {
        "rid": rid,
        "rules": [k.rule for k in keys],
        "khs": [k.kh for k in keys],
        "sorts": [k.sort for k in keys],
        "field": field,
        "tvalues": [v for _, v in terms],
        "max_block": max_block,
        "window": window,
        "state": "dedupe",
        "name": name,
        "shards": [f"#{i}" for i in range(shards)],
    }
    rows = conn.execute(_PREPARE, params).all()
    head = rows[0]
    out = Prepared(bool(head.busy), int(head.name_n or 0), int(head.total or 0), [], {})
    for r in rows:
        if r.rid is None:
            continue
        reg = Registration(
            int(r.rid),
            str(r.id),
            int(r.person),
            str(r.status),
            str(r.source),
            int(r.trust),
            int(r.lu),
            records_json.loads(r.record),
        )
        out.found.append((reg, int(r.rule)))
        if r.person_version is not None:
            out.persons[reg.person] = (r.person_ric, int(r.person_version))
    return out


_DECISIONS = """
d AS (
  INSERT INTO mpi_decisions (ts, kind, rid, other, person, other_person, model, score, decision, rule, blocking,
                             fields, agent)
  SELECT :now, 'match', :rid, v.other, {person}, v.other_person, :model, v.score, v.decision, v.rule, v.blocking,
         v.fields, :agent
  FROM {source} unnest(CAST(:d_other AS bigint[]), CAST(:d_other_person AS bigint[]), CAST(:d_score AS float8[]),
              CAST(:d_decision AS varchar[]), CAST(:d_rule AS text[]), CAST(:d_blocking AS varchar[]),
              CAST(:d_fields AS text[])) WITH ORDINALITY AS v(other, other_person, score, decision, rule, blocking,
                                                              fields, ord)
  ORDER BY v.ord
  RETURNING id, other
), rv AS (
  INSERT INTO mpi_reviews (status, person_a, person_b, rid, other, decision, score, created)
  SELECT 'open', least({person}, q.pid), greatest({person}, q.pid), :rid, q.other, d.id, q.score, :now
  FROM {source} d JOIN unnest(CAST(:r_other AS bigint[]), CAST(:r_pid AS bigint[]), CAST(:r_score AS float8[]))
       WITH ORDINALITY AS q(other, pid, score, ord) ON q.other = d.other
  WHERE NOT EXISTS (
    SELECT 1 FROM mpi_reviews e
    WHERE e.person_a = least({person}, q.pid) AND e.person_b = greatest({person}, q.pid)
      AND (e.status = 'open' OR (e.status = 'closed' AND e.resolution = 'no-link')))
  ORDER BY q.ord
  RETURNING id
)"""

_REGISTRATION = """
r AS (
  INSERT INTO mpi_registrations (rid, id, person, status, source, trust, lu, record)
  SELECT :rid, :id, {person}, :status, :source, :trust, :lu, :record {source_from}
)"""

_SEALED_BINDS = (
    bindparam("ric_valid", type_=mpi_persons.c.ric_valid.type),
    bindparam("golden", type_=mpi_persons.c.golden.type),
    bindparam("record", type_=mpi_registrations.c.record.type),
)
"""The sealed columns' types (decision 0019): raw SQL text must bind through them to be encrypted."""

_NEW_PERSON = text(
    "WITH p AS (INSERT INTO mpi_persons (status, replaced_by, ric_valid, golden, version, created, updated) "
    "VALUES ('active', NULL, :ric_valid, :golden, 1, :now, :now) RETURNING person),"
    + _REGISTRATION.format(person="p.person", source_from="FROM p")
    + ","
    + _DECISIONS.format(person="p.person", source="p,")
    + "\nSELECT (SELECT person FROM p) AS person, (SELECT array_agg(id ORDER BY id) FROM rv) AS reviews, "
    "set_config('plan_cache_mode', :plan_mode, true) AS mode"
).bindparams(*_SEALED_BINDS)

_JOIN_PERSON = text(
    "WITH p AS (UPDATE mpi_persons SET status = 'active', replaced_by = NULL, ric_valid = :ric_valid, "
    "golden = :golden, version = version + 1, updated = :now WHERE person = :target AND version = :version "
    "AND (SELECT count(*) FROM mpi_registrations y WHERE y.person = :target) = :members RETURNING person),"
    + _REGISTRATION.format(person=":target", source_from="")
    + ","
    + _DECISIONS.format(person=":target", source="")
    + "\nSELECT (SELECT count(*) FROM p) AS person, (SELECT array_agg(id ORDER BY id) FROM rv) AS reviews, "
    "set_config('plan_cache_mode', :plan_mode, true) AS mode"
).bindparams(*_SEALED_BINDS)


def store(
    conn: Connection,
    reg: Registration,
    target: int | None,
    version: int | None,
    golden: dict[str, Any] | None,
    golden_text: str | None,
    rows: Sequence[dict[str, Any]],
    reviews: Sequence[tuple[int, int, float]],
    *,
    members: int = 0,
    plan_mode: str,
    now: int,
    model: str,
    agent: str,
) -> tuple[int, list[int], bool]:
    """Write the registration, its decisions and reviews, and the person; returns (person, review ids,
    whether the golden record was written). ``target`` None founds a person. For a joined person,
    ``golden`` was computed from ``members`` registrations read at ``version``: if the person has
    changed or has other members since, its golden record is left to the caller.
    ``reviews``: (other rid, other person, score) of the pairs that open a task."""
    params: dict[str, Any] = {
        "rid": reg.rid,
        "id": reg.id,
        "status": reg.status,
        "source": reg.source[:80],
        "trust": reg.trust,
        "lu": reg.lu,
        "record": records_json.dumps(reg.record),
        "now": now,
        "model": model,
        "agent": agent[:80],
        "d_other": [r["other"] for r in rows],
        "d_other_person": [r["other_person"] for r in rows],
        "d_score": [r["score"] for r in rows],
        "d_decision": [r["decision"] for r in rows],
        "d_rule": [r["rule"] for r in rows],
        "d_blocking": [r["blocking"] for r in rows],
        "d_fields": [r["fields"] for r in rows],
        "r_other": [o for o, _, _ in reviews],
        "r_pid": [p for _, p, _ in reviews],
        "r_score": [s for _, _, s in reviews],
        "ric_valid": golden.get("ric_valid") if golden else None,
        "golden": golden_text,
        "plan_mode": plan_mode,
    }
    if target is None:
        assert golden is not None
        row = conn.execute(_NEW_PERSON, params).one()
        return int(row.person), list(row.reviews or []), True
    params["target"] = target
    params["version"] = version if golden is not None else -1
    params["members"] = members
    row = conn.execute(_JOIN_PERSON, params).one()
    return target, list(row.reviews or []), bool(row.person)
