"""The ledger's write path in SQLAlchemy Core: lock, debit, credit and append, one statement each.

:mod:`supplies.ledger` decides (rules, FEFO, locks in the global order); this module only
talks to the database, without ORM objects, identity-map refreshes or flushes, so a stock move
costs few statements and little Python:

* :func:`lock` - ``SELECT ... FOR UPDATE OF quant`` of a location's quants of an item (joined
  with their lots), in quant id order: the FEFO pick's candidates, locked before any decision;
* :func:`debit` - one ``UPDATE quant ... RETURNING`` taking a quantity out of a locked quant
  (optionally out of its reserved part);
* :func:`credit` - one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` adding a quantity to
  a destination's quant, creating it when new (the upsert takes the row's lock; on SQLite an
  ``UPDATE ... RETURNING``, then an ``INSERT`` when the quant is new);
* :func:`reserve` - one ``UPDATE`` moving a quantity between available and reserved;
* :func:`append` - one ``INSERT INTO stock_move ... RETURNING id``, answered as a
  :class:`MoveRow`.

The statements are built once per dialect and executed with parameters on the session's
connection (no ORM statement handling; SQLAlchemy caches their compiled form). On SQLite
``FOR UPDATE`` is left out: its write transactions start with ``BEGIN IMMEDIATE`` and are
serialised anyway. The CHECK constraints of ``quant`` (on hand >= 0, 0 <= reserved <= on
hand) stay the last line of defence behind the ledger's own checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from supplies.models import Lot, MoveKind, Quality, Quant, StockMove

_QUANT: Table = Quant.__table__  # type: ignore[attr-defined]
_LOT: Table = Lot.__table__  # type: ignore[attr-defined]
_MOVE: Table = StockMove.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class LotRef:
    """A lot's identity as read with its quant: enough for FEFO, checks and answers."""

    id: int
    item_id: int
    lot_number: str
    expiry: date | None


@dataclass
class StockRow:
    """One locked quant and its lot. ``on_hand`` and ``reserved`` follow this transaction's
    own changes (each statement here returns the row's new figures)."""

    quant_id: int
    location_id: int
    item_id: int
    lot: LotRef
    on_hand: int
    reserved: int
    quality: Quality


@dataclass(frozen=True)
class MoveRow:
    """One appended ledger row, as the write path returns it (the columns of
    :class:`~supplies.models.StockMove` without building an ORM object)."""

    id: int
    at: datetime
    item_id: int
    lot_id: int
    quantity: int
    from_location_id: int
    to_location_id: int
    kind: MoveKind
    state: str
    operation: str
    reference: str | None
    reason: str | None
    actor: str
    idempotency_key: str | None
    transfer_id: int | None
    reservation_id: int | None


_COLUMNS = (_QUANT.c.id, _QUANT.c.location_id, _QUANT.c.item_id, _QUANT.c.on_hand,
            _QUANT.c.reserved, _QUANT.c.quality, _LOT.c.id, _LOT.c.item_id, _LOT.c.lot_number,
            _LOT.c.expiry)
_LOCK_ALL = (
    select(*_COLUMNS)
    .join_from(_QUANT, _LOT, _LOT.c.id == _QUANT.c.lot_id)
    .where(_QUANT.c.location_id == bindparam("location_id"),
           _QUANT.c.item_id == bindparam("item_id"))
    .order_by(_QUANT.c.id)
    .with_for_update(of=_QUANT)
)
_LOCK_LOTS = _LOCK_ALL.where(_QUANT.c.lot_id.in_(bindparam("lot_ids", expanding=True)))
_RETURNED = (_QUANT.c.on_hand, _QUANT.c.reserved)
_DEBIT = (update(_QUANT).where(_QUANT.c.id == bindparam("quant_id"))
          .values(on_hand=_QUANT.c.on_hand - bindparam("quantity"),
                  updated_at=bindparam("now")).returning(*_RETURNED))
_DEBIT_RESERVED = (update(_QUANT).where(_QUANT.c.id == bindparam("quant_id"))
                   .values(on_hand=_QUANT.c.on_hand - bindparam("quantity"),
                           reserved=_QUANT.c.reserved - bindparam("quantity"),
                           updated_at=bindparam("now")).returning(*_RETURNED))
_RESERVE = (update(_QUANT).where(_QUANT.c.id == bindparam("quant_id"))
            .values(reserved=_QUANT.c.reserved + bindparam("quantity"),
                    updated_at=bindparam("now")).returning(*_RETURNED))
