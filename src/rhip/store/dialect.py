"""Everything that differs between SQLite and PostgreSQL, in one place.

No other module branches on the engine name: they ask this module.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg.pq
from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError


def is_postgres(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "postgresql"


def engine_options(url: str) -> dict[str, Any]:
    """create_engine keyword arguments suited to the engine behind ``url``."""
    if url.startswith("sqlite"):
        # LIFO: the connection used last is handed out next. Each SQLite connection has its own page cache,
        # which a write through another connection (the audit settler's, decision 0025) empties: FIFO
        # rotation made every request after such a write start cold (a clinician's body-weight search
        # 8.5 → 15 ms over HTTP at 100,000 resources).
        return {"connect_args": {"check_same_thread": False, "timeout": 30}, "pool_use_lifo": True}
    # psycopg prepares statements after a few runs; PostgreSQL may then switch to a generic plan that
    # ignores the selectivity of the actual search values (measured: 1.1 s instead of 8 ms for a
    # patient's observations at 1 M resources). Custom plans keep search latency flat.
    # No JIT: it pays off for long analytic queries, not for searches. A clinician's count over a
    # county's 13,400 encounters: 86 ms with JIT, 37 ms without; with the per-row access sub-plans of
    # decision 0016, whose cost estimates are higher, JIT also inlines and optimises: 682 vs 60 ms.
    return {
        "pool_size": 10,
        "max_overflow": 10,
        "pool_pre_ping": True,
        "connect_args": {"options": "-c plan_cache_mode=force_custom_plan -c jit=off"},
    }


SQLITE_BUSY_MS = 30_000
"""How long a SQLite connection waits for another writer."""


def configure(engine: Engine) -> None:
    """Install per-connection settings (SQLite: WAL, explicit BEGIN so writers lock up front)."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's implicit BEGIN is deferred
        # and would upgrade read locks to write locks mid-transaction, causing SQLITE_BUSY).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("rhip_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def like_escape(value: str) -> str:
    """Escape LIKE wildcards; use with ``escape='\\\\'``."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def lock_suffix(bind: Engine | Connection) -> bool:
    """Whether SELECT ... FOR UPDATE is meaningful (SQLite locks the whole database instead)."""
    return is_postgres(bind)


def copy_rows(conn: Connection, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Bulk-insert rows: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    if is_postgres(conn):
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def rids_ahead(conn: Connection) -> bool:
    """Whether surrogate keys can be reserved before the rows are written (a sequence: PostgreSQL).

    SQLite takes the keys after the current maximum under its writer lock, so only at write time.
    """
    return is_postgres(conn)


def existing_ids(conn: Connection, rtype: str, ids: list[str]) -> list[str]:
    """Which of ``ids`` exist as resources of ``rtype`` (one indexed statement)."""
    if is_postgres(conn):
        sql = "SELECT id FROM resources WHERE rtype = %s AND id = ANY(%s)"
        return [r[0] for r in conn.exec_driver_sql(sql, (rtype, ids))]
    found: list[str] = []
    for i in range(0, len(ids), 500):  # SQLite's bound-parameter limit
        part = ids[i : i + 500]
        sql = f"SELECT id FROM resources WHERE rtype = ? AND id IN ({', '.join('?' for _ in part)})"
        found.extend(r[0] for r in conn.exec_driver_sql(sql, (rtype, *part)))
    return found


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.translate(_COPY_ESCAPES)
        return value
    if isinstance(value, float):
        return repr(value)  # shortest round-trip form; PostgreSQL reads inf/nan too
    return str(value)


def copy_text(rows: list[tuple[Any, ...]]) -> str:
    """Rows in PostgreSQL's COPY text format (what ``copy_encoded`` sends); cheap to ship between processes."""
    return "".join("\t".join(map(_copy_field, row)) + "\n" for row in rows)


def copy_encoded(conn: Connection, table: str, columns: tuple[str, ...], text: str) -> None:
    """COPY rows already in text format (from ``copy_text``): PostgreSQL only."""
    if not text:
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(text)


def allocate_rids(conn: Connection, n: int) -> list[int]:
    """Reserve ``n`` new surrogate keys for ``resources.rid`` before inserting (one round trip).

    PostgreSQL draws from the column's sequence; SQLite runs writers one at a time (BEGIN IMMEDIATE),
    so the next keys after the current maximum are free for this transaction.
    """
    if n <= 0:
        return []
    if is_postgres(conn):
        rows = conn.exec_driver_sql(
            "SELECT nextval('resources_rid_seq') FROM generate_series(1, %(n)s)", {"n": n}
        ).all()
        return [r[0] for r in rows]
    top = conn.exec_driver_sql("SELECT coalesce(max(rid), 0) FROM resources").scalar_one()
    return list(range(top + 1, top + n + 1))


def insert_many(conn: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Plain ``executemany`` INSERT with the driver's own placeholders (psycopg pipelines it)."""
    if not rows:
        return
    mark = "%s" if is_postgres(conn) else "?"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(mark for _ in columns)})"
    conn.exec_driver_sql(sql, rows)


def placeholder(bind: Engine | Connection) -> str:
    return "%s" if is_postgres(bind) else "?"


