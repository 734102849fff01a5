"""What trips share: finding a trip and its loads, who may act on it, unloading the truck
lot by lot (earliest expiry first), and ending a trip that is on the road (what is left on the
truck returns to its depot)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.models import (
    Shipment,
    ShipmentLine,
    ShipmentLot,
    ShipmentStatus,
    ShipmentStop,
    StopLine,
    Vehicle,
    VehicleStatus,
)
from relief.platform.db import one_or_none
from relief.platform.dbtypes import utcnow
from relief.platform.errors import InvalidInput, NotFound
from relief.platform.models import Role
from relief.platform.principal import Principal
from supplies import ledger
from supplies.ledger import MoveContext
from supplies.models import Depot, Item, Location, LocationKind, Lot, MoveKind, Quality


def get_shipment(session: Session, shipment_id: int, *, lock: bool = False) -> Shipment:
    """A shipment or a 404 (``lock`` serialises changes to one trip)."""
    shipment = one_or_none(session, select(Shipment).where(Shipment.id == shipment_id),
                           lock=lock)
    if shipment is None:
        raise NotFound.of("shipment.unknown", shipment=shipment_id)
    return shipment


def shipment_lines(session: Session, shipment: Shipment) -> list[tuple[ShipmentLine, Item]]:
    """What a trip carries per item (with its reservation), by item code."""
    return [(line, item) for line, item in session.execute(
        select(ShipmentLine, Item).join(Item, Item.id == ShipmentLine.item_id)
        .where(ShipmentLine.shipment_id == shipment.id).order_by(Item.code)).all()]


def shipment_lots(session: Session, shipment: Shipment) -> list[tuple[ShipmentLot, Lot]]:
    """What left on a trip per lot, earliest expiry first."""
    return [(sl, lot) for sl, lot in session.execute(
        select(ShipmentLot, Lot).join(Lot, Lot.id == ShipmentLot.lot_id)
        .where(ShipmentLot.shipment_id == shipment.id)
        .order_by(Lot.expiry.is_(None), Lot.expiry, Lot.id)).all()]


def require_source(principal: Principal, session: Session, shipment: Shipment) -> Depot:
    """Dispatchers act on any trip; a depot manager only on trips leaving their depot."""
    depot = session.get_one(Depot, shipment.source_depot_id)
    if not principal.has_role(Role.dispatcher):
        principal.require_depot(depot.code)
    return depot


def on_truck(session: Session, shipment: Shipment) -> dict[str, int]:
    """Item code -> units still on the truck (departed minus delivered minus returned)."""
    out: dict[str, int] = defaultdict(int)
    codes = {i.id: i.code for i in session.execute(select(Item)).scalars()}
    for sl, _ in shipment_lots(session, shipment):
        out[codes[sl.item_id]] += sl.departed - sl.delivered - sl.returned
    return out


def unload(session: Session, shipment: Shipment, item: Item, qty: int, source: Any,
            destination: Any, kind: MoveKind, ctx: MoveContext, field: str) -> None:
    """Move ``qty`` of ``item`` off the truck, earliest-expiring lot first."""
    remaining = qty
    for sl, lot in shipment_lots(session, shipment):
        if remaining == 0:
            break
        if sl.item_id != item.id:
            continue
        left = sl.departed - sl.delivered - sl.returned
        take = min(left, remaining)
        if take <= 0:
            continue
        ledger.move_lot(session, source=source, destination=destination, item=item, lot=lot,
                        quantity=take, ctx=ctx, kind=kind)
        if kind == MoveKind.delivery:
            sl.delivered += take
        else:
            sl.returned += take
        session.add(sl)
        remaining -= take
    if remaining:
        raise InvalidInput.of("delivery.more_than_carried", field=field, remaining=remaining,
                              item=item.code)


def damaged_on_truck(session: Session, shipment: Shipment) -> dict[int, int]:
    """Item id -> units on the truck that stops reported damaged and that have not come
    back yet."""
    reported = dict(session.execute(
        select(StopLine.item_id, func.sum(StopLine.damaged))
        .join(ShipmentStop, ShipmentStop.id == StopLine.stop_id)
        .where(ShipmentStop.shipment_id == shipment.id, StopLine.damaged > 0)
        .group_by(StopLine.item_id)).all())
    back: dict[int, int] = defaultdict(int)
    for sl, _ in shipment_lots(session, shipment):
        back[sl.item_id] += sl.damaged
    return {i: int(q) - back[i] for i, q in reported.items() if int(q) > back[i]}


def damaged_lot(session: Session, location: Location, item: Item, lot: Lot) -> Lot:
    """The lot damaged units of ``lot`` return into at a depot: same item and expiry, lot
    number ``<lot>-DMG``, so the depot's good stock of ``lot`` is never mixed with them."""
    return ledger.ensure_lot(session, item=item, lot_number=f"{lot.lot_number}-DMG",
                             expiry=lot.expiry, location=location)


