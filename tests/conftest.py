"""Shared fixtures: every storage test runs on SQLite and PostgreSQL.

PostgreSQL comes from ``RHIP_TEST_PG`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432``); a
throw-away database is created per test session and dropped afterwards. If PostgreSQL cannot be
reached the PostgreSQL half of the suite fails: it is never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from rhip.security.context import RequestContext
from rhip.security.crypto import KeyRing
from rhip.security.fields import configure as configure_fields
from rhip.settings import Settings
from rhip.store.db import make_engine, migrate
from rhip.store.repository import Repository
from rhip.store.schema import metadata

# One field key ring for the whole session, whatever data directory a test's Settings names (sealed
# values written by one fixture must stay readable by the next).
os.environ.setdefault("RHIP_FIELD_KEYS", KeyRing.generate("t1").to_text())
os.environ.setdefault("RHIP_INDEX_KEY", os.urandom(32).hex())
# No background settling of staged audit events (decision 0025) in tests: tests that tamper with the chain
# must know what is in it; reading or verifying the trail settles, and test_audit_staging runs the thread.
os.environ.setdefault("RHIP_AUDIT_SETTLE_MS", "0")
configure_fields(KeyRing.from_text(os.environ["RHIP_FIELD_KEYS"]), bytes.fromhex(os.environ["RHIP_INDEX_KEY"]))

PG_BASE = os.environ.get("RHIP_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SYNTHEA = SHARED / "fixtures" / "synthea-r4"
ENGINES = ["sqlite", "postgresql"]


@pytest.fixture
def synthea_files() -> list[Path]:
    """The Synthea fixture bundles; skips (with the reason) only when ../shared is absent. A fixture, not
    an import: ``from conftest import …`` finds whichever conftest pytest loaded last (``tests/mpi``'s
    when only some directories are run)."""
    if not SYNTHEA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI run without the shared fixtures at {SYNTHEA}")
        pytest.skip(f"third-party fixtures not present at {SYNTHEA} (a user's clone has no ../shared)")
    return sorted(SYNTHEA.glob("*.json"))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = f"rhip_test_{uuid.uuid4().hex[:10]}"
    admin = PG_BASE.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is required for the storage tests and is unreachable at {PG_BASE}: {exc}")
    yield f"{PG_BASE}/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def engines(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Engine]]:
    sqlite_file = tmp_path_factory.mktemp("db") / "test.sqlite"
    made = {"sqlite": make_engine(f"sqlite:///{sqlite_file}"), "postgresql": make_engine(pg_url)}
    for e in made.values():
        migrate(e)
    yield made
    for e in made.values():
        e.dispose()


def wipe(engine: Engine) -> None:
    names = [t.name for t in metadata.sorted_tables]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY"))
        else:
            for n in names:
                conn.execute(text(f"DELETE FROM {n}"))


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, engines: dict[str, Engine]) -> Engine:
    e = engines[request.param]
    wipe(e)
    return e


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, jwt_secret="test-secret-key-of-sufficient-length-0123")


@pytest.fixture
def repo(engine: Engine, settings: Settings) -> Repository:
    return Repository(engine, settings)


@pytest.fixture
def system() -> RequestContext:
    return RequestContext.system("test")


class Api:
    """A TestClient bound to the real app, with a system token by default."""

    def __init__(self, client: Any, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def request(self, method: str, url: str, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kw)

    def get(self, url: str, **kw: Any) -> Any:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.request("POST", url, **kw)

    def put(self, url: str, **kw: Any) -> Any:
        return self.request("PUT", url, **kw)

    def patch(self, url: str, **kw: Any) -> Any:
        return self.request("PATCH", url, **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.request("DELETE", url, **kw)


@pytest.fixture
def api(repo: Repository, settings: Settings) -> Iterator[Api]:
    from fastapi.testclient import TestClient

    from rhip.app import create_app
    from rhip.security import tokens

    app = create_app(settings, repo)
    token = tokens.issue(
        app.state.jwt_secret, RequestContext(subject="tester", kind="client", scopes=frozenset({"system/*.*"})), 3600
    )
    with TestClient(app, base_url="http://fhir.test") as client:
        yield Api(client, token)
