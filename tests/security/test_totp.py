"""TOTP second factor: enrolment, login with a code, no reuse, wrong codes count towards lockout."""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from rhip.fhir.errors import FhirError
from rhip.security import accounts, totp
from rhip.security.crypto import KeyRing

KEYS = KeyRing.generate()


def secret_of(uri: str) -> bytes:
    b32 = parse_qs(urlparse(uri).query)["secret"][0]
    return base64.b32decode(b32 + "=" * (-len(b32) % 8))


def test_login_needs_a_fresh_code_once_enrolled(engine: Engine) -> None:
    accounts.create_user(engine, username="wang", password="Secret#2026", role="clinician", organization="o1")
    assert accounts.check_user(engine, "wang", "Secret#2026").subject == "wang"  # no TOTP yet
    uri = accounts.enrol_totp(engine, "wang", KEYS)
    assert uri.startswith("otpauth://totp/rhip%3Awang?")
    secret = secret_of(uri)
    with pytest.raises(FhirError, match="one-time code"):
        accounts.check_user(engine, "wang", "Secret#2026", None, KEYS)
    code = totp.code_at(secret, time.time())
    assert accounts.check_user(engine, "wang", "Secret#2026", code, KEYS).subject == "wang"
    with pytest.raises(FhirError, match="already used"):  # the same code cannot be replayed
        accounts.check_user(engine, "wang", "Secret#2026", code, KEYS)


def test_wrong_codes_lock_the_account(engine: Engine) -> None:
    accounts.create_user(engine, username="li", password="Secret#2026", role="clinician")
    accounts.enrol_totp(engine, "li", KEYS)
    for _ in range(accounts.MAX_FAILED):
        with pytest.raises(FhirError):
            accounts.check_user(engine, "li", "Secret#2026", "000000", KEYS)
    with pytest.raises(FhirError, match="locked"):
        accounts.check_user(engine, "li", "Secret#2026", "123456", KEYS)


def test_token_endpoint_takes_the_code(api: Any, engine: Engine) -> None:
    accounts.create_user(engine, username="zhao", password="Secret#2026", role="auditor")
    uri = accounts.enrol_totp(engine, "zhao", api.client.app.state.field_keys)
    form = {"grant_type": "password", "username": "zhao", "password": "Secret#2026"}
    assert api.client.post("/auth/token", data=form).status_code == 400
    form["totp"] = totp.code_at(secret_of(uri), time.time())
    assert api.client.post("/auth/token", data=form).status_code == 200


def test_enrolling_an_unknown_user_fails(engine: Engine) -> None:
    with pytest.raises(ValueError, match="no user"):
        accounts.enrol_totp(engine, "nobody", KEYS)


@given(st.binary(min_size=20, max_size=20), st.integers(min_value=10**9, max_value=4 * 10**9))
def test_codes_verify_within_one_step_and_never_twice(secret: bytes, now: int) -> None:
    code = totp.code_at(secret, now)
    step = totp.verify(secret, code, 0, now)
    assert step == now // totp.STEP
    assert totp.verify(secret, code, step, now) is None  # used up
    assert totp.verify(secret, code, 0, now + 2 * totp.STEP + 1) is None  # too old
    assert totp.verify(secret, "12345", 0, now) is None
