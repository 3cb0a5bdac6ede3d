"""private_key_jwt client authentication (RFC 7523, SMART Backend Services) at the token endpoint."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import Engine

from rhip.cli import main
from rhip.security import accounts
from rhip.security.assertions import ASSERTION_TYPE

AUD = "http://fhir.test/auth/token"


def _pem(private: Any) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def assertion(key: Any, client_id: str, **over: Any) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": AUD, "exp": now + 240, "jti": uuid.uuid4().hex, **over}
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=over.pop("alg", None) or "ES384")


def token(api: Any, signed: str, kind: str = ASSERTION_TYPE) -> Any:
    form = {"grant_type": "client_credentials", "client_assertion_type": kind, "client_assertion": signed}
    return api.client.post("/auth/token", data=form)


def test_signed_assertion_gets_a_token(api: Any, repo: Any, ec_key: ec.EllipticCurvePrivateKey) -> None:
    creds = accounts.create_client(repo.engine, name="city node", scopes="system/Patient.read", public_key=_pem(ec_key))
    assert creds.secret == ""
    got = token(api, assertion(ec_key, creds.id))
    assert got.status_code == 200, got.text
    assert got.json()["scope"] == "system/Patient.read"
    headers = {"Authorization": f"Bearer {got.json()['access_token']}"}
    assert api.client.get("/Patient", headers=headers).status_code == 200
    assert api.client.get("/Observation", headers=headers).status_code == 403
    conf = api.client.get("/.well-known/smart-configuration").json()
    assert "private_key_jwt" in conf["token_endpoint_auth_methods_supported"]
    assert "ES384" in conf["token_endpoint_auth_signing_alg_values_supported"]


def test_rsa_rs384(api: Any, repo: Any) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    creds = accounts.create_client(repo.engine, name="hospital", scopes="system/*.read", public_key=_pem(key))
    now = int(time.time())
    claims = {"iss": creds.id, "sub": creds.id, "aud": AUD, "exp": now + 60, "jti": "a1"}
    assert token(api, jwt.encode(claims, key, algorithm="RS384")).status_code == 200


def test_bad_assertions_are_refused(api: Any, repo: Any, ec_key: ec.EllipticCurvePrivateKey) -> None:
    creds = accounts.create_client(repo.engine, name="node", scopes="system/*.read", public_key=_pem(ec_key))
    cid = creds.id
    other = ec.generate_private_key(ec.SECP384R1())
    now = int(time.time())
    replayed = assertion(ec_key, cid)
    assert token(api, replayed).status_code == 200
    cases = {
        "replay": replayed,
        "other key": assertion(other, cid),
        "wrong audience": assertion(ec_key, cid, aud="http://elsewhere/auth/token"),
        "expired": assertion(ec_key, cid, exp=now - 120),
        "too long": assertion(ec_key, cid, exp=now + 3600),
        "sub differs": assertion(ec_key, cid, sub="c-someone-else"),
        "no jti": assertion(ec_key, cid, jti=None),
        "unknown client": assertion(ec_key, "c-unknown"),
        "alg none": jwt.encode(
            {"iss": cid, "sub": cid, "aud": AUD, "exp": now + 60, "jti": "n"}, None, algorithm="none"
        ),
        "hmac with the public key": _hs256_confusion(cid, _pem(ec_key), now),
        "garbage": "not-a-jwt",
    }
    for label, signed in cases.items():
        got = token(api, signed)
        assert got.status_code == 401, label
        assert got.json()["error"] == "invalid_client", label
    assert token(api, assertion(ec_key, cid), kind="urn:x").status_code == 400
    secret_try = {"grant_type": "client_credentials", "client_id": cid, "client_secret": ""}
    assert api.client.post("/auth/token", data=secret_try).status_code == 401  # key-only client: no secret


def _hs256_confusion(cid: str, pem: str, now: int) -> str:
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps({"iss": cid, "sub": cid, "aud": AUD, "exp": now + 60, "jti": "h"}).encode())
    sig = hmac.new(pem.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(sig)}"


def test_weak_keys_rejected(repo: Any) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValueError, match="2048"):
        accounts.create_client(repo.engine, name="x", scopes="system/*.read", public_key=_pem(weak))
    with pytest.raises(ValueError, match="PEM"):
        accounts.create_client(repo.engine, name="x", scopes="system/*.read", public_key="hello")


def test_cli_registers_a_key(engine: Engine, tmp_path: Path, capsys: Any, ec_key: ec.EllipticCurvePrivateKey) -> None:
    pem = tmp_path / "node.pem"
    pem.write_text(_pem(ec_key))
    url = engine.url.render_as_string(hide_password=False)
    assert main(["client", "create", "--db", url, "--name", "node", "--public-key", str(pem)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"client_id"}
    pem.write_text("nonsense")
    assert main(["client", "create", "--db", url, "--name", "node", "--public-key", str(pem)]) == 1
