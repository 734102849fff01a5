"""THE one place stock changes: moves, quants, locks, FEFO picking and reservations.

Every stock change is a :class:`StockMove` from one location to another, appended in the same
transaction that updates the cached balances (:class:`Quant`) of the stocked locations it
touches. Nothing here commits; the caller's use case does, once.

Rules kept here and nowhere else:

* Available stock of a quant = on hand - reserved, and only when the quant's location holds the
  lot in good quality and the lot's expiry date (the last usable day) is today or later.
* Lots are shared, immutable identities (item, number, expiry); every decision about goods -
  quality - is per holding location, on the quant. Lot numbers are resolved against what a
  location holds (``held_lot``, ``ensure_lot``), so no depot's lots constrain another's.
* Issues, transfers and reservations pick lots FEFO: earliest expiry first, lots without expiry
  last, then oldest lot first.
* Concurrency: every quant a transaction changes is locked (``SELECT ... FOR UPDATE`` on
  PostgreSQL; SQLite write transactions are serialised by ``BEGIN IMMEDIATE``) before it is
  read for a decision. Locks are taken in one global order - a depot's quants (by location,
  item, quant id) before the transit location's - so two transactions never wait on each other
  in a cycle. The database CHECK constraints (on hand >= 0, 0 <= reserved <= on hand) are the
  last line of defence.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, TypeVar

from sqlalchemy import bindparam, case, func, or_, select, tuple_
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from relief.platform.dbtypes import utcnow
from relief.platform.errors import (
    Conflict,
    InsufficientStock,
    InvalidInput,
    NotFound,
    ReliefError,
)
from relief.platform.fields import INT32_MAX
from relief.platform.metrics import count_move
from supplies import quantsql
from supplies.models import (
    Depot,
    Item,
    Location,
    LocationKind,
    Lot,
    MoveKind,
    Quality,
    Quant,
    Reservation,
    ReservationLine,
    ReservationState,
    StockMove,
)
from supplies.models.stock import STOCKED_KINDS
from supplies.quantsql import LotRef, MoveRow, StockRow

# Codes of the singleton virtual locations.
VIRTUAL_LOCATIONS: dict[LocationKind, tuple[str, str]] = {
    LocationKind.supplier: ("VIRTUAL/SUPPLIER", "Suppliers and donors (receipts)"),
    LocationKind.distribution: ("VIRTUAL/DISTRIBUTION", "Distributed to affected people"),
    LocationKind.inventory: ("VIRTUAL/INVENTORY", "Inventory loss and gain"),
    LocationKind.scrap: ("VIRTUAL/SCRAP", "Scrapped: expired or damaged"),
    LocationKind.transit: ("VIRTUAL/TRANSIT", "In transit between depots or to sites"),
}


# The most one quant (a location's stock of one lot) holds: its INTEGER column's range. One
# request moves at most relief.platform.fields.MAX_QUANTITY; a move that would pass this is
# refused (409) instead of overflowing the column (issue 16: three receipts of 10^9).
MAX_QUANT = INT32_MAX


class _Dated(Protocol):
    expiry: date | None


class _Graded(Protocol):
    """What the availability rule reads of a quant (an ORM :class:`Quant` or a locked
    :class:`~supplies.quantsql.StockRow`)."""

    @property
    def quality(self) -> Quality: ...
    @property
    def on_hand(self) -> int: ...
    @property
    def reserved(self) -> int: ...


class _LotLike(Protocol):
    """What FEFO and the checks read of a lot (an ORM :class:`Lot` or a
    :class:`~supplies.quantsql.LotRef`)."""

    @property
    def id(self) -> int | None: ...
    @property
    def lot_number(self) -> str: ...
    @property
    def expiry(self) -> date | None: ...


LotT = TypeVar("LotT", bound=_Dated)


@dataclass(frozen=True)
class MoveContext:
    """Who is moving stock, why, and as part of which request."""

    actor: str
    today: date
    reference: str | None = None
    reason: str | None = None
    idempotency_key: str | None = None
    operation: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class Pick:
    """A quantity taken from one lot of a locked quant."""

    quant: StockRow
    lot: LotRef
    quantity: int


# ---------------------------------------------------------------------------------------------
# Locations and lots


def _location_cache(session: Session) -> dict[Any, Location]:
    # Locations never change once created, so one transaction may remember them.
    return session.info.setdefault("relief_locations", {})  # type: ignore[no-any-return]


def forget_locations(session: Session) -> None:
    """Drop the transaction's remembered locations; call after rolling back to a savepoint,
    since a location created inside it no longer exists."""
    session.info.pop("relief_locations", None)


def virtual_location(session: Session, kind: LocationKind) -> Location:
    """The singleton virtual location of ``kind`` (created by the first migration). The first
    call in a transaction reads all of them in one statement."""
    cache = _location_cache(session)
    if kind not in cache:
        by_code = {code: k for k, (code, _) in VIRTUAL_LOCATIONS.items()}
        for location in session.execute(
                select(Location).where(Location.code.in_(sorted(by_code)))).scalars():
            cache[by_code[location.code]] = location
        if kind not in cache:
            code, _ = VIRTUAL_LOCATIONS[kind]
            raise RuntimeError(f"virtual location {code} missing: run `relief db upgrade`")
    return cache[kind]


_VIRTUAL_KINDS = {code: kind for kind, (code, _) in VIRTUAL_LOCATIONS.items()}


def remember_location(session: Session, location: Location) -> None:
    """Note a depot's or a virtual location read along with something else, so that
    :func:`depot_location` and :func:`virtual_location` need not read it in this transaction."""
    if location.depot_id is not None:
        _location_cache(session)[("depot", location.depot_id)] = location
    elif location.code in _VIRTUAL_KINDS:
        _location_cache(session)[_VIRTUAL_KINDS[location.code]] = location


def ensure_virtual_locations(session: Session) -> None:
    """Create any missing virtual location (idempotent)."""
    for kind, (code, name) in VIRTUAL_LOCATIONS.items():
        _insert_ignore(session, Location, {"code": code, "name": name, "kind": kind}, ["code"])


def depot_location(session: Session, depot: Depot) -> Location:
    """The internal location of ``depot``, created on first use."""
    assert depot.id is not None
    cache = _location_cache(session)
    if ("depot", depot.id) in cache:
        return cache[("depot", depot.id)]
    stmt = select(Location).where(Location.depot_id == depot.id)
    location = session.execute(stmt).scalar_one_or_none()
    if location is None:
        _insert_ignore(
            session,
            Location,
            {
                "code": f"DEPOT/{depot.code}",
                "name": depot.name,
                "kind": LocationKind.internal,
                "depot_id": depot.id,
            },
            ["code"],
        )
        location = session.execute(stmt).scalar_one()
    cache[("depot", depot.id)] = location
    return location


def lots_at(session: Session, *, location: Location, item: Item, lot_number: str) -> list[Lot]:
    """The lots of ``item`` numbered ``lot_number`` that ``location`` holds or held (it has a
    quant of them), earliest expiry first."""
    return list(session.execute(_LOTS_AT, {"location_id": location.id, "item_id": item.id,
                                           "lot_number": lot_number}).scalars())


_LOTS_AT = (
    select(Lot)
    .join(Quant, Quant.lot_id == Lot.id)
    .where(Quant.location_id == bindparam("location_id"), Lot.item_id == bindparam("item_id"),
           Lot.lot_number == bindparam("lot_number"))
    .order_by(Lot.expiry.is_(None), Lot.expiry, Lot.id)
)


def _find_or_create_lot(session: Session, item: Item, lot_number: str,
                        expiry: date | None) -> Lot:
    same_expiry = Lot.expiry.is_(None) if expiry is None else Lot.expiry == expiry
    stmt = select(Lot).where(Lot.item_id == item.id, Lot.lot_number == lot_number, same_expiry)
    lot = session.execute(stmt).scalar_one_or_none()
    if lot is None:
        now = utcnow()
        _insert_ignore(
            session,
            Lot,
            {"item_id": item.id, "lot_number": lot_number, "expiry": expiry,
             "created_at": now, "updated_at": now},
            None,
        )
        lot = session.execute(stmt).scalar_one()
    return lot


def ensure_lot(
    session: Session,
    *,
    item: Item,
    lot_number: str | None,
    expiry: date | None,
    location: Location,
) -> Lot:
    """The lot ``lot_number`` of ``item`` that goods received at ``location`` go into.

    Without a lot number the lot is named after its expiry (``AUTO-20271231`` or
    ``AUTO-NOEXP``), so unlabelled receipts with the same expiry share one lot. A perishable
    item needs an expiry. Lot numbers are checked against what ``location`` itself holds, never
    against other depots: a number the location already holds must come with that lot's
    expiry (or none, meaning "that lot"); the same number at another depot with another expiry
    is simply another lot.
    """
    assert item.id is not None
    lot_number = lot_number_for(item, lot_number, expiry)
    held = lots_at(session, location=location, item=item, lot_number=lot_number)
    return choose_lot(held, item=item, lot_number=lot_number, expiry=expiry,
                      location=location) or _find_or_create_lot(session, item, lot_number,
                                                                 expiry)


def lot_number_for(item: Item, lot_number: str | None, expiry: date | None) -> str:
    """The lot number goods are received under: the given one, else one named after the expiry
    (``AUTO-20271231``, ``AUTO-NOEXP``); 422 naming ``expiry`` for a perishable without one."""
    if item.perishable and expiry is None:
        raise InvalidInput.of("lot.expiry_required", field="expiry", item=item.code)
    if lot_number is None:
        return f"AUTO-{expiry:%Y%m%d}" if expiry else "AUTO-NOEXP"
    return lot_number


def choose_lot(held: Sequence[LotT], *, item: Item, lot_number: str, expiry: date | None,
               location: Location) -> LotT | None:
    """The rule of :func:`ensure_lot` on what ``location`` holds under ``lot_number``: the held
    lot to use, or None when the lot (number, expiry) is to be found or created globally."""
    if expiry is None and held:
        if len(held) > 1:
            raise InvalidInput.of("lot.expiry_ambiguous", field="expiry", location=location.code,
                                  lot=lot_number, item=item.code,
                                  expiries=", ".join(str(lt.expiry) for lt in held))
        return held[0]
    if expiry is not None and held:
        same = [lt for lt in held if lt.expiry == expiry]
        if not same:
            raise InvalidInput.of("lot.expiry_mismatch", field="expiry", lot=lot_number,
                                  item=item.code, location=location.code,
                                  held=str(held[0].expiry), expiry=str(expiry))
        return same[0]
    return None


def held_lot(
    session: Session,
    *,
    location: Location,
    item: Item,
    lot_number: str,
    expiry: date | None = None,
    field_name: str = "lot",
    expiry_field: str = "expiry",
) -> Lot:
    """The lot numbered ``lot_number`` that ``location`` holds (404 naming ``field_name`` when
    it holds none; 422 naming ``expiry_field`` when it holds that number with several expiries
    and ``expiry`` does not pick one)."""
    lots = lots_at(session, location=location, item=item, lot_number=lot_number)
    return one_held(lots, location_code=location.code, item_code=item.code,
                    lot_number=lot_number, expiry=expiry, field_name=field_name,
                    expiry_field=expiry_field)


def one_held(lots: Sequence[LotT], *, location_code: str, item_code: str, lot_number: str,
             expiry: date | None = None, field_name: str = "lot",
             expiry_field: str = "expiry") -> LotT:
    """The rule of :func:`held_lot` on the lots numbered ``lot_number`` that a location holds
    (earliest expiry first): the one ``expiry`` picks, 404 naming ``field_name`` when none,
    422 naming ``expiry_field`` when several and ``expiry`` does not pick one."""
    if expiry is not None:
        lots = [lt for lt in lots if lt.expiry == expiry]
    if not lots:
        raise NotFound.of("lot.not_held", field=field_name, lot=lot_number, item=item_code,
                          location=location_code,
                          expiry="" if expiry is None else str(expiry))
    if len(lots) > 1:
        raise InvalidInput.of("lot.expiry_ambiguous", field=expiry_field,
                              location=location_code, lot=lot_number, item=item_code,
                              expiries=", ".join(str(lt.expiry) for lt in lots))
    return lots[0]


def held_in(stock: Sequence[StockRow], lot_number: str) -> list[LotRef]:
    """The lots numbered ``lot_number`` among a location's locked quants of an item, in the
    order of :func:`lots_at` (earliest expiry first, lots without expiry last, then oldest)."""
    return sorted((row.lot for row in stock if row.lot.lot_number == lot_number),
                  key=lambda lot: (lot.expiry is None, lot.expiry or date.max, lot.id))


def is_usable(quant: _Graded, lot: _Dated, today: date) -> bool:
    """True when this location's stock of the lot may be issued or reserved: the location
    holds it in good quality and the lot is not expired."""
    return quant.quality == Quality.good and (lot.expiry is None or lot.expiry >= today)


def available(quant: _Graded, lot: _Dated, today: date) -> int:
    """Available quantity of one quant (0 for unusable stock)."""
    return quant.on_hand - quant.reserved if is_usable(quant, lot, today) else 0


def fefo_key(lot: _LotLike) -> tuple[int, date, int]:
    """Sort key for FEFO: expiring lots by date, then lots without expiry, then oldest lot."""
    return (1, date.max, lot.id or 0) if lot.expiry is None else (0, lot.expiry, lot.id or 0)


def set_quality(
    session: Session, *, location: Location, item: Item, lot: Lot, quality: Quality
) -> tuple[Quality, Quant]:
    """Set ``location``'s quality verdict on its stock of ``lot``; returns (before, quant).

    The quant is locked first, like any stock change; other locations' stock of the same lot
    is not touched. 404 when the location has never held the lot.
    """
    assert item.id is not None and lot.id is not None
    rows = lock_stock(session, location, item.id, [lot.id])
    if not rows:
        raise NotFound.of("lot.not_held", field="depot", lot=lot.lot_number, item=item.code,
                          location=location.code, expiry="")
    quant = rows[0][0]
    before = quant.quality
    if before != quality:
        quant.quality = quality
        quant.updated_at = utcnow()
        session.add(quant)
        session.flush()
    return before, quant


# ---------------------------------------------------------------------------------------------
# Quants: creation and locking


def _insert_ignore(
    session: Session, model: Any, values: dict[str, Any], conflict_cols: list[str] | None
) -> None:
    """INSERT a row unless one with the same ``conflict_cols`` exists (race-safe upsert);
    ``None``: unless it would break any unique constraint or index of the table."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(model.__table__).values(**values)
    session.execute(statement.on_conflict_do_nothing(index_elements=conflict_cols))


