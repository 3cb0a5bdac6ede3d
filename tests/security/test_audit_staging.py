"""Staged audit events (decision 0025): written with the action that caused them, chained by ``settle`` —
in the background, or before the trail is read — without losing or reordering any; on SQLite and
PostgreSQL."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine
from test_audit import audit_inserts_fail

from rhip.fhir.search.parse import parse_query
from rhip.security.audit import MAX_ENTITIES, AuditRecord, decode_record, encode_record, load_key, render
from rhip.security.context import RequestContext
from rhip.settings import Settings
from rhip.store import audit_log
from rhip.store.repository import Repository


def counts(engine: Engine) -> tuple[int, int]:
    """(staged, chained) events, read without settling."""
    with engine.connect() as conn:
        staged = conn.exec_driver_sql("SELECT count(*) FROM audit_staging").scalar_one()
        chained = conn.exec_driver_sql("SELECT count(*) FROM audit_events").scalar_one()
    return int(staged), int(chained)


def read(repo: Repository) -> None:
    with repo.unit(RequestContext.system("test"), write=False) as unit:
        unit.history("Patient", count=1)


def test_requests_stage_their_events_and_reading_the_trail_chains_them(engine: Engine, repo: Repository) -> None:
    with repo.unit(RequestContext.system("test")) as unit:
        unit.create({"resourceType": "Patient", "name": [{"text": "罗勇"}]})
    read(repo)
    assert counts(engine) == (2, 0)
    with engine.connect() as conn:
        rows = audit_log.search(conn)
    assert [seq for seq, _ in rows] == [2, 1]  # newest first, in the order the requests happened
    assert counts(engine) == (0, 2)
    assert audit_log.verify(engine, repo.audit_key).ok


def test_a_background_thread_chains_staged_events(engine: Engine, settings: Settings) -> None:
    repo = Repository(engine, settings.model_copy(update={"audit_settle_ms": 20}))
    try:
        for _ in range(3):
            read(repo)
        deadline = time.monotonic() + 5
        while counts(engine) != (0, 3) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert counts(engine) == (0, 3)
        assert audit_log.verify(engine, repo.audit_key).ok
    finally:
        audit_log.release(engine)  # no background settler for the tests after this one, nor at exit


def test_the_background_thread_vacuums_the_staging_table(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every settle reads the whole staging table, dead rows included: where autovacuum is off, the settler
    VACUUMs it every ``VACUUM_EVERY`` chained events (PostgreSQL; SQLite reuses the pages it frees, and the
    settler leaves it alone there)."""
    postgres = engine.dialect.name == "postgresql"

    def vacuums() -> int:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            found = conn.exec_driver_sql(
                "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'audit_staging'"
            ).scalar_one()
        return int(found)

    monkeypatch.setattr(audit_log._Settler, "VACUUM_EVERY", 3)
    before = vacuums() if postgres else 0
    repo = Repository(engine, settings.model_copy(update={"audit_settle_ms": 20}))
    try:
        for _ in range(3):
            read(repo)
        deadline = time.monotonic() + 10
        while (counts(engine) != (0, 3) or (postgres and vacuums() == before)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert counts(engine) == (0, 3)  # SQLite: chained as ever, no VACUUM tried
        if postgres:
            assert vacuums() > before
    finally:
        audit_log.release(engine)


def test_settling_waits_briefly_for_the_head_and_leaves_the_rest(engine: Engine, repo: Repository) -> None:
    read(repo)
    assert audit_log.settle(engine, repo.audit_key) == 1  # the chain and its head row exist
    read(repo)
    # A write appending holds the head's lock until it ends (SQLite: the database's write lock).
    if engine.dialect.name == "postgresql":
        holder = engine.connect()
        holder.begin()
        holder.exec_driver_sql("SELECT seq FROM audit_head WHERE chain = 0 FOR UPDATE")
    else:
        holder = sqlite3.connect(str(engine.url.database))
        holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        assert audit_log.settle(engine, repo.audit_key, wait_ms=50) == 0
        assert time.monotonic() - started < 2
    finally:
        holder.rollback()
        holder.close()
    assert counts(engine) == (1, 1)
    assert audit_log.settle(engine, repo.audit_key) == 1


def test_a_failed_settle_keeps_the_staged_events(engine: Engine, repo: Repository) -> None:
    for _ in range(2):
        read(repo)
    audit_inserts_fail(engine, True, "audit_events")
    try:
        with pytest.raises(Exception, match="audit trail unavailable"):
            audit_log.settle(engine, repo.audit_key)
        assert counts(engine) == (2, 0)
    finally:
        audit_inserts_fail(engine, False, "audit_events")
    assert audit_log.settle(engine, repo.audit_key) == 2
    report = audit_log.verify(engine, repo.audit_key)
    assert report.ok, report.problems
    assert report.entries == 2


def test_a_staged_event_renders_as_its_record(engine: Engine, repo: Repository) -> None:
    with repo.unit(RequestContext.system("test"), write=False) as unit:
        unit.search(parse_query("Patient", [("name", "罗勇")]))
    with engine.connect() as conn:
        [(seq, content)] = audit_log.search(conn, count=10)
    assert f'"id":"{seq}"' in content
    assert '"subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"search-type"}]' in content


def test_a_process_chains_what_it_staged_before_it_exits(engine: Engine, tmp_path: Path) -> None:
    """A command (``rhip import``, a stopping server) does not leave its staged events behind, even when
    its background settler would only have run much later."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from rhip.security.context import RequestContext\n"
        "from rhip.settings import Settings\n"
        "from rhip.store.db import make_engine\n"
        "from rhip.store.repository import Repository\n"
        "repo = Repository(make_engine(sys.argv[1]), Settings(data_dir=Path(sys.argv[2]), audit_settle_ms=60000))\n"
        "with repo.unit(RequestContext.system('test'), write=False) as unit:\n"
        "    unit.history('Patient', count=1)\n"
    )
    url = engine.url.render_as_string(hide_password=False)
    done = subprocess.run([sys.executable, "-c", script, url, str(tmp_path)], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert counts(engine) == (0, 1)
    assert audit_log.verify(engine, load_key("", tmp_path)).ok


def test_a_large_event_is_staged_uncompressed_and_chained_whole(engine: Engine, repo: Repository) -> None:
    """Staged rows live until the next settle: PostgreSQL stores them out of line without compressing
    (migration 0015; pglz cost 4.7 ms in the request for a 140 kB ``$everything`` event)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            storage = conn.exec_driver_sql(
                "SELECT attstorage FROM pg_attribute WHERE attrelid = 'audit_staging'::regclass AND attname = 'data'"
            ).scalar_one()
        assert storage == "e"  # EXTERNAL
    with repo.unit(RequestContext.system("big reader"), write=False) as unit:
        for i in range(3000):  # as a search of 3,000 rows notes them: ≈ 150 kB staged
            unit.audit.note("search-type", "Observation", f"o-{i:05d}-{'x' * 20}", None)
    assert counts(engine) == (1, 0)
    assert audit_log.settle(engine) == 1
    with engine.connect() as conn:
        content = conn.exec_driver_sql("SELECT content FROM audit_events ORDER BY seq DESC LIMIT 1").scalar_one()
    assert content.count('"reference":"Observation/o-') == 200  # MAX_ENTITIES, then a count of the rest
    assert "2800 more resources not listed" in content
    assert audit_log.verify(engine, load_key(repo.settings.audit_key, repo.settings.data_dir)).ok


def test_release_chains_what_is_staged_and_stops_settling(engine: Engine, repo: Repository) -> None:
    """Before a database goes away (a benchmark drops it, a tool closes it for good): chain its staged
    events now, and leave nothing for a settler thread or the exit hook to try on it afterwards."""
    read(repo)
    assert counts(engine) == (1, 0)
    assert audit_log.release(engine) == 1
    assert counts(engine) == (0, 1)
    assert engine not in audit_log._keys  # nothing left to try at exit
    assert engine not in audit_log._settlers
    read(repo)  # still in use after all: staging registers the key again, nothing is left unchained
    assert audit_log.settle(engine) == 1
    assert counts(engine) == (0, 2)


def test_release_waits_for_a_settle_under_way(engine: Engine, settings: Settings) -> None:
    """A benchmark drops its database right after ``release``: no settle of the settler may still be running
    on it then (one was, and the drop cut its connection)."""
    repo = Repository(engine, settings.model_copy(update={"audit_settle_ms": 60_000}))  # the settler waits
    read(repo)
    settler = audit_log._settlers[engine]
    released: list[int] = []
    with settler.busy:  # as if it were settling
        thread = threading.Thread(target=lambda: released.append(audit_log.release(engine)))
        thread.start()
        time.sleep(0.2)
        assert released == []  # waiting for the settle to end
    thread.join(10)
    assert released == [1]
    assert counts(engine) == (0, 1)


@pytest.mark.parametrize("touched", [0, 3, MAX_ENTITIES, MAX_ENTITIES + 1, 1234])
def test_a_staged_record_keeps_what_its_event_lists(touched: int) -> None:
    """A staged record holds the resources its event lists (at most ``MAX_ENTITIES``) and a count of the
    rest, and renders to the event the whole record renders to; records staged before the count existed
    (ten fields, every resource) still decode to it."""
    ctx = RequestContext(subject="doctor-1", kind="user", role="clinician", organization="org-a")
    entities = {"Patient/p1": "search-type", "Patient/p2": "search-type"}
    entities |= {f"Observation/o{i}": "search-type" for i in range(touched)}
    rec = AuditRecord(1_795_000_000_000, "rest", "E", "0", ctx, ["search-type"], entities, ["p1"], ["Observation?x"])
    staged = encode_record(rec)
    back = decode_record(staged)
    assert render(7, back) == render(7, rec)
    assert len(back.entities) == min(touched + 1, MAX_ENTITIES)  # Patient/p2 is listed, p1 is a named patient
    assert back.unlisted == max(0, touched + 1 - MAX_ENTITIES)
    assert len(staged) < 30_000
    old_form = orjson.loads(staged)[:10]  # session 8's staging: no count, every resource
    old_form[6] = entities
    assert render(7, decode_record(orjson.dumps(old_form).decode())) == render(7, rec)
