"""Optional TOTP second factor for user logins (RFC 6238, 6 digits, 30 s; ``cryptography``'s TOTP).

Secrets are stored SM4-encrypted with the field key ring (``rhip.security.crypto``), bound to their user
name; a code is accepted within one step of clock drift and never twice (the last used step is kept),
and a wrong code counts as a failed login towards the lockout.
"""

from __future__ import annotations

import base64
import secrets
import time
from urllib.parse import quote

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

STEP = 30
DIGITS = 6


def new_secret() -> bytes:
    return secrets.token_bytes(20)


def _totp(secret: bytes) -> TOTP:
    return TOTP(secret, DIGITS, SHA1(), STEP, enforce_key_length=False)


def provisioning_uri(secret: bytes, username: str, issuer: str = "rhip") -> str:
    """The ``otpauth://`` URI an authenticator app scans (shown once, at enrolment)."""
    label = quote(f"{issuer}:{username}")
    b32 = base64.b32encode(secret).decode().rstrip("=")
    return f"otpauth://totp/{label}?secret={b32}&issuer={quote(issuer)}&digits={DIGITS}&period={STEP}"


def code_at(secret: bytes, when: float) -> str:
    return _totp(secret).generate(int(when)).decode()


def verify(secret: bytes, code: str, last_step: int, now: float | None = None) -> int | None:
    """The time step the code belongs to (current ±1), or None when it is wrong or already used."""
    t = time.time() if now is None else now
    if not (code.isascii() and code.isdigit() and len(code) == DIGITS):
        return None
    step = int(t) // STEP
    for candidate in (step, step - 1, step + 1):
        if candidate <= last_step:
            continue
        try:
            _totp(secret).verify(code.encode(), candidate * STEP)
        except InvalidToken:
            continue
        return candidate
    return None
