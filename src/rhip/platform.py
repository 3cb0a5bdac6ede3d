"""The platform's repository: the plain repository plus the hooks every deployment runs.

``rhip.app.create_app`` and the CLI build their repository here, so every Patient written through the
API, bundles or adapters is matched by the master person index in the same transaction (issue 5).
``Repository(engine, settings)`` stays available without hooks for tests and tools that do not want
matching (the bulk loader: run ``rhip mpi dedupe`` after it).

Trusted sources for survivorship (``rhip.mpi.golden``) come from ``RHIP_MPI_TRUSTED_SOURCES``
(comma-separated source ids, e.g. the population register's client id).
"""

from __future__ import annotations

import os

from sqlalchemy import Engine

from rhip.mpi.online import Matcher
from rhip.security.policy import Policy
from rhip.settings import Settings
from rhip.store.repository import Repository


def trusted_sources() -> tuple[str, ...]:
    """Sources whose values win survivorship (``RHIP_MPI_TRUSTED_SOURCES``)."""
    raw = os.environ.get("RHIP_MPI_TRUSTED_SOURCES", "")
    return tuple(s.strip() for s in raw.split(",") if s.strip())


def repository(
    engine: Engine, settings: Settings, *, policy: Policy | None = None, matcher: Matcher | None = None
) -> Repository:
    """A repository with the master person index matching every Patient write."""
    matcher = matcher or Matcher(trusted_sources=trusted_sources())
    return Repository(engine, settings, policy, hooks=[matcher])