_APPEND = insert(_MOVE).returning(_MOVE.c.id)
_ADD = (update(_QUANT).where(_QUANT.c.location_id == bindparam("p_location_id"),
                            _QUANT.c.item_id == bindparam("p_item_id"),
                            _QUANT.c.lot_id == bindparam("p_lot_id"))
        .values(on_hand=_QUANT.c.on_hand + bindparam("p_quantity"),
                updated_at=bindparam("p_now"))
        .returning(_QUANT.c.id, *_RETURNED))
_NEW_QUANT = insert(_QUANT).values(
    location_id=bindparam("p_location_id"), item_id=bindparam("p_item_id"),
    lot_id=bindparam("p_lot_id"), on_hand=bindparam("p_quantity"), reserved=0,
    updated_at=bindparam("p_now")).returning(_QUANT.c.id, *_RETURNED)
_UPSERT = pg_insert(_QUANT).values(
    location_id=bindparam("p_location_id"), item_id=bindparam("p_item_id"),
    lot_id=bindparam("p_lot_id"), on_hand=bindparam("p_quantity"), reserved=0,
    updated_at=bindparam("p_now"))
_UPSERT = _UPSERT.on_conflict_do_update(
    index_elements=[_QUANT.c.location_id, _QUANT.c.item_id, _QUANT.c.lot_id],
    set_={"on_hand": _QUANT.c.on_hand + _UPSERT.excluded.on_hand,
          "updated_at": _UPSERT.excluded.updated_at},
).returning(_QUANT.c.id, *_RETURNED)


def lock(session: Session, location_id: int, item_id: int,
         lot_ids: Iterable[int] | None = None) -> list[StockRow]:
    """Lock and read the quants of ``item_id`` at ``location_id`` (optionally only some lots),
    in quant id order."""
    if lot_ids is None:
        result = session.connection().execute(
            _LOCK_ALL, {"location_id": location_id, "item_id": item_id})
    else:
        result = session.connection().execute(
            _LOCK_LOTS, {"location_id": location_id, "item_id": item_id,
                         "lot_ids": list(lot_ids)})
    return [StockRow(quant_id=qid, location_id=loc, item_id=item, on_hand=on_hand,
                     reserved=reserved, quality=Quality(quality),
                     lot=LotRef(id=lot_id, item_id=lot_item, lot_number=number, expiry=expiry))
            for qid, loc, item, on_hand, reserved, quality, lot_id, lot_item, number, expiry
            in result]


def debit(session: Session, row: StockRow, quantity: int, now: datetime, *,
          from_reserved: bool = False) -> None:
    """Take ``quantity`` out of a locked quant (and out of its reserved part)."""
    stmt = _DEBIT_RESERVED if from_reserved else _DEBIT
    row.on_hand, row.reserved = session.connection().execute(
        stmt, {"quant_id": row.quant_id, "quantity": quantity, "now": now}).one()


def reserve(session: Session, row: StockRow, quantity: int, now: datetime) -> None:
    """Hold (``quantity`` > 0) or give back (< 0) part of a locked quant's stock."""
    row.on_hand, row.reserved = session.connection().execute(
        _RESERVE, {"quant_id": row.quant_id, "quantity": quantity, "now": now}).one()


def credit(session: Session, location_id: int, item_id: int, lot_id: int, quantity: int,
           now: datetime) -> tuple[int, int, int]:
    """Add ``quantity`` to a location's quant of a lot, creating the quant when new; returns
    (quant id, on hand, reserved) after."""
    conn = session.connection()
    params = {"p_location_id": location_id, "p_item_id": item_id, "p_lot_id": lot_id,
              "p_quantity": quantity, "p_now": now}
    if conn.dialect.name == "postgresql":
        row = conn.execute(_UPSERT, params).one()
    else:
        # SQLite: an upsert's conflict clause overrides the INSERT OR IGNORE of the change
        # stamp triggers (migration 0005); its writers are serialised, so update-then-insert
        # cannot race.
        row = conn.execute(_ADD, params).one_or_none() or conn.execute(_NEW_QUANT, params).one()
    return int(row[0]), int(row[1]), int(row[2])


def append(session: Session, values: dict[str, Any]) -> MoveRow:
    """Append one ledger row (``values``: its columns but the id)."""
    move_id = int(session.connection().execute(_APPEND, values).scalar_one())
    return MoveRow(id=move_id, **{**values, "kind": MoveKind(values["kind"])})
