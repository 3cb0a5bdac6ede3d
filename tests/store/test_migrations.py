"""Migrating an empty database yields exactly the schema of rhip.store.schema, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from rhip.store.db import make_engine, migrate
from rhip.store.schema import metadata


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))


def test_migrations_from_empty_match_schema(engine: Engine) -> None:
    # `engine` is already migrated by the session fixture: its schema must equal schema.py exactly.
    assert _diff(engine) == []
    assert {"resources", "resource_versions", "idx_token"} <= set(inspect(engine).get_table_names())


def test_fresh_sqlite_database_migrates_and_is_idempotent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    e = make_engine(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    migrate(e)
    migrate(e)  # running again is a no-op
    assert _diff(e) == []
    e.dispose()