COPY_THRESHOLD = 64
"""Row count from which COPY beats a pipelined executemany on PostgreSQL (COPY has a fixed set-up cost)."""


def write_rows(conn: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Insert rows the fastest way for their number: executemany for a few, COPY for many (PostgreSQL)."""
    if len(rows) >= COPY_THRESHOLD and is_postgres(conn):
        copy_rows(conn, table, list(columns), rows)
    else:
        insert_many(conn, table, columns, rows)


def prepare_index_build(conn: Connection) -> None:
    """Session settings for building indexes in this transaction (PostgreSQL: sort memory).

    ``SET LOCAL`` lasts until the transaction ends; 512 MB lets a sorted build of the largest index at
    1 M resources run in memory instead of in temporary files (default 64 MB).
    """
    if is_postgres(conn):
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '512MB'")


def analyze(engine: Engine, tables: list[str]) -> None:
    """Refresh planner statistics after a bulk change (autovacuum may be off or late)."""
    with engine.begin() as conn:
        if is_postgres(conn):
            conn.exec_driver_sql(f"ANALYZE {', '.join(tables)}")
        else:
            for t in tables:
                conn.exec_driver_sql(f"ANALYZE {t}")


@contextmanager
def write_transaction(conn: Connection, wait_ms: int) -> Iterator[None]:
    """A writing transaction on ``conn`` that gives up on a lock after ``wait_ms`` (``lock_busy`` then
    tells): PostgreSQL ``lock_timeout``; SQLite ``BEGIN IMMEDIATE`` under a short busy timeout, the
    connection's own (``configure``) restored afterwards."""
    sqlite = not is_postgres(conn)
    raw = conn.connection.driver_connection
    assert raw is not None
    if sqlite:
        raw.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
    try:
        with conn.execution_options(rhip_write=True).begin():
            if not sqlite:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(wait_ms)}")
            yield
    finally:
        if sqlite:
            raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")


def lock_busy(exc: DBAPIError) -> bool:
    """``exc`` says a lock was not granted in time (``write_transaction``)."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "55P03":  # PostgreSQL lock_not_available
        return True
    return isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig)


def relax_commit(conn: Connection) -> None:
    """Commit this transaction without waiting for the WAL flush (PostgreSQL ``synchronous_commit``).

    Used only for a read's audit event and for chaining staged events (whose staged rows stay until that
    commits): the entry is in the WAL buffer when the response leaves and
    durable within ~3 × ``wal_writer_delay``; a server crash in that window can lose it. SQLite (WAL,
    ``synchronous=NORMAL``) already commits without a sync.
    """
    if is_postgres(conn):
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")


_AUDIT_COLUMNS = "seq, ts, kind, action, outcome, agent, content, prev, hash"


def _quoted(driver: psycopg.Connection[Any], text: str) -> bytes:
    """``text`` as an SQL string literal, quoted by libpq (``PQescapeLiteral``, which knows the connection's
    encoding and quoting rules): ≈ 3 µs, against ≈ 33 µs composing the message with ``psycopg.sql``."""
    if "\x00" in text:
        raise ValueError("NUL character in an audit record")
    return psycopg.pq.Escaping(driver.pgconn).escape_literal(text.encode(driver.info.encoding))


def stage_audit(conn: Connection, records: list[str]) -> None:
    """Stage events (``rhip.security.audit.encode_record``) in the caller's transaction (decision 0025)."""
    conn.exec_driver_sql(f"INSERT INTO audit_staging (data) VALUES ({placeholder(conn)})", [(r,) for r in records])


def stage_audit_and_commit(conn: Connection, data: str, relaxed: bool) -> None:
    """PostgreSQL: write a read's event (``rhip.security.audit.encode_record``) to ``audit_staging`` and commit
    the read's transaction, in one message (one round trip): ``[SET LOCAL synchronous_commit = off;]
    INSERT …; COMMIT``, the value quoted by libpq (``_quoted``). An error in the insert aborts the rest of
    the message, COMMIT included, and is raised here (decision 0025)."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    relax = b"SET LOCAL synchronous_commit = off; " if relaxed else b""
    insert = b"INSERT INTO audit_staging (data) VALUES (" + _quoted(driver, data) + b"); COMMIT"
    with driver.cursor() as cursor:
        cursor.execute(relax + insert)
    conn.commit()  # SQLAlchemy's side of the transaction; the driver has nothing left to commit


def write_audit(
    conn: Connection, events: list[tuple[Any, ...]], patients: list[tuple[int, str]], head: tuple[int, str, int]
) -> None:
    """Insert chained audit events and their patient index rows and move the chain head (the caller
    holds its lock)."""
    seq, digest, chain = head
    # COPY on PostgreSQL whatever the count: ≈ 20 µs of Python less per event than a pipelined executemany
    # even for a settle's few dozen events (the settler's work is the server's, on every read's behalf).
    copy_rows(conn, "audit_events", _AUDIT_COLUMNS.split(", "), events)
    copy_rows(conn, "audit_patients", ["seq", "patient"], patients)
    mark = placeholder(conn)
    move = f"UPDATE audit_head SET seq = {mark}, hash = {mark} WHERE chain = {mark}"
    conn.exec_driver_sql(move, (seq, digest, chain))
