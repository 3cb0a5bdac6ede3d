"""Alembic environment: runs migrations on the engine rhip hands over (no alembic.ini).

At the newest revision it also recreates search indexes a deferred bulk load dropped and never rebuilt
(the process died mid-load), so every start leaves the schema complete (decision 0015).
"""

from __future__ import annotations

from alembic import context

from rhip.store.schema import metadata, missing_indexes

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
    migration = context.get_context()
    if set(migration.get_current_heads()) == set(context.script.get_heads()):
        for ix in missing_indexes(connection):
            ix.create(connection)
