"""The audit trail: one AuditEvent per request, chained with keyed SM3, tamper-evident, readable by
residents for their own record; on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from rhip.cli import main
from rhip.fhir import json as fjson
from rhip.fhir.validation import validate_resource
from rhip.security import accounts, audit, tokens
from rhip.security.context import RequestContext
from rhip.store import audit_log
from rhip.store.db import make_engine
from rhip.store.repository import Repository

RIC = {"system": "urn:oid:2.16.156.10011.1.3", "value": "330523194504251214"}


def patient() -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [RIC], "name": [{"text": "罗勇"}], "gender": "male"}


def events(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = audit_log.search(conn, count=1000)
    return [fjson.loads(c) for _, c in reversed(rows)]


def subtypes(event: dict[str, Any]) -> list[str]:
    return [s["code"] for s in event.get("subtype", [])]


def refs(event: dict[str, Any]) -> list[str]:
    return [e["what"]["reference"] for e in event.get("entity", []) if "what" in e]


def token_for(api: Any, ctx: RequestContext) -> dict[str, str]:
    secret = api.client.app.state.jwt_secret
    return {"Authorization": f"Bearer {tokens.issue(secret, ctx, 600)}"}


def test_every_interaction_is_one_audit_event_with_the_patient(api: Any, engine: Engine) -> None:
    pid = api.post("/Patient", json=patient()).headers["Location"].split("/")[4]
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "体重"},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": "2025-01-01",
    }
    oid = api.post("/Observation", json=obs).headers["Location"].split("/")[4]
    api.get(f"/Patient/{pid}")
    api.get(f"/Observation?subject=Patient/{pid}")
    api.put(f"/Patient/{pid}", json=patient() | {"id": pid, "gender": "male"})
    api.get(f"/Patient/{pid}/_history")
    api.delete(f"/Observation/{oid}")
    got = events(engine)
    assert [(e["action"], subtypes(e)) for e in got] == [
        ("C", ["create"]),
        ("C", ["create"]),
        ("R", ["read"]),
        ("E", ["search-type"]),
        ("U", ["update"]),
        ("R", ["history-instance"]),
        ("D", ["delete"]),
    ]
    for e in got:
        assert f"Patient/{pid}" in refs(e)  # every event names the resident whose data it touched
        assert e["outcome"] == "0"
        assert e["agent"][0]["who"]["identifier"]["value"] == "tester"
        assert [i for i in validate_resource(fjson.loads(fjson.dumps(e))) if i.severity == "error"] == []
    assert f"Observation/{oid}" in refs(got[3])
    search_query = [e for e in got[3]["entity"] if "query" in e]
    assert search_query


def test_denied_access_is_audited_although_its_transaction_rolls_back(api: Any, engine: Engine) -> None:
    ctx = RequestContext(subject="nurse1", kind="user", role="clinician", scopes=frozenset({"user/Observation.read"}))
    r = api.client.post("/Patient", json=patient(), headers=token_for(api, ctx))
    assert r.status_code == 403
    (event,) = events(engine)
    assert event["outcome"] == "4"
    assert event["agent"][0]["who"]["identifier"]["value"] == "nurse1"
    assert "denied: write Patient" in event["outcomeDesc"]


def test_a_failed_transaction_is_audited_with_its_failure(api: Any, engine: Engine) -> None:
    pid = api.post("/Patient", json=patient()).headers["Location"].split("/")[4]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": patient() | {"id": pid},
                "request": {"method": "PUT", "url": f"Patient/{pid}", "ifMatch": 'W/"9"'},
            },
        ],
    }
    assert api.post("/", json=bundle).status_code == 412
    failed = events(engine)[-1]
    assert failed["outcome"] == "4"
    assert failed["action"] == "C"  # the create that was rolled back is named, with the failure
    assert "If-Match" in failed["outcomeDesc"]
    assert api.get("/Patient").json()["total"] == 1


def test_logins_are_audited_success_and_failure(api: Any, engine: Engine) -> None:
    accounts.create_user(engine, username="doc1", password="Doctor@2026", role="clinician")
    form = {"grant_type": "password", "username": "doc1", "password": "wrong-password"}
    assert api.client.post("/auth/token", data=form).status_code == 400
    form["password"] = "Doctor@2026"
    assert api.client.post("/auth/token", data=form).status_code == 200
    logins = [e for e in events(engine) if e["type"]["code"] == "110114"]
    assert [(e["outcome"], e["agent"][0]["who"]["identifier"]["value"]) for e in logins] == [
        ("4", "doc1"),
        ("0", "doc1"),
    ]


def test_residents_see_who_accessed_their_record(api: Any, engine: Engine) -> None:
    pid = api.post("/Patient", json=patient()).headers["Location"].split("/")[4]
    other = api.post("/Patient", json=patient() | {"name": [{"text": "王芳"}]}).headers["Location"].split("/")[4]
    doctor = RequestContext(subject="dr-wang", kind="user", role="clinician", scopes=frozenset({"user/*.read"}))
    # no care relationship at any organisation: the read is refused (404), and the attempt is logged
    assert api.client.get(f"/Patient/{pid}", headers=token_for(api, doctor)).status_code == 404
    api.get(f"/Patient/{other}")
    r = api.get(f"/AuditEvent?patient=Patient/{pid}")
    assert r.status_code == 200
    events_seen = [e["resource"] for e in r.json()["entry"]]
    who = [e["agent"][0]["who"]["identifier"]["value"] for e in events_seen]
    assert who == ["dr-wang", "tester"]  # newest first: the doctor's refused read, then the creation
    assert events_seen[0]["outcome"] == "4"
    # Reading the trail is an access too: the search above is now the newest event about this resident.
    page = api.get(f"/AuditEvent?patient={pid}&_count=1").json()
    (first,) = page["entry"]
    assert first["resource"]["agent"][0]["who"]["identifier"]["value"] == "tester"
    assert first["resource"]["subtype"][0]["code"] == "search-type"
    nxt = next(link["url"] for link in page["link"] if link["relation"] == "next")
    second = api.get(nxt.split("http://fhir.test", 1)[1]).json()["entry"][0]["resource"]
    assert second["agent"][0]["who"]["identifier"]["value"] == "dr-wang"
    assert api.get("/AuditEvent?agent=dr-wang").json()["entry"][0]["resource"]["action"] == "R"
    assert api.get("/AuditEvent?code=x").status_code == 400
    seq = r.json()["entry"][0]["resource"]["id"]
    assert api.get(f"/AuditEvent/{seq}").json()["id"] == seq
    assert api.get("/AuditEvent/999999").status_code == 404


def test_auditors_filter_the_trail_by_action_and_outcome(api: Any) -> None:
    pid = api.post("/Patient", json=patient()).headers["Location"].split("/")[4]
    doctor = RequestContext(subject="dr-li", kind="user", role="clinician", scopes=frozenset({"user/*.read"}))
    assert api.client.get(f"/Patient/{pid}", headers=token_for(api, doctor)).status_code == 404  # refused
    api.get(f"/Patient/{pid}")

    def found(query: str) -> list[tuple[str, str, str]]:
        r = api.get(f"/AuditEvent?{query}")
        assert r.status_code == 200, r.text
        return [
            (e["resource"]["action"], e["resource"]["outcome"], e["resource"]["agent"][0]["who"]["identifier"]["value"])
            for e in r.json().get("entry", [])
        ]

    assert found("outcome=4") == [("R", "4", "dr-li")]
    assert found("action=C") == [("C", "0", "tester")]
    assert found("action=http://hl7.org/fhir/audit-event-action|R&outcome=0") == [("R", "0", "tester")]
    assert [a for a, _, _ in found("action=C,R")][-3:] == ["R", "R", "C"]
    assert found("action=C&action=R") == []  # repeated parameters: both must hold
    found("action=C,R&outcome=4")
    newest = api.get("/AuditEvent?_count=1").json()["entry"][0]["resource"]  # the search just above
    (query,) = [base64.b64decode(e["query"]).decode() for e in newest["entity"] if "query" in e]
    assert query == "AuditEvent?action=C,R&outcome=4"
    for bad in ("action=X", "outcome=5", "outcome="):
        r = api.get(f"/AuditEvent?{bad}")
        assert r.status_code == 400, bad
        assert r.json()["resourceType"] == "OperationOutcome"


def test_the_audit_trail_cannot_be_written_through_the_api(api: Any) -> None:
    event = {"resourceType": "AuditEvent", "type": {"code": "rest"}, "recorded": "2025-01-01T00:00:00Z"}
    assert api.post("/AuditEvent", json=event).status_code == 405
    assert api.put("/AuditEvent/1", json=event | {"id": "1"}).status_code == 405
    assert api.delete("/AuditEvent/1").status_code == 405


def _fill(api: Any, n: int = 6) -> None:
    for _ in range(n):
        api.post("/Patient", json=patient())


def _verify(repo: Repository, engine: Engine, **kw: Any) -> audit_log.Verification:
    return audit_log.verify(engine, repo.audit_key, **kw)


def _sql(engine: Engine, statement: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement))


def test_an_intact_chain_verifies(api: Any, repo: Repository, engine: Engine) -> None:
    _fill(api)
    report = _verify(repo, engine)
    assert report.ok, report.problems
    assert report.entries == report.head == 6
    assert not audit_log.verify(engine, b"another key").ok


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        ("UPDATE audit_events SET content = replace(content, '\"C\"', '\"R\"') WHERE seq = 3", "entry 3: content"),
        ("UPDATE audit_events SET agent = 'x', hash = prev WHERE seq = 2", "entry 2: content"),
        ("DELETE FROM audit_events WHERE seq = 4", "entries 4..4 are missing"),
        ("DELETE FROM audit_events WHERE seq = 6", "chain head (6) does not match"),
        ("DELETE FROM audit_patients WHERE seq = 5", "entry 5: patient index"),
    ],
)
def test_tampering_is_detected(api: Any, repo: Repository, engine: Engine, tamper: str, problem: str) -> None:
    _fill(api)
    assert _verify(repo, engine).ok
    _sql(engine, tamper)
    report = _verify(repo, engine)
    assert not report.ok
    assert any(p.startswith(problem) for p in report.problems), report.problems


def test_truncation_with_a_rewritten_head_is_caught_by_an_anchor(api: Any, repo: Repository, engine: Engine) -> None:
    _fill(api)
    anchor = audit_log.head(engine)
    _sql(engine, "DELETE FROM audit_events WHERE seq >= 5")
    _sql(engine, "DELETE FROM audit_patients WHERE seq >= 5")
    _sql(engine, "UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_events WHERE seq = 4)")
    assert _verify(repo, engine).ok  # consistent on its own: only an anchor kept elsewhere shows it
    report = _verify(repo, engine, anchor=anchor)
    assert not report.ok
    assert "anchored entry 6" in report.problems[0]


def test_cli_verify_and_anchor(
    api: Any, repo: Repository, engine: Engine, settings: Any, tmp_path: Path, capsys: Any
) -> None:
    _fill(api, 3)
    url = engine.url.render_as_string(hide_password=False)
    base = ["--db", url, "--data-dir", str(settings.data_dir)]
    assert main(["audit", "anchor", *base]) == 0
    anchor = tmp_path / "anchor.json"
    anchor.write_text(capsys.readouterr().out)
    assert main(["audit", "verify", *base, "--anchor", str(anchor)]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] >= 3
    _sql(engine, "UPDATE audit_events SET content = content || ' ' WHERE seq = 1")
    assert main(["audit", "verify", *base]) == 3


def test_concurrent_requests_keep_one_gapless_chain(api: Any, repo: Repository, engine: Engine) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                with repo.unit(RequestContext.system("test")) as unit:
                    unit.create(patient())
                with repo.unit(RequestContext.system("test"), write=False) as unit:
                    unit.history("Patient", count=1)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = _verify(repo, engine)
    assert report.ok, report.problems
    assert report.entries == 60


def _lock_statements(engine: Engine) -> list[str]:
    """Statements that take the chain head's lock before appending (the non-optimistic path)."""
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE audit_head SET seq = seq"):
            seen.append(statement)

    return seen


