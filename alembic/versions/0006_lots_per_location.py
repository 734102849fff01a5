"""lots per location: quality moves from the shared lot to each holding location's quant

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 09:00:00

A lot was keyed by item + lot number and carried one quality for every depot holding it, so a
depot quarantining "its" lot quarantined every other depot's stock of that number, and the
first depot to use a number fixed its expiry for all. Now:

* ``quant.quality`` (good / quarantine / damaged, default good) is each location's verdict on
  its own stock of a lot. Existing quants take their lot's quality.
* ``lot`` keeps only the batch's identity: item, number and expiry; the unique key becomes
  (item, number, expiry), with a partial unique index for lots without expiry (a UNIQUE
  constraint treats NULLs as distinct). ``lot.quality`` is dropped.

SQLite cannot drop a table's UNIQUE constraint, so ``lot`` is rebuilt: copied aside, dropped
and created anew in the migration's transaction. Its foreign-key children (quant, stock_move,
reservation_line, transfer_line, shipment_lot) stay in place; ``PRAGMA defer_foreign_keys``
defers their checks to commit, by which time every lot id is back (sqlite.org/foreignkeys.html,
"deferred foreign key constraints"), and a lost row would fail the commit.

Downgrade: a lot takes the most restrictive quality among its quants (damaged, then
quarantine, then good), so no stock becomes usable by going down; it refuses while two lots
share an item and number (they would break the old unique key).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUALITY_CHECK = "quality IN ('good', 'quarantine', 'damaged')"
NO_EXPIRY_INDEX = "uq_lot_item_id_lot_number_no_expiry"
# The most restrictive verdict first: what a single lot quality must be on the way down.
WORST_QUALITY = ("SELECT CASE WHEN max(CASE quality WHEN 'damaged' THEN 2 WHEN 'quarantine' "
                 "THEN 1 ELSE 0 END) = 2 THEN 'damaged' WHEN max(CASE quality WHEN 'damaged' "
                 "THEN 2 WHEN 'quarantine' THEN 1 ELSE 0 END) = 1 THEN 'quarantine' ELSE "
                 "'good' END FROM quant WHERE quant.lot_id = lot.id")
SQLITE_STAMP = (
    "INSERT OR IGNORE INTO exchange_clock (id, value) VALUES (1, 0); "
    "UPDATE exchange_clock SET value = value + 1 WHERE id = 1; "
    "UPDATE lot SET change_stamp = (SELECT value FROM exchange_clock WHERE id = 1) "
    "WHERE id = NEW.id;"
)
LOT_COLUMNS = "id, item_id, lot_number, expiry, created_at, updated_at, change_stamp"


def _lot_columns(with_quality: bool) -> list[sa.Column]:
    columns = [
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('lot_number', sa.String(length=64), nullable=False),
        sa.Column('expiry', sa.Date(), nullable=True),
    ]
    if with_quality:
        columns.append(sa.Column('quality', sa.Enum('good', 'quarantine', 'damaged',
                                                     name='quality', native_enum=False,
                                                     create_constraint=True, length=32),
                                 nullable=False))
    columns += [
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('change_stamp', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
        sa.ForeignKeyConstraint(['item_id'], ['item.id'], name=op.f('fk_lot_item_id_item')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lot')),
    ]
    return columns


def _rebuild_sqlite_lot(*, with_quality: bool, copy_select: str) -> None:
    """Recreate ``lot`` (SQLite): copy aside, drop, create, copy back, indexes, triggers.

    ``copy_select`` selects the new table's columns from ``_lot_old``.
    """
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute("CREATE TABLE _lot_old AS SELECT * FROM lot")
    op.execute("DROP TABLE lot")
    unique = (sa.UniqueConstraint('item_id', 'lot_number', name=op.f('uq_lot_item_id_lot_number'))
              if with_quality else
              sa.UniqueConstraint('item_id', 'lot_number', 'expiry',
                                  name=op.f('uq_lot_item_id_lot_number_expiry')))
    op.create_table('lot', *_lot_columns(with_quality), unique)
    columns = LOT_COLUMNS if not with_quality else LOT_COLUMNS.replace(
        "expiry,", "expiry, quality,")
    op.execute(f"INSERT INTO lot ({columns}) {copy_select}")
    op.execute("DROP TABLE _lot_old")
    op.create_index(op.f('ix_lot_item_id'), 'lot', ['item_id'], unique=False)
    op.create_index(op.f('ix_lot_updated_at'), 'lot', ['updated_at'], unique=False)
    op.create_index(op.f('ix_lot_change_stamp'), 'lot', ['change_stamp'], unique=False)
    if not with_quality:
        op.create_index(NO_EXPIRY_INDEX, 'lot', ['item_id', 'lot_number'], unique=True,
                        sqlite_where=sa.text('expiry IS NULL'))
    # The change-stamp triggers went with the old table (see 0005); stamps were copied as is.
    op.execute(f"CREATE TRIGGER trg_lot_stamp_insert AFTER INSERT ON lot BEGIN {SQLITE_STAMP} END")
    op.execute("CREATE TRIGGER trg_lot_stamp_update AFTER UPDATE ON lot "
               f"WHEN NEW.change_stamp IS OLD.change_stamp BEGIN {SQLITE_STAMP} END")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    # A column constraint (not a table one), so SQLite can drop the column on the way down.
    op.execute("ALTER TABLE quant ADD COLUMN quality VARCHAR(32) DEFAULT 'good' NOT NULL "
               f"CONSTRAINT ck_quant_quality CHECK ({QUALITY_CHECK})")
    # Only quants of non-good lots change (and so are re-sent by the stock feed).
    op.execute("UPDATE quant SET quality = (SELECT lot.quality FROM lot WHERE lot.id = "
               "quant.lot_id) WHERE lot_id IN (SELECT id FROM lot WHERE quality <> 'good')")
    if sqlite:
        _rebuild_sqlite_lot(with_quality=False,
                            copy_select=f"SELECT {LOT_COLUMNS} FROM _lot_old")
        return
    op.drop_constraint(op.f('uq_lot_item_id_lot_number'), 'lot', type_='unique')
    op.create_unique_constraint(op.f('uq_lot_item_id_lot_number_expiry'), 'lot',
                                ['item_id', 'lot_number', 'expiry'])
    op.create_index(NO_EXPIRY_INDEX, 'lot', ['item_id', 'lot_number'], unique=True,
                    postgresql_where=sa.text('expiry IS NULL'))
    op.drop_column('lot', 'quality')


def downgrade() -> None:
    bind = op.get_bind()
    shared = bind.execute(sa.text(
        "SELECT count(*) FROM (SELECT item_id, lot_number FROM lot GROUP BY item_id, lot_number "
        "HAVING count(*) > 1) AS twins")).scalar_one()
    if shared:
        raise RuntimeError(f"{shared} lot numbers exist with several expiries; the old schema "
                           "allows one lot per item and number: renumber them before downgrading")
    if bind.dialect.name == "sqlite":
        quality = WORST_QUALITY.replace("lot.id", "_lot_old.id")
        _rebuild_sqlite_lot(with_quality=True, copy_select=(
            f"SELECT id, item_id, lot_number, expiry, ({quality}), created_at, updated_at, "
            "change_stamp FROM _lot_old"))
    else:
        op.drop_index(NO_EXPIRY_INDEX, table_name='lot')
        op.drop_constraint(op.f('uq_lot_item_id_lot_number_expiry'), 'lot', type_='unique')
        op.create_unique_constraint(op.f('uq_lot_item_id_lot_number'), 'lot',
                                    ['item_id', 'lot_number'])
        op.execute("ALTER TABLE lot ADD COLUMN quality VARCHAR(32) DEFAULT 'good' NOT NULL "
                   f"CONSTRAINT ck_lot_quality CHECK ({QUALITY_CHECK})")
        op.execute(f"UPDATE lot SET quality = ({WORST_QUALITY}) WHERE id IN "
                   "(SELECT lot_id FROM quant WHERE quality <> 'good')")
        op.execute("ALTER TABLE lot ALTER COLUMN quality DROP DEFAULT")
    op.drop_column('quant', 'quality')
