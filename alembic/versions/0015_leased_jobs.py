"""background jobs under leases: readiness runs, advice jobs and import batches get the planning
jobs' lease columns (owner, lease end, attempts) and their queue job id (docs/operations.md)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("readiness_run", "readiness_advice", "exchange_import_job")


def upgrade() -> None:
    # Plain ADD COLUMN (no batch rebuild, see 0009). Jobs running at upgrade time have no
    # lease: the next claim treats them as lapsed and takes them over.
    for table in TABLES:
        op.add_column(table, sa.Column('lease_owner', sa.String(length=120), nullable=True))
        op.add_column(table, sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
        op.add_column(table, sa.Column('attempts', sa.Integer(), nullable=False,
                                       server_default=sa.text('0')))
        op.add_column(table, sa.Column('queue_job_id', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN on both databases (SQLite >= 3.35): a batch rebuild of readiness_run
    # fails while readiness results reference it.
    for table in TABLES:
        for column in ('queue_job_id', 'attempts', 'lease_until', 'lease_owner'):
            op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')
