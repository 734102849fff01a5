"""exchange: provincial exchange tables, change stamps on the inventory tables, tier province

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 19:36:57.152015

* Tables of the exchange package (sources, cursors, record mapping, provincial depots, the sync
  log and rejected records; ``exchange_clock`` is SQLite's stamp counter).
* ``change_stamp`` on depot, item, lot, quant, stock_move, agreement_reserve and
  capacity_reserve, written by triggers on every INSERT and UPDATE: on PostgreSQL the writing
  transaction's id (``pg_current_xact_id()``), on SQLite (serialised writers) a global counter.
  The export feeds page on (change_stamp, id); see docs/integration.md.
* ``province`` joins the tier enum (depot, reserve_target) and the division level enum.

Downgrading fails while provincial depots or the province division exist (the narrower CHECK
constraints would not hold): delete or re-tier them first.
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Tables whose rows carry a change stamp (the export feeds read them).
STAMPED = ("depot", "item", "lot", "quant", "stock_move", "agreement_reserve", "capacity_reserve")

OLD_TIERS = ("city", "county", "township")
NEW_TIERS = (*OLD_TIERS, "province")
OLD_LEVELS = ("city", "county", "township", "township_other")
NEW_LEVELS = ("province", *OLD_LEVELS)
# (table, column, constraint name without the ck_<table>_ prefix)
ENUM_CHECKS = (("depot", "tier", "tier"), ("reserve_target", "tier", "tier"),
               ("division", "level", "divisionlevel"))

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION exchange_change_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_stamp := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END
$$
"""


def _in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _set_enum_checks(levels: tuple[str, ...], tiers: tuple[str, ...]) -> None:
    """Replace the enum CHECK constraints with ones listing ``levels`` and ``tiers``.

    PostgreSQL: drop and re-add. SQLite cannot alter a constraint, and batch mode (copy, drop,
    rename) fails on a populated database because depot and division are referenced by foreign
    keys, which are enforced and cannot be switched off inside the migration's transaction. So
    SQLite takes the documented in-place procedure for changes that touch no stored data
    (sqlite.org/lang_altertable.html, "making other kinds of table schema changes"): rewrite the
    constraint in the stored schema and bump the schema version, within the same transaction.
    The downgrade first checks that no row uses a value it is about to forbid.
    """
    bind = op.get_bind()
    for table, column, name in ENUM_CHECKS:
        values = levels if column == "level" else tiers
        constraint = f"ck_{table}_{name}"
        bad = bind.execute(sa.text(
            f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL AND NOT "
            f"({_in_list(column, values)})")).scalar_one()
        if bad:
            raise RuntimeError(f"{bad} {table} rows have a {column} outside {values}: "
                               "re-tier or delete them before downgrading")
        if bind.dialect.name != "sqlite":
            op.drop_constraint(op.f(constraint), table, type_="check")
            op.create_check_constraint(op.f(constraint), table, _in_list(column, values))
            continue
        sql = bind.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND "
                                   "name = :name"), {"name": table}).scalar_one()
        pattern = re.compile(rf"CONSTRAINT {constraint} CHECK \((?:[^()]|\([^()]*\))*\)")
        if len(pattern.findall(sql)) != 1:
            raise RuntimeError(f"cannot find CHECK constraint {constraint} in {table}")
        new_sql = pattern.sub(f"CONSTRAINT {constraint} CHECK ({_in_list(column, values)})", sql)
        version = bind.execute(sa.text("PRAGMA schema_version")).scalar_one()
        bind.execute(sa.text("PRAGMA writable_schema = ON"))
        bind.execute(sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND "
                             "name = :name"), {"sql": new_sql, "name": table})
        bind.execute(sa.text(f"PRAGMA schema_version = {int(version) + 1}"))
        bind.execute(sa.text("PRAGMA writable_schema = OFF"))


def _create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for table in STAMPED:
            op.execute(f"CREATE TRIGGER trg_{table}_change_stamp BEFORE INSERT OR UPDATE ON "
                       f"{table} FOR EACH ROW EXECUTE FUNCTION exchange_change_stamp()")
        return
    for table in STAMPED:
        body = (
            "INSERT OR IGNORE INTO exchange_clock (id, value) VALUES (1, 0); "
            "UPDATE exchange_clock SET value = value + 1 WHERE id = 1; "
            f"UPDATE {table} SET change_stamp = (SELECT value FROM exchange_clock WHERE id = 1) "
            "WHERE id = NEW.id;"
        )
        op.execute(f"CREATE TRIGGER trg_{table}_stamp_insert AFTER INSERT ON {table} "
                   f"BEGIN {body} END")
        op.execute(f"CREATE TRIGGER trg_{table}_stamp_update AFTER UPDATE ON {table} "
                   f"WHEN NEW.change_stamp IS OLD.change_stamp BEGIN {body} END")


