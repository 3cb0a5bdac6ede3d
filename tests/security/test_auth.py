"""OAuth2 token endpoint, clients and users from the CLI, lockout, and scope enforcement."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine

from rhip.cli import main
from rhip.security import accounts


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_cli_client_and_user(engine: Engine, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["client", "create", "--db", _url(engine), "--name", "HIS", "--scopes", "system/*.read"]) == 0
    creds = json.loads(capsys.readouterr().out)
    ctx = accounts.check_client(engine, creds["client_id"], creds["client_secret"])
    assert ctx.scopes == frozenset({"system/*.read"})
    args = ["user", "create", "--db", _url(engine), "--username", "li", "--password", "Secret#2026"]
    assert main([*args, "--role", "clinician", "--org", "org1"]) == 0
    assert accounts.check_user(engine, "li", "Secret#2026").organization == "org1"
    assert main([*args, "--role", "wizard"]) == 1
    assert "unknown role" in capsys.readouterr().err


def test_token_grants_and_scopes(api: Any, repo: Any) -> None:
    creds = accounts.create_client(repo.engine, name="lab", scopes="system/Observation.read")
    c = api.client
    bad = c.post("/auth/token", data={"grant_type": "client_credentials", "client_id": creds.id, "client_secret": "x"})
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"
    tok = c.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "client_id": creds.id, "client_secret": creds.secret},
    ).json()
    assert tok["token_type"] == "Bearer"
    assert tok["scope"] == "system/Observation.read"
    headers = {"Authorization": f"Bearer {tok['access_token']}"}
    assert c.get("/Observation", headers=headers).status_code == 200
    denied = c.get("/Patient", headers=headers)
    assert denied.status_code == 403
    assert denied.json()["issue"][0]["code"] == "forbidden"
    assert c.post("/auth/token", data={"grant_type": "implicit"}).json()["error"] == "unsupported_grant_type"
    assert c.post("/auth/token", json={"grant_type": "password"}).status_code == 400


def test_password_lockout_after_five_failures(api: Any, repo: Any) -> None:
    accounts.create_user(repo.engine, username="wang", password="Right#2026", role="clinician")
    c = api.client
    form = {"grant_type": "password", "username": "wang"}
    for _ in range(accounts.MAX_FAILED):
        assert c.post("/auth/token", data={**form, "password": "wrong"}).status_code == 400
    locked = c.post("/auth/token", data={**form, "password": "Right#2026"})
    assert locked.status_code == 400
    assert "locked" in locked.json()["error_description"]
    assert c.post("/auth/token", data={**form, "username": "nobody", "password": "x"}).status_code == 400


def test_password_grant_token_reads_fhir(api: Any, repo: Any) -> None:
    accounts.create_user(repo.engine, username="zhao", password="Right#2026", role="clinician")
    tok = api.client.post(
        "/auth/token", data={"grant_type": "password", "username": "zhao", "password": "Right#2026"}
    ).json()["access_token"]
    r = api.client.get("/Patient", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200
    assert r.json()["resourceType"] == "Bundle"
    assert api.client.get("/.well-known/smart-configuration").json()["token_endpoint"].endswith("/auth/token")


def test_serve_refuses_options_it_cannot_honour(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--db", "sqlite:///:memory:", "--mllp-port", "2575"]) == 1
    assert "MLLP" in capsys.readouterr().err
