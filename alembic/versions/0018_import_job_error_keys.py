"""import job errors as catalogue keys: error_key and error_params on exchange_import_job
(relief.platform.statustext), as planning, readiness and advice jobs have since 0013; rows
with an English error only get ``status.unkeyed`` with the text as its parameter

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 14:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "exchange_import_job"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("error_key", sa.String(length=120), nullable=True))
    op.add_column(TABLE, sa.Column("error_params", sa.JSON(), nullable=True))
    jobs = sa.table(TABLE, sa.column("error", sa.String), sa.column("error_key", sa.String),
                    sa.column("error_params", sa.JSON))
    bind = op.get_bind()
    as_json = (sa.func.json_build_object if bind.dialect.name == "postgresql"
               else sa.func.json_object)
    # One statement for every old row: {"text": <its English error>} under status.unkeyed.
    bind.execute(jobs.update().where(jobs.c.error.is_not(None)).values(
        error_key="status.unkeyed", error_params=as_json("text", jobs.c.error)))


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("error_params")
        batch.drop_column("error_key")
