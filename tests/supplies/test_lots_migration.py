"""Migration 0006 moves lot quality onto each holding location's quant, up and down, with data
in the tables (on SQLite the lot table is rebuilt under its foreign-key children)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from relief.app import migrations
from relief.app.tables import metadata
from relief.platform.db import Database
from relief.platform.models import Role
from relief.platform.principal import Principal
from supplies import ledger, service
from supplies.ledger import MoveContext
from supplies.models.operations import QualityIn, ReceiptIn
from tests.world import TENT, TODAY, WATER, build_network

ADMIN = Principal(token_id=0, name="migration", role=Role.admin)


def _ctx() -> MoveContext:
    return MoveContext(actor="test:admin", today=TODAY)


def _sql(db: Database, statement: str) -> list[tuple]:  # type: ignore[type-arg]
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(statement)).all()]


def _receive(db: Database, depot: str, item: str, qty: int, lot: str, days: int = 100) -> int:
    expiry = TODAY + timedelta(days=days) if item == WATER else None
    result = db.write(lambda s: service.receive_stock(
        s, principal=ADMIN, ctx=_ctx(),
        data=ReceiptIn(depot=depot, item=item, quantity=qty, lot=lot, expiry=expiry)))
    return result.moves[0].lot_id


def _verdict(db: Database, lot_id: int, depot: str, status: str) -> None:
    db.write(lambda s: service.set_lot_quality(
        s, principal=ADMIN, lot_id=lot_id, ctx=_ctx(),
        data=QualityIn(status=status, depot=depot)))  # type: ignore[arg-type]


def _quant_qualities(db: Database) -> list[tuple]:  # type: ignore[type-arg]
    return _sql(db, "SELECT l.lot_number, q.location_id, q.quality, q.on_hand FROM quant q "
                    "JOIN lot l ON l.id = q.lot_id ORDER BY l.lot_number, q.location_id")


def test_quality_moves_between_lot_and_quants_both_ways(db: Database, db_url: str) -> None:
    """Down: a lot takes the most restrictive verdict of its holders; up: every quant takes its
    lot's quality; stock, moves, stamps and foreign keys survive both ways; a lot number with
    two expiries blocks the downgrade."""
    build_network(db)
    q_lot = _receive(db, "CTY", TENT, 10, "L-Q")
    _receive(db, "CTY2", TENT, 7, "L-Q")
    _receive(db, "CTY", TENT, 3, "L-G")
    _receive(db, "CTY", WATER, 4, "L-W")
    _verdict(db, q_lot, "CTY", "damaged")
    _verdict(db, q_lot, "CTY2", "quarantine")
    moves = _sql(db, "SELECT count(*), sum(quantity) FROM stock_move")
    try:
        migrations.downgrade(db_url, "0005")
        assert _sql(db, "SELECT lot_number, quality FROM lot ORDER BY lot_number") == [
            ("L-G", "good"), ("L-Q", "damaged"), ("L-W", "good")]
        # Back at 0005 a depot's verdict is the lot's again: quarantine the shared lot.
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE lot SET quality = 'quarantine' WHERE lot_number = 'L-Q'"))
        stamps = _sql(db, "SELECT id, change_stamp FROM lot ORDER BY id")
        migrations.upgrade(db_url)
        assert [(n, q, h) for n, _, q, h in _quant_qualities(db)] == [
            ("L-G", "good", 3), ("L-Q", "quarantine", 10), ("L-Q", "quarantine", 7),
            ("L-W", "good", 4)]
        assert _sql(db, "SELECT count(*), sum(quantity) FROM stock_move") == moves
        assert _sql(db, "SELECT id, change_stamp FROM lot ORDER BY id") == stamps
        if db.is_sqlite:
            assert _sql(db, "PRAGMA foreign_key_check") == []
        assert migrations.schema_differences(db_url) == []
        with db.read_session() as s:
            assert ledger.verify(s).ok
        # The rebuilt table's stamp trigger works: a new lot is stamped above the old ones.
        new_lot = _receive(db, "TWN", TENT, 1, "L-NEW")
        (stamp,) = _sql(db, f"SELECT change_stamp FROM lot WHERE id = {new_lot}")[0]
        assert stamp > max(s for _, s in stamps) or not db.is_sqlite
        # A number with a second expiry (fine now, per depot) cannot go down to one lot each.
        _receive(db, "CTY", WATER, 2, "L-X", days=200)
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE lot SET lot_number = 'L-W' WHERE lot_number = 'L-X'"))
        with pytest.raises(RuntimeError, match="several expiries"):
            migrations.downgrade(db_url, "0005")
        # Refused at 0006: its schema is whole (later migrations, undone on the way down on
        # SQLite, come back with the upgrade; a half-undone 0006 would show as a difference).
        migrations.upgrade(db_url)
        assert migrations.schema_differences(db_url) == []
    finally:
        migrations.upgrade(db_url)
        # The migration test downgrades whatever is left to base: leave nothing behind.
        with db.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                if table.name != "db_epoch":  # schema, not data (migration 0008)
                    conn.execute(table.delete())
