"""scale out: planning job leases, lanes and cancellation; shared rate limits; database epoch;
the PostgreSQL job queue's schema

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 09:00:00
"""

import re
import secrets
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op


revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUE_SCHEMA = Path(__file__).resolve().parents[1] / "sql" / "procrastinate_3.10.0.sql"
OLD_STATUSES = ["queued", "running", "succeeded", "failed"]
NEW_STATUSES = [*OLD_STATUSES, "cancelled"]
LANES = ["urgent", "long"]


def _in_list(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _job_statuses(values: list[str]) -> None:
    """Rewrite the CHECK constraint on dispatch_plan.status (a non-native enum).

    On SQLite a batch table rebuild fails on a populated database (shipments reference plans
    and foreign keys cannot be switched off inside the migration's transaction), so the stored
    schema text is rewritten in place, as migration 0005 does (sqlite.org/lang_altertable.html).
    """
    bind = op.get_bind()
    constraint = "ck_dispatch_plan_jobstatus"
    bad = bind.execute(sa.text(f"SELECT count(*) FROM dispatch_plan WHERE NOT "
                               f"({_in_list('status', values)})")).scalar_one()
    if bad:
        raise RuntimeError(f"{bad} planning jobs have a status outside {values}")
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f(constraint), "dispatch_plan", type_="check")
        op.create_check_constraint(op.f(constraint), "dispatch_plan",
                                   _in_list("status", values))
        return
    sql = bind.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND "
                               "name = 'dispatch_plan'")).scalar_one()
    pattern = re.compile(rf"CONSTRAINT {constraint} CHECK \((?:[^()]|\([^()]*\))*\)")
    if len(pattern.findall(sql)) != 1:
        raise RuntimeError(f"cannot find CHECK constraint {constraint} in dispatch_plan")
    new_sql = pattern.sub(f"CONSTRAINT {constraint} CHECK ({_in_list('status', values)})", sql)
    version = bind.execute(sa.text("PRAGMA schema_version")).scalar_one()
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    bind.execute(sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND "
                         "name = 'dispatch_plan'"), {"sql": new_sql})
    bind.execute(sa.text(f"PRAGMA schema_version = {int(version) + 1}"))
    bind.execute(sa.text("PRAGMA writable_schema = OFF"))


def _raw_sql(sql: str) -> None:
    """Run SQL text as is (psycopg would read its % signs as placeholders: doubled)."""
    op.get_bind().exec_driver_sql(sql.replace("%", "%%"))


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table('dispatch_plan', schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column('lane', sa.Enum('urgent', 'long', name='planlane', native_enum=False, create_constraint=False, length=32), nullable=False, server_default='long'))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('lease_owner', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cancel_requested_by', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('cancel_requested_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('queue_job_id', sa.BigInteger(), nullable=True))
    if postgres:
        op.create_check_constraint(op.f("ck_dispatch_plan_planlane"), "dispatch_plan",
                                   _in_list("lane", LANES))
    _job_statuses(NEW_STATUSES)

    op.create_table('rate_limit',
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('tat', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_rate_limit')),
    prefixes=["UNLOGGED"] if postgres else [],
    )
    op.create_table('db_epoch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('epoch', sa.String(length=32), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_db_epoch'))
    )
    op.get_bind().execute(sa.text(
        "INSERT INTO db_epoch (id, epoch, changed_at, reason) "
        "VALUES (1, :epoch, CURRENT_TIMESTAMP, 'created')"), {"epoch": secrets.token_hex(8)})
    if postgres:
        _raw_sql(QUEUE_SCHEMA.read_text(encoding="utf-8"))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _raw_sql("""
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT tablename FROM pg_tables
             WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate\\_%' LOOP
        EXECUTE format('DROP TABLE %I CASCADE', r.tablename);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%' LOOP
        EXECUTE format('DROP FUNCTION %s CASCADE', r.fn);
    END LOOP;
    FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
             WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\\_%'
               AND t.typtype IN ('e', 'c') LOOP
        EXECUTE format('DROP TYPE %I CASCADE', r.typname);
    END LOOP;
END $$;
""")
    op.drop_table('db_epoch')
    op.drop_table('rate_limit')
    op.execute("UPDATE dispatch_plan SET status = 'failed', error = 'cancelled' "
               "WHERE status = 'cancelled'")
    _job_statuses(OLD_STATUSES)
    if bind.dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_dispatch_plan_planlane"), "dispatch_plan", type_="check")
    with op.batch_alter_table('dispatch_plan', schema=None, recreate="never") as batch_op:
        batch_op.drop_column('queue_job_id')
        batch_op.drop_column('cancel_requested_at')
        batch_op.drop_column('cancel_requested_by')
        batch_op.drop_column('lease_until')
        batch_op.drop_column('lease_owner')
        batch_op.drop_column('attempts')
        batch_op.drop_column('lane')
