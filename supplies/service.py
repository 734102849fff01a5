"""Stock use cases: receive, issue, transfer, count, scrap, quality, reservations.

Each function is one use case run inside the caller's transaction; none commits. Codes are
resolved to rows here (unknown -> 404 naming the field), depot scope is checked here (the
depot is often known only after a lookup), and every stock change goes through
:mod:`supplies.ledger`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased

from relief.platform.audit import record
from relief.platform.db import one_or_none
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict, InvalidInput, NotFound
from relief.platform.models import Role
from relief.platform.principal import Principal
from supplies import ledger, quantsql
from supplies.ledger import MoveContext
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
    StockMove,
    Transfer,
    TransferLine,
    TransferState,
)
from supplies.models.operations import (
    AdjustmentIn,
    BalancePublic,
    IssueIn,
    LotLinePublic,
    LotQualityPublic,
    MovePublic,
    OperationPublic,
    QualityIn,
    ReceiptIn,
    ReleaseIn,
    ReservationIn,
    ReservationPublic,
    ScrapIn,
    TransferIn,
    TransferPublic,
    TransferReceiveIn,
)
from supplies.quantsql import LotRef, MoveRow, StockRow

# ---------------------------------------------------------------------------------------------
# Lookups


def get_depot(session: Session, code: str, *, field: str = "depot") -> Depot:
    """The depot with ``code`` or a 404 naming ``field`` (its stock location is read in the
    same statement and remembered for the transaction)."""
    row = session.execute(select(Depot, Location).outerjoin(
        Location, Location.depot_id == Depot.id).where(Depot.code == code)).one_or_none()
    if row is None:
        raise NotFound.of("depot.unknown", field=field, code=code)
    depot, location = row
    if location is not None:
        ledger.remember_location(session, location)
    return depot


def get_item(session: Session, code: str, *, field: str = "item") -> Item:
    """The item with ``code`` or a 404 naming ``field``."""
    item = session.execute(select(Item).where(Item.code == code)).scalar_one_or_none()
    if item is None:
        raise NotFound.of("item.unknown", field=field, code=code)
    return item


def get_lot(session: Session, item: Item, lot_number: str, *, depot: Depot,
            expiry: date | None = None, field: str = "lot", expiry_field: str = "expiry"
            ) -> Lot:
    """The lot ``lot_number`` of ``item`` that ``depot`` holds: 404 naming ``field`` when it
    holds none, 422 naming ``expiry_field`` when it holds that number with several expiries
    and ``expiry`` does not choose. Lot numbers mean what they mean at one depot."""
    return ledger.held_lot(session, location=ledger.depot_location(session, depot), item=item,
                           lot_number=lot_number, expiry=expiry, field_name=field,
                           expiry_field=expiry_field)


def _active_depot(session: Session, code: str, principal: Principal, *, field: str) -> Depot:
    depot = get_depot(session, code, field=field)
    _admit(principal, depot.code, active=depot.active, field=field)
    return depot


def _admit(principal: Principal, depot_code: str, *, active: bool, field: str) -> None:
    """The checks every stock use case makes of a known depot, in this order: the
    principal's depot scope (403), then an inactive depot (409 naming ``field``)."""
    principal.require_depot(depot_code)
    if not active:
        raise Conflict.of("depot.inactive", field=field, code=depot_code)


# Built once: the write path's hottest read (building it per call costs more than running it).
_VIRTUAL = aliased(Location)
_DEPOT_AND_ITEM = (
    select(Depot, Location, Item, _VIRTUAL)
    .outerjoin(Location, Location.depot_id == Depot.id)
    .outerjoin(Item, Item.code == bindparam("item"))
    .outerjoin(_VIRTUAL, _VIRTUAL.code == bindparam("virtual"))
    .where(Depot.code == bindparam("depot"))
)


def _depot_and_item(session: Session, depot_code: str, item_code: str, principal: Principal,
                    *, field: str, towards: LocationKind) -> tuple[Depot, Item | None]:
    """:func:`_active_depot` and the item (None when unknown: the caller raises its 404 in
    its own order) in one statement, which also reads the depot's location and the virtual
    location ``towards`` for the ledger."""
    row = session.execute(_DEPOT_AND_ITEM, {
        "depot": depot_code, "item": item_code,
        "virtual": ledger.VIRTUAL_LOCATIONS[towards][0]}).one_or_none()
    if row is None:
        raise NotFound.of("depot.unknown", field=field, code=depot_code)
    depot, location, item, destination = row
    for found in (location, destination):
        if found is not None:
            ledger.remember_location(session, found)
    _admit(principal, depot.code, active=depot.active, field=field)
    return depot, item


