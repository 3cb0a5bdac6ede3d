"""Writing Patients as a given feed (``ctx.source``) through the platform repository."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from rhip.mpi.tables import mpi_registrations
from rhip.security.context import RequestContext
from rhip.store.repository import Repository


def feed(name: str) -> RequestContext:
    """A feed writing with its own client id (``ctx.source`` is the client id)."""
    return RequestContext(subject=name, kind="client", scopes=frozenset({"system/*.*"}))


def write(repo: Repository, body: dict[str, Any], who: str = "hospital-a") -> str:
    """Create a Patient (factory id and empty lists dropped); returns the server id."""
    body = {k: v for k, v in body.items() if k != "id" and v != []}
    with repo.unit(feed(who)) as unit:
        return unit.create(body).stored.id


def person_of(engine: Engine, pid: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(mpi_registrations.c.person).where(mpi_registrations.c.id == pid)).scalar_one())
