"""Bulk loading of NDJSON (FHIR bulk-data format): validate, index, and COPY in large chunks.

New resources keep the ids they carry (as update-as-create would) and go straight to COPY on
PostgreSQL (executemany on SQLite); resources that already exist take the normal update path, so
history and index rows stay exact. Each chunk is one transaction.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sqlalchemy import select

from rhip.fhir import json as fjson
from rhip.fhir.errors import FhirError
from rhip.security.context import RequestContext
from rhip.security.policy import Access
from rhip.store import dialect
from rhip.store.repository import Repository, build_version, check_resource
from rhip.store.schema import resources
from rhip.store.write import _INDEX_COLUMNS, INDEX_ORDER, NewVersion


@dataclass(slots=True)
class LoadReport:
    loaded: int = 0
    updated: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


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
Prepared = tuple[str, int, NewVersion | None, str | None]
"""(file, line number, the version ready to write or None, the error or None)."""


def _prepare_chunk(lines: list[Line], base_url: str | None, offset_hours: float) -> list[Prepared]:
    """Parse, validate and index one chunk: pure CPU work, run in worker processes."""
    tz = timezone(timedelta(hours=offset_hours))
    out: list[Prepared] = []
    for where, n, line in lines:
        try:
            res = fjson.loads(line)
            if not isinstance(res, dict):
                raise fjson.JsonError("not a JSON object")
            check_resource(res)
            rtype = str(res["resourceType"])
            given = res.get("id")
            rid = given if isinstance(given, str) else str(uuid.uuid4())
            lu = time.time_ns() // 1_000_000
            out.append((where, n, build_version(rtype, rid, 1, res, "PUT", lu, base_url=base_url, tz=tz), None))
        except fjson.JsonError as exc:
            out.append((where, n, None, str(exc)))
        except FhirError as err:
            out.append((where, n, None, err.issues[0].diagnostics))
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
    repo: Repository, lines: Iterable[Line], ctx: RequestContext, chunk: int = 2000, workers: int | None = None
) -> LoadReport:
    """Load NDJSON lines; parsing, validation and indexing run on ``workers`` processes (default: CPUs).

    Chunks are written in input order, one transaction each, while later chunks are being prepared.
    """
    report = LoadReport()
    args = (repo.base_url, repo.settings.utc_offset_hours)
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    if n_workers <= 1:
        for batch in _chunks(lines, chunk):
            _write_chunk(repo, _prepare_chunk(batch, *args), ctx, report)
        return report
    with ProcessPoolExecutor(n_workers, mp_context=get_context("fork")) as pool:
        pending: deque[Future[list[Prepared]]] = deque()
        for batch in _chunks(lines, chunk):
            pending.append(pool.submit(_prepare_chunk, batch, *args))
            if len(pending) > 2 * n_workers:  # bounded read-ahead keeps memory flat
                _write_chunk(repo, pending.popleft().result(), ctx, report)
        while pending:
            _write_chunk(repo, pending.popleft().result(), ctx, report)
    return report


def _write_chunk(repo: Repository, prepared: list[Prepared], ctx: RequestContext, report: LoadReport) -> None:
    for where, n, _, error in prepared:
        if error is not None:
            report.rejected += 1
            report.errors.append(f"{where}:{n}: {error}")
    ready = [(where, n, v) for where, n, v, _ in prepared if v is not None]
    if not ready:
        return
    with repo.unit(ctx) as unit:
        ids_by_type: dict[str, list[str]] = {}
        for _, _, v in ready:
            ids_by_type.setdefault(v.rtype, []).append(v.id)
        existing: set[tuple[str, str]] = set()
        for rtype, ids in ids_by_type.items():
            # One indexed lookup per type (rtype = x AND id IN (...)); a row-value IN over the whole
            # chunk is not index-assisted on PostgreSQL and made loads slow down as the table grew.
            rows = unit.conn.execute(select(resources.c.id).where(resources.c.rtype == rtype, resources.c.id.in_(ids)))
            existing.update((rtype, row.id) for row in rows)
        fresh: list[NewVersion] = []
        updates: list[NewVersion] = []
        seen: set[tuple[str, str]] = set()
        denied: set[str] = set()
        for where, n, v in ready:
            if v.rtype in denied or not repo.policy.allows(ctx, Access.WRITE, v.rtype):
                denied.add(v.rtype)
                report.rejected += 1
                report.errors.append(f"{where}:{n}: not allowed to write {v.rtype}")
                continue
            key = (v.rtype, v.id)
            if key in existing or key in seen:
                updates.append(v)
                continue
            seen.add(key)
            fresh.append(v)
        _copy(unit.conn, fresh)
        report.loaded += len(fresh)
        for v in updates:
            assert v.content is not None
            unit.update(v.rtype, v.id, fjson.loads(v.content))
            report.updated += 1


def _copy(conn: Any, versions: list[NewVersion]) -> None:
    for v, rid in zip(versions, dialect.allocate_rids(conn, len(versions)), strict=True):
        v.rid = rid
    dialect.copy_rows(
        conn,
        "resources",
        ["rid", "rtype", "id", "version", "lu", "deleted", "imask"],
        [(v.rid, v.rtype, v.id, v.version, v.lu, False, v.imask) for v in versions],
    )
    dialect.copy_rows(
        conn,
        "resource_versions",
        ["rid", "version", "rtype", "id", "lu", "method", "content"],
        [(v.rid, v.version, v.rtype, v.id, v.lu, v.method, v.content) for v in versions],
    )
    for kind in INDEX_ORDER:
        rows = [(v.rid, v.rtype, *row) for v in versions for row in v.rows.get(kind, ())]
        dialect.copy_rows(conn, f"idx_{kind}", list(_INDEX_COLUMNS[kind]), rows)
