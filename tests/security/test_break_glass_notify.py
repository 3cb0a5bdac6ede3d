"""Break-glass is reported to the resident (a Communication in their record, written with the grant)
and to the auditor (``rhip audit break-glass``); refused attempts notify nobody. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from test_access_matrix import put, treated

from rhip.cli import main
from rhip.fhir.errors import FhirError
from rhip.security import tokens
from rhip.security.accounts import ROLE_SCOPES, create_user, link_patient
from rhip.security.break_glass import NOTIFICATION_SYSTEM, report
from rhip.security.context import RequestContext
from rhip.settings import Settings
from rhip.store import audit_log
from rhip.store.access_tables import access_grants
from rhip.store.repository import Repository

REASON = "昏迷急诊，需查既往史和过敏史"
HOSPITAL = "湖州市第一人民医院"
NARROW = frozenset({"user/Patient.read", "user/Observation.read"})
"""A clinician token without any Communication scope: the notice must not depend on it."""


@pytest.fixture
def region(api: Any) -> Any:
    """p1 and p2 treated at org-a only; the clinicians below work at org-b (no care relationship)."""
    put(api, {"resourceType": "Organization", "id": "org-b", "name": HOSPITAL})
    for pid in ("p1", "p2"):
        treated(api, {"resourceType": "Patient", "id": pid, "name": [{"text": f"患者{pid}"}]}, "org-a")
    return api


def as_user(api: Any, subject: str, role: str, scopes: frozenset[str] | None = None, **kw: Any) -> Callable[..., Any]:
    ctx = RequestContext(
        subject=subject, kind="user", role=role, scopes=scopes or frozenset(ROLE_SCOPES[role].split()), **kw
    )
    headers = {"Authorization": f"Bearer {tokens.issue(api.client.app.state.jwt_secret, ctx, 600)}"}

    def call(method: str, url: str, **more: Any) -> Any:
        return api.client.request(method, url, headers=headers, **more)

    return call


def logged_in_resident(api: Any, engine: Engine, patient: str) -> Callable[..., Any]:
    """A resident account linked to ``patient``, logged in through ``POST /auth/token``."""
    create_user(engine, username=f"res-{patient}", password="Resident@2026", role="resident")
    link_patient(engine, f"res-{patient}", patient)
    r = api.client.post(
        "/auth/token", data={"grant_type": "password", "username": f"res-{patient}", "password": "Resident@2026"}
    )
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def call(method: str, url: str, **more: Any) -> Any:
        return api.client.request(method, url, headers=headers, **more)

    return call


def break_glass(call: Callable[..., Any], patient: str, reason: str | None = REASON, minutes: int = 30) -> Any:
    params: list[dict[str, Any]] = [{"name": "minutes", "valueInteger": minutes}]
    if reason is not None:
        params.append({"name": "reason", "valueString": reason})
    return call("POST", f"/Patient/{patient}/$break-glass", json={"resourceType": "Parameters", "parameter": params})


def expires_of(response: Any) -> str:
    return next(p["valueInstant"] for p in response.json()["parameter"] if p["name"] == "expires")


def ms(instant: str) -> int:
    return int(datetime.fromisoformat(instant).timestamp() * 1000)


def resources(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e["resource"]["resourceType"] == rtype]


def test_the_resident_is_notified_in_the_grants_transaction(region: Any, engine: Engine, repo: Repository) -> None:
    doctor = as_user(region, "dr-wang", "clinician", NARROW, organization="org-b")
    assert doctor("GET", "/Patient/p1").status_code == 404
    r = break_glass(doctor, "p1")
    assert r.status_code == 200, r.text
    expires = expires_of(r)
    assert doctor("GET", "/Patient/p1").status_code == 200

    resident = logged_in_resident(region, engine, "p1")
    found = resident("GET", "/Communication?subject=Patient/p1")
    assert found.status_code == 200, found.text
    [note] = resources(found.json(), "Communication")
    assert note["status"] == "completed"
    assert note["category"][0]["coding"][0] == {
        "system": NOTIFICATION_SYSTEM,
        "code": "break-glass",
        "display": "紧急授权访问通知",
    }
    assert note["subject"] == {"reference": "Patient/p1"}
    assert note["recipient"] == [{"reference": "Patient/p1"}]
    assert note["sender"] == {"reference": "Organization/org-b", "display": HOSPITAL}
    assert note["reasonCode"] == [{"text": REASON}]
    grant = note["extension"][0]["extension"]
    assert {"url": "expires", "valueInstant": expires} in grant
    assert {"url": "user", "valueIdentifier": {"system": "http://rhip.cn/fhir/sid/user", "value": "dr-wang"}} in grant
    zh, en = (p["contentString"] for p in note["payload"])
    for part in ("紧急授权", REASON, "dr-wang", HOSPITAL):
        assert part in zh
    assert en.startswith("Break-glass access notice")
    for part in (REASON, "dr-wang", HOSPITAL):
        assert part in en
    # Sent at the grant: exactly the requested 30 minutes before the expiry.
    assert ms(expires) - ms(note["sent"]) == 30 * 60_000

    # Indexed like any record, and part of the resident's record.
    assert resident("GET", f"/Communication/{note['id']}").status_code == 200
    everything = resident("GET", "/Patient/p1/$everything").json()
    assert note["id"] in {c["id"] for c in resources(everything, "Communication")}
    by_category = region.get(f"/Communication?category={NOTIFICATION_SYSTEM}|break-glass").json()
    assert [c["id"] for c in resources(by_category, "Communication")] == [note["id"]]

    # One AuditEvent flags the grant, names the clinician and lists the notice; the chain verifies.
    log = resident("GET", "/AuditEvent?patient=p1").json()
    [flagged] = [e for e in resources(log, "AuditEvent") if "break-glass" in {s["code"] for s in e["subtype"]}]
    assert flagged["agent"][0]["who"]["identifier"]["value"] == "dr-wang"
    assert flagged["outcome"] == "0"
    assert REASON in flagged["outcomeDesc"]
    assert f"Communication/{note['id']}" in {(x.get("what") or {}).get("reference") for x in flagged["entity"]}
    assert audit_log.verify(engine, repo.audit_key).ok


def test_the_notice_needs_no_communication_scope_and_opens_no_bypass(region: Any) -> None:
    doctor = as_user(region, "dr-wang", "clinician", NARROW, organization="org-b")
    assert break_glass(doctor, "p1").status_code == 200
    mine = {
        "resourceType": "Communication",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "payload": [{"contentString": "x"}],
    }
    assert doctor("POST", "/Communication", json=mine).status_code == 403  # still no write scope of its own
    assert doctor("GET", "/Communication").status_code == 403  # nor read scope: the notice was the platform's write


def test_a_clinician_without_organisation_is_named_by_account(region: Any) -> None:
    doctor = as_user(region, "dr-li", "clinician")
    assert break_glass(doctor, "p2").status_code == 200
    [note] = resources(region.get("/Communication?subject=Patient/p2").json(), "Communication")
    assert note["sender"] == {
        "identifier": {"system": "http://rhip.cn/fhir/sid/user", "value": "dr-li"},
        "display": "dr-li",
    }


def test_refused_break_glass_writes_no_notice(region: Any, engine: Engine) -> None:
    doctor = as_user(region, "dr-wang", "clinician", organization="org-b")
    assert break_glass(doctor, "p1", reason=None).status_code == 400
    assert break_glass(doctor, "p1", reason="  ok ").status_code == 400  # shorter than 4 characters
    assert break_glass(doctor, "p1", minutes=241).status_code == 400
    assert break_glass(doctor, "nobody").status_code == 404
    assert break_glass(as_user(region, "res", "resident", patients=("p1",)), "p1").status_code == 403
    assert break_glass(as_user(region, "cdc", "public-health-officer", region="3305"), "p1").status_code == 403
    assert region.get("/Communication?_summary=count").json()["total"] == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(access_grants)).scalar() == 0
    # The refusals themselves are in the trail (outcome 4), without any notice.
    with engine.connect() as conn:
        events = [json.loads(c) for who in ("dr-wang", "res", "cdc") for _, c in audit_log.search(conn, agent=who)]
    assert len(events) == 6
    assert {e["outcome"] for e in events} == {"4"}
    assert not any("Communication/" in json.dumps(e) for e in events)


def test_the_auditor_report_lists_grants_with_event_and_notice(
    region: Any, engine: Engine, repo: Repository, settings: Settings, capsys: Any
) -> None:
    first = break_glass(as_user(region, "dr-wang", "clinician", NARROW, organization="org-b"), "p1")
    second = break_glass(as_user(region, "dr-li", "clinician"), "p2", reason="车祸伤员，查血型", minutes=60)
    assert first.status_code == second.status_code == 200
    notes = {c["subject"]["reference"][8:]: c for c in resources(region.get("/Communication").json(), "Communication")}

    auditor = RequestContext(subject="aud", kind="user", role="auditor", scopes=frozenset({"user/AuditEvent.read"}))
    lines = report(repo, auditor)
    assert [(x["who"], x["patient"]) for x in lines] == [("dr-wang", "p1"), ("dr-li", "p2")]
    wang = lines[0]
    assert wang["reason"] == REASON
    assert wang["organization"] == "org-b"
    assert wang["expires"] == expires_of(first)
    assert ms(wang["expires"]) - ms(wang["granted"]) == 30 * 60_000
    assert wang["notification"] == f"Communication/{notes['p1']['id']}"
    with engine.connect() as conn:
        event = json.loads(audit_log.read(conn, wang["audit_event"]) or "{}")
        run_events = [json.loads(c) for _, c in audit_log.search(conn, agent="aud", count=5)]
    assert "break-glass" in {s["code"] for s in event["subtype"]}
    assert lines[1]["notification"] == f"Communication/{notes['p2']['id']}"
    assert lines[1]["audit_event"] > wang["audit_event"]

    # Reading the report is itself audited and shows in each resident's access log.
    [run] = run_events
    assert {"Patient/p1", "Patient/p2"} <= {(x.get("what") or {}).get("reference") for x in run["entity"]}

    # Residents see only the grants on their own record; clinicians may not read the report.
    resident = RequestContext(
        subject="r", kind="user", role="resident", scopes=frozenset({"patient/*.read"}), patients=("p2",)
    )
    mine = report(repo, resident)
    assert [x["patient"] for x in mine] == ["p2"]
    with pytest.raises(FhirError, match="AuditEvent"):
        report(repo, RequestContext(subject="d", kind="user", role="clinician", scopes=frozenset({"user/*.*"})))

    # The command line: JSON lines, --since filters by grant time, a bad date exits 1.
    url = engine.url.render_as_string(hide_password=False)
    base = ["audit", "break-glass", "--db", url, "--data-dir", str(settings.data_dir)]
    capsys.readouterr()
    assert main(base) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [x["patient"] for x in printed] == ["p1", "p2"]
    assert {"who", "patient", "reason", "granted", "expires"} <= set(printed[0])
    assert main([*base, "--since", lines[1]["granted"]]) == 0
    assert [json.loads(line)["who"] for line in capsys.readouterr().out.splitlines()] == ["dr-li"]
    assert main([*base, "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out == ""
    assert main([*base, "--since", "yesterday"]) == 1
    assert audit_log.verify(engine, repo.audit_key).ok