def _scene(session: Session, depot_code: str, item_code: str, principal: Principal, *,
           field: str, towards: LocationKind) -> quantsql.Scene:
    """:func:`_depot_and_item` and the locked stock of the item at the depot in one statement
    (:func:`supplies.quantsql.scene`), with the same checks in the same order: unknown depot
    (404 naming ``field``), the principal's depot scope (403), inactive depot (409), unknown
    item (404 naming ``item``). A depot without a stock location yet gets one (it holds
    nothing, so nothing was locked)."""
    scene = quantsql.scene(session, depot=depot_code, item=item_code,
                           towards=ledger.VIRTUAL_LOCATIONS[towards][0])
    if scene is None:
        raise NotFound.of("depot.unknown", field=field, code=depot_code)
    _admit(principal, scene.depot_code, active=scene.depot_active, field=field)
    if scene.item_id is None:
        raise NotFound.of("item.unknown", field="item", code=item_code)
    if scene.location is None:
        made = ledger.depot_location(session, session.get_one(Depot, scene.depot_id))
        scene.location = _place(made)
    if scene.towards is None:
        scene.towards = _place(ledger.virtual_location(session, towards))
    return scene


def _place(location: Location) -> quantsql.Place:
    assert location.id is not None
    return quantsql.Place(location.id, location.code, location.kind, location.depot_id)


def _known_item(item: Item | None, code: str) -> Item:
    if item is None:
        raise NotFound.of("item.unknown", field="item", code=code)
    return item


# ---------------------------------------------------------------------------------------------
# Public views of ledger rows


class NameCache:
    """Per-request cache turning ids into the codes the API speaks."""

    def __init__(self, session: Session, lots: Iterable[LotRef] = (),
                 items: dict[int, str] | None = None,
                 locations: dict[int, str] | None = None) -> None:
        self.session = session
        self._items: dict[int, str] = dict(items or {})
        self._lots: dict[int, Lot | LotRef] = {lot.id: lot for lot in lots}
        self._locations: dict[int, str] = dict(locations or {})
        self._depots: dict[int, str] = {}

    def item(self, item_id: int) -> str:
        if item_id not in self._items:
            self._items[item_id] = self.session.get_one(Item, item_id).code
        return self._items[item_id]

    def lot(self, lot_id: int) -> Lot | LotRef:
        if lot_id not in self._lots:
            self._lots[lot_id] = self.session.get_one(Lot, lot_id)
        return self._lots[lot_id]

    def location(self, location_id: int) -> str:
        if location_id not in self._locations:
            self._locations[location_id] = self.session.get_one(Location, location_id).code
        return self._locations[location_id]

    def depot(self, depot_id: int) -> str:
        if depot_id not in self._depots:
            self._depots[depot_id] = self.session.get_one(Depot, depot_id).code
        return self._depots[depot_id]


def move_public(move: StockMove | MoveRow, names: NameCache) -> MovePublic:
    """A ledger row as the API shows it."""
    assert move.id is not None
    return MovePublic(
        id=move.id,
        at=move.at,
        kind=move.kind,
        item=names.item(move.item_id),
        lot=names.lot(move.lot_id).lot_number,
        lot_id=move.lot_id,
        quantity=move.quantity,
        from_location=names.location(move.from_location_id),
        to_location=names.location(move.to_location_id),
        reference=move.reference,
        reason=move.reason,
        actor=move.actor,
        operation=move.operation,
        transfer_id=move.transfer_id,
        reservation_id=move.reservation_id,
    )


_BALANCE = (select(Quant.on_hand, Quant.reserved, Quant.quality, Lot.expiry)
            .join(Lot, Lot.id == Quant.lot_id)
            .where(Quant.location_id == bindparam("location_id"),
                   Quant.item_id == bindparam("item_id")))


def balance(session: Session, depot: Depot, item: Item, today: date) -> BalancePublic:
    """On hand, reserved and available of ``item`` at ``depot`` (one Core read)."""
    location = ledger.depot_location(session, depot)
    rows = session.execute(_BALANCE, {"location_id": location.id, "item_id": item.id}).all()
    return BalancePublic(
        depot=depot.code,
        item=item.code,
        on_hand=sum(r.on_hand for r in rows),
        reserved=sum(r.reserved for r in rows),
        available=sum(r.on_hand - r.reserved for r in rows
                      if r.quality == Quality.good and (r.expiry is None or r.expiry >= today)),
    )


