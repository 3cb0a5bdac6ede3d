"""audit staging: staged events stored uncompressed

Revision ID: 0015
Revises: 0014

Why: a staged event is written in its request's transaction and deleted by the next settle (decision
0025), so compressing it buys nothing, yet PostgreSQL compressed every value over ≈ 2 kB with pglz in the
request: a ``$everything`` event of 2,500 resources (140 kB) took 4.7 ms to stage, 1.4 ms stored
``EXTERNAL`` (out of line, uncompressed). SQLite does not compress.
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_staging ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_staging ALTER COLUMN data SET STORAGE EXTENDED")
