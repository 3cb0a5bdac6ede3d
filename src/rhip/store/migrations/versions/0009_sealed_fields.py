"""sealed fields: mpi_persons.ric_valid holds an SM4-sealed value (decision 0019)

Revision ID: 0009
Revises: 0008

Values stored before sealing stay readable (plaintext passes through); ``rhip keys reseal`` seals them,
re-indexes the blind token rows and re-keys the master person index.
"""

from alembic import op
import sqlalchemy as sa


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mpi_persons", schema=None) as batch_op:
        batch_op.alter_column("ric_valid", existing_type=sa.String(length=18), type_=sa.Text(), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("mpi_persons", schema=None) as batch_op:
        batch_op.alter_column("ric_valid", existing_type=sa.Text(), type_=sa.String(length=18), existing_nullable=True)
