"""Incident read side: coverage over time (as planned and as delivered) and replenishment."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import live
from dispatch.models import (
    AffectedSite,
    DispatchPlan,
    Incident,
    PlanState,
    Shipment,
    ShipmentLot,
    ShipmentStatus,
    ShipmentStop,
    StopLine,
    StopStatus,
)
from supplies.models import Depot, Item


@dataclass(frozen=True)
class _Line:
    site_id: int
    item_id: int
    qty: int
    arrives: datetime  # planned or actual arrival
    committed_at: datetime  # when it became part of the plan (approval) or was delivered
    withdrawn_at: datetime | None  # a cancelled trip's undelivered lines
    delivered: bool


class CoveragePoint(BaseModel):
    """People covered by the deadline at one moment, as planned and as delivered."""

    at: datetime
    event: str
    planned_people_covered: int
    delivered_people_covered: int


class SiteCoverage(BaseModel):
    """One site's standing now."""

    site: str
    name: str
    people: int
    covered_as_planned: bool
    covered_as_delivered: bool
    missing_as_planned: dict[str, int]


class CoverageReport(BaseModel):
    """Coverage over time for an incident (demand from the latest head counts)."""

    incident: int
    people: int
    deadline: datetime
    planned_people_covered: int
    delivered_people_covered: int
    planned_coverage: float
    delivered_coverage: float
    timeline: list[CoveragePoint]
    sites: list[SiteCoverage]


def _lines(session: Session, incident: Incident) -> list[_Line]:
    # Only the plan's approval time: loading the plan rows would decode their large JSON
    # columns once per stop line.
    rows = session.execute(
        select(StopLine, ShipmentStop, Shipment, DispatchPlan.approved_at)
        .join(ShipmentStop, ShipmentStop.id == StopLine.stop_id)
        .join(Shipment, Shipment.id == ShipmentStop.shipment_id)
        .join(DispatchPlan, DispatchPlan.id == Shipment.plan_id)
        .where(Shipment.incident_id == incident.id, DispatchPlan.state != PlanState.draft)
    ).all()
    out = []
    for line, stop, shipment, approved_at in rows:
        approved = approved_at or incident.onset
        if stop.status == StopStatus.delivered:
            arrived = stop.arrived_at or approved
            if line.delivered:
                out.append(_Line(stop.site_id, line.item_id, line.delivered, arrived, arrived,
                                 None, True))
            # Until it was delivered, the stop counted with its planned quantity.
            out.append(_Line(stop.site_id, line.item_id, line.planned,
                             incident.onset + timedelta(minutes=stop.planned_arrival_min),
                             approved, arrived, False))
        else:
            withdrawn = (shipment.finished_at if shipment.status == ShipmentStatus.cancelled
                         else None)
            out.append(_Line(stop.site_id, line.item_id, line.planned,
                             incident.onset + timedelta(minutes=stop.planned_arrival_min),
                             approved, withdrawn, False))
    return out