def _read(repo: Repository) -> None:
    with repo.unit(RequestContext.system("test"), write=False) as unit:
        unit.history("Patient", count=1)


def test_appends_from_several_processes_and_rollbacks_keep_one_chain(
    api: Any, repo: Repository, engine: Engine, settings: Any
) -> None:
    # Another node process on the same database: its own engine, so its own remembered chain head.
    other_engine = make_engine(engine.url.render_as_string(hide_password=False))
    other = Repository(other_engine, settings)
    locks = _lock_statements(engine)
    try:
        _fill(api, 2)
        for _ in range(3):
            _read(repo)
            _read(other)  # moves the head behind this process's back
            with repo.unit(RequestContext.system("test")) as unit:
                unit.create(patient())
        # An append whose transaction rolls back leaves a remembered head that never committed.
        with engine.connect() as conn:
            conn.begin()
            record = audit.record_from(audit.Collector(), RequestContext.system("test"), 1, "0", "rolled back")
            audit_log.append(conn, repo.audit_key, [record])
            conn.rollback()
        _read(repo)
        _read(repo)
        report = _verify(repo, engine)
        assert report.ok, report.problems
        assert report.entries == report.head == 2 + 3 * 3 + 2
        if engine.dialect.name == "postgresql":
            # Requests stage their events (decision 0025): none takes the head's lock; settling does.
            before = len(locks)
            for _ in range(5):
                _read(repo)
                _read(other)
            assert len(locks) == before
            assert _verify(repo, engine).ok
            assert len(locks) == before + 1
    finally:
        other_engine.dispose()