def finish(session: Session, shipment: Shipment, status: ShipmentStatus, ctx: MoveContext
           ) -> None:
    """End a departed trip: what is still on the truck goes back to its depot.

    Units the stops reported damaged go back into a damaged lot (``<lot>-DMG``, quality
    ``damaged`` at the depot): they leave transit as an adjustment loss of their lot and come
    in as an adjustment gain of the damaged lot, so the ledger shows the relabelling and good
    stock never receives them. The rest returns to its own lot (``dispatch_return``).
    """
    depot = session.get_one(Depot, shipment.source_depot_id)
    location = ledger.depot_location(session, depot)
    transit = ledger.virtual_location(session, LocationKind.transit)
    items = {i.id: i for i in session.execute(select(Item)).scalars()}
    back_ctx = MoveContext(actor=ctx.actor, today=ctx.today, operation=ctx.operation,
                           idempotency_key=ctx.idempotency_key,
                           reference=f"INC-{shipment.incident_id}/SHIP-{shipment.id}/return")
    lots = shipment_lots(session, shipment)
    # Damaged units: taken from the lots on the truck, earliest expiry first.
    damaged = damaged_on_truck(session, shipment)
    relabel: list[tuple[ShipmentLot, Lot, Lot, int]] = []
    for sl, lot in lots:
        want = damaged.get(sl.item_id, 0)
        take = min(want, sl.departed - sl.delivered - sl.returned)
        if take > 0:
            relabel.append((sl, lot, damaged_lot(session, location, items[sl.item_id], lot),
                            take))
            damaged[sl.item_id] = want - take
    # Lock order: the depot's quants before transit's (see supplies.ledger).
    for item_id in sorted({sl.item_id for sl, _ in lots}):
        lot_ids = [lot.id or 0 for sl, lot in lots if sl.item_id == item_id]
        lot_ids += [d.id or 0 for sl, _, d, _ in relabel if sl.item_id == item_id]
        ledger.lock_destination(session, location, items[item_id], lot_ids)
    inventory = ledger.virtual_location(session, LocationKind.inventory)
    for sl, lot, bad, qty in relabel:
        item = items[sl.item_id]
        why = MoveContext(actor=ctx.actor, today=ctx.today, operation=ctx.operation,
                          idempotency_key=ctx.idempotency_key, reference=back_ctx.reference,
                          reason=f"破损退回,转入损坏批次 {bad.lot_number} "
                                 f"(damaged, returned into lot {bad.lot_number})")
        ledger.move_lot(session, source=transit, destination=inventory, item=item, lot=lot,
                        quantity=qty, ctx=why, kind=MoveKind.adjustment_loss)
        ledger.receive(session, destination=location, item=item, lot=bad, quantity=qty,
                       ctx=why, source_kind=LocationKind.inventory,
                       kind=MoveKind.adjustment_gain)
        ledger.set_quality(session, location=location, item=item, lot=bad,
                           quality=Quality.damaged)
        sl.returned += qty
        sl.damaged += qty
        session.add(sl)
    for code, qty in sorted(on_truck(session, shipment).items()):
        if qty > 0:
            item = next(i for i in items.values() if i.code == code)
            unload(session, shipment, item, qty, transit, location, MoveKind.dispatch_return,
                   back_ctx, field="returned")
    shipment.status = status
    shipment.finished_at = utcnow()
    set_vehicle(session, shipment, VehicleStatus.available)
    session.add(shipment)


def set_vehicle(session: Session, shipment: Shipment, status: VehicleStatus) -> None:
    """Mark the trip's vehicle in service or available again (when no other trip of it is on
    the road); vehicles in maintenance or retired are left alone."""
    if shipment.vehicle_id is None:
        return
    vehicle = session.get_one(Vehicle, shipment.vehicle_id)
    if status == VehicleStatus.available:
        still = session.execute(select(Shipment.id).where(
            Shipment.vehicle_id == vehicle.id, Shipment.id != shipment.id,
            Shipment.status == ShipmentStatus.departed)).first()
        if still:
            return
    if vehicle.status in (VehicleStatus.available, VehicleStatus.in_service):
        vehicle.status = status
        session.add(vehicle)