def balance_of(depot_code: str, item_code: str, stock: Sequence[StockRow], today: date
               ) -> BalancePublic:
    """:func:`balance` from every quant of the item at the depot, locked and as this
    transaction left them (what :func:`supplies.ledger.take_stock` returns): no read."""
    return BalancePublic(
        depot=depot_code,
        item=item_code,
        on_hand=sum(r.on_hand for r in stock),
        reserved=sum(r.reserved for r in stock),
        available=sum(ledger.available(r, r.lot, today) for r in stock),
    )


def _operation(
    session: Session,
    ctx: MoveContext,
    moves: Iterable[StockMove | MoveRow],
    touched: Iterable[tuple[Depot, Item]],
) -> OperationPublic:
    names = NameCache(session)
    return OperationPublic(
        operation=ctx.operation,
        moves=[move_public(m, names) for m in moves],
        balances=[balance(session, d, i, ctx.today) for d, i in touched],
    )


# ---------------------------------------------------------------------------------------------
# Use cases


def receive_stock(
    session: Session, *, principal: Principal, data: ReceiptIn, ctx: MoveContext
) -> OperationPublic:
    """Book goods from a supplier into a depot, creating the lot when it is new. Goods whose
    expiry has already passed are refused unless ``accept_expired`` says they are meant."""
    if data.expiry is not None and data.expiry < ctx.today and not data.accept_expired:
        raise InvalidInput.of("lot.expiry_past", field="expiry", expiry=data.expiry,
                              today=ctx.today)
    depot, found = _depot_and_item(session, data.depot, data.item, principal, field="depot",
                                   towards=LocationKind.supplier)
    item = _known_item(found, data.item)
    location = ledger.depot_location(session, depot)
    lot = ledger.ensure_lot(session, item=item, lot_number=data.lot, expiry=data.expiry,
                            location=location)
    move = ledger.receive(session, destination=location, item=item, lot=lot,
                          quantity=data.quantity, ctx=ctx)
    return _operation(session, ctx, [move], [(depot, item)])


def issue_stock(
    session: Session, *, principal: Principal, data: IssueIn, ctx: MoveContext
) -> OperationPublic:
    """Issue goods to affected people, FEFO over usable lots unless a lot is named.

    The lean path: one statement reads the depot, its location, the item, the distribution
    location and the item's quants at the depot, locked (:func:`supplies.quantsql.scene`);
    the checks run in the order of the other use cases (depot, scope, active, item, lot);
    then each lot taken is one debit-and-append statement (PostgreSQL)."""
    scene = _scene(session, data.depot, data.item, principal, field="depot",
                   towards=LocationKind.distribution)
    source, destination = scene.location, scene.towards
    assert source is not None and destination is not None and scene.item_id is not None
    item_code = scene.item_code or data.item
    lot = (ledger.one_held(ledger.held_in(scene.stock, data.lot), location_code=source.code,
                           item_code=item_code, lot_number=data.lot, expiry=data.expiry)
           if data.lot else None)
    taken = ledger.take_from(session, scene.stock, source=source, destination=destination,
                             quantity=data.quantity, ctx=ctx, kind=MoveKind.issue, lot=lot)
    names = NameCache(session, lots=[row.lot for row in taken.stock],
                      items={scene.item_id: item_code},
                      locations={source.id: source.code, destination.id: destination.code})
    return OperationPublic(operation=ctx.operation,
                           moves=[move_public(m, names) for m in taken.moves],
                           balances=[balance_of(scene.depot_code, item_code, taken.stock,
                                                ctx.today)])


def scrap_stock(
    session: Session, *, principal: Principal, data: ScrapIn, ctx: MoveContext
) -> OperationPublic:
    """Write off goods of one lot (expired, damaged, quarantined or good) to scrap."""
    depot, found = _depot_and_item(session, data.depot, data.item, principal, field="depot",
                                   towards=LocationKind.scrap)
    item = _known_item(found, data.item)
    lot = get_lot(session, item, data.lot, depot=depot, expiry=data.expiry)
    move = ledger.move_lot(
        session,
        source=ledger.depot_location(session, depot),
        destination=ledger.virtual_location(session, LocationKind.scrap),
        item=item,
        lot=lot,
        quantity=data.quantity,
        ctx=ctx,
        kind=MoveKind.scrap,
    )
    return _operation(session, ctx, [move], [(depot, item)])


