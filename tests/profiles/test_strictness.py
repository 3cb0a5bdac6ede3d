"""Per-source strictness of China-profile findings on the REST write path, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, select

from rhip.store.quality_tables import validation_issues
from rhip.store.repository import Repository
from rhip.store.sources import list_sources, set_source

BAD_ID = {"system": "urn:oid:2.16.156.10011.1.3", "value": "330523194504251219"}  # wrong check character


def bad_patient() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [BAD_ID],
        "name": [{"text": "罗勇"}],
        "gender": "male",
        "birthDate": "1945-04-25",
    }


def stored_findings(engine: Engine) -> list[tuple[Any, ...]]:
    v = validation_issues.c
    with engine.connect() as conn:
        rows = conn.execute(select(v.rtype, v.version, v.source, v.severity, v.rule, v.expression)).all()
    return sorted(tuple(r) for r in rows)


def set_strictness(repo: Repository, engine: Engine, value: str) -> None:
    set_source(engine, "tester", value, "test feed")
    repo.sources.invalidate()


def test_default_is_accept_with_warning_and_every_finding_is_kept(api: Any, engine: Engine) -> None:
    r = api.post("/Patient", json=bad_patient(), headers={"Prefer": "return=OperationOutcome"})
    assert r.status_code == 201
    issues = r.json()["issue"]
    assert issues[0]["severity"] == "information"
    flagged = {(i["severity"], i["expression"][0]) for i in issues[1:]}
    assert ("warning", "Patient.identifier[0].value") in flagged  # error-level finding, write accepted
    assert all(i["severity"] != "error" for i in issues)
    rows = stored_findings(engine)
    assert ("Patient", 1, "tester", "error", "cn-ident-1", "Patient.identifier[0].value") in rows
    assert ("Patient", 1, "tester", "warning", "cn-addr-2", "Patient.address[0]") not in rows  # no address
    # an update keeps the findings of each version
    pid = r.headers["Location"].split("/")[4]
    body = bad_patient() | {"id": pid}
    assert api.put(f"/Patient/{pid}", json=body).status_code == 200
    assert {row[1] for row in stored_findings(engine) if row[4] == "cn-ident-1"} == {1, 2}


def test_reject_answers_422_naming_the_element_and_stores_nothing(api: Any, repo: Repository, engine: Engine) -> None:
    set_strictness(repo, engine, "reject")
    assert ("tester", "reject") in list_sources(engine)
    r = api.post("/Patient", json=bad_patient())
    assert r.status_code == 422
    out = r.json()
    assert out["resourceType"] == "OperationOutcome"
    errs = [i for i in out["issue"] if i["severity"] == "error"]
    assert errs
    assert errs[0]["expression"] == ["Patient.identifier[0].value"]
    assert "校验" in errs[0]["details"]["text"] or "身份证号" in errs[0]["details"]["text"]
    assert api.get("/Patient").json()["total"] == 0
    assert stored_findings(engine) == []
    # warnings alone never reject
    good = bad_patient()
    good["identifier"] = [{"system": "urn:oid:2.16.156.10011.1.3", "value": "330523194504251214"}]
    good["address"] = [{"use": "home", "text": "浙江省湖州市"}]
    r = api.post("/Patient", json=good)
    assert r.status_code == 201
    assert [row[4] for row in stored_findings(engine)] == ["cn-addr-2"]


def test_reject_in_a_transaction_rolls_back_every_entry(api: Any, repo: Repository, engine: Engine) -> None:
    set_strictness(repo, engine, "reject")
    ok = {"resourceType": "Basic", "code": {"text": "x"}}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": ok, "request": {"method": "POST", "url": "Basic"}},
            {"resource": bad_patient(), "request": {"method": "POST", "url": "Patient"}},
        ],
    }
    r = api.post("/", json=bundle)
    assert r.status_code == 422
    assert api.get("/Basic").json()["total"] == 0


def test_off_skips_profile_checks_but_not_structural_validation(api: Any, repo: Repository, engine: Engine) -> None:
    set_strictness(repo, engine, "off")
    assert api.post("/Patient", json=bad_patient()).status_code == 201
    assert stored_findings(engine) == []
    assert api.post("/Patient", json=bad_patient() | {"gender": "yes"}).status_code == 400


def test_validate_operation_reports_profile_findings(api: Any) -> None:
    r = api.post("/Patient/$validate", json=bad_patient())
    assert r.status_code == 200
    issues = r.json()["issue"]
    assert any(i["severity"] == "error" and i["expression"] == ["Patient.identifier[0].value"] for i in issues)


def test_cli_sets_and_lists_source_strictness(engine: Engine, capsys: Any) -> None:
    from rhip.cli import main

    url = engine.url.render_as_string(hide_password=False)
    assert main(["source", "set", "--db", url, "c-his01", "reject", "--name", "县医院 HIS"]) == 0
    assert main(["source", "set", "--db", url, "c-his01", "warn"]) == 0  # replaces, never duplicates
    capsys.readouterr()
    assert main(["source", "list", "--db", url]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sources"] == [{"source": "c-his01", "strictness": "warn"}]
    assert out["default"] == "warn"
    with pytest.raises(SystemExit):  # argparse rejects an unknown strictness
        main(["source", "set", "--db", url, "c-his01", "lenient"])