def _record(engine: Engine, key: bytes, record: audit.AuditRecord, *, read: bool) -> None:
    """Record ``record`` as a unit would: a read's in the message of its COMMIT, a write's before it."""
    with engine.connect() as conn:
        conn.begin()
        if read:
            audit_log.append_and_commit(conn, key, record)
        else:
            audit_log.append(conn, key, [record])
            conn.commit()


@pytest.mark.parametrize("read", [False, True])
def test_identical_events_of_two_processes_are_two_entries(
    repo: Repository, engine: Engine, settings: Any, read: bool
) -> None:
    # Two identical requests (same agent, query and millisecond) on two processes: their events render
    # alike and must still be two entries of one chain.
    other = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        record = audit.record_from(audit.Collector(), RequestContext.system("test"), 1, "0", "same")

        for e in (engine, engine, other):
            _record(e, repo.audit_key, record, read=read)
        report = _verify(repo, engine)
        assert report.ok, report.problems
        assert report.entries == 3
    finally:
        other.dispose()


def test_an_event_is_stored_exactly_whatever_its_text(repo: Repository, engine: Engine) -> None:
    # A read's event is staged by one message with the record written as an SQL literal (PostgreSQL):
    # quotes, backslashes, percent signs and Chinese text must arrive unchanged, or the chain breaks.
    odd = "doctor's \\ 100% 张三 '); DROP TABLE audit_events; --"
    ctx = RequestContext(subject=odd, kind="user", role="clinician", organization="o'1")
    collector = audit.Collector()
    collector.query("search-type", f"Patient?name={odd}")
    collector.note("read", "Patient", "p-1", None)
    record = audit.record_from(collector, ctx, 1, "0", "")
    for read in (True, False):
        _record(engine, repo.audit_key, record, read=read)
    with engine.connect() as conn:
        stored = audit_log.search(conn, agent=odd)
        agents = conn.exec_driver_sql("SELECT agent FROM audit_events").scalars().all()
    assert [content for _, content in stored] == [audit.render(seq, record) for seq, _ in stored]
    assert len(stored) == 2
    assert agents == [odd, odd]
    assert _verify(repo, engine).ok