def adjust_stock(
    session: Session, *, principal: Principal, data: AdjustmentIn, ctx: MoveContext
) -> OperationPublic:
    """Record a count of one lot (or the item's only lot) as a gain or loss move."""
    depot, found = _depot_and_item(session, data.depot, data.item, principal, field="depot",
                                   towards=LocationKind.inventory)
    item = _known_item(found, data.item)
    location = ledger.depot_location(session, depot)
    if data.lot is not None:
        lot = get_lot(session, item, data.lot, depot=depot, expiry=data.expiry)
    else:
        held = [lt for q, lt in ledger.lock_stock(session, location, item.id or 0) if q.on_hand]
        if len(held) != 1:
            raise InvalidInput.of("lot.name_it", field="lot", depot=depot.code, count=len(held),
                                  item=item.code)
        lot = held[0]
    move = ledger.adjust(
        session, location=location, item=item, lot=lot, counted=data.counted_quantity, ctx=ctx
    )
    return _operation(session, ctx, [move] if move else [], [(depot, item)])


def set_lot_quality(
    session: Session, *, principal: Principal, lot_id: int, data: QualityIn, ctx: MoveContext
) -> LotQualityPublic:
    """Set one depot's quality verdict on its stock of a lot (admins, or that depot's managers).

    The verdict is the depot's own: the same lot at any other depot keeps its quality. Without
    ``depot`` the lot must be on hand at exactly one depot, which is then the one meant.
    """
    lot = session.get(Lot, lot_id)
    if lot is None:
        raise NotFound.of("lot.unknown", id=lot_id)
    item = session.get_one(Item, lot.item_id)
    if data.depot is not None:
        depot = get_depot(session, data.depot)
    else:
        holders = list(session.execute(
            select(Depot)
            .join(Location, Location.depot_id == Depot.id)
            .join(Quant, Quant.location_id == Location.id)
            .where(Quant.lot_id == lot.id, Quant.on_hand > 0)
            .order_by(Depot.code)
        ).scalars())
        if len(holders) != 1:
            where = ", ".join(d.code for d in holders) or "no depot"
            raise InvalidInput.of("lot.name_depot", field="depot", lot=lot.lot_number,
                                  where=where)
        depot = holders[0]
    principal.require_depot(depot.code)
    location = ledger.depot_location(session, depot)
    before, quant = ledger.set_quality(session, location=location, item=item, lot=lot,
                                       quality=data.status)
    if before != data.status:
        record(
            session,
            actor=ctx.actor,
            action="lot.quality",
            entity="lot",
            entity_id=str(lot.id),
            details={"depot": depot.code, "from": before, "to": data.status,
                     "reason": data.reason},
            depot=depot.code,
        )
    assert lot.id is not None
    return LotQualityPublic(
        lot_id=lot.id, item=item.code, lot=lot.lot_number, expiry=lot.expiry, depot=depot.code,
        quality=quant.quality, on_hand=quant.on_hand, reserved=quant.reserved,
        available=ledger.available(quant, lot, ctx.today),
    )


# ---------------------------------------------------------------------------------------------
# Transfers


def send_transfer(
    session: Session, *, principal: Principal, data: TransferIn, ctx: MoveContext
) -> TransferPublic:
    """Send goods from one depot towards another: depot -> transit, FEFO unless a lot is named."""
    source, found = _depot_and_item(session, data.from_depot, data.item, principal,
                                    field="from_depot", towards=LocationKind.transit)
    target = get_depot(session, data.to_depot, field="to_depot")
    if not target.active:
        raise Conflict.of("depot.inactive", field="to_depot", code=target.code)
    item = _known_item(found, data.item)
    lot = (get_lot(session, item, data.lot, depot=source, expiry=data.expiry)
           if data.lot else None)
    transfer = Transfer(
        from_depot_id=source.id or 0,
        to_depot_id=target.id or 0,
        item_id=item.id or 0,
        quantity=data.quantity,
        reference=data.reference,
        sent_by=ctx.actor,
    )
    session.add(transfer)
    session.flush()
    taken = ledger.take_stock(
        session,
        source=ledger.depot_location(session, source),
        destination=ledger.virtual_location(session, LocationKind.transit),
        item=item,
        quantity=data.quantity,
        ctx=ctx,
        kind=MoveKind.transfer_out,
        lot=lot,
        transfer_id=transfer.id,
    )
    for move in taken.moves:
        session.add(TransferLine(transfer_id=transfer.id or 0, lot_id=move.lot_id,
                                 quantity=move.quantity))
    session.flush()
    return transfer_public(session, transfer, taken.moves,
                           lots=[row.lot for row in taken.stock])


