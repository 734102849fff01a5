"""From an approved plan to delivered goods: approval, shipments, departures, stops, cancels.

Every step is one use case in the caller's transaction and moves stock only through
:mod:`supplies.ledger`:

* approval reserves each trip's load at its depot (FEFO lots), or records a draw on an
  agreement or capacity reserve (contracts, not stock), all or nothing;
* departure consumes the reservation into transit (agreement and capacity loads are first
  received from the enterprise into its depot location, so the ledger stays whole);
* a confirmed stop moves what was delivered from transit to the affected people and records
  any shortfall; when the last stop is confirmed, what is left on the truck returns to its depot;
* cancelling a trip releases its reservation (before departure) or returns its load.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import activations
from dispatch.models import (
    AffectedSite,
    DispatchPlan,
    Incident,
    JobStatus,
    PlanState,
    ReserveDraw,
    Shipment,
    ShipmentLine,
    ShipmentLot,
    ShipmentStatus,
    ShipmentStop,
    StopLine,
    StopStatus,
    Vehicle,
    VehicleStatus,
)
from dispatch.models.plans import (
    LoadPublic,
    ShipmentPublic,
    StopConfirmIn,
    StopLinePublic,
    StopPublic,
)
from dispatch.service import open_incident
from relief.platform.audit import record
from relief.platform.db import one_or_none
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict, InsufficientStock, InvalidInput, NotFound
from relief.platform.models import Role
from relief.platform.principal import Principal
from supplies import ledger
from supplies.ledger import MoveContext
from supplies.models import Depot, Item, LocationKind, Lot, MoveKind, Reservation

# Which scope a dispatcher needs to draw on a source tier (docs/access.md).
TIER_SCOPES = {"city": "draw:city", "agreement": "draw:agreement", "capacity": "draw:agreement",
               "province": "draw:province"}


@dataclass(frozen=True)
class Change:
    """A source whose stock no longer covers what the plan loads there."""

    source: str
    depot: str
    item: str
    planned: int
    at_planning: int
    available_now: int


def get_plan(session: Session, plan_id: int, *, incident_id: int | None = None,
             lock: bool = False) -> DispatchPlan:
    """A plan (job) or a 404."""
    plan = one_or_none(session, select(DispatchPlan).where(DispatchPlan.id == plan_id),
                       lock=lock)
    if plan is None or (incident_id is not None and plan.incident_id != incident_id):
        raise NotFound.of("plan.unknown", plan=plan_id)
    return plan


# ---------------------------------------------------------------------------------------------
# Approval


def approve(session: Session, *, incident_id: int, plan_id: int, principal: Principal,
            ctx: MoveContext) -> DispatchPlan:
    """Approve a plan: reserve every trip's load in one transaction and create its shipments.

    409 when the plan is not a finished draft, when the checker rejected it, when another plan
    of the incident was approved meanwhile (it supersedes this one), or when stock moved since
    planning so that some load is no longer available (the details list what changed).
    """
    incident = open_incident(session, incident_id, lock=True)  # one approval at a time
    plan = get_plan(session, plan_id, incident_id=incident_id, lock=True)
    if plan.status != JobStatus.succeeded:
        raise Conflict.of("plan.not_ready", plan=plan_id, status=plan.status.value)
    if plan.state != PlanState.draft:
        raise Conflict.of("plan.state", plan=plan_id, state=plan.state.value)
    if not (plan.verdict or {}).get("ok"):
        raise Conflict.of("plan.checker_failed", plan=plan_id,
                          details={"verdict": plan.verdict})
    result, sources = plan.result or {}, plan.sources or {}
    routes = result.get("routes", [])
    if plan.reoptimise:
        from dispatch.supersede import supersede  # it cancels trips through this module

        supersede(session, plan, principal=principal, ctx=ctx)
    for tier in sorted({sources[t["source"]]["tier"] for r in routes for t in r["trips"]}):
        if tier in TIER_SCOPES:
            principal.require_scope(TIER_SCOPES[tier])
    items = {i.code: i for i in session.execute(select(Item)).scalars()}
    sites = {s.code: s for s in session.execute(select(AffectedSite).where(
        AffectedSite.incident_id == incident_id)).scalars()}
    vehicles = {v.plate: v for v in session.execute(select(Vehicle)).scalars()}
    changes: list[Change] = []
    draws: dict[tuple[int, int], int] = defaultdict(int)
    for route in routes:
        plate = route["vehicle"].rsplit("#", 1)[0]
        vehicle = vehicles.get(plate)
        for trip_no, trip in enumerate(route["trips"], start=1):
            info = sources[trip["source"]]
            shipment = Shipment(
                plan_id=plan_id, incident_id=incident_id, source_depot_id=info["depot_id"],
                source_tier=info["tier"], vehicle=plate,
                vehicle_id=vehicle.id if vehicle else None,
                driver=vehicle.driver if vehicle else None, trip_no=trip_no,
                planned_depart_min=trip["depart_min"], planned_return_min=trip["return_min"])
            session.add(shipment)
            session.flush()
            for code, qty in sorted(trip["load"].items()):
                if qty <= 0:
                    continue
                line = ShipmentLine(shipment_id=shipment.id or 0, item_id=items[code].id or 0,
                                    quantity=qty)
                if info["kind"] == "stock":
                    line.reservation_id = _reserve(session, info, items[code], qty, plan_id,
                                                   shipment, ctx, trip["source"], changes)
                else:
                    draws[(info["depot_id"], items[code].id or 0)] += qty
                session.add(line)
            for seq, stop in enumerate(trip["stops"], start=1):
                stop_row = ShipmentStop(shipment_id=shipment.id or 0, seq=seq,
                                        site_id=sites[stop["site"]].id or 0,
                                        planned_arrival_min=stop["arrive_min"])
                session.add(stop_row)
                session.flush()
                for code, qty in sorted(stop["unload"].items()):
                    if qty > 0:
                        session.add(StopLine(stop_id=stop_row.id or 0,
                                             item_id=items[code].id or 0, planned=qty))
    _check_draws(session, plan, incident, draws, items, changes)
    if changes:
        raise Conflict.of("plan.stock_moved", lines=len(changes),
                          details={"changes": [c.__dict__ for c in changes]})
    for (depot_id, item_id), qty in draws.items():
        session.add(ReserveDraw(plan_id=plan_id, depot_id=depot_id, item_id=item_id,
                                quantity=qty))
    for other in session.execute(select(DispatchPlan).where(
            DispatchPlan.incident_id == incident_id, DispatchPlan.id != plan_id,
            DispatchPlan.state == PlanState.draft)).scalars():
        other.state = PlanState.superseded
        session.add(other)
    plan.state = PlanState.approved
    plan.approved_by, plan.approved_at = principal.actor, utcnow()
    session.add(plan)
    incident.updated_at = utcnow()
    session.add(incident)
    record(session, actor=principal.actor, action="plan.approve", entity="dispatch_plan",
           entity_id=str(plan_id), details={"incident": incident_id,
                                            "summary": result.get("summary", {})})
    session.flush()
    return plan


def _reserve(session: Session, info: dict[str, Any], item: Item, qty: int, plan_id: int,
             shipment: Shipment, ctx: MoveContext, source_id: str, changes: list[Change]
             ) -> int | None:
    depot = session.get_one(Depot, info["depot_id"])
    try:
        reservation = ledger.reserve(
            session, location=ledger.depot_location(session, depot), depot=depot, item=item,
            quantity=qty, reference=f"PLAN-{plan_id}/SHIP-{shipment.id}", ctx=ctx)
    except InsufficientStock as exc:
        changes.append(Change(source=source_id, depot=depot.code, item=item.code, planned=qty,
                              at_planning=int(info["stock"].get(item.code, 0)),
                              available_now=int(exc.details.get("available", 0))))
        return None
    return reservation.id


def _check_draws(session: Session, plan: DispatchPlan, incident: Incident,
                 draws: dict[tuple[int, int], int], items: dict[str, Item],
                 changes: list[Change]) -> None:
    """Agreement and capacity draws must fit what the incident's activations still offer
    (depot rows are locked so two approvals cannot both take the last units)."""
    by_id = {i.id: i for i in items.values()}
    sources = plan.sources or {}
    deadline = (plan.scenario or {}).get("deadline_min", 600)
    for (depot_id, item_id), qty in sorted(draws.items()):
        session.execute(select(Depot).where(Depot.id == depot_id).with_for_update())
        source_id, info = next((sid, s) for sid, s in sources.items()
                               if s["depot_id"] == depot_id and s["kind"] != "stock")
        left = activations.left(session, incident, depot_id, item_id, deadline_min=deadline)
        if left < qty:
            item = by_id[item_id]
            changes.append(Change(source=source_id, depot=info["depot"], item=item.code,
                                  planned=qty, at_planning=int(info["stock"].get(item.code, 0)),
                                  available_now=max(0, left)))


# ---------------------------------------------------------------------------------------------
# Trips


def get_shipment(session: Session, shipment_id: int, *, lock: bool = False) -> Shipment:
    """A shipment or a 404 (``lock`` serialises changes to one trip)."""
    shipment = one_or_none(session, select(Shipment).where(Shipment.id == shipment_id),
                           lock=lock)
    if shipment is None:
        raise NotFound.of("shipment.unknown", shipment=shipment_id)
    return shipment


def _lines(session: Session, shipment: Shipment) -> list[tuple[ShipmentLine, Item]]:
    return [(line, item) for line, item in session.execute(
        select(ShipmentLine, Item).join(Item, Item.id == ShipmentLine.item_id)
        .where(ShipmentLine.shipment_id == shipment.id).order_by(Item.code)).all()]


def _lots(session: Session, shipment: Shipment) -> list[tuple[ShipmentLot, Lot]]:
    return [(sl, lot) for sl, lot in session.execute(
        select(ShipmentLot, Lot).join(Lot, Lot.id == ShipmentLot.lot_id)
        .where(ShipmentLot.shipment_id == shipment.id)
        .order_by(Lot.expiry.is_(None), Lot.expiry, Lot.id)).all()]


def _require_source(principal: Principal, session: Session, shipment: Shipment) -> Depot:
    """Dispatchers act on any trip; a depot manager only on trips leaving their depot."""
    depot = session.get_one(Depot, shipment.source_depot_id)
    if not principal.has_role(Role.dispatcher):
        principal.require_depot(depot.code)
    return depot


def depart(session: Session, *, shipment_id: int, principal: Principal, ctx: MoveContext
           ) -> Shipment:
    """The truck leaves: its load moves from the depot (or the enterprise) into transit."""
    shipment = get_shipment(session, shipment_id, lock=True)
    depot = _require_source(principal, session, shipment)
    if shipment.status != ShipmentStatus.planned:
        raise Conflict.of("shipment.not_planned", shipment=shipment_id,
                          status=shipment.status.value)
    location = ledger.depot_location(session, depot)
    transit = ledger.virtual_location(session, LocationKind.transit)
    for line, item in _lines(session, shipment):
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
    _set_vehicle(session, shipment, VehicleStatus.in_service)
    session.add(shipment)
    session.flush()
    return shipment


def confirm_stop(session: Session, *, shipment_id: int, seq: int, data: StopConfirmIn,
                 principal: Principal, ctx: MoveContext) -> Shipment:
    """Record a delivery: delivered goods go to the affected people, the rest is a shortfall."""
    principal.require_role(Role.dispatcher, Role.depot_manager)
    shipment = get_shipment(session, shipment_id, lock=True)
    _require_source(principal, session, shipment)
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
    on_truck = _on_truck(session, shipment)
    items = {i.code: i for i in session.execute(select(Item)).scalars()}
    for code, qty in delivered.items():
        if code not in items:
            raise InvalidInput.of("delivery.unknown_item", field=f"delivered.{code}", item=code)
        if qty < 0:
            raise InvalidInput.of("delivery.negative", field=f"delivered.{code}", item=code)
        if qty > on_truck.get(code, 0):
            raise InvalidInput.of("delivery.on_truck", field=f"delivered.{code}", item=code,
                                  on_truck=on_truck.get(code, 0), delivered=qty)
    site = session.get_one(AffectedSite, stop.site_id)
    transit = ledger.virtual_location(session, LocationKind.transit)
    people = ledger.virtual_location(session, LocationKind.distribution)
    stop_ctx = MoveContext(actor=ctx.actor, today=ctx.today, idempotency_key=ctx.idempotency_key,
                           reference=f"INC-{shipment.incident_id}/SHIP-{shipment.id}/{site.code}",
                           reason=data.note, operation=ctx.operation)
    for code, qty in sorted(delivered.items()):
        _unload(session, shipment, items[code], qty, transit, people, MoveKind.delivery,
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
        _finish(session, shipment, ShipmentStatus.completed, ctx)
    return shipment


def cancel(session: Session, *, shipment_id: int, reason: str, principal: Principal,
           ctx: MoveContext) -> Shipment:
    """Cancel a trip: release its reservations, or bring back what is still on the truck."""
    shipment = get_shipment(session, shipment_id, lock=True)
    _require_source(principal, session, shipment)
    if shipment.status == ShipmentStatus.planned:
        depot = session.get_one(Depot, shipment.source_depot_id)
        location = ledger.depot_location(session, depot)
        for line, _ in _lines(session, shipment):
            if line.reservation_id is not None:
                reservation = session.get_one(Reservation, line.reservation_id)
                ledger.release(session, reservation=reservation, location=location)
            else:
                _release_draw(session, shipment, line)
        shipment.status = ShipmentStatus.cancelled
        shipment.finished_at = utcnow()
    elif shipment.status == ShipmentStatus.departed:
        _finish(session, shipment, ShipmentStatus.cancelled, ctx)
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
    draw = session.execute(select(ReserveDraw).where(
        ReserveDraw.plan_id == shipment.plan_id, ReserveDraw.depot_id == shipment.source_depot_id,
        ReserveDraw.item_id == line.item_id).with_for_update()).scalar_one()
    draw.released += line.quantity
    session.add(draw)


def _on_truck(session: Session, shipment: Shipment) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    codes = {i.id: i.code for i in session.execute(select(Item)).scalars()}
    for sl, _ in _lots(session, shipment):
        out[codes[sl.item_id]] += sl.departed - sl.delivered - sl.returned
    return out


def _unload(session: Session, shipment: Shipment, item: Item, qty: int, source: Any,
            destination: Any, kind: MoveKind, ctx: MoveContext, field: str) -> None:
    """Move ``qty`` of ``item`` off the truck, earliest-expiring lot first."""
    remaining = qty
    for sl, lot in _lots(session, shipment):
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


def _finish(session: Session, shipment: Shipment, status: ShipmentStatus, ctx: MoveContext
            ) -> None:
    """End a departed trip: what is still on the truck goes back to its depot."""
    depot = session.get_one(Depot, shipment.source_depot_id)
    location = ledger.depot_location(session, depot)
    transit = ledger.virtual_location(session, LocationKind.transit)
    items = {i.id: i for i in session.execute(select(Item)).scalars()}
    back_ctx = MoveContext(actor=ctx.actor, today=ctx.today, operation=ctx.operation,
                           idempotency_key=ctx.idempotency_key,
                           reference=f"INC-{shipment.incident_id}/SHIP-{shipment.id}/return")
    # Lock order: the depot's quants before transit's (see supplies.ledger).
    for item_id in sorted({sl.item_id for sl, _ in _lots(session, shipment)}):
        lot_ids = [lot.id or 0 for sl, lot in _lots(session, shipment) if sl.item_id == item_id]
        ledger.lock_destination(session, location, items[item_id], lot_ids)
    for code, qty in sorted(_on_truck(session, shipment).items()):
        if qty > 0:
            item = next(i for i in items.values() if i.code == code)
            _unload(session, shipment, item, qty, transit, location, MoveKind.dispatch_return,
                    back_ctx, field="returned")
    shipment.status = status
    shipment.finished_at = utcnow()
    _set_vehicle(session, shipment, VehicleStatus.available)
    session.add(shipment)


def _set_vehicle(session: Session, shipment: Shipment, status: VehicleStatus) -> None:
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


# ---------------------------------------------------------------------------------------------
# Views


def shipment_public(session: Session, shipment: Shipment, incident: Incident) -> ShipmentPublic:
    """A trip with its load per lot (or per item before departure) and its stops."""
    depot = session.get_one(Depot, shipment.source_depot_id)
    load: list[LoadPublic] = []
    lots = _lots(session, shipment)
    items = {i.id: i for i in session.execute(select(Item)).scalars()}
    if lots:
        for sl, lot in lots:
            item = items[sl.item_id]
            load.append(LoadPublic(item=item.code, item_name=item.name_zh, unit=item.unit,
                                   lot=lot.lot_number,
                                   expiry=lot.expiry.isoformat() if lot.expiry else None,
                                   quantity=sl.departed))
    else:
        for line, item in _lines(session, shipment):
            for lot_number, expiry, qty in _held_lots(session, line):
                load.append(LoadPublic(item=item.code, item_name=item.name_zh, unit=item.unit,
                                       lot=lot_number, expiry=expiry, quantity=qty))
    stops = []
    for stop in session.execute(select(ShipmentStop).where(
            ShipmentStop.shipment_id == shipment.id).order_by(ShipmentStop.seq)).scalars():
        site = session.get_one(AffectedSite, stop.site_id)
        lines = session.execute(select(StopLine).where(StopLine.stop_id == stop.id)).scalars()
        stops.append(StopPublic(
            id=stop.id or 0, seq=stop.seq, site=site.code, site_name=site.name,
            planned_arrival_min=stop.planned_arrival_min,
            planned_arrival=incident.onset + timedelta(minutes=stop.planned_arrival_min),
            status=stop.status, arrived_at=stop.arrived_at,
            lines=[StopLinePublic(item=items[x.item_id].code, planned=x.planned,
                                  delivered=x.delivered, shortfall=x.shortfall)
                   for x in sorted(lines, key=lambda x: items[x.item_id].code)]))
    return ShipmentPublic(
        id=shipment.id or 0, plan_id=shipment.plan_id, incident_id=shipment.incident_id,
        source=depot.code, source_name=depot.name, source_tier=shipment.source_tier,
        vehicle=shipment.vehicle, driver=shipment.driver, trip_no=shipment.trip_no,
        status=shipment.status, planned_depart_min=shipment.planned_depart_min,
        planned_depart=incident.onset + timedelta(minutes=shipment.planned_depart_min),
        planned_return_min=shipment.planned_return_min, departed_at=shipment.departed_at,
        finished_at=shipment.finished_at, load=load, stops=stops)


def _held_lots(session: Session, line: ShipmentLine) -> list[tuple[str | None, str | None, int]]:
    """Lots a reservation holds for a line, or one unlotted row for a contract draw."""
    if line.reservation_id is None:
        return [(None, None, line.quantity)]
    reservation = session.get_one(Reservation, line.reservation_id)
    out = []
    for rl in ledger.reservation_lines(session, reservation):
        lot = session.get_one(Lot, rl.lot_id)
        out.append((lot.lot_number, lot.expiry.isoformat() if lot.expiry else None,
                    rl.quantity))
    return out


def stamp(incident: Incident, minutes: int) -> datetime:
    """Clock time of ``minutes`` after the incident's onset."""
    return incident.onset + timedelta(minutes=minutes)