def _ensure_quants(session: Session, location_id: int, item_id: int,
                   lot_ids: Iterable[int]) -> None:
    """Create the missing quants of some lots (empty), in lot order, in one statement."""
    rows = [{"location_id": location_id, "item_id": item_id, "lot_id": lot_id, "on_hand": 0,
             "reserved": 0, "updated_at": utcnow()} for lot_id in sorted(set(lot_ids))]
    if rows:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(insert(Quant.__table__).on_conflict_do_nothing(
            index_elements=["location_id", "item_id", "lot_id"]), rows)


def lock_stock(
    session: Session, location: Location, item_id: int, lot_ids: Iterable[int] | None = None
) -> list[tuple[Quant, Lot]]:
    """Lock and return the quants of ``item_id`` at ``location`` (optionally only some lots) as
    ORM objects, for callers that read them (counts, quality); moves use :func:`locked`.

    Rows are locked in quant id order and re-read, so decisions made on them hold until commit.
    """
    stmt = (
        select(Quant, Lot)
        .join(Lot, Lot.id == Quant.lot_id)
        .where(Quant.location_id == location.id, Quant.item_id == item_id)
        .order_by(Quant.id)
        .with_for_update(of=Quant)
        .execution_options(populate_existing=True)
    )
    if lot_ids is not None:
        stmt = stmt.where(Quant.lot_id.in_(list(lot_ids)))
    return [(quant, lot) for quant, lot in session.execute(stmt).all()]