def receive_transfer(
    session: Session,
    *,
    principal: Principal,
    transfer_id: int,
    data: TransferReceiveIn,
    ctx: MoveContext,
) -> TransferPublic:
    """Book a transfer in at its destination; anything not received is recorded as a loss."""
    transfer = session.execute(
        select(Transfer).where(Transfer.id == transfer_id).with_for_update()
    ).scalar_one_or_none()
    if transfer is None:
        raise NotFound.of("transfer.unknown", id=transfer_id)
    target = session.get_one(Depot, transfer.to_depot_id)
    principal.require_depot(target.code)
    if transfer.state != TransferState.in_transit:
        raise Conflict.of("transfer.received", id=transfer_id, state=transfer.state.value)
    item = session.get_one(Item, transfer.item_id)
    lines = _transfer_lines(session, transfer)
    received = _allocate_receipt(lines, data, transfer.quantity)
    destination = ledger.depot_location(session, target)
    # Lock order: the depot's quants before the transit location's (see supplies.ledger).
    ledger.lock_destination(session, destination, item, [lot.id or 0 for _, lot in lines])
    transit = ledger.virtual_location(session, LocationKind.transit)
    inventory = ledger.virtual_location(session, LocationKind.inventory)
    moves: list[MoveRow] = []
    for line, lot in lines:
        got = received[line.lot_id]
        line.received_quantity = got
        session.add(line)
        if got:
            moves.append(ledger.move_lot(session, source=transit, destination=destination,
                                         item=item, lot=lot, quantity=got, ctx=ctx,
                                         kind=MoveKind.transfer_in, transfer_id=transfer.id))
        if line.quantity - got:
            moves.append(ledger.move_lot(session, source=transit, destination=inventory,
                                         item=item, lot=lot, quantity=line.quantity - got,
                                         ctx=ctx, kind=MoveKind.transfer_loss,
                                         transfer_id=transfer.id))
    transfer.received_quantity = sum(received.values())
    transfer.state = TransferState.received
    transfer.received_by = ctx.actor
    transfer.received_at = utcnow()
    transfer.discrepancy_note = data.note
    session.add(transfer)
    session.flush()
    return transfer_public(session, transfer, moves)


def _transfer_lines(session: Session, transfer: Transfer) -> list[tuple[TransferLine, Lot]]:
    rows = session.execute(
        select(TransferLine, Lot)
        .join(Lot, Lot.id == TransferLine.lot_id)
        .where(TransferLine.transfer_id == transfer.id)
        .order_by(Lot.expiry.is_(None), Lot.expiry, Lot.id)
    ).all()
    return [(line, lot) for line, lot in rows]


def _allocate_receipt(
    lines: list[tuple[TransferLine, Lot]], data: TransferReceiveIn, sent: int
) -> dict[int, int]:
    """How much of each lot arrived: per-lot figures, or a total spread FEFO over the lots."""
    if data.lines is not None:
        received = {line.lot_id: 0 for line, _ in lines}
        for i, entry in enumerate(data.lines):
            matches = [(line, lot) for line, lot in lines if lot.lot_number == entry.lot
                       and (entry.expiry is None or lot.expiry == entry.expiry)]
            if not matches:
                raise InvalidInput.of("transfer.lot_not_in", field=f"lines.{i}.lot",
                                      lot=entry.lot)
            if len(matches) > 1:
                raise InvalidInput.of(
                    "transfer.lot_expiry_ambiguous", field=f"lines.{i}.expiry", lot=entry.lot,
                    expiries=", ".join(str(lot.expiry) for _, lot in matches))
            line = matches[0][0]
            if entry.quantity > line.quantity:
                raise InvalidInput.of("transfer.lot_sent_only", field=f"lines.{i}.quantity",
                                      sent=line.quantity, lot=entry.lot)
            received[line.lot_id] = entry.quantity
        return received
    total = sent if data.quantity is None else data.quantity
    if total > sent:
        raise InvalidInput.of("transfer.sent_only", field="quantity", sent=sent)
    received = {}
    for line, _ in lines:
        received[line.lot_id] = min(total, line.quantity)
        total -= received[line.lot_id]
    return received


