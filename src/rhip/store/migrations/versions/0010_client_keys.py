"""client keys: private_key_jwt client authentication (public key per client, used assertion ids)

Revision ID: 0010
Revises: 0009
"""

from alembic import op
import sqlalchemy as sa


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("auth_clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_key", sa.Text(), nullable=True))
    op.create_table(
        "auth_assertions",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "jti"),
    )
    with op.batch_alter_table("auth_assertions", schema=None) as batch_op:
        batch_op.create_index("ix_auth_assertions_expires", ["expires"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("auth_assertions", schema=None) as batch_op:
        batch_op.drop_index("ix_auth_assertions_expires")
    op.drop_table("auth_assertions")
    with op.batch_alter_table("auth_clients", schema=None) as batch_op:
        batch_op.drop_column("public_key")