def locked(session: Session, location: Location, item_id: int,
           lot_ids: Iterable[int] | None = None) -> list[StockRow]:
    """Lock and read the quants of ``item_id`` at ``location`` (optionally only some lots), in
    quant id order, as plain rows (one Core ``SELECT ... FOR UPDATE``)."""
    assert location.id is not None
    return quantsql.lock(session, location.id, item_id, lot_ids)


def lock_destination(
    session: Session, location: Location, item: Item, lot_ids: Sequence[int]
) -> None:
    """Create (if needed) and lock the quants that moves into ``location`` will credit.

    Callers moving stock out of transit into a depot call this first, to keep the global lock
    order: a depot's quants before the transit location's.
    """
    assert location.id is not None and item.id is not None
    _ensure_quants(session, location.id, item.id, lot_ids)
    quantsql.lock(session, location.id, item.id, sorted(set(lot_ids)))


def pick_fefo(
    rows: Sequence[StockRow],
    quantity: int,
    today: date,
    *,
    lot: _LotLike | None = None,
    field_name: str = "quantity",
) -> list[Pick]:
    """Choose which lots supply ``quantity``: the given lot, or FEFO over usable lots.

    Raises :class:`InsufficientStock` (with the available quantity) when there is too little,
    and :class:`Conflict` when an explicitly requested lot is expired, quarantined or damaged.
    """
    if lot is not None:
        rows = [row for row in rows if row.lot.id == lot.id]
        for row in rows:
            if not is_usable(row, row.lot, today):
                if row.quality == Quality.good:
                    raise Conflict.of("lot.expired", field="lot", lot=lot.lot_number,
                                      expiry=str(lot.expiry), quality=row.quality.value)
                raise Conflict.of("lot.unusable", field="lot", lot=lot.lot_number,
                                  quality=row.quality.value,
                                  expiry=None if lot.expiry is None else str(lot.expiry))
    candidates = sorted((row for row in rows if available(row, row.lot, today) > 0),
                        key=lambda row: fefo_key(row.lot))
    total = sum(available(row, row.lot, today) for row in candidates)
    if total < quantity:
        raise InsufficientStock.of("stock.short", field=field_name, available=total,
                                   requested=quantity)
    picks: list[Pick] = []
    remaining = quantity
    for row in candidates:
        take = min(remaining, available(row, row.lot, today))
        picks.append(Pick(quant=row, lot=row.lot, quantity=take))
        remaining -= take
        if remaining == 0:
            break
    return picks