def _drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in STAMPED:
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_change_stamp ON {table}")
        op.execute("DROP FUNCTION IF EXISTS exchange_change_stamp()")
        return
    for table in STAMPED:
        op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_stamp_insert")
        op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_stamp_update")


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table('exchange_clock',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_clock'))
    )
    op.create_table('exchange_source',
    sa.Column('base_url', sa.String(length=300), nullable=True),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_source')),
    sa.UniqueConstraint('name', name=op.f('uq_exchange_source_name'))
    )
    op.create_table('exchange_cursor',
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('feed', sa.Enum('warehouses', 'logistics', 'producers', 'stock', name='entity', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('cursor', sa.Text(), nullable=True),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['exchange_source.id'], name=op.f('fk_exchange_cursor_source_id_exchange_source')),
    sa.PrimaryKeyConstraint('source_id', 'feed', name=op.f('pk_exchange_cursor'))
    )
    op.create_table('exchange_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('entity', sa.Enum('warehouses', 'logistics', 'producers', 'stock', name='entity', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('external_id', sa.String(length=160), nullable=False),
    sa.Column('local_id', sa.String(length=160), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('batch_id', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['exchange_source.id'], name=op.f('fk_exchange_record_source_id_exchange_source')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_record')),
    sa.UniqueConstraint('source_id', 'entity', 'external_id', name=op.f('uq_exchange_record_source_id_entity_external_id'))
    )
    with op.batch_alter_table('exchange_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_record_local_id'), ['local_id'], unique=False)

    op.create_table('exchange_sync_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('pull', 'push', name='runkind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('status', sa.Enum('running', 'succeeded', 'failed', 'interrupted', name='runstatus', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('feeds', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('stale', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('retries', sa.Integer(), nullable=False),
    sa.Column('per_feed', sa.JSON(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['exchange_source.id'], name=op.f('fk_exchange_sync_run_source_id_exchange_source')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_sync_run'))
    )
    with op.batch_alter_table('exchange_sync_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_sync_run_source_id'), ['source_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_exchange_sync_run_started_at'), ['started_at'], unique=False)

    op.create_table('exchange_depot',
    sa.Column('depot_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('entity', sa.Enum('warehouses', 'logistics', 'producers', 'stock', name='entity', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('external_id', sa.String(length=160), nullable=False),
    sa.Column('lead_time_hours', sa.Float(), nullable=True),
    sa.Column('reported_division_code', sa.String(length=12), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['depot_id'], ['depot.id'], name=op.f('fk_exchange_depot_depot_id_depot')),
    sa.ForeignKeyConstraint(['source_id'], ['exchange_source.id'], name=op.f('fk_exchange_depot_source_id_exchange_source')),
    sa.PrimaryKeyConstraint('depot_id', name=op.f('pk_exchange_depot'))
    )
    with op.batch_alter_table('exchange_depot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_depot_source_id'), ['source_id'], unique=False)

    op.create_table('exchange_rejection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('entity', sa.Enum('warehouses', 'logistics', 'producers', 'stock', name='entity', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('batch_id', sa.String(length=120), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=160), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('record', sa.JSON(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['exchange_sync_run.id'], name=op.f('fk_exchange_rejection_run_id_exchange_sync_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_rejection'))
    )
    with op.batch_alter_table('exchange_rejection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_rejection_run_id'), ['run_id'], unique=False)

    # Plain ADD COLUMN: batch mode would copy and drop depot (see _set_enum_checks).
    for table in STAMPED:
        op.add_column(table, sa.Column("change_stamp", sa.BigInteger(),
                                       server_default=sa.text("0"), nullable=False))
        op.create_index(op.f(f"ix_{table}_change_stamp"), table, ["change_stamp"], unique=False)
    # ### end Alembic commands ###
    _set_enum_checks(NEW_LEVELS, NEW_TIERS)
    _create_triggers()


def downgrade() -> None:
    _drop_triggers()
    _set_enum_checks(OLD_LEVELS, OLD_TIERS)
    # Plain DROP COLUMN (SQLite >= 3.35 has it): batch mode would copy and drop depot, which
    # its foreign-key children forbid on a populated database.
    for table in STAMPED:
        op.drop_index(op.f(f"ix_{table}_change_stamp"), table_name=table)
        op.drop_column(table, "change_stamp")
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table('exchange_rejection', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_rejection_run_id'))

    op.drop_table('exchange_rejection')
    with op.batch_alter_table('exchange_depot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_depot_source_id'))

    op.drop_table('exchange_depot')
    with op.batch_alter_table('exchange_sync_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_sync_run_started_at'))
        batch_op.drop_index(batch_op.f('ix_exchange_sync_run_source_id'))

    op.drop_table('exchange_sync_run')
    with op.batch_alter_table('exchange_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_record_local_id'))

    op.drop_table('exchange_record')
    op.drop_table('exchange_cursor')
    op.drop_table('exchange_source')
    op.drop_table('exchange_clock')
    # ### end Alembic commands ###