def transfer_public(
    session: Session, transfer: Transfer, moves: Iterable[StockMove | MoveRow] = (),
    lots: Iterable[LotRef] = ()
) -> TransferPublic:
    """A transfer as the API shows it (``lots``: lots already read, not to be read again)."""
    names = NameCache(session, lots=lots)
    assert transfer.id is not None
    return TransferPublic(
        id=transfer.id,
        from_depot=names.depot(transfer.from_depot_id),
        to_depot=names.depot(transfer.to_depot_id),
        item=names.item(transfer.item_id),
        quantity=transfer.quantity,
        received_quantity=transfer.received_quantity,
        discrepancy=(
            None
            if transfer.received_quantity is None
            else transfer.quantity - transfer.received_quantity
        ),
        state=transfer.state,
        reference=transfer.reference,
        sent_by=transfer.sent_by,
        sent_at=transfer.sent_at,
        received_by=transfer.received_by,
        received_at=transfer.received_at,
        discrepancy_note=transfer.discrepancy_note,
        lines=[
            LotLinePublic(
                lot=lot.lot_number,
                lot_id=line.lot_id,
                expiry=lot.expiry,
                quantity=line.quantity,
                received_quantity=line.received_quantity,
            )
            for line, lot in _transfer_lines(session, transfer)
        ],
        moves=[move_public(m, names) for m in moves],
    )


def get_transfer(session: Session, transfer_id: int) -> TransferPublic:
    """One transfer or 404."""
    transfer = session.get(Transfer, transfer_id)
    if transfer is None:
        raise NotFound.of("transfer.unknown", id=transfer_id)
    return transfer_public(session, transfer)


# ---------------------------------------------------------------------------------------------
# Reservations


def create_reservation(
    session: Session, *, principal: Principal, data: ReservationIn, ctx: MoveContext
) -> ReservationPublic:
    """Hold available stock for a later dispatch (dispatchers, or the depot's manager)."""
    depot = get_depot(session, data.depot)
    if not principal.has_role(Role.dispatcher):
        principal.require_depot(depot.code)
    if not depot.active:
        raise Conflict.of("depot.inactive", field="depot", code=depot.code)
    item = get_item(session, data.item)
    lot = get_lot(session, item, data.lot, depot=depot, expiry=data.expiry) if data.lot else None
    reservation = ledger.reserve(
        session,
        location=ledger.depot_location(session, depot),
        depot=depot,
        item=item,
        quantity=data.quantity,
        reference=data.reference,
        ctx=ctx,
        lot=lot,
    )
    return reservation_public(session, reservation)


def release_reservation(
    session: Session,
    *,
    principal: Principal,
    reservation_id: int,
    data: ReleaseIn,
) -> ReservationPublic:
    """Give back part or all of a reservation."""
    reservation = _locked_reservation(session, reservation_id)
    depot = session.get_one(Depot, reservation.depot_id)
    if not principal.has_role(Role.dispatcher):
        principal.require_depot(depot.code)
    released = ledger.release(
        session,
        reservation=reservation,
        location=ledger.depot_location(session, depot),
        quantity=data.quantity,
    )
    record(session, actor=principal.actor, action="reservation.release", entity="reservation",
           entity_id=str(reservation_id), depot=depot.code,
           details={"quantity": released, "state": reservation.state,
                    "reference": reservation.reference})
    return reservation_public(session, reservation)


def _locked_reservation(session: Session, reservation_id: int) -> Reservation:
    reservation = one_or_none(
        session, select(Reservation).where(Reservation.id == reservation_id), lock=True
    )
    if reservation is None:
        raise NotFound.of("reservation.unknown", id=reservation_id)
    return reservation


def reservation_public(session: Session, reservation: Reservation) -> ReservationPublic:
    """A reservation as the API shows it."""
    names = NameCache(session)
    lines = ledger.reservation_lines(session, reservation)
    assert reservation.id is not None
    return ReservationPublic(
        id=reservation.id,
        depot=names.depot(reservation.depot_id),
        item=names.item(reservation.item_id),
        quantity=reservation.quantity,
        held=sum(line.quantity for line in lines),
        reference=reservation.reference,
        state=reservation.state,
        created_by=reservation.created_by,
        created_at=reservation.created_at,
        lines=[
            LotLinePublic(
                lot=names.lot(line.lot_id).lot_number,
                lot_id=line.lot_id,
                expiry=names.lot(line.lot_id).expiry,
                quantity=line.quantity,
            )
            for line in lines
        ],
    )


def get_reservation(session: Session, reservation_id: int) -> ReservationPublic:
    """One reservation or 404."""
    reservation = session.get(Reservation, reservation_id)
    if reservation is None:
        raise NotFound.of("reservation.unknown", id=reservation_id)
    return reservation_public(session, reservation)