# ---------------------------------------------------------------------------------------------
# Posting moves


def _record(
    session: Session,
    *,
    item_id: int,
    lot_id: int,
    quantity: int,
    source: Location,
    destination: Location,
    kind: MoveKind,
    ctx: MoveContext,
    transfer_id: int | None = None,
    reservation_id: int | None = None,
) -> MoveRow:
    """Append one ledger row (one INSERT)."""
    values = _move_row(item_id=item_id, lot_id=lot_id, quantity=quantity, source=source,
                       destination=destination, kind=kind, ctx=ctx, transfer_id=transfer_id,
                       reservation_id=reservation_id)
    move = quantsql.append(session, values)
    count_move(session, kind.value)
    return move


def _credit(session: Session, destination: Location, item_id: int, lot_id: int, qty: int) -> None:
    """Add ``qty`` to the destination's quant when the destination holds stock (one upsert,
    which also creates and locks the quant)."""
    if destination.kind in STOCKED_KINDS:
        assert destination.id is not None
        try:
            _, on_hand, _ = quantsql.credit(session, destination.id, item_id, lot_id, qty,
                                            utcnow())
        except DataError as exc:  # PostgreSQL: the INTEGER column's range (SQLSTATE 22003)
            if getattr(exc.orig, "sqlstate", None) != "22003":
                raise
            raise _lot_full(session, destination, lot_id, qty) from exc
        if on_hand > MAX_QUANT:  # SQLite's integers are wider: the same limit, checked here
            raise _lot_full(session, destination, lot_id, qty)


def _lot_full(session: Session, destination: Location, lot_id: int, qty: int) -> Conflict:
    lot = session.get_one(Lot, lot_id)
    return Conflict.of("stock.lot_full", field="quantity", lot=lot.lot_number,
                       location=destination.code, quantity=qty, max=MAX_QUANT)


def move_picks(
    session: Session,
    *,
    picks: Sequence[Pick],
    source: Location,
    destination: Location,
    kind: MoveKind,
    ctx: MoveContext,
    from_reserved: bool = False,
    transfer_id: int | None = None,
    reservation_id: int | None = None,
) -> list[MoveRow]:
    """Move picked (already locked) quantities from ``source`` to ``destination``.

    With ``from_reserved`` the quantities come out of the quants' reserved part (consuming a
    reservation); otherwise out of their available part. Per pick: the UPDATE of the source
    quant and the INSERT of the move (one statement on PostgreSQL, see
    :func:`supplies.quantsql.debit_and_append`), then one upsert of the destination's quant
    (stocked destinations only).
    """
    now = utcnow()
    for pick in picks:
        row = pick.quant
        if from_reserved:
            if row.reserved < pick.quantity:
                raise InsufficientStock.of("stock.reserved_short", lot=pick.lot.lot_number,
                                           available=row.reserved, requested=pick.quantity)
        elif row.on_hand - row.reserved < pick.quantity:
            raise InsufficientStock.of("stock.lot_short", lot=pick.lot.lot_number,
                                       available=row.on_hand - row.reserved,
                                       requested=pick.quantity)
    moves: list[MoveRow] = []
    for pick in picks:
        values = _move_row(item_id=pick.quant.item_id, lot_id=pick.lot.id,
                           quantity=pick.quantity, source=source, destination=destination,
                           kind=kind, ctx=ctx, transfer_id=transfer_id,
                           reservation_id=reservation_id)
        moves.append(quantsql.debit_and_append(session, pick.quant, values, now,
                                               from_reserved=from_reserved))
        count_move(session, kind.value)
        _credit(session, destination, pick.quant.item_id, pick.lot.id, pick.quantity)
    return moves


def receive(
    session: Session,
    *,
    destination: Location,
    item: Item,
    lot: Lot,
    quantity: int,
    ctx: MoveContext,
    source_kind: LocationKind = LocationKind.supplier,
    kind: MoveKind = MoveKind.receipt,
    transfer_id: int | None = None,
) -> MoveRow:
    """Book ``quantity`` of ``lot`` into ``destination`` from a virtual location."""
    assert item.id is not None and lot.id is not None
    source = virtual_location(session, source_kind)
    _credit(session, destination, item.id, lot.id, quantity)
    return _record(session, item_id=item.id, lot_id=lot.id, quantity=quantity, source=source,
                   destination=destination, kind=kind, ctx=ctx, transfer_id=transfer_id)


