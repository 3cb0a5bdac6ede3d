"""Client authentication by signed JWT assertion (RFC 7523 ``private_key_jwt``, SMART Backend Services).

A hospital interface or another platform node registers a public key (``rhip client create
--public-key``) and never shares a secret: it proves itself with a short-lived JWT signed by its
private key (ES256/ES384/RS256/RS384; SMART requires RS384 and ES384). Checks, per RFC 7523 §3 and the
SMART Backend Services profile: ``iss`` = ``sub`` = the client id, ``aud`` = this token endpoint,
``exp`` at most five minutes ahead, a ``jti`` never seen before for the client (kept until it expires),
signature by the registered key with an asymmetric algorithm only (no ``none``, no HMAC with the
public key as secret).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from rhip.fhir.errors import FhirError
from rhip.security.context import RequestContext
from rhip.store.schema import auth_assertions, auth_clients

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("ES256", "ES384", "RS256", "RS384")
MAX_LIFETIME = 300
"""Seconds an assertion may still be valid when presented (SMART: no more than five minutes)."""
LEEWAY = 30


def check_public_key(pem: str) -> str:
    """The PEM if it is an EC P-256/P-384 or RSA (≥ 2048 bits) public key; ValueError otherwise."""
    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a PEM public key: {exc}") from None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            raise ValueError(f"EC keys must be P-256 or P-384, not {key.curve.name}")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise ValueError("RSA keys must have at least 2048 bits")
    else:
        raise ValueError("only EC (P-256, P-384) and RSA public keys are accepted")
    return pem.strip() + "\n"


def _refuse(why: str) -> FhirError:
    return FhirError.unauthorized(f"invalid client assertion: {why}")


def check_client_assertion(engine: Engine, assertion: str, audiences: Iterable[str]) -> RequestContext:
    """The client a valid assertion authenticates; 401 (``FhirError.unauthorized``) otherwise."""
    if len(assertion) > 8192:
        raise _refuse("too large")
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _refuse("not a JWT") from None
    client_id = unverified.get("iss")
    if not isinstance(client_id, str) or not client_id:
        raise _refuse("no issuer")
    with engine.connect() as conn:
        row = conn.execute(select(auth_clients).where(auth_clients.c.client_id == client_id)).first()
    if row is None or not row.public_key:
        raise _refuse("unknown client or no registered key")
    try:
        claims = jwt.decode(
            assertion,
            row.public_key,
            algorithms=list(ALGORITHMS),
            audience=list(audiences),
            leeway=LEEWAY,
            options={"require": ["iss", "sub", "aud", "exp", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise _refuse(str(exc)) from None
    now = int(time.time())
    jti, exp = claims["jti"], int(claims["exp"])
    if claims["sub"] != client_id:
        raise _refuse("sub must equal iss (the client id)")
    if exp > now + MAX_LIFETIME + LEEWAY:
        raise _refuse(f"exp is more than {MAX_LIFETIME} s ahead")
    if not isinstance(jti, str) or not 0 < len(jti) <= 255:
        raise _refuse("jti must be a string of 1-255 characters")
    try:
        with engine.begin() as conn:
            conn.execute(delete(auth_assertions).where(auth_assertions.c.expires < now - LEEWAY))
            conn.execute(insert(auth_assertions).values(client_id=client_id, jti=jti, expires=exp))
    except IntegrityError:
        raise _refuse("jti already used (replay)") from None
    return RequestContext(
        subject=client_id, kind="client", organization=row.organization, scopes=frozenset(row.scopes.split())
    )
