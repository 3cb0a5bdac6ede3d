"""Signed, expiring access tokens (JWT, HS256) carrying subject, role, organisation and scopes."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import jwt

from rhip.fhir.errors import FhirError
from rhip.security.context import RequestContext
from rhip.security.keyfiles import key_file

AUDIENCE = "rhip-fhir"
ISSUER = "rhip"


def load_secret(configured: str, data_dir: Path) -> bytes:
    """The configured key, or a random one kept in ``<data_dir>/jwt.key`` (created on first use)."""
    if configured:
        return configured.encode()
    return key_file(data_dir, "jwt.key", lambda: secrets.token_hex(32)).encode()


def issue(secret: bytes, ctx: RequestContext, ttl: int) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": ctx.subject,
        "kind": ctx.kind,
        "iat": now,
        "exp": now + ttl,
        "scope": " ".join(sorted(ctx.scopes)),
    }
    for key in ("role", "organization", "region"):
        if getattr(ctx, key):
            claims[key] = getattr(ctx, key)
    if ctx.patients:
        claims["patients"] = list(ctx.patients)
    return jwt.encode(claims, secret, algorithm="HS256")


_VERIFIED: dict[tuple[bytes, str], tuple[RequestContext, float]] = {}
_VERIFIED_MAX = 10_000


def verify(secret: bytes, token: str) -> RequestContext:
    """Decode a bearer token; 401 for expired, forged, malformed or wrong-audience tokens.

    A token that verified once is remembered until it expires (a client sends the same token for
    its whole lifetime; PyJWT costs ~0.1 ms per decode, a tenth of a terminology call). Only exact
    token strings that passed every check are cached, and expiry is checked on each hit.
    """
    hit = _VERIFIED.get((secret, token))
    if hit is not None:
        if time.time() < hit[1]:
            return hit[0]
        _VERIFIED.pop((secret, token), None)
    ctx, exp = _decode(secret, token)
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[(secret, token)] = (ctx, exp)
    return ctx


def _decode(secret: bytes, token: str) -> tuple[RequestContext, float]:
    try:
        c = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "sub", "aud", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise FhirError.unauthorized(f"invalid access token: {exc}") from None
    ctx = RequestContext(
        subject=c["sub"],
        kind=c.get("kind", "user"),
        role=c.get("role"),
        organization=c.get("organization"),
        region=c.get("region"),
        scopes=frozenset(str(c.get("scope", "")).split()),
        patients=tuple(str(p) for p in c.get("patients") or () if isinstance(p, str)),
    )
    return ctx, float(c["exp"])