@dataclass(frozen=True)
class Taken:
    """What :func:`take_stock` did: the moves, and every quant of the item at the source as
    the take left it (locked until commit), so the caller can answer without reading again."""

    moves: list[MoveRow]
    stock: list[StockRow]


def take_stock(
    session: Session,
    *,
    source: Location,
    destination: Location,
    item: Item,
    quantity: int,
    ctx: MoveContext,
    kind: MoveKind,
    lot: _LotLike | None = None,
    transfer_id: int | None = None,
) -> Taken:
    """Take ``quantity`` of available stock from ``source`` (FEFO unless ``lot``): lock the
    item's quants there, pick, debit, credit, append."""
    assert item.id is not None
    return take_from(session, locked(session, source, item.id), source=source,
                     destination=destination, quantity=quantity, ctx=ctx, kind=kind, lot=lot,
                     transfer_id=transfer_id)


def take_from(
    session: Session,
    stock: list[StockRow],
    *,
    source: Location | quantsql.Place,
    destination: Location | quantsql.Place,
    quantity: int,
    ctx: MoveContext,
    kind: MoveKind,
    lot: _LotLike | None = None,
    transfer_id: int | None = None,
) -> Taken:
    """:func:`take_stock` on ``stock``: every quant of the item at ``source``, already locked
    (by :func:`locked` or :func:`supplies.quantsql.scene`): pick, debit, credit, append."""
    picks = pick_fefo(stock, quantity, ctx.today, lot=lot)
    moves = move_picks(session, picks=picks, source=source, destination=destination, kind=kind,
                       ctx=ctx, transfer_id=transfer_id)
    return Taken(moves=moves, stock=stock)


def take(
    session: Session,
    *,
    source: Location,
    destination: Location,
    item: Item,
    quantity: int,
    ctx: MoveContext,
    kind: MoveKind,
    lot: _LotLike | None = None,
    transfer_id: int | None = None,
) -> list[MoveRow]:
    """Take ``quantity`` of available stock from ``source`` (FEFO unless ``lot``); the moves."""
    return take_stock(session, source=source, destination=destination, item=item,
                      quantity=quantity, ctx=ctx, kind=kind, lot=lot,
                      transfer_id=transfer_id).moves


def move_lot(
    session: Session,
    *,
    source: Location,
    destination: Location,
    item: Item,
    lot: Lot,
    quantity: int,
    ctx: MoveContext,
    kind: MoveKind,
    transfer_id: int | None = None,
) -> MoveRow:
    """Move ``quantity`` of one specific lot regardless of its quality or expiry.

    Used for stock already committed to a path: receiving a transfer, scrapping expired or
    damaged goods, counting losses. The quantity must be on hand and not reserved.
    """
    assert item.id is not None and lot.id is not None
    rows = locked(session, source, item.id, [lot.id])
    free = sum(row.on_hand - row.reserved for row in rows)
    if not rows or free < quantity:
        raise InsufficientStock.of("stock.lot_free_short", field="quantity", lot=lot.lot_number,
                                   depot=source.code, available=free, requested=quantity)
    # Bypass the usability rule: this path moves stock that is already where it must go.
    (move,) = move_picks(session, picks=[Pick(quant=rows[0], lot=rows[0].lot, quantity=quantity)],
                         source=source, destination=destination, kind=kind, ctx=ctx,
                         transfer_id=transfer_id)
    return move


def adjust(
    session: Session,
    *,
    location: Location,
    item: Item,
    lot: Lot,
    counted: int,
    ctx: MoveContext,
) -> MoveRow | None:
    """Record a stock count: a gain or loss move brings on hand to ``counted``.

    Returns None when the count matches. A count below what is reserved is refused (409): the
    reservations must be released first so no plan keeps counting on goods that are not there.
    """
    assert item.id is not None and lot.id is not None and location.id is not None
    _ensure_quants(session, location.id, item.id, [lot.id])
    (row,) = locked(session, location, item.id, [lot.id])
    delta = counted - row.on_hand
    if delta == 0:
        return None
    if counted < row.reserved:
        raise Conflict.of("count.below_reserved", field="counted_quantity", counted=counted,
                          reserved=row.reserved, on_hand=row.on_hand)
    if delta > 0:
        return receive(session, destination=location, item=item, lot=lot, quantity=delta,
                       ctx=ctx, source_kind=LocationKind.inventory,
                       kind=MoveKind.adjustment_gain)
    (move,) = move_picks(session, picks=[Pick(quant=row, lot=row.lot, quantity=-delta)],
                         source=location,
                         destination=virtual_location(session, LocationKind.inventory),
                         kind=MoveKind.adjustment_loss, ctx=ctx)
    return move


# ---------------------------------------------------------------------------------------------
# Reservations


def reserve(
    session: Session,
    *,
    location: Location,
    depot: Depot,
    item: Item,
    quantity: int,
    reference: str,
    ctx: MoveContext,
    lot: _LotLike | None = None,
) -> Reservation:
    """Hold ``quantity`` of available stock for later use, picked FEFO into lot lines."""
    assert item.id is not None and depot.id is not None
    rows = locked(session, location, item.id)
    picks = pick_fefo(rows, quantity, ctx.today, lot=lot)
    reservation = Reservation(
        depot_id=depot.id,
        item_id=item.id,
        quantity=quantity,
        reference=reference,
        created_by=ctx.actor,
    )
    session.add(reservation)
    session.flush()
    assert reservation.id is not None
    now = utcnow()
    for pick in picks:
        quantsql.reserve(session, pick.quant, pick.quantity, now)
        session.add(
            ReservationLine(
                reservation_id=reservation.id, lot_id=pick.lot.id, quantity=pick.quantity
            )
        )
    session.flush()
    return reservation


