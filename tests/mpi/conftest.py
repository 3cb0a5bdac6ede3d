"""MPI storage fixtures: in tests/mpi the ``repo`` (and so the ``api``) is the platform's repository,
matching every Patient write, on both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from rhip import platform
from rhip.mpi.online import Matcher
from rhip.settings import Settings
from rhip.store.repository import Repository


@pytest.fixture
def matcher() -> Matcher:
    return Matcher(trusted_sources=("register",), ttl=0.0)


@pytest.fixture
def repo(engine: Engine, settings: Settings, matcher: Matcher) -> Repository:
    return platform.repository(engine, settings, matcher=matcher)
