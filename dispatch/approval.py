"""Approval: a drafted plan becomes shipments, with its loads reserved, in one transaction.

* locks the incident (one approval at a time per incident) and the plan;
* refuses (409) a plan that is not a succeeded draft, that failed the checker, or that another
  approval superseded; approving a plan supersedes the incident's other drafts;
* checks the dispatcher's scopes for every tier the plan draws on;
* creates one shipment per trip and reserves each trip's load at its depot through the ledger
  (FEFO lots), or records a draw on an agreement or capacity reserve;
* when stock moved since planning, nothing is written: 409 ``plan.stock_moved`` lists each
  source and item that no longer covers the plan once, with the plan's whole load there.

The plan is read through its typed record (:mod:`dispatch.record`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date

from sqlalchemy import func, select
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
    ShipmentStop,
    StopLine,
    Vehicle,
)
from dispatch.record import PlanRecord, PlanSource, get_plan, record_of
from dispatch.service import open_incident
from dispatch.supersede import supersede
from relief.platform.audit import record
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict, InsufficientStock
from relief.platform.principal import Principal
from supplies import ledger
from supplies.ledger import MoveContext
from supplies.models import Depot, Item, Location, Lot, Quant

# Which scope a dispatcher needs to draw on a source tier (docs/access.md).
TIER_SCOPES = {"city": "draw:city", "agreement": "draw:agreement", "capacity": "draw:agreement",
               "province": "draw:province"}


@dataclass(frozen=True)
class Change:
    """A source whose stock no longer covers what the plan loads there (the plan's whole
    load of the item at that source, what it held at planning time, what is available now)."""

    source: str
    depot: str
    item: str
    planned: int
    at_planning: int
    available_now: int


def check_approvable(plan: DispatchPlan) -> PlanRecord:
    """The plan's record when it is a succeeded draft the checker accepted; 409 otherwise."""
    if plan.status != JobStatus.succeeded:
        raise Conflict.of("plan.not_ready", plan=plan.id, status=plan.status.value)
    if plan.state != PlanState.draft:
        raise Conflict.of("plan.state", plan=plan.id, state=plan.state.value)
    rec = record_of(plan)
    if not rec.verdict.ok:
        raise Conflict.of("plan.checker_failed", plan=plan.id,
                          details={"verdict": rec.verdict.model_dump()})
    return rec


def approve(session: Session, *, incident_id: int, plan_id: int, principal: Principal,
            ctx: MoveContext) -> DispatchPlan:
    """Approve a plan: reserve every trip's load in one transaction and create its shipments.

    409 when the plan is not a finished draft, when the checker rejected it, when another plan
    of the incident was approved meanwhile (it supersedes this one), or when stock moved since
    planning so that some load is no longer available (the details list what changed, each
    source and item once).
    """
    incident = open_incident(session, incident_id, lock=True)  # one approval at a time
    plan = get_plan(session, plan_id, incident_id=incident_id, lock=True)
    rec = check_approvable(plan)
    if plan.reoptimise:  # the approved trips it re-plans are cancelled in this transaction
        supersede(session, plan, principal=principal, ctx=ctx)
    for tier in sorted(rec.tiers()):
        if tier in TIER_SCOPES:
            principal.require_scope(TIER_SCOPES[tier])
    items = {i.code: i for i in session.execute(select(Item)).scalars()}
    sites = {s.code: s for s in session.execute(select(AffectedSite).where(
        AffectedSite.incident_id == incident_id)).scalars()}
    reserved: dict[tuple[str, str], int] = defaultdict(int)
    failed: set[tuple[str, str]] = set()
    draws: dict[tuple[int, int], int] = defaultdict(int)
    for route in rec.plan.routes:
        unit = rec.vehicle(route)
        vehicle = session.get(Vehicle, unit.vehicle_id) if unit.vehicle_id else None
        for trip_no, trip in enumerate(route.trips, start=1):
            info = rec.source(trip)
            shipment = Shipment(
                plan_id=plan_id, incident_id=incident_id, source_depot_id=info.depot_id,
                source_tier=info.tier, vehicle=unit.plate,
                vehicle_id=vehicle.id if vehicle else None,
                driver=vehicle.driver if vehicle else None, trip_no=trip_no,
                planned_depart_min=trip.depart_min, planned_return_min=trip.return_min)
            session.add(shipment)
            session.flush()
            for code, qty in sorted(trip.load.items()):
                if qty <= 0:
                    continue
                line = ShipmentLine(shipment_id=shipment.id or 0, item_id=items[code].id or 0,
                                    quantity=qty)
                if info.kind == "stock":
                    key = (trip.source, code)
                    line.reservation_id = _reserve(session, info, items[code], qty, plan_id,
                                                   shipment, ctx)
                    if line.reservation_id is None:
                        failed.add(key)
                    else:
                        reserved[key] += qty
                else:
                    draws[(info.depot_id, items[code].id or 0)] += qty
                session.add(line)
            for seq, stop in enumerate(trip.stops, start=1):
                stop_row = ShipmentStop(shipment_id=shipment.id or 0, seq=seq,
                                        site_id=sites[stop.site].id or 0,
                                        planned_arrival_min=stop.arrive_min)
                session.add(stop_row)
                session.flush()
                for code, qty in sorted(stop.unload.items()):
                    if qty > 0:
                        session.add(StopLine(stop_id=stop_row.id or 0,
                                             item_id=items[code].id or 0, planned=qty))
    changes = _stock_changes(session, rec, failed, reserved, items, ctx.today)
    changes += _draw_changes(session, incident, rec, draws, items)
    if changes:
        raise Conflict.of("plan.stock_moved", lines=len(changes),
                          details={"changes": [asdict(c) for c in changes]})
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
                                            "summary": rec.plan.summary.model_dump(mode="json")})
    session.flush()
    return plan


