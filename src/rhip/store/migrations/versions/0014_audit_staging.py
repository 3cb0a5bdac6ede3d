"""audit staging: events written with their actions, chained shortly after

Revision ID: 0014
Revises: 0013

Why (decision 0025): on PostgreSQL every request's event was appended to the chain in the request's
transaction — the head row locked and moved, the event and its patient rows inserted under three indexes,
through the PL/pgSQL call of migration 0011 — which was most of the audit overhead of a small search. The
event is now written, in the same transaction, to this table (no index: one heap insert) and
``rhip.store.audit_log.settle`` numbers, renders, links and moves staged events into the chain in batches.
``rhip_audit_append`` has no caller left and goes. SQLite stages the same way (there a read's event has
always been written in a second transaction, after the read's, decision 0013).
"""

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


APPEND = (
    "rhip_audit_append(smallint, bigint, text, bigint, bigint, text, text, text, text, text, text, text, "
    "text[], boolean)"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # No index at all: staging an event is one heap insert.
        op.create_table(
            "audit_staging",
            sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
            sa.Column("data", sa.Text(), nullable=False),
        )
        op.execute(f"DROP FUNCTION IF EXISTS {APPEND}")
    else:  # the rowid itself: SQLite tables are B-trees on it anyway
        op.create_table(
            "audit_staging",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("data", sa.Text(), nullable=False),
        )


def downgrade() -> None:
    # Staged events are not chained by the older code: chain them (``rhip audit verify``) before this.
    op.drop_table("audit_staging")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(importlib.import_module("rhip.store.migrations.versions.0011_audit_append_function").FUNCTION)
