"""status texts as catalogue keys: error_key and error_params on planning, readiness and
advice jobs (relief.platform.statustext); rows with an English error only get
``status.unkeyed`` with the text as its parameter

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("dispatch_plan", "readiness_run", "readiness_advice")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("error_key", sa.String(length=120), nullable=True))
        op.add_column(table, sa.Column("error_params", sa.JSON(), nullable=True))
        rows = sa.table(table, sa.column("id", sa.Integer), sa.column("error", sa.String),
                        sa.column("error_key", sa.String), sa.column("error_params", sa.JSON))
        bind = op.get_bind()
        for row_id, error in bind.execute(sa.select(rows.c.id, rows.c.error).where(
                rows.c.error.is_not(None))).all():
            bind.execute(rows.update().where(rows.c.id == row_id).values(
                error_key="status.unkeyed", error_params={"text": error}))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("error_params")
            batch.drop_column("error_key")
