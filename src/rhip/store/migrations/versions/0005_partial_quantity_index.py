"""quantity value index for ordinary rows only (grp = 0)

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database whose deferred bulk load never finished may lack the index: IF EXISTS.
    op.execute("DROP INDEX IF EXISTS ix_idx_quantity_0")
    op.create_index(
        "ix_idx_quantity_0",
        "idx_quantity",
        ["rtype", "code", "value"],
        unique=False,
        postgresql_where=sa.text("grp = 0"),
        sqlite_where=sa.text("grp = 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_idx_quantity_0", table_name="idx_quantity")
    op.create_index("ix_idx_quantity_0", "idx_quantity", ["rtype", "code", "value"], unique=False)