def coverage(session: Session, incident: Incident, *, now: datetime) -> CoverageReport:
    """Who is covered by the deadline, as planned and as delivered, and how that grew."""
    deadline = incident.onset + timedelta(hours=incident.deadline_hours)
    items = list(session.execute(select(Item).order_by(Item.code)).scalars())
    codes = {i.id: i.code for i in items}
    code_list = [i.code for i in items]
    sites = list(session.execute(select(AffectedSite).where(
        AffectedSite.incident_id == incident.id, AffectedSite.active.is_(True))
        .order_by(AffectedSite.id)).scalars())
    lines = _lines(session, incident)

    def covered(at: datetime, delivered_only: bool) -> tuple[int, dict[int, dict[str, int]]]:
        got: dict[tuple[int, int], int] = defaultdict(int)
        for x in lines:
            if x.committed_at > at or x.arrives > deadline:
                continue
            if delivered_only and not x.delivered:
                continue
            if not delivered_only and not x.delivered and x.withdrawn_at and x.withdrawn_at <= at:
                continue
            got[(x.site_id, x.item_id)] += x.qty
        people, missing = 0, {}
        for s in sites:
            have = {code: got.get((s.id or 0, item_id or 0), 0) for item_id, code in codes.items()}
            gap = live.missing_needs(incident, s, code_list, have)
            missing[s.id or 0] = gap
            if not gap:
                people += s.people
        return people, missing

    events: list[tuple[datetime, str]] = []
    for plan in session.execute(select(DispatchPlan).where(
            DispatchPlan.incident_id == incident.id, DispatchPlan.approved_at.is_not(None))):
        events.append((plan[0].approved_at, f"plan {plan[0].id} approved"))
    for x in lines:
        if x.delivered:
            events.append((x.committed_at, "delivery confirmed"))
        if x.withdrawn_at and not x.delivered:
            events.append((x.withdrawn_at, "trip cancelled"))
    timeline, seen = [], set()
    for at, event in sorted(events):
        if (at, event) in seen:
            continue
        seen.add((at, event))
        planned, _ = covered(at, False)
        delivered, _ = covered(at, True)
        timeline.append(CoveragePoint(at=at, event=event, planned_people_covered=planned,
                                      delivered_people_covered=delivered))
    planned_now, missing = covered(now, False)
    delivered_now, delivered_missing = covered(now, True)
    total = sum(s.people for s in sites)
    return CoverageReport(
        incident=incident.id or 0, people=total, deadline=deadline,
        planned_people_covered=planned_now, delivered_people_covered=delivered_now,
        planned_coverage=round(planned_now / total, 4) if total else 1.0,
        delivered_coverage=round(delivered_now / total, 4) if total else 1.0,
        timeline=timeline,
        sites=[SiteCoverage(site=s.code, name=s.name, people=s.people,
                            covered_as_planned=not missing[s.id or 0],
                            covered_as_delivered=not delivered_missing[s.id or 0],
                            missing_as_planned=missing[s.id or 0]) for s in sites],
    )


class ReplenishLine(BaseModel):
    """One item a source sent out during the incident."""

    item: str
    item_name: str
    unit: str
    dispatched: int
    delivered: int
    returned: int
    restock: int


class ReplenishDepot(BaseModel):
    """What one source sent out, and what it needs back (回补)."""

    depot: str
    depot_name: str
    tier: str
    source_kind: str
    lines: list[ReplenishLine]


def replenishment(session: Session, incident: Incident) -> list[ReplenishDepot]:
    """Per source and item: dispatched, delivered, returned; stock sources restock what left
    for good, agreement and capacity reserves settle what they delivered."""
    rows = session.execute(
        select(Shipment.source_depot_id, Shipment.source_tier, ShipmentLot.item_id,
               ShipmentLot.departed, ShipmentLot.delivered, ShipmentLot.returned)
        .join(ShipmentLot, ShipmentLot.shipment_id == Shipment.id)
        .where(Shipment.incident_id == incident.id)
    ).all()
    acc: dict[tuple[int, str], dict[int, list[int]]] = defaultdict(
        lambda: defaultdict(lambda: [0, 0, 0]))
    for depot_id, tier, item_id, departed, delivered, returned in rows:
        totals = acc[(depot_id, tier)][item_id]
        totals[0] += departed
        totals[1] += delivered
        totals[2] += returned
    items = {i.id: i for i in session.execute(select(Item)).scalars()}
    out = []
    for (depot_id, tier), by_item in sorted(acc.items()):
        depot = session.get_one(Depot, depot_id)
        kind = tier if tier in ("agreement", "capacity") else "stock"
        lines = []
        for item_id, (departed, delivered, returned) in sorted(
                by_item.items(), key=lambda kv: items[kv[0]].code):
            item = items[item_id]
            lines.append(ReplenishLine(
                item=item.code, item_name=item.name_zh, unit=item.unit, dispatched=departed,
                delivered=delivered, returned=returned,
                restock=departed - returned if kind == "stock" else delivered))
        out.append(ReplenishDepot(depot=depot.code, depot_name=depot.name, tier=tier,
                                  source_kind=kind, lines=lines))
    return out
