"""re-planning mid-incident: a plan may re-optimise the approved trips not yet departed (the
trips it supersedes), and carries a diagnosis of why demand stays unmet (docs/dispatch.md)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 11:10:57
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch rebuild: SQLite cannot rebuild a referenced, populated table
    # inside the migration's transaction, see 0009); existing plans do not re-optimise.
    op.add_column('dispatch_plan', sa.Column('reoptimise', sa.Boolean(), nullable=False,
                                             server_default=sa.false()))
    op.add_column('dispatch_plan', sa.Column('supersedes', sa.JSON(), nullable=True))
    op.add_column('dispatch_plan', sa.Column('diagnosis', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('dispatch_plan', schema=None) as batch_op:
        batch_op.drop_column('diagnosis')
        batch_op.drop_column('supersedes')
        batch_op.drop_column('reoptimise')
