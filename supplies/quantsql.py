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
  :class:`MoveRow`;
* :func:`debit_and_append` - on PostgreSQL both at once: one data-modifying CTE
  (``WITH debit AS (UPDATE quant ... RETURNING ...) INSERT INTO stock_move ... SELECT ...
  FROM debit RETURNING ...``); on SQLite, which has no data-modifying CTEs, :func:`debit`
  then :func:`append`;
* :func:`scene` - everything a move out of a depot decides on, in one statement: the depot,
  its location, the item, the destination's virtual location and the item's quants there
  with their lots, the quants locked (``FOR UPDATE OF quant`` in a ``LATERAL`` subquery, in
  quant id order) on PostgreSQL.

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

from sqlalchemy import Table, and_, bindparam, insert, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from supplies.models import Depot, Item, LocationKind, Lot, MoveKind, Quality, Quant, StockMove
from supplies.models import Location as _LocationModel

_QUANT: Table = Quant.__table__  # type: ignore[attr-defined]
_LOT: Table = Lot.__table__  # type: ignore[attr-defined]
_MOVE: Table = StockMove.__table__  # type: ignore[attr-defined]
_DEPOT: Table = Depot.__table__  # type: ignore[attr-defined]
_ITEM: Table = Item.__table__  # type: ignore[attr-defined]
_LOCATION: Table = _LocationModel.__table__  # type: ignore[attr-defined]


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


@dataclass(frozen=True)
class Place:
    """A location read along with something else, without an ORM object: what the ledger
    reads of a source or destination (:class:`~supplies.models.Location` has the same
    attributes)."""

    id: int
    code: str
    kind: LocationKind
    depot_id: int | None


@dataclass
class Scene:
    """What :func:`scene` read in one statement: a depot, its stock location (None before its
    first stock), the item (None when the code is unknown), the virtual location the moves go
    to, and every quant of the item at the depot with its lot, locked until commit."""

    depot_id: int
    depot_code: str
    depot_active: bool
    location: Place | None
    item_id: int | None
    item_code: str | None
    towards: Place | None
    stock: list[StockRow]


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


_HERE = _LOCATION.alias("here")
_THERE = _LOCATION.alias("there")
_SCENE_HEAD = (_DEPOT.c.id, _DEPOT.c.code, _DEPOT.c.active, _HERE.c.id, _HERE.c.code,
               _HERE.c.kind, _ITEM.c.id, _ITEM.c.code, _THERE.c.id, _THERE.c.code,
               _THERE.c.kind)


def _scene_statement(lateral: bool) -> Any:
    """The one statement of :func:`scene`. PostgreSQL locks the quants in a ``LATERAL``
    subquery (``FOR UPDATE`` may not touch the nullable side of an outer join); SQLite, whose
    write transactions are serial, joins them plainly."""
    head = (select(*_SCENE_HEAD)
            .select_from(_DEPOT)
            .outerjoin(_HERE, _HERE.c.depot_id == _DEPOT.c.id)
            .outerjoin(_ITEM, _ITEM.c.code == bindparam("item"))
            .outerjoin(_THERE, _THERE.c.code == bindparam("towards"))
            .where(_DEPOT.c.code == bindparam("depot")))
    if lateral:
        stock = (select(*_COLUMNS)
                 .join_from(_QUANT, _LOT, _LOT.c.id == _QUANT.c.lot_id)
                 .where(_QUANT.c.location_id == _HERE.c.id, _QUANT.c.item_id == _ITEM.c.id)
                 .order_by(_QUANT.c.id)
                 .with_for_update(of=_QUANT)
                 .lateral("stock"))
        return head.add_columns(*stock.c).outerjoin(stock, true())
    return (head.add_columns(*_COLUMNS)
            .outerjoin(_QUANT, and_(_QUANT.c.location_id == _HERE.c.id,
                                    _QUANT.c.item_id == _ITEM.c.id))
            .outerjoin(_LOT, _LOT.c.id == _QUANT.c.lot_id)
            .order_by(_QUANT.c.id))


_SCENE = {"postgresql": _scene_statement(True), "sqlite": _scene_statement(False)}