def reservation_lines(session: Session, reservation: Reservation) -> list[ReservationLine]:
    """The lot lines of a reservation, oldest expiry first."""
    stmt = (
        select(ReservationLine)
        .join(Lot, Lot.id == ReservationLine.lot_id)
        .where(ReservationLine.reservation_id == reservation.id)
        .order_by(Lot.expiry.is_(None), Lot.expiry, Lot.id)
    )
    return list(session.execute(stmt).scalars())


def held(session: Session, reservation: Reservation) -> int:
    """What a reservation still holds."""
    return sum(line.quantity for line in reservation_lines(session, reservation))


def _locked_reservation_rows(
    session: Session, reservation: Reservation, location: Location
) -> tuple[list[ReservationLine], dict[int, StockRow]]:
    lines = reservation_lines(session, reservation)
    rows = locked(session, location, reservation.item_id, [line.lot_id for line in lines])
    return lines, {row.lot.id: row for row in rows}


def release(
    session: Session,
    *,
    reservation: Reservation,
    location: Location,
    quantity: int | None = None,
) -> int:
    """Give back ``quantity`` (default: all) of what a reservation holds; returns the amount."""
    if reservation.state != ReservationState.active:
        raise Conflict.of("reservation.state", reservation=reservation.id,
                          state=reservation.state.value)
    lines, rows = _locked_reservation_rows(session, reservation, location)
    still = sum(line.quantity for line in lines)
    amount = still if quantity is None else quantity
    if amount > still:
        raise InvalidInput.of("reservation.holds_only", field="quantity", held=still)
    remaining = amount
    now = utcnow()
    # Release the latest-expiring lots first, so what stays held is what should go first.
    for line in reversed(lines):
        if remaining == 0:
            break
        give = min(remaining, line.quantity)
        if give == 0:
            continue
        quantsql.reserve(session, rows[line.lot_id], -give, now)
        line.quantity -= give
        remaining -= give
        session.add(line)
    if still - amount == 0:
        reservation.state = ReservationState.released
    reservation.updated_at = now
    session.add(reservation)
    session.flush()
    return amount


def consume(
    session: Session,
    *,
    reservation: Reservation,
    location: Location,
    destination: Location,
    quantity: int,
    kind: MoveKind,
    ctx: MoveContext,
    transfer_id: int | None = None,
) -> list[MoveRow]:
    """Move ``quantity`` of a reservation's held stock out of ``location``, FEFO over its lots.

    Held lots that have since expired or been quarantined are not used; a reservation that can
    no longer supply ``quantity`` from usable lots gets a 409.
    """
    if reservation.state != ReservationState.active:
        raise Conflict.of("reservation.state", reservation=reservation.id,
                          state=reservation.state.value)
    lines, rows = _locked_reservation_rows(session, reservation, location)
    picks: list[Pick] = []
    remaining = quantity
    usable_total = 0
    for line in lines:
        row = rows[line.lot_id]
        if line.quantity == 0 or not is_usable(row, row.lot, ctx.today):
            continue
        usable_total += line.quantity
        if remaining == 0:
            continue
        use = min(remaining, line.quantity)
        picks.append(Pick(quant=row, lot=row.lot, quantity=use))
        line.quantity -= use
        remaining -= use
        session.add(line)
    if remaining:
        raise InsufficientStock.of("reservation.usable_short", reservation=reservation.id,
                                   available=usable_total, requested=quantity)
    moves = move_picks(
        session,
        picks=picks,
        source=location,
        destination=destination,
        kind=kind,
        ctx=ctx,
        from_reserved=True,
        transfer_id=transfer_id,
        reservation_id=reservation.id,
    )
    if sum(line.quantity for line in lines) == 0:
        reservation.state = ReservationState.consumed
    reservation.updated_at = utcnow()
    session.add(reservation)
    session.flush()
    return moves


# ---------------------------------------------------------------------------------------------
# Many lots and absolute counts at once (imports): the same rules, set-based


@dataclass(frozen=True)
class LotRequest:
    """Goods of ``item`` to be booked at ``location`` under a lot number (None: automatic) and
    an expiry, as :func:`ensure_lot` takes them."""

    location: Location
    item: Item
    lot_number: str | None
    expiry: date | None


def ensure_lots(session: Session, requests: Sequence[LotRequest]) -> list[Lot | ReliefError]:
    """:func:`ensure_lot` for many requests in a few queries, in order: a request breaking a
    rule gets its error in place of a lot and nothing is created for it. A lot chosen for an
    earlier request counts as held at its location for the later ones."""
    numbers: list[str | ReliefError] = []
    for request in requests:
        try:
            numbers.append(lot_number_for(request.item, request.lot_number, request.expiry))
        except InvalidInput as exc:
            numbers.append(exc)
    pairs = {(r.item.id, n) for r, n in zip(requests, numbers, strict=True)
             if isinstance(n, str)}
    by_number: dict[tuple[int, str], list[Lot | _NewLot]] = defaultdict(list)
    if pairs:
        for lot in session.execute(select(Lot).where(
                tuple_(Lot.item_id, Lot.lot_number).in_(sorted(pairs)))).scalars():
            by_number[(lot.item_id, lot.lot_number)].append(lot)
    lot_ids = [lot.id for lots in by_number.values() for lot in lots]
    locations = sorted({r.location.id for r in requests if r.location.id is not None})
    held: set[tuple[int | None, Any]] = set()
    if lot_ids:
        held = {(loc, lot) for loc, lot in session.execute(
            select(Quant.location_id, Quant.lot_id).where(Quant.lot_id.in_(lot_ids),
                                                          Quant.location_id.in_(locations)))}
    # A lot still to be created is a Lot without id, known by its (item, number, expiry).
    chosen: list[Lot | tuple[int, str, date | None] | ReliefError] = []
    for request, number in zip(requests, numbers, strict=True):
        if not isinstance(number, str):
            chosen.append(number)
            continue
        assert request.item.id is not None
        known = by_number[(request.item.id, number)]
        mine = sorted((lt for lt in known if (request.location.id, _lot_key(lt)) in held),
                      key=lambda lt: (lt.expiry is None, lt.expiry or date.max, lt.id or 0))
        try:
            lot = choose_lot(mine, item=request.item, lot_number=number, expiry=request.expiry,
                             location=request.location)
        except InvalidInput as exc:
            chosen.append(exc)
            continue
        if lot is None:
            lot = next((lt for lt in known if lt.expiry == request.expiry), None)
        if lot is None:
            lot = _NewLot(item_id=request.item.id, lot_number=number, expiry=request.expiry)
            known.append(lot)
        held.add((request.location.id, _lot_key(lot)))
        chosen.append(lot if isinstance(lot, Lot) else (lot.item_id, lot.lot_number, lot.expiry))
    return _create_lots(session, chosen)


