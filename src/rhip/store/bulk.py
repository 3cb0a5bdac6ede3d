"""Bulk loading of NDJSON (FHIR bulk-data format): validate, index, and COPY in large chunks.

New resources keep the ids they carry (as update-as-create would) and go straight to COPY on
PostgreSQL (executemany on SQLite); resources that already exist take the normal update path, so
history and index rows stay exact. Each chunk is one transaction.

Into an empty database (or when told to) the value-ordered search indexes are dropped before the first
chunk and built once at the end, followed by ANALYZE (decision 0015): a sorted build is much cheaper
than keeping random-key btrees up to date row by row. If the load fails they are rebuilt before the
error propagates; if the process dies, ``migrate`` (every start) recreates whatever is missing.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from rhip.fhir import json as fjson
from rhip.fhir.errors import FhirError
from rhip.security.context import RequestContext
from rhip.security.policy import Access
from rhip.store import dialect
from rhip.store.care_links import CARE_TYPES
from rhip.store.care_links import refresh as refresh_care_links
from rhip.store.consent_rules import sync_consents
from rhip.store.ids import new_id
from rhip.store.repository import Repository, build_version, check_resource, profile_check
from rhip.store.schema import INDEX_TABLES, deferrable_indexes, missing_indexes, resource_versions, resources
from rhip.store.write import _FINDING_COLUMNS, _INDEX_COLUMNS, INDEX_ORDER, NewVersion, finding_rows


@dataclass(slots=True)
class LoadReport:
    loaded: int = 0
    updated: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    deferred_indexes: bool = False
    """Whether search indexes were built after the COPY (then ``index_seconds`` includes ANALYZE)."""
    index_seconds: float = 0.0


def ndjson_lines(paths: Iterable[Path]) -> Iterator[tuple[str, int, str]]:
    for path in paths:
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    yield str(path), n, line


def files_of(target: Path) -> list[Path]:
    if target.is_dir():
        return sorted(p for p in target.rglob("*.ndjson"))
    return [target]


Line = tuple[str, int, str]
Prepared = tuple[str, int, NewVersion | None, str | None, dict[str, str] | None]
"""(file, line number, the version ready to write or None, the error or None, its COPY text by table).

The COPY text exists when the worker was given surrogate keys (PostgreSQL): encoding rows there keeps
the main process, which writes every chunk in turn, free of per-row work."""

_TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "resources": ("rid", "rtype", "id", "version", "lu", "deleted", "imask"),
    "resource_versions": ("rid", "version", "rtype", "id", "lu", "method", "content"),
    **{f"idx_{kind}": _INDEX_COLUMNS[kind] for kind in INDEX_ORDER},
    "validation_issues": _FINDING_COLUMNS,
}


def _rows_of(v: NewVersion) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of one new resource by table, laid out as ``_TABLE_COLUMNS`` (``v.rid`` assigned)."""
    out: dict[str, list[tuple[Any, ...]]] = {
        "resources": [(v.rid, v.rtype, v.id, v.version, v.lu, False, v.imask)],
        "resource_versions": [(v.rid, v.version, v.rtype, v.id, v.lu, v.method, v.stored)],
    }
    for kind in INDEX_ORDER:
        rows = v.rows.get(kind)
        if rows:
            out[f"idx_{kind}"] = [(v.rid, v.rtype, *row) for row in rows]
    if v.findings:
        out["validation_issues"] = finding_rows(v)
    return out


@dataclass(frozen=True, slots=True)
class Checks:
    """China-profile checking of a load: the source's strictness (decision 0012) and today's date."""

    strictness: str = "off"
    source: str = ""
    today: date | None = None