def audit_inserts_fail(engine: Engine, on: bool, table: str = "audit_staging") -> None:
    """Make every insert into ``table`` of the audit trail fail (a full disk, a broken trigger...), or stop
    it; by default the staging table, where every event is first written (decision 0025)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            if on:
                conn.exec_driver_sql(
                    "CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'audit trail unavailable'; END $$"
                )
                conn.exec_driver_sql(
                    f"CREATE TRIGGER audit_refuse BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION audit_refuse()"
                )
            else:
                conn.exec_driver_sql(f"DROP TRIGGER audit_refuse ON {table}")
                conn.exec_driver_sql("DROP FUNCTION audit_refuse()")
        elif on:
            conn.exec_driver_sql(
                f"CREATE TRIGGER audit_refuse BEFORE INSERT ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'audit trail unavailable'); END"
            )
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_refuse")


def test_no_data_leaves_when_its_audit_event_cannot_be_written(api: Any, engine: Engine) -> None:
    pid = api.post("/Patient", json=patient()).headers["Location"].split("/")[4]
    assert api.get(f"/Patient/{pid}").status_code == 200
    audit_inserts_fail(engine, True)
    try:
        for url in (f"/Patient/{pid}", f"/Patient?_id={pid}", f"/Patient/{pid}/$everything"):
            r = api.get(url)
            # 500 on PostgreSQL; SQLite reports a trigger's RAISE as a constraint failure (409)
            assert r.status_code in (409, 500), (url, r.status_code)
            assert r.json()["resourceType"] == "OperationOutcome"
            assert "罗勇" not in r.text
        assert api.post("/Patient", json=patient()).status_code in (409, 500)
    finally:
        audit_inserts_fail(engine, False)
    assert api.get(f"/Patient/{pid}").status_code == 200
    with engine.connect() as conn:
        patients = conn.exec_driver_sql("SELECT count(*) FROM resources WHERE rtype = 'Patient'").scalar_one()
    assert patients == 1  # the write whose event failed is not there either
    report = audit_log.verify(engine, api.client.app.state.repo.audit_key)
    assert report.ok, report.problems