@dataclass(frozen=True)
class _NewLot:
    """A lot :func:`ensure_lots` will create, known by its identity until it exists."""

    item_id: int
    lot_number: str
    expiry: date | None
    id: None = None


def _lot_key(lot: Lot | _NewLot) -> Any:
    return lot.id if isinstance(lot, Lot) else (lot.item_id, lot.lot_number, lot.expiry)


def _create_lots(session: Session, chosen: list[Lot | tuple[int, str, date | None] | ReliefError]
                 ) -> list[Lot | ReliefError]:
    """Create the lots ``chosen`` names by (item, number, expiry), race-safe, in sorted order."""
    wanted = sorted({c for c in chosen if isinstance(c, tuple)},
                    key=lambda k: (k[0], k[1], k[2] is None, k[2] or date.max))
    if not wanted:
        return [c for c in chosen if not isinstance(c, tuple)]
    now = utcnow()
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(Lot.__table__).on_conflict_do_nothing(), [
        {"item_id": item_id, "lot_number": number, "expiry": expiry, "created_at": now,
         "updated_at": now} for item_id, number, expiry in wanted])
    created: dict[tuple[int, str, date | None], Lot] = {}
    for lot in session.execute(select(Lot).where(tuple_(Lot.item_id, Lot.lot_number).in_(
            sorted({(k[0], k[1]) for k in wanted})))).scalars():
        created[(lot.item_id, lot.lot_number, lot.expiry)] = lot
    return [created[c] if isinstance(c, tuple) else c for c in chosen]


@dataclass(frozen=True)
class CountLine:
    """An absolute quantity and quality of one lot at one location (a stock-take line, or a
    provincial report of a warehouse's stock)."""

    location: Location
    item: Item
    lot: Lot
    counted: int
    quality: Quality
    ctx: MoveContext


@dataclass
class CountOutcome:
    """What :func:`count_many` did with one line: nothing when ``error`` is set."""

    quality_before: Quality | None = None  # None: nothing to do (never held, counted 0, good)
    quality_changed: bool = False
    moved: int = 0  # the quantity of the line's move (0: none)
    error: ReliefError | None = None

    @property
    def changed(self) -> bool:
        """True when the line moved stock or changed the location's quality verdict."""
        return bool(self.moved) or self.quality_changed