def _prepare_chunk(
    lines: list[Line],
    base_url: str | None,
    offset_hours: float,
    rids: list[int] | None = None,
    checks: Checks = Checks(),
) -> list[Prepared]:
    """Parse, validate and index one chunk: pure CPU work, run in worker processes.

    With ``rids`` (one per line, PostgreSQL) each version also gets its rid and its rows as COPY text;
    a rid stays unused when its line is rejected or turns out to be an update (sequences have gaps).
    China-profile findings are kept with the version, or reject the line when the source says so.
    """
    tz = timezone(timedelta(hours=offset_hours))
    out: list[Prepared] = []
    for i, (where, n, line) in enumerate(lines):
        try:
            res = fjson.loads(line)
            if not isinstance(res, dict):
                raise fjson.JsonError("not a JSON object")
            check_resource(res)
            findings = profile_check(res, checks.strictness, checks.today) if checks.today else []
            rtype = str(res["resourceType"])
            given = res.get("id")
            rid = given if isinstance(given, str) else new_id()
            lu = time.time_ns() // 1_000_000
            v = build_version(rtype, rid, 1, res, "PUT", lu, base_url=base_url, tz=tz)
            if findings:
                v.findings, v.source = findings, checks.source
            text = None
            if rids is not None:
                v.rid = rids[i]
                text = {t: dialect.copy_text(rows) for t, rows in _rows_of(v).items()}
                v.rows, v.content = {}, None  # shipped once, as text; an update re-reads its line
            out.append((where, n, v, None, text))
        except fjson.JsonError as exc:
            out.append((where, n, None, str(exc), None))
        except FhirError as err:
            first = err.issues[0]
            at = f" at {first.expression}" if first.expression else ""
            out.append((where, n, None, f"{first.diagnostics}{at}", None))
    return out


def _chunks(lines: Iterable[Line], size: int) -> Iterator[list[Line]]:
    batch: list[Line] = []
    for item in lines:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def load(
    repo: Repository,
    lines: Iterable[Line],
    ctx: RequestContext,
    chunk: int = 2000,
    workers: int | None = None,
    defer_indexes: bool | None = None,
) -> LoadReport:
    """Load NDJSON lines; parsing, validation and indexing run on ``workers`` processes (default: CPUs).

    Chunks are written in input order, one transaction each, while later chunks are being prepared.
    ``defer_indexes``: build the search indexes after the load (None: only if ``resources`` is empty).
    """
    report = LoadReport()
    if defer_indexes is None:
        defer_indexes = is_empty(repo.engine)
    if not defer_indexes:
        _load(repo, lines, ctx, chunk, workers, report)
        return report
    drop_search_indexes(repo.engine)
    report.deferred_indexes = True
    try:
        _load(repo, lines, ctx, chunk, workers, report)
    except BaseException as exc:
        try:
            build_search_indexes(repo.engine)
        except Exception as again:
            exc.add_note(
                f"the search indexes could not be rebuilt ({again}); searches are slow until the next "
                "`rhip serve` or `rhip import` recreates them at start-up"
            )
        raise
    t0 = time.perf_counter()
    build_search_indexes(repo.engine)
    report.index_seconds = time.perf_counter() - t0
    return report


def _load(
    repo: Repository, lines: Iterable[Line], ctx: RequestContext, chunk: int, workers: int | None, report: LoadReport
) -> None:
    args = (repo.base_url, repo.settings.utc_offset_hours)
    checks = Checks(repo.sources.strictness(ctx.source), ctx.source, repo.today())
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    with repo.engine.connect() as conn:
        presize = dialect.rids_ahead(conn)

    def rids(batch: list[Line]) -> list[int] | None:
        if not presize:
            return None
        with repo.engine.connect() as conn:  # the pool's connection, between two chunk transactions
            return dialect.allocate_rids(conn, len(batch))

    if n_workers <= 1:
        for batch in _chunks(lines, chunk):
            _write_chunk(repo, _prepare_chunk(batch, *args, rids(batch), checks), batch, ctx, report)
        return
    with ProcessPoolExecutor(n_workers, mp_context=get_context("fork")) as pool:
        pending: deque[tuple[list[Line], Future[list[Prepared]]]] = deque()
        for batch in _chunks(lines, chunk):
            pending.append((batch, pool.submit(_prepare_chunk, batch, *args, rids(batch), checks)))
            if len(pending) > 2 * n_workers:  # bounded read-ahead keeps memory flat
                done, future = pending.popleft()
                _write_chunk(repo, future.result(), done, ctx, report)
        while pending:
            done, future = pending.popleft()
            _write_chunk(repo, future.result(), done, ctx, report)


def is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(resources.c.rid).limit(1)).first() is None


