"""OAuth2 clients and users: registration and credential checks (argon2id hashes, login lockout)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import Engine, delete, insert, select, update

from rhip.fhir.errors import FhirError
from rhip.security import totp as totp_mod
from rhip.security.assertions import check_public_key
from rhip.security.context import RequestContext
from rhip.security.crypto import KeyRing
from rhip.store.access_tables import user_patients
from rhip.store.schema import auth_clients, auth_totp, auth_users

_HASHER = PasswordHasher()
MAX_FAILED = 5
LOCK_SECONDS = 15 * 60

ROLE_SCOPES: dict[str, str] = {
    "administrator": "user/*.*",
    "clinician": "user/*.*",
    "public-health-officer": "user/*.read",
    "auditor": "user/AuditEvent.read",
    "integrator": "user/*.write",
    "resident": "patient/*.read",
}
"""Scopes granted to each role until the full role model (security issue) refines them."""


@dataclass(frozen=True, slots=True)
class Credentials:
    id: str
    secret: str


def create_client(
    engine: Engine, *, name: str, scopes: str, organization: str | None = None, public_key: str | None = None
) -> Credentials:
    """Register a client. With ``public_key`` (PEM) it authenticates with signed assertions only
    (:mod:`rhip.security.assertions`) and gets no secret; otherwise a random secret is returned once."""
    client_id = "c-" + secrets.token_hex(8)
    pem = check_public_key(public_key) if public_key is not None else None
    secret = "" if pem else secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            insert(auth_clients).values(
                client_id=client_id,
                name=name,
                secret_hash=_HASHER.hash(secret) if secret else "",
                scopes=scopes,
                organization=organization,
                created=int(time.time()),
                public_key=pem,
            )
        )
    return Credentials(client_id, secret)


def create_user(
    engine: Engine,
    *,
    username: str,
    password: str,
    role: str,
    organization: str | None = None,
    region: str | None = None,
) -> None:
    if role not in ROLE_SCOPES:
        raise ValueError(f"unknown role '{role}'; one of {', '.join(ROLE_SCOPES)}")
    with engine.begin() as conn:
        exists = conn.execute(select(auth_users.c.username).where(auth_users.c.username == username)).first()
        values = {
            "password_hash": _HASHER.hash(password),
            "role": role,
            "organization": organization,
            "region": region,
            "failed_logins": 0,
            "locked_until": 0,
        }
        if exists:
            conn.execute(update(auth_users).where(auth_users.c.username == username).values(**values))
        else:
            conn.execute(insert(auth_users).values(username=username, created=int(time.time()), **values))


def check_client(engine: Engine, client_id: str, secret: str) -> RequestContext:
    with engine.connect() as conn:
        row = conn.execute(select(auth_clients).where(auth_clients.c.client_id == client_id)).first()
    try:
        if row is None or not row.secret_hash:  # unknown, or a key-only client (assertions)
            raise VerificationError()
        _HASHER.verify(row.secret_hash, secret)
    except VerificationError:
        raise FhirError.unauthorized("invalid client credentials") from None
    return RequestContext(
        subject=client_id, kind="client", organization=row.organization, scopes=frozenset(row.scopes.split())
    )


def check_user(
    engine: Engine, username: str, password: str, totp: str | None = None, keys: KeyRing | None = None
) -> RequestContext:
    """Verify a password (and the TOTP code when the user enrolled one); five failures in a row lock the
    account for 15 minutes."""
    now = int(time.time())
    error: str | None = None
    with engine.begin() as conn:
        row = conn.execute(select(auth_users).where(auth_users.c.username == username)).first()
        if row is None:
            _HASHER.hash(password)  # same cost as a real check: no user enumeration by timing
            error = "invalid username or password"
        elif row.locked_until > now:
            error = "account locked after repeated failed logins; try later"
        else:
            try:
                _HASHER.verify(row.password_hash, password)
                error = _second_factor(conn, username, totp, keys)
                if error is not None:
                    raise VerificationError()
                if row.failed_logins:
                    conn.execute(update(auth_users).where(auth_users.c.username == username).values(failed_logins=0))
            except VerificationError:
                failed = row.failed_logins + 1
                locked = now + LOCK_SECONDS if failed >= MAX_FAILED else 0
                conn.execute(
                    update(auth_users)
                    .where(auth_users.c.username == username)
                    .values(failed_logins=0 if locked else failed, locked_until=locked)
                )
                error = error or "invalid username or password"
    if error is not None or row is None:
        raise FhirError.unauthorized(error or "invalid username or password")
    patients: tuple[str, ...] = ()
    if row.role == "resident":
        with engine.connect() as conn:
            found = conn.execute(select(user_patients.c.patient).where(user_patients.c.username == username))
            patients = tuple(sorted(r.patient for r in found))
    return RequestContext(
        subject=username,
        kind="user",
        role=row.role,
        organization=row.organization,
        region=row.region,
        scopes=frozenset(ROLE_SCOPES[row.role].split()),
        patients=patients,
    )


def _second_factor(conn: Any, username: str, code: str | None, keys: KeyRing | None) -> str | None:
    """None when the user has no TOTP or the code is right (the step is then used up); else the error."""
    row = conn.execute(select(auth_totp).where(auth_totp.c.username == username)).first()
    if row is None:
        return None
    if not code:
        return "a one-time code (totp) is required for this account"
    if keys is None:
        return "this server cannot check one-time codes (no field keys)"
    secret = bytes.fromhex(keys.decrypt(row.secret, context=f"totp:{username}"))
    step = totp_mod.verify(secret, code.strip(), int(row.last_step))
    if step is None:
        return "invalid or already used one-time code"
    conn.execute(update(auth_totp).where(auth_totp.c.username == username).values(last_step=step))
    return None


def enrol_totp(engine: Engine, username: str, keys: KeyRing) -> str:
    """Give a user a new TOTP secret (replacing any); returns the ``otpauth://`` URI to show once."""
    secret = totp_mod.new_secret()
    with engine.begin() as conn:
        if conn.execute(select(auth_users.c.username).where(auth_users.c.username == username)).first() is None:
            raise ValueError(f"no user '{username}'")
        conn.execute(delete(auth_totp).where(auth_totp.c.username == username))
        conn.execute(
            insert(auth_totp).values(
                username=username,
                secret=keys.encrypt(secret.hex(), context=f"totp:{username}"),
                last_step=0,
                created=int(time.time()),
            )
        )
    return totp_mod.provisioning_uri(secret, username)


def link_patient(engine: Engine, username: str, patient: str, relation: str = "self") -> None:
    """Let a resident user see a Patient record (their own: ``self``; a child's: ``child`` …)."""
    with engine.begin() as conn:
        conn.execute(
            delete(user_patients).where(user_patients.c.username == username, user_patients.c.patient == patient)
        )
        conn.execute(insert(user_patients).values(username=username, patient=patient, relation=relation))