def count_many(session: Session, lines: Sequence[CountLine]) -> list[CountOutcome]:
    """Bring many quants to absolute counts and qualities at once; each line all-or-nothing.

    The rules are :func:`adjust`'s and :func:`set_quality`'s: a count below what is reserved
    is refused for that line (409); stock arrives as a receipt from the supplier when nothing
    is on hand, otherwise as a count gain or loss against the inventory location. A line
    counting 0 in good quality where the location never held the lot does nothing. Missing
    quants are created in sorted order, then every quant involved is locked in the global
    order (location, item, quant id) before anything is decided; then one flush updates the
    quants and one multi-row INSERT appends the moves.
    """
    keys = sorted({(line.location.id, line.item.id, line.lot.id) for line in lines})
    needed = sorted({(line.location.id, line.item.id, line.lot.id) for line in lines
                     if line.counted > 0 or line.quality != Quality.good})
    if needed:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        now = utcnow()
        session.execute(insert(Quant.__table__).on_conflict_do_nothing(
            index_elements=["location_id", "item_id", "lot_id"]), [
            {"location_id": loc, "item_id": item, "lot_id": lot, "on_hand": 0, "reserved": 0,
             "quality": Quality.good.value, "updated_at": now} for loc, item, lot in needed])
    quants: dict[tuple[int, int, int], Quant] = {}
    if keys:
        for quant in session.execute(
            select(Quant)
            .where(tuple_(Quant.location_id, Quant.item_id, Quant.lot_id).in_(keys))
            .order_by(Quant.location_id, Quant.item_id, Quant.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars():
            quants[(quant.location_id, quant.item_id, quant.lot_id)] = quant
    outcomes: list[CountOutcome] = []
    moves: list[dict[str, Any]] = []
    for line in lines:
        assert line.location.id is not None and line.item.id is not None
        quant = quants.get((line.location.id, line.item.id, line.lot.id or 0))
        if quant is None:  # counted 0 in good quality, never held: nothing to do
            outcomes.append(CountOutcome())
            continue
        outcome = CountOutcome(quality_before=quant.quality)
        delta = line.counted - quant.on_hand
        if delta and line.counted < quant.reserved:
            outcome.error = Conflict(
                f"counted {line.counted} but {quant.reserved} are reserved; release "
                "reservations first",
                details={"reserved": quant.reserved, "on_hand": quant.on_hand,
                         "counted": line.counted},
            )
            outcomes.append(outcome)
            continue
        if delta:
            if delta > 0:
                source_kind = (LocationKind.supplier if quant.on_hand == 0
                               else LocationKind.inventory)
                kind = MoveKind.receipt if quant.on_hand == 0 else MoveKind.adjustment_gain
                source, destination = virtual_location(session, source_kind), line.location
            else:
                kind = MoveKind.adjustment_loss
                source = line.location
                destination = virtual_location(session, LocationKind.inventory)
            moves.append(_move_row(item_id=line.item.id, lot_id=line.lot.id or 0,
                                   quantity=abs(delta), source=source, destination=destination,
                                   kind=kind, ctx=line.ctx))
            outcome.moved = abs(delta)
            quant.on_hand = line.counted
        if quant.quality != line.quality:
            quant.quality = line.quality
            outcome.quality_changed = True
        if delta or outcome.quality_changed:
            quant.updated_at = utcnow()
        outcomes.append(outcome)
    session.flush()
    if moves:
        session.execute(sa_insert(StockMove.__table__), moves)
    return outcomes


def _move_row(*, item_id: int, lot_id: int, quantity: int, source: Location,
              destination: Location, kind: MoveKind, ctx: MoveContext,
              transfer_id: int | None = None, reservation_id: int | None = None
              ) -> dict[str, Any]:
    """The values of one ledger row, as :func:`_record` would write it."""
    assert quantity > 0 and source.id is not None and destination.id is not None
    return {"at": utcnow(), "item_id": item_id, "lot_id": lot_id, "quantity": quantity,
            "from_location_id": source.id, "to_location_id": destination.id,
            "kind": kind.value, "state": "done", "operation": ctx.operation,
            "reference": ctx.reference, "reason": ctx.reason, "actor": ctx.actor,
            "idempotency_key": ctx.idempotency_key, "transfer_id": transfer_id,
            "reservation_id": reservation_id}


# ---------------------------------------------------------------------------------------------
# The ledger check


@dataclass
class CheckResult:
    """Outcome of :func:`verify`: an empty ``problems`` list means the ledger is whole."""

    quants: int = 0
    moves: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def verify(session: Session) -> CheckResult:
    """Prove every quant equals the sum of its moves and no stock rule is broken."""
    result = CheckResult()
    stocked = {
        loc_id
        for (loc_id,) in session.execute(
            select(Location.id).where(Location.kind.in_([k.value for k in STOCKED_KINDS]))
        )
    }
    balance: dict[tuple[int, int, int], int] = defaultdict(int)
    inflow = select(
        StockMove.to_location_id, StockMove.item_id, StockMove.lot_id, func.sum(StockMove.quantity)
    ).group_by(StockMove.to_location_id, StockMove.item_id, StockMove.lot_id)
    outflow = select(
        StockMove.from_location_id,
        StockMove.item_id,
        StockMove.lot_id,
        func.sum(StockMove.quantity),
    ).group_by(StockMove.from_location_id, StockMove.item_id, StockMove.lot_id)
    for loc, item, lot, qty in session.execute(inflow):
        balance[(loc, item, lot)] += int(qty)
    for loc, item, lot, qty in session.execute(outflow):
        balance[(loc, item, lot)] -= int(qty)
    result.moves = session.execute(select(func.count()).select_from(StockMove)).scalar_one()

    held_by_key: dict[tuple[int, int, int], int] = defaultdict(int)
    held_rows = session.execute(
        select(Location.id, Reservation.item_id, ReservationLine.lot_id, ReservationLine.quantity)
        .join(Reservation, Reservation.id == ReservationLine.reservation_id)
        .join(Location, Location.depot_id == Reservation.depot_id)
        .where(Reservation.state == ReservationState.active)
    )
    for loc, item, lot, qty in held_rows:
        held_by_key[(loc, item, lot)] += int(qty)

    seen: set[tuple[int, int, int]] = set()
    lot_items = dict(session.execute(select(Lot.id, Lot.item_id)).all())
    for quant in session.execute(select(Quant)).scalars():
        result.quants += 1
        key = (quant.location_id, quant.item_id, quant.lot_id)
        seen.add(key)
        if quant.location_id not in stocked:
            result.problems.append(f"quant {quant.id} is at a virtual location")
        if lot_items.get(quant.lot_id) != quant.item_id:
            result.problems.append(f"quant {quant.id}: lot {quant.lot_id} is not of its item")
        if quant.on_hand != balance.get(key, 0):
            result.problems.append(
                f"quant {quant.id} {key}: on hand {quant.on_hand} but moves sum to "
                f"{balance.get(key, 0)}"
            )
        if quant.on_hand < 0 or quant.reserved < 0 or quant.reserved > quant.on_hand:
            result.problems.append(
                f"quant {quant.id}: on hand {quant.on_hand}, reserved {quant.reserved}"
            )
        if quant.reserved != held_by_key.get(key, 0):
            result.problems.append(
                f"quant {quant.id}: reserved {quant.reserved} but active reservations hold "
                f"{held_by_key.get(key, 0)}"
            )
    for key, qty in balance.items():
        if key[0] in stocked and key not in seen and qty != 0:
            result.problems.append(f"moves leave {qty} at {key} but there is no quant")
    for key, qty in held_by_key.items():
        if key not in seen and qty:
            result.problems.append(f"reservations hold {qty} at {key} but there is no quant")
    bad_items = session.execute(
        select(func.count())
        .select_from(StockMove)
        .join(Lot, Lot.id == StockMove.lot_id)
        .where(Lot.item_id != StockMove.item_id)
    ).scalar_one()
    if bad_items:
        result.problems.append(f"{bad_items} moves name a lot of another item")
    return result


def available_sql(today: date) -> Any:
    """SQL expression for a quant's available quantity (join Quant with Lot); see ``available``."""
    usable = (Quant.quality == Quality.good.value) & or_(Lot.expiry.is_(None),
                                                          Lot.expiry >= today)
    return case((usable, Quant.on_hand - Quant.reserved), else_=0)
