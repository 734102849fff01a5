"""Trips leaving and called off: departure (the load moves into transit) and cancellation
(before departure the reservation or contract draw is released; after it, what is still on
the truck returns to its depot)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.cargo import finish, get_shipment, require_source, set_vehicle, shipment_lines
from dispatch.models import (
    ReserveDraw,
    Shipment,
    ShipmentLine,
    ShipmentLot,
    ShipmentStatus,
    VehicleStatus,
)
from dispatch.models.plans import DriverIn
from relief.platform.audit import record
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict
from relief.platform.principal import Principal
from supplies import ledger
from supplies.ledger import MoveContext
from supplies.models import Depot, LocationKind, MoveKind, Reservation


def depart(session: Session, *, shipment_id: int, principal: Principal, ctx: MoveContext
           ) -> Shipment:
    """The truck leaves: its load moves from the depot (or the enterprise) into transit."""
    shipment = get_shipment(session, shipment_id, lock=True)
    depot = require_source(principal, session, shipment)
    if shipment.status != ShipmentStatus.planned:
        raise Conflict.of("shipment.not_planned", shipment=shipment_id,
                          status=shipment.status.value)
    location = ledger.depot_location(session, depot)
    transit = ledger.virtual_location(session, LocationKind.transit)
    for line, item in shipment_lines(session, shipment):
        if line.reservation_id is not None:
            reservation = session.get_one(Reservation, line.reservation_id)
            moves = ledger.consume(session, reservation=reservation, location=location,
                                   destination=transit, quantity=line.quantity,
                                   kind=MoveKind.dispatch, ctx=ctx)
        else:  # agreement or capacity reserve: received from the enterprise, then loaded
            expiry = (ctx.today + timedelta(days=item.shelf_life_days)
                      if item.shelf_life_days else None)
            lot = ledger.ensure_lot(session, item=item, expiry=expiry,
                                    lot_number=f"{depot.code}-{ctx.today:%Y%m%d}",
                                    location=location)
            ledger.receive(session, destination=location, item=item, lot=lot,
                           quantity=line.quantity, ctx=ctx)
            moves = [ledger.move_lot(session, source=location, destination=transit, item=item,
                                     lot=lot, quantity=line.quantity, ctx=ctx,
                                     kind=MoveKind.dispatch)]
        for move in moves:
            session.add(ShipmentLot(shipment_id=shipment.id or 0, item_id=move.item_id,
                                    lot_id=move.lot_id, departed=move.quantity))
    shipment.status = ShipmentStatus.departed
    shipment.departed_at = utcnow()
    set_vehicle(session, shipment, VehicleStatus.in_service)
    session.add(shipment)
    session.flush()
    return shipment



def cancel(session: Session, *, shipment_id: int, reason: str, principal: Principal,
           ctx: MoveContext) -> Shipment:
    """Cancel a trip: release its reservations, or bring back what is still on the truck."""
    shipment = get_shipment(session, shipment_id, lock=True)
    require_source(principal, session, shipment)
    if shipment.status == ShipmentStatus.planned:
        depot = session.get_one(Depot, shipment.source_depot_id)
        location = ledger.depot_location(session, depot)
        for line, _ in shipment_lines(session, shipment):
            if line.reservation_id is not None:
                reservation = session.get_one(Reservation, line.reservation_id)
                ledger.release(session, reservation=reservation, location=location)
            else:
                _release_draw(session, shipment, line)
        shipment.status = ShipmentStatus.cancelled
        shipment.finished_at = utcnow()
    elif shipment.status == ShipmentStatus.departed:
        finish(session, shipment, ShipmentStatus.cancelled, ctx)
    else:
        raise Conflict.of("shipment.finished", shipment=shipment_id,
                          status=shipment.status.value)
    shipment.note = reason
    session.add(shipment)
    record(session, actor=principal.actor, action="shipment.cancel", entity="shipment",
           entity_id=str(shipment_id), details={"reason": reason},
           depot=session.get_one(Depot, shipment.source_depot_id).code)
    session.flush()
    return shipment


def _release_draw(session: Session, shipment: Shipment, line: ShipmentLine) -> None:
    """Give a cancelled trip's contract load back to the agreement or capacity reserve."""
    draw = session.execute(select(ReserveDraw).where(
        ReserveDraw.plan_id == shipment.plan_id, ReserveDraw.depot_id == shipment.source_depot_id,
        ReserveDraw.item_id == line.item_id).with_for_update()).scalar_one()
    draw.released += line.quantity
    session.add(draw)


def set_driver(session: Session, *, shipment_id: int, data: DriverIn, principal: Principal
               ) -> Shipment:
    """Name the driver of a trip and their phone (before or during the trip; 409 once it
    ended)."""
    shipment = get_shipment(session, shipment_id, lock=True)
    require_source(principal, session, shipment)
    if shipment.status not in (ShipmentStatus.planned, ShipmentStatus.departed):
        raise Conflict.of("shipment.driver_finished", shipment=shipment_id,
                          status=shipment.status.value)
    shipment.driver, shipment.driver_phone = data.driver, data.phone
    session.add(shipment)
    record(session, actor=principal.actor, action="shipment.driver", entity="shipment",
           entity_id=str(shipment_id), details={"driver": data.driver, "phone": data.phone})
    session.flush()
    return shipment