def drop_search_indexes(engine: Engine) -> None:
    """Drop the deferrable search indexes (one transaction; absent ones are skipped)."""
    with engine.begin() as conn:
        for ix in deferrable_indexes():
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {ix.name}")


def build_search_indexes(engine: Engine) -> None:
    """Create the missing deferrable indexes exactly as the schema defines them, then ANALYZE."""
    with engine.begin() as conn:
        dialect.prepare_index_build(conn)
        for ix in missing_indexes(conn):
            ix.create(conn)
    dialect.analyze(engine, [t.name for t in (resources, resource_versions, *INDEX_TABLES.values())])


def _write_chunk(
    repo: Repository, prepared: list[Prepared], lines: list[Line], ctx: RequestContext, report: LoadReport
) -> None:
    """Write one prepared chunk (``prepared[i]`` comes from ``lines[i]``) in one transaction."""
    for where, n, _, error, _ in prepared:
        if error is not None:
            report.rejected += 1
            report.errors.append(f"{where}:{n}: {error}")
    ready = [(i, v, text) for i, (_, _, v, _, text) in enumerate(prepared) if v is not None]
    if not ready:
        return
    with repo.unit(ctx) as unit:
        ids_by_type: dict[str, list[str]] = {}
        for _, v, _ in ready:
            ids_by_type.setdefault(v.rtype, []).append(v.id)
        existing: set[tuple[str, str]] = set()
        for rtype, ids in ids_by_type.items():
            # One indexed lookup per type (rtype = x AND id IN (...)); a row-value IN over the whole
            # chunk is not index-assisted on PostgreSQL and made loads slow down as the table grew.
            existing.update((rtype, i) for i in dialect.existing_ids(unit.conn, rtype, ids))
        fresh: list[tuple[NewVersion, dict[str, str] | None]] = []
        fresh_lines: list[str] = []
        updates: list[NewVersion] = []
        update_lines: list[str] = []
        seen: set[tuple[str, str]] = set()
        denied: set[str] = set()
        for i, v, text in ready:
            where, n, line = lines[i]
            if v.rtype in denied or not repo.policy.allows(ctx, Access.WRITE, v.rtype):
                denied.add(v.rtype)
                report.rejected += 1
                report.errors.append(f"{where}:{n}: not allowed to write {v.rtype}")
                continue
            key = (v.rtype, v.id)
            if key in existing or key in seen:
                updates.append(v)
                update_lines.append(line)
                continue
            seen.add(key)
            fresh.append((v, text))
            fresh_lines.append(line)
        _copy(unit.conn, fresh)
        report.loaded += len(fresh)
        consents: list[NewVersion] = []
        for (v, _), line in zip(fresh, fresh_lines, strict=True):
            unit.audit.note("create", v.rtype, v.id, line)  # one AuditEvent per chunk, with its residents
            if v.rtype == "Consent":
                consents.append(NewVersion(v.rtype, v.id, v.version, v.lu, v.method, line, rid=v.rid))
        sync_consents(unit, consents)  # refusals of loaded Consents apply at once
        refresh_care_links(unit.conn, [v.rid for v, _ in fresh if v.rtype in CARE_TYPES and v.rid is not None])
        for v, line in zip(updates, update_lines, strict=True):
            unit.update(v.rtype, v.id, fjson.loads(line))
            report.updated += 1


def _copy(conn: Any, fresh: list[tuple[NewVersion, dict[str, str] | None]]) -> None:
    """COPY the rows of new resources, table by table (parents first)."""
    if not fresh:
        return
    if fresh[0][1] is not None:  # encoded by the workers
        for table, columns in _TABLE_COLUMNS.items():
            dialect.copy_encoded(conn, table, columns, "".join(text.get(table, "") for _, text in fresh if text))
        return
    versions = [v for v, _ in fresh]
    for v, rid in zip(versions, dialect.allocate_rids(conn, len(versions)), strict=True):
        v.rid = rid
    by_table: dict[str, list[tuple[Any, ...]]] = {t: [] for t in _TABLE_COLUMNS}
    for v in versions:
        for table, rows in _rows_of(v).items():
            by_table[table].extend(rows)
    for table, columns in _TABLE_COLUMNS.items():
        dialect.copy_rows(conn, table, list(columns), by_table[table])