def _reserve(session: Session, info: PlanSource, item: Item, qty: int, plan_id: int,
             shipment: Shipment, ctx: MoveContext) -> int | None:
    """Reserve one trip's load of an item (None when the depot no longer has it)."""
    depot = session.get_one(Depot, info.depot_id)
    try:
        reservation = ledger.reserve(
            session, location=ledger.depot_location(session, depot), depot=depot, item=item,
            quantity=qty, reference=f"PLAN-{plan_id}/SHIP-{shipment.id}", ctx=ctx)
    except InsufficientStock:
        return None
    return reservation.id


def _usable(session: Session, depot_id: int, item_id: int, today: date) -> int:
    """Available (good, unexpired, unreserved) units of an item at a depot now."""
    qty = session.execute(
        select(func.sum(ledger.available_sql(today)))
        .select_from(Quant).join(Lot, Lot.id == Quant.lot_id)
        .join(Location, Location.id == Quant.location_id)
        .where(Location.depot_id == depot_id, Quant.item_id == item_id)).scalar_one()
    return int(qty or 0)


def _stock_changes(session: Session, rec: PlanRecord, failed: set[tuple[str, str]],
                   reserved: dict[tuple[str, str], int], items: dict[str, Item], today: date
                   ) -> list[Change]:
    """One change per stock source and item some trip could not reserve: the plan's whole
    load there, what the source held at planning, and what it has now (before this approval:
    what this approval reserved plus what is still available)."""
    planned: dict[tuple[str, str], int] = defaultdict(int)
    for route in rec.plan.routes:
        for trip in route.trips:
            for code, qty in trip.load.items():
                planned[(trip.source, code)] += qty
    out = []
    for source_id, code in sorted(failed):
        info = rec.sources[source_id]
        now = reserved[(source_id, code)] + _usable(session, info.depot_id,
                                                    items[code].id or 0, today)
        out.append(Change(source=source_id, depot=info.depot, item=code,
                          planned=planned[(source_id, code)],
                          at_planning=info.stock.get(code, 0), available_now=now))
    return out


def _draw_changes(session: Session, incident: Incident, rec: PlanRecord,
                  draws: dict[tuple[int, int], int], items: dict[str, Item]) -> list[Change]:
    """Agreement and capacity draws must fit what the incident's activations still offer
    (depot rows are locked so two approvals cannot both take the last units)."""
    by_id = {i.id: i for i in items.values()}
    out = []
    for (depot_id, item_id), qty in sorted(draws.items()):
        session.execute(select(Depot).where(Depot.id == depot_id).with_for_update())
        source_id, info = next((sid, s) for sid, s in sorted(rec.sources.items())
                               if s.depot_id == depot_id and s.kind != "stock")
        left = activations.left(session, incident, depot_id, item_id,
                                deadline_min=rec.outline.deadline_min)
        if left < qty:
            code = by_id[item_id].code
            out.append(Change(source=source_id, depot=info.depot, item=code, planned=qty,
                              at_planning=info.stock.get(code, 0), available_now=max(0, left)))
    return out
