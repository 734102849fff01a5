"""Deliveries: a confirmed stop moves what was delivered from transit to the affected people
and records any shortfall; the last stop completes the trip and what is left returns."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.cargo import finish, get_shipment, on_truck, require_source, unload
from dispatch.models import (
    AffectedSite,
    Shipment,
    ShipmentStatus,
    ShipmentStop,
    ShortReason,
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

# A device clock slightly ahead of the server's is not an arrival "in the future".
CLOCK_SKEW = timedelta(minutes=2)


def confirm_stop(session: Session, *, shipment_id: int, seq: int, data: StopConfirmIn,
                 principal: Principal, ctx: MoveContext) -> Shipment:
    """Record a delivery: delivered goods go to the affected people, the rest is a shortfall.

    422 naming the field, with nothing written, for an arrival in the future or before the
    trip departed, an unknown item, a negative quantity or more than is on the truck, and for
    an item delivered short without a reason (``short_reasons.<item>``); units short for
    damage (``damaged.<item>``, all of the shortfall by default when the reason is
    ``damaged``) later return to a damaged lot at the depot, never to good stock.
    """
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
    arrived = _arrival(data.arrived_at, shipment)
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
    short = {code: line.planned - delivered.get(code, 0) for code, (line, _) in lines.items()
             if line.planned > delivered.get(code, 0)}
    damaged = _damaged(data, short)
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
        session.add(line)
    for code, (line, _) in lines.items():
        if code not in delivered:
            line.delivered = 0
        line.shortfall = short.get(code, 0)
        reason = (data.short_reasons or {}).get(code) if code in short else None
        line.short_reason = reason.value if reason else None
        line.damaged = damaged.get(code, 0)
        session.add(line)
    stop.status = StopStatus.delivered
    stop.arrived_at = arrived
    stop.confirmed_by, stop.note = ctx.actor, data.note
    session.add(stop)
    session.flush()
    pending = session.execute(select(ShipmentStop.id).where(
        ShipmentStop.shipment_id == shipment_id, ShipmentStop.status == StopStatus.pending)
    ).first()
    if pending is None:
        finish(session, shipment, ShipmentStatus.completed, ctx)
    return shipment


def _arrival(arrived_at: datetime | None, shipment: Shipment) -> datetime:
    """The stop's arrival time: now when not given; never in the future, never before the
    trip left (422 naming ``arrived_at``)."""
    now = utcnow()
    if arrived_at is None:
        return now
    if arrived_at > now + CLOCK_SKEW:
        raise InvalidInput.of("delivery.arrival_future", field="arrived_at",
                              arrived_at=arrived_at.isoformat(timespec="minutes"),
                              now=now.isoformat(timespec="minutes"))
    departed = shipment.departed_at
    if departed is not None and arrived_at < departed:
        raise InvalidInput.of("delivery.arrival_before_departure", field="arrived_at",
                              arrived_at=arrived_at.isoformat(timespec="minutes"),
                              departed_at=departed.isoformat(timespec="minutes"))
    return arrived_at


def _damaged(data: StopConfirmIn, short: dict[str, int]) -> dict[str, int]:
    """Per item short: the units damaged, checked against the reasons (422 naming the field).

    Every item delivered short needs a reason; ``damaged.<item>`` may only be given for an
    item short for damage and at most its shortfall; by default all of it is damaged.
    """
    reasons = data.short_reasons or {}
    given = data.damaged or {}
    for code in sorted(set(reasons) - set(short)):
        raise InvalidInput.of("delivery.reason_not_short", field=f"short_reasons.{code}",
                              item=code)
    out: dict[str, int] = {}
    for code, qty in sorted(short.items()):
        reason = reasons.get(code)
        if reason is None:
            raise InvalidInput.of("delivery.short_reason", field=f"short_reasons.{code}",
                                  item=code, short=qty)
        if reason == ShortReason.damaged:
            units = given.get(code, qty)
            if not 0 <= units <= qty:
                raise InvalidInput.of("delivery.damaged_range", field=f"damaged.{code}",
                                      item=code, damaged=units, short=qty)
            out[code] = units
    for code in sorted(set(given) - set(out)):
        raise InvalidInput.of("delivery.damaged_reason", field=f"damaged.{code}", item=code)
    return out
