"""Throw-away databases (PostgreSQL databases named ``rhip_bench_*``, SQLite files) and machine facts."""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
import sys
import uuid
from dataclasses import dataclass, field
from importlib import metadata as im
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, text

from rhip.store import audit_log
from rhip.store.db import make_engine, migrate
from rhip.store.schema import metadata

PG_SETTINGS = (
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "effective_cache_size",
    "max_wal_size",
    "synchronous_commit",
    "fsync",
    "wal_level",
    "random_page_cost",
    "jit",
    "autovacuum",
)


def plain_pg(url: str) -> str:
    """libpq URL (psycopg) for a SQLAlchemy ``postgresql+psycopg://`` URL."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass
class Database:
    """One throw-away database: ``url`` for the platform (SQLAlchemy), ``raw`` for plain drivers."""

    engine_name: str  # "postgresql" | "sqlite"
    url: str
    raw: str  # libpq URL or SQLite file path
    admin: str | None = None
    name: str = ""
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url)
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


class Databases:
    """Creates databases on demand and drops every one of them in ``close()``."""

    def __init__(self, pg_base: str, workdir: Path) -> None:
        self.pg_base = pg_base.rstrip("/")
        self.workdir = workdir
        self.made: list[Database] = []

    @property
    def pg_admin(self) -> str:
        return plain_pg(self.pg_base) + "/postgres"

    def create(self, engine_name: str, tag: str) -> Database:
        suffix = uuid.uuid4().hex[:8]
        if engine_name == "postgresql":
            name = f"rhip_bench_{tag}_{suffix}"
            with psycopg.connect(self.pg_admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            db = Database(
                "postgresql", f"{self.pg_base}/{name}", plain_pg(f"{self.pg_base}/{name}"), self.pg_admin, name
            )
        else:
            path = self.workdir / f"rhip_bench_{tag}_{suffix}.sqlite"
            db = Database("sqlite", f"sqlite:///{path}", str(path), None, path.name)
        self.made.append(db)
        migrate(db.engine)
        return db

    def drop(self, db: Database) -> None:
        if db._engine is not None:  # chain its staged audit events now, not after it is gone
            audit_log.release(db._engine)
        db.dispose()
        if db.engine_name == "postgresql":
            with psycopg.connect(self.pg_admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
        else:
            for sfx in ("", "-wal", "-shm"):
                Path(db.raw + sfx).unlink(missing_ok=True)
        if db in self.made:
            self.made.remove(db)

    def close(self) -> None:
        for db in list(self.made):
            try:
                self.drop(db)
            except Exception as exc:  # report, keep dropping the others
                print(f"warning: could not drop {db.name}: {exc}", file=sys.stderr)


def wipe(db: Database) -> None:
    """Empty every table (PostgreSQL: TRUNCATE ... RESTART IDENTITY, then CHECKPOINT)."""
    names = [t.name for t in metadata.sorted_tables]
    with db.engine.begin() as conn:
        if db.engine_name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY"))
        else:
            for n in names:
                conn.execute(text(f"DELETE FROM {n}"))
    quiesce(db)


def quiesce(db: Database) -> None:
    """Flush dirty state before a timed section, so one run's writes do not slow the next one down."""
    if db.engine_name == "postgresql":
        with psycopg.connect(db.raw, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    else:
        with sqlite3.connect(db.raw) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def analyze(db: Database, *, vacuum: bool = False) -> None:
    """Planner statistics (autovacuum is off on this server); ``vacuum``: also set the visibility map, as
    autovacuum does after a bulk load, so index-only scans (the access probes' on ``care_links``) skip the
    heap as they would in service."""
    if db.engine_name == "postgresql":
        with psycopg.connect(db.raw, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)" if vacuum else "ANALYZE")
    else:
        conn = sqlite3.connect(db.raw)
        try:
            conn.execute("ANALYZE")
        finally:
            conn.close()


def size_info(db: Database) -> dict[str, Any]:
    """Database size and row counts per table (estimates from the catalogue on PostgreSQL)."""
    names = [t.name for t in metadata.sorted_tables if t.name.startswith(("resources", "resource_", "idx_"))]
    out: dict[str, Any] = {}
    if db.engine_name == "postgresql":
        with psycopg.connect(db.raw, autocommit=True) as conn:
            out["bytes"] = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            rows = conn.execute(
                "SELECT relname, reltuples::bigint, pg_total_relation_size(oid) FROM pg_class "
                "WHERE relkind = 'r' AND relname = ANY(%s)",
                (names,),
            ).fetchall()
            out["tables"] = {r[0]: {"rows_estimate": int(r[1]), "bytes_with_indexes": int(r[2])} for r in rows}
    else:
        out["bytes"] = sum(os.path.getsize(db.raw + s) for s in ("", "-wal") if os.path.exists(db.raw + s))
        conn = sqlite3.connect(db.raw)
        try:
            out["tables"] = {n: {"rows": conn.execute(f"SELECT count(*) FROM {n}").fetchone()[0]} for n in names}
        finally:
            conn.close()
    return out


def machine_info(pg_admin: str | None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": None,
        "mem_total_gb": None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_impl": platform.python_implementation(),
        "sqlite": sqlite3.sqlite_version,
        "packages": {},
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    for pkg in (
        "rhip",
        "sqlalchemy",
        "psycopg",
        "psycopg-binary",
        "fastapi",
        "starlette",
        "uvicorn",
        "orjson",
        "httpx",
        "pydantic",
    ):
        with contextlib.suppress(im.PackageNotFoundError):
            info["packages"][pkg] = im.version(pkg)
    if pg_admin:
        try:
            with psycopg.connect(pg_admin, autocommit=True, connect_timeout=5) as conn:
                info["postgres"] = conn.execute("SELECT version()").fetchone()[0]
                info["postgres_version"] = conn.execute("SHOW server_version").fetchone()[0]
                info["postgres_settings"] = {s: conn.execute(f"SHOW {s}").fetchone()[0] for s in PG_SETTINGS}
        except psycopg.Error as exc:
            info["postgres"] = f"unreachable: {exc}"
    return info


class ActivitySampler:
    """Poor man's PostgreSQL profiler: samples ``pg_stat_activity`` of one database every ``interval``
    seconds in a background thread and counts (state, statement prefix)."""

    def __init__(self, db: Database, interval: float = 0.25) -> None:
        import threading

        self.db = db
        self.interval = interval
        self.counts: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ActivitySampler:
        if self.db.engine_name == "postgresql":
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        import re

        with psycopg.connect(self.db.raw, autocommit=True) as conn:
            while not self._stop.wait(self.interval):
                rows = conn.execute(
                    "SELECT state, query FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                ).fetchall()
                for state, query in rows:
                    if state == "idle":
                        key = "idle (client side: Python)"
                    else:
                        q = re.sub(r"\s+", " ", query or "")[:70]
                        key = f"{state}: {q}"
                    self.counts[key] = self.counts.get(key, 0) + 1

    def summary(self, top: int = 8) -> dict[str, Any]:
        total = sum(self.counts.values())
        items = sorted(self.counts.items(), key=lambda kv: -kv[1])[:top]
        return {
            "samples": total,
            "interval_s": self.interval,
            "share": {k: round(v / total, 3) for k, v in items} if total else {},
        }
