"""Figure 1: transaction-bundle ingest through the platform, and the plain-SQL baseline.

Platform path (in-process, no HTTP): for each bundle, ``repo.unit(RequestContext.system())`` opens one
database transaction and ``rhip.fhir.rest.dispatch`` handles ``POST /`` with the bundle's bytes, i.e.
``process_bundle`` -> ``_transaction`` -> ``Unit.create`` (validation, index rows, JSON) -> ``flush``
(``executemany``). JSON parsing of the request body is inside the timing, as it is for a real request.

Baseline: the very rows the platform wrote (``resources``, ``resource_versions`` and every ``idx_*``
row, read back after a platform run) inserted with the plain driver's ``executemany`` (psycopg 3 /
sqlite3), one transaction per bundle, in the platform's table order, into an empty schema.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from rhip.fhir.rest import FhirRequest, dispatch
from rhip.security.context import RequestContext
from rhip.store.repository import Repository
from rhip.store.schema import INDEX_TABLES, resource_versions, resources

from .db import Database

TABLES = [resources, resource_versions, *INDEX_TABLES.values()]
"""Tables in the order ``rhip.store.write.flush`` writes them."""

PATH_DESCRIPTION = (
    "in-process: rhip.fhir.rest.dispatch(unit, FhirRequest('POST', '', body=<bundle bytes>)) -> "
    "rhip.fhir.bundles.process_bundle, one repo.unit(RequestContext.system()) (= one DB transaction) per "
    "bundle; JSON parsing of the body included in the timing; no HTTP layer"
)


@dataclass(frozen=True)
class Fixture:
    name: str
    body: bytes
    entries: int


def load_fixtures(directory: Path) -> list[Fixture]:
    import orjson

    out = []
    for path in sorted(directory.glob("*.json")):
        body = path.read_bytes()
        out.append(Fixture(path.stem, body, len(orjson.loads(body).get("entry") or [])))
    if not out:
        raise SystemExit(f"no Synthea bundles in {directory}")
    return out


def ingest_platform(repo: Repository, fixtures: list[Fixture], *, bounds: list[int] | None = None) -> list[float]:
    """Post every bundle as a transaction; returns seconds per bundle.

    With ``bounds`` (a list), the highest ``rid`` after each bundle is appended to it (outside the
    timing), so the rows of each bundle can be read back afterwards.
    """
    ctx = RequestContext.system("bench")
    headers = {"content-type": "application/fhir+json"}
    times: list[float] = []
    for fx in fixtures:
        req = FhirRequest("POST", "", [], headers, fx.body, "http://bench.local/fhir")
        t0 = time.perf_counter()
        with repo.unit(ctx) as unit:
            res = dispatch(unit, req)
        times.append(time.perf_counter() - t0)
        if res.status != 200:
            raise RuntimeError(f"bundle {fx.name} answered {res.status}: {res.body!r:.500}")
        if bounds is not None:
            with repo.engine.connect() as conn:
                bounds.append(int(conn.exec_driver_sql("SELECT max(rid) FROM resources").scalar_one()))
    return times


BundleRows = list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]
"""(table, columns, rows) in write order, for one bundle."""


def capture_rows(db: Database, bounds: list[int]) -> list[BundleRows]:
    """Read back the rows each bundle wrote (rid ranges from ``ingest_platform(bounds=...)``)."""
    out: list[BundleRows] = []
    lo = 0
    with db.engine.connect() as conn:
        for hi in bounds:
            per: BundleRows = []
            for t in TABLES:
                cols = tuple(c.name for c in t.columns)
                rows = conn.exec_driver_sql(
                    f"SELECT {', '.join(cols)} FROM {t.name} WHERE rid > {lo} AND rid <= {hi} ORDER BY rid"
                ).all()
                per.append((t.name, cols, [tuple(r) for r in rows]))
            out.append(per)
            lo = hi
    return out


def row_counts(captured: list[BundleRows]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for per in captured:
        for table, _, rows in per:
            counts[table] = counts.get(table, 0) + len(rows)
    return counts


def ingest_baseline(db: Database, captured: list[BundleRows]) -> list[float]:
    """Insert the captured rows with plain ``executemany``; one transaction per bundle; seconds per bundle."""
    if db.engine_name == "postgresql":
        return _baseline_pg(db.raw, captured)
    return _baseline_sqlite(db.raw, captured)


def ingest_copy_baseline(db: Database, captured: list[BundleRows]) -> list[float]:
    """PostgreSQL only, informational: the same rows with COPY (one COPY per table, one transaction per
    bundle), i.e. what the write path could approach without per-row ``executemany`` round trips."""
    times = []
    with psycopg.connect(db.raw) as conn:
        conn.execute("SELECT 1")
        conn.commit()
        for per in captured:
            t0 = time.perf_counter()
            with conn.cursor() as cur:
                for table, cols, rows in per:
                    if rows:
                        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                            for row in rows:
                                copy.write_row(row)
            conn.commit()
            times.append(time.perf_counter() - t0)
    return times


def _sql(table: str, cols: tuple[str, ...], mark: str) -> str:
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(mark for _ in cols)})"


def _baseline_pg(url: str, captured: list[BundleRows]) -> list[float]:
    times = []
    with psycopg.connect(url) as conn:
        conn.execute("SELECT 1")
        conn.commit()
        for per in captured:
            t0 = time.perf_counter()
            with conn.cursor() as cur:
                for table, cols, rows in per:
                    if rows:
                        cur.executemany(_sql(table, cols, "%s"), rows)
            conn.commit()
            times.append(time.perf_counter() - t0)
    return times


def _baseline_sqlite(path: str, captured: list[BundleRows]) -> list[float]:
    # Same connection settings as the platform (rhip.store.dialect.configure).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    try:
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=30000",
            "cache_size=-65536",
            "temp_store=MEMORY",
        ):
            conn.execute(f"PRAGMA {pragma}")
        times = []
        for per in captured:
            t0 = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            for table, cols, rows in per:
                if rows:
                    conn.executemany(_sql(table, cols, "?"), rows)
            conn.execute("COMMIT")
            times.append(time.perf_counter() - t0)
        return times
    finally:
        conn.close()