def scene(session: Session, *, depot: str, item: str, towards: str) -> Scene | None:
    """Read (and on PostgreSQL lock) everything a move of ``item`` out of ``depot`` into the
    virtual location coded ``towards`` decides on, in one statement; None when the depot is
    unknown. The quants are locked before anything is decided, in quant id order (the
    depot's quants: the first lock of the global order)."""
    conn = session.connection()
    rows = conn.execute(_SCENE[conn.dialect.name],
                        {"depot": depot, "item": item, "towards": towards}).all()
    if not rows:
        return None
    (depot_id, depot_code, active, here_id, here_code, here_kind, item_id, item_code, there_id,
     there_code, there_kind) = rows[0][:11]
    return Scene(
        depot_id=depot_id, depot_code=depot_code, depot_active=bool(active),
        location=None if here_id is None else Place(here_id, here_code,
                                                    LocationKind(here_kind), depot_id),
        item_id=item_id, item_code=item_code,
        towards=None if there_id is None else Place(there_id, there_code,
                                                    LocationKind(there_kind), None),
        stock=[StockRow(quant_id=qid, location_id=loc, item_id=item_, on_hand=on_hand,
                        reserved=reserved, quality=Quality(quality),
                        lot=LotRef(id=lot_id, item_id=lot_item, lot_number=number,
                                   expiry=expiry))
               for (qid, loc, item_, on_hand, reserved, quality, lot_id, lot_item, number,
                    expiry) in (row[11:] for row in rows) if qid is not None])


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


_MOVE_COLUMNS = [c for c in _MOVE.c if c.name not in ("id", "change_stamp")]


def _debit_append(debit_stmt: Any) -> Any:
    """``WITH debit AS (<debit> RETURNING on_hand, reserved) INSERT INTO stock_move ... SELECT
    ... FROM debit RETURNING id, <on hand>, <reserved>``: the move row exists only if the
    quant's UPDATE found its row, and both happen in one round trip."""
    debit = debit_stmt.cte("debit")
    # Parameters are prefixed: an INSERT's parameter named like a column would be taken for
    # that column's VALUES.
    values = select(*[bindparam(f"m_{c.name}", type_=c.type)
                      for c in _MOVE_COLUMNS]).select_from(debit)
    return (insert(_MOVE).from_select([c.name for c in _MOVE_COLUMNS], values).add_cte(debit)
            .returning(_MOVE.c.id, select(debit.c.on_hand).scalar_subquery(),
                       select(debit.c.reserved).scalar_subquery()))


def _debit_on_move(reserved: bool) -> Any:
    """The debit of a move: the quant ``quant_id`` loses the move's ``quantity``."""
    values: dict[str, Any] = {"on_hand": _QUANT.c.on_hand - bindparam("m_quantity"),
                              "updated_at": bindparam("m_now")}
    if reserved:
        values["reserved"] = _QUANT.c.reserved - bindparam("m_quantity")
    return (update(_QUANT).where(_QUANT.c.id == bindparam("m_quant_id")).values(**values)
            .returning(*_RETURNED))


_DEBIT_APPEND = {False: _debit_append(_debit_on_move(False)),
                 True: _debit_append(_debit_on_move(True))}


def debit_and_append(session: Session, row: StockRow, values: dict[str, Any], now: datetime,
                     *, from_reserved: bool = False) -> MoveRow:
    """Take a move's quantity out of a locked quant (and out of its reserved part) and append
    the move (``values``: its columns but the id): one statement on PostgreSQL, two on SQLite.
    ``row`` follows the quant's new figures."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        debit(session, row, values["quantity"], now, from_reserved=from_reserved)
        return append(session, values)
    params = {f"m_{name}": value for name, value in values.items()}
    params["m_quant_id"], params["m_now"] = row.quant_id, now
    found = conn.execute(_DEBIT_APPEND[from_reserved], params).one_or_none()
    if found is None:  # the locked quant vanished: nothing was written
        raise RuntimeError(f"quant {row.quant_id} not found while moving stock out of it")
    move_id, row.on_hand, row.reserved = found
    return MoveRow(id=int(move_id), **{**values, "kind": MoveKind(values["kind"])})
