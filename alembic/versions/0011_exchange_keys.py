"""exchange keys: the agreement key enforced unique, tombstones keyed as their feed

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 11:20:00

* ``agreement_reserve``: a unique index on (depot_id, item_id, contract_ref), the agreement
  feed's documented key. Existing duplicates are not merged silently: the upgrade refuses and
  names them (decide which contract is which, then upgrade again).
* ``exchange_tombstone``: ``key`` becomes the deleted row's key in its feed as a JSON object
  (``{"code": ...}`` for depots and items, ``{"depot", "item", "lot", "expiry"}`` for stock,
  ``{"depot", "item", "contract_ref"}`` for agreements, ``{"depot", "item"}`` for capacity
  reserves), looked up by the AFTER DELETE triggers themselves, so a mirror keyed as
  documented can drop the row; ``depot`` (the row's depot code) lets ``local_only`` leave out
  provincial depots' deletions. The triggers of 0008 are replaced.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AGREEMENT_KEY = "uq_agreement_reserve_key"
TABLES = ("depot", "item", "quant", "agreement_reserve", "capacity_reserve")


def _key_sql(table: str, postgresql: bool) -> tuple[str, str]:
    """(JSON key object, depot code) of the OLD row of ``table``, as SQL expressions."""
    obj = "jsonb_build_object" if postgresql else "json_object"
    depot_of = "(SELECT code FROM depot WHERE id = OLD.depot_id)"
    item_of = "(SELECT code FROM item WHERE id = OLD.item_id)"
    if table in ("depot", "item"):
        depot = "OLD.code" if table == "depot" else "NULL"
        return f"{obj}('code', OLD.code)", depot
    if table == "quant":
        depot = ("(SELECT d.code FROM location l JOIN depot d ON d.id = l.depot_id "
                 "WHERE l.id = OLD.location_id)")
        expiry = "(SELECT CAST(expiry AS TEXT) FROM lot WHERE id = OLD.lot_id)"
        lot = "(SELECT lot_number FROM lot WHERE id = OLD.lot_id)"
        return f"{obj}('depot', {depot}, 'item', {item_of}, 'lot', {lot}, 'expiry', {expiry})", \
            depot
    if table == "agreement_reserve":
        return f"{obj}('depot', {depot_of}, 'item', {item_of}, 'contract_ref', " \
               "OLD.contract_ref)", depot_of
    return f"{obj}('depot', {depot_of}, 'item', {item_of})", depot_of


def _create_triggers() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        key, depot = _key_sql(table, postgresql)
        if postgresql:
            op.execute(f"""
CREATE OR REPLACE FUNCTION exchange_tombstone_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO exchange_tombstone (table_name, row_id, key, depot, change_stamp, deleted_at)
    VALUES ('{table}', OLD.id, ({key})::text, {depot},
            pg_current_xact_id()::text::bigint, now());
    RETURN OLD;
END
$$""")
            op.execute(f"CREATE TRIGGER trg_{table}_tombstone AFTER DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION exchange_tombstone_{table}()")
        else:
            op.execute(
                f"CREATE TRIGGER trg_{table}_tombstone AFTER DELETE ON {table} BEGIN "
                "INSERT OR IGNORE INTO exchange_clock (id, value) VALUES (1, 0); "
                "UPDATE exchange_clock SET value = value + 1 WHERE id = 1; "
                "INSERT INTO exchange_tombstone "
                "(table_name, row_id, key, depot, change_stamp, deleted_at) "
                f"VALUES ('{table}', OLD.id, {key}, {depot}, "
                "(SELECT value FROM exchange_clock WHERE id = 1), CURRENT_TIMESTAMP); END")


def _drop_triggers() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_tombstone"
                   + (f" ON {table}" if postgresql else ""))
        if postgresql:
            op.execute(f"DROP FUNCTION IF EXISTS exchange_tombstone_{table}()")


def _refuse_duplicate_agreements() -> None:
    rows = op.get_bind().execute(sa.text(
        "SELECT d.code, i.code, a.contract_ref, count(*) FROM agreement_reserve a "
        "JOIN depot d ON d.id = a.depot_id JOIN item i ON i.id = a.item_id "
        "GROUP BY d.code, i.code, a.contract_ref HAVING count(*) > 1")).all()
    if rows:
        listed = "; ".join(f"{d}/{i}/{c} x{n}" for d, i, c, n in rows[:20])
        raise RuntimeError("agreement reserves share a key (depot, item, contract_ref): "
                           f"{listed}. Give each contract its own contract_ref, then upgrade.")


def upgrade() -> None:
    _refuse_duplicate_agreements()
    op.create_index(AGREEMENT_KEY, 'agreement_reserve', ['depot_id', 'item_id', 'contract_ref'],
                    unique=True)
    # The 0008 triggers (one generic function keyed by a column) go first: the table they
    # write is rebuilt on SQLite.
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_tombstone"
                   + (f" ON {table}" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS exchange_tombstone()")
    op.execute("DELETE FROM exchange_tombstone")  # keyed the old way; nothing read them yet
    with op.batch_alter_table('exchange_tombstone', schema=None) as batch_op:
        batch_op.alter_column('key', existing_type=sa.String(length=160), type_=sa.Text(),
                              existing_nullable=False)
        batch_op.add_column(sa.Column('depot', sa.String(length=32), nullable=True))
    _create_triggers()


def downgrade() -> None:
    _drop_triggers()
    op.execute("DELETE FROM exchange_tombstone")
    with op.batch_alter_table('exchange_tombstone', schema=None) as batch_op:
        batch_op.drop_column('depot')
        batch_op.alter_column('key', existing_type=sa.Text(), type_=sa.String(length=160),
                              existing_nullable=False)
    op.drop_index(AGREEMENT_KEY, table_name='agreement_reserve')
    _create_0008_triggers()


# The triggers of 0008, put back by the downgrade: one function keyed by a column.
OLD_KEYS = {"depot": "code", "item": "code", "quant": "id", "agreement_reserve": "id",
            "capacity_reserve": "id"}


def _create_0008_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
CREATE OR REPLACE FUNCTION exchange_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO exchange_tombstone (table_name, row_id, key, change_stamp, deleted_at)
    VALUES (TG_TABLE_NAME, OLD.id, to_jsonb(OLD) ->> TG_ARGV[0],
            pg_current_xact_id()::text::bigint, now());
    RETURN OLD;
END
$$""")
        for table, key in OLD_KEYS.items():
            op.execute(f"CREATE TRIGGER trg_{table}_tombstone AFTER DELETE ON {table} "
                       f"FOR EACH ROW EXECUTE FUNCTION exchange_tombstone('{key}')")
        return
    for table, key in OLD_KEYS.items():
        op.execute(
            f"CREATE TRIGGER trg_{table}_tombstone AFTER DELETE ON {table} BEGIN "
            "INSERT OR IGNORE INTO exchange_clock (id, value) VALUES (1, 0); "
            "UPDATE exchange_clock SET value = value + 1 WHERE id = 1; "
            "INSERT INTO exchange_tombstone (table_name, row_id, key, change_stamp, deleted_at) "
            f"VALUES ('{table}', OLD.id, CAST(OLD.{key} AS TEXT), "
            "(SELECT value FROM exchange_clock WHERE id = 1), CURRENT_TIMESTAMP); END")
