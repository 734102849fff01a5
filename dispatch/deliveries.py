"""Deliveries: a confirmed stop moves what was delivered from transit to the affected people
and records any shortfall; the last stop completes the trip and what is left returns."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.cargo import finish, get_shipment, on_truck, require_source, unload
from dispatch.models import (
    AffectedSite,
    Shipment,
    ShipmentStatus,
    ShipmentStop,
    StopLine,
    StopStatus,
)
from dispatch.models.plans import StopConfirmIn
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict, InvalidInput, NotFound
from relief.platform.models import Role
from relief.platform.principal import Principal
from supplies import ledger
from supplies.ledger import MoveContext
from supplies.models import Item, LocationKind, MoveKind


def confirm_stop(session: Session, *, shipment_id: int, seq: int, data: StopConfirmIn,
                 principal: Principal, ctx: MoveContext) -> Shipment:
    """Record a delivery: delivered goods go to the affected people, the rest is a shortfall."""
    principal.require_role(Role.dispatcher, Role.depot_manager)
    shipment = get_shipment(session, shipment_id, lock=True)
    require_source(principal, session, shipment)
    if shipment.status != ShipmentStatus.departed:
        raise Conflict.of("shipment.not_departed", shipment=shipment_id,
                          status=shipment.status.value)
    stop = session.execute(select(ShipmentStop).where(
        ShipmentStop.shipment_id == shipment_id, ShipmentStop.seq == seq)).scalar_one_or_none()
    if stop is None:
        raise NotFound.of("stop.unknown", shipment=shipment_id, seq=seq)
    if stop.status != StopStatus.pending:
        raise Conflict.of("stop.confirmed", shipment=shipment_id, seq=seq)
    lines = {item.code: (line, item) for line, item in session.execute(
        select(StopLine, Item).join(Item, Item.id == StopLine.item_id)
        .where(StopLine.stop_id == stop.id)).all()}
    delivered = data.delivered if data.delivered is not None else {
        code: line.planned for code, (line, _) in lines.items()}
    carried = on_truck(session, shipment)
    items = {i.code: i for i in session.execute(select(Item)).scalars()}
    for code, qty in delivered.items():
        if code not in items:
            raise InvalidInput.of("delivery.unknown_item", field=f"delivered.{code}", item=code)
        if qty < 0:
            raise InvalidInput.of("delivery.negative", field=f"delivered.{code}", item=code)
        if qty > carried.get(code, 0):
            raise InvalidInput.of("delivery.on_truck", field=f"delivered.{code}", item=code,
                                  on_truck=carried.get(code, 0), delivered=qty)
    site = session.get_one(AffectedSite, stop.site_id)
    transit = ledger.virtual_location(session, LocationKind.transit)
    people = ledger.virtual_location(session, LocationKind.distribution)
    stop_ctx = MoveContext(actor=ctx.actor, today=ctx.today, idempotency_key=ctx.idempotency_key,
                           reference=f"INC-{shipment.incident_id}/SHIP-{shipment.id}/{site.code}",
                           reason=data.note, operation=ctx.operation)
    for code, qty in sorted(delivered.items()):
        unload(session, shipment, items[code], qty, transit, people, MoveKind.delivery,
                stop_ctx, field="delivered")
        line, _ = lines.get(code, (None, None))
        if line is None:
            line = StopLine(stop_id=stop.id or 0, item_id=items[code].id or 0, planned=0)
        line.delivered = qty
        line.shortfall = max(0, line.planned - qty)
        session.add(line)
    for code, (line, _) in lines.items():
        if code not in delivered:
            line.delivered, line.shortfall = 0, line.planned
            session.add(line)
    stop.status = StopStatus.delivered
    stop.arrived_at = data.arrived_at or utcnow()
    stop.confirmed_by, stop.note = ctx.actor, data.note
    session.add(stop)
    session.flush()
    pending = session.execute(select(ShipmentStop.id).where(
        ShipmentStop.shipment_id == shipment_id, ShipmentStop.status == StopStatus.pending)
    ).first()
    if pending is None:
        finish(session, shipment, ShipmentStatus.completed, ctx)
    return shipment
