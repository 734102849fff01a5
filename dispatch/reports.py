"""Incident read side: coverage over time (as planned and as delivered) and replenishment."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from pydantic import Field as PydField
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch import live, retime
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
from relief.platform.messages import render
from supplies.models import Depot, Item


@dataclass(frozen=True)
class _Line:
    site_id: int
    item_id: int
    qty: int
    arrives: datetime  # planned or actual arrival
    committed_at: datetime  # when it became part of the plan (approval) or was delivered
    withdrawn_at: datetime | None  # a cancelled trip's undelivered lines, or a delivered
    # stop's planned line (replaced by what was delivered)
    delivered: bool
    cancelled_trip: int | None = None  # the cancelled shipment a withdrawn line belonged to


class CoveragePoint(BaseModel):
    """People covered by the deadline at one moment, as planned and as delivered, after an
    event that happened then: ``plan_approved`` (``plan``), ``delivery_confirmed`` or
    ``trip_cancelled`` (``shipment``); ``label`` and ``label_zh`` say it in words."""

    at: datetime
    event: str
    label: str
    label_zh: str
    plan: int | None = None
    shipment: int | None = None
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
    late_stops: int = PydField(0, description="Pending stops re-timed after their plan")
    past_deadline_stops: int = PydField(0, description="Pending stops re-timed past the "
                                        "deadline (their goods do not count as planned)")
    unreachable_stops: int = PydField(0, description="Pending stops no open road reaches")


def _lines(session: Session, incident: Incident, timed: retime.Retimed) -> list[_Line]:
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
            cancelled = shipment.status == ShipmentStatus.cancelled
            expected = timed.stop(stop.id or 0)
            minutes = stop.planned_arrival_min if expected is None else expected.expected_min
            arrives = (incident.onset + timedelta(minutes=minutes) if minutes is not None
                       else datetime.max.replace(tzinfo=incident.onset.tzinfo))
            out.append(_Line(stop.site_id, line.item_id, line.planned, arrives, approved,
                             shipment.finished_at if cancelled else None, False,
                             shipment.id if cancelled else None))
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
    timed = retime.retime(session, incident, now=now)
    lines = _lines(session, incident, timed)

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

    # Only what happened: approvals, confirmed deliveries, and cancellations of trips that
    # were cancelled (a delivered stop's planned line is replaced, not cancelled).
    events: set[tuple[datetime, str, int | None, int | None]] = set()
    for plan_id, approved_at in session.execute(select(DispatchPlan.id, DispatchPlan.approved_at)
                                                .where(DispatchPlan.incident_id == incident.id,
                                                       DispatchPlan.approved_at.is_not(None))):
        events.add((approved_at, "plan_approved", plan_id, None))
    for x in lines:
        if x.delivered:
            events.add((x.committed_at, "delivery_confirmed", None, None))
        if x.cancelled_trip is not None and x.withdrawn_at is not None:
            events.add((x.withdrawn_at, "trip_cancelled", None, x.cancelled_trip))
    timeline = []
    for at, event, plan_id, shipment_id in sorted(
            events, key=lambda e: (e[0], e[1], e[2] or 0, e[3] or 0)):
        planned, _ = covered(at, False)
        delivered, _ = covered(at, True)
        params = {"plan": plan_id, "shipment": shipment_id}
        timeline.append(CoveragePoint(
            at=at, event=event, label=render(f"coverage.{event}", "en", params),
            label_zh=render(f"coverage.{event}", "zh", params), plan=plan_id,
            shipment=shipment_id, planned_people_covered=planned,
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
        late_stops=_count(timed, retime.LATE),
        past_deadline_stops=_count(timed, retime.PAST_DEADLINE),
        unreachable_stops=_count(timed, retime.UNREACHABLE),
        sites=[SiteCoverage(site=s.code, name=s.name, people=s.people,
                            covered_as_planned=not missing[s.id or 0],
                            covered_as_delivered=not delivered_missing[s.id or 0],
                            missing_as_planned=missing[s.id or 0]) for s in sites],
    )


def _count(timed: retime.Retimed, status: str) -> int:
    return sum(1 for t in timed.trips.values() for x in t.stops if x.status == status)


class FlaggedLine(BaseModel):
    """What a flagged stop was to unload."""

    item: str
    item_name: str
    unit: str
    planned: int


class FlaggedStop(BaseModel):
    """A pending stop of an approved trip re-timed late, past the deadline or cut off."""

    shipment: int
    plan: int
    vehicle: str
    trip_status: ShipmentStatus
    seq: int
    site: str
    site_name: str
    status: str = PydField(description="late | past_deadline | unreachable")
    status_zh: str
    planned_arrival_min: int
    planned_arrival: datetime
    expected_arrival_min: int | None
    expected_arrival: datetime | None
    delay_min: int | None
    lines: list[FlaggedLine]


class TimingReport(BaseModel):
    """Every approved live trip re-timed now: counts and the flagged stops."""

    incident: int
    as_of_min: int
    computed_at: datetime
    deadline: datetime
    trips: int
    stops_pending: int
    stops_on_time: int
    stops_late: int
    stops_past_deadline: int
    stops_unreachable: int
    shipments_affected: list[int]
    flagged: list[FlaggedStop]
    vehicles_free: dict[str, datetime | None] = PydField(
        description="Plate -> when the vehicle is back at base after its live trips "
        "(null: cut off)")


def timing(session: Session, incident: Incident, *, now: datetime) -> TimingReport:
    """Re-time the incident's approved live trips (``dispatch.retime``) and flag the stops
    that are late, past the deadline or unreachable, with what they carry."""
    from relief.platform.messages import render

    timed = retime.retime(session, incident, now=now)
    items = {i.id: i for i in session.execute(select(Item)).scalars()}
    flagged, affected = [], set()
    counts: dict[str, int] = defaultdict(int)
    plans = {s.id: s.plan_id for s in session.execute(select(Shipment).where(
        Shipment.id.in_(list(timed.trips)))).scalars()}
    for trip in timed.trips.values():
        for x in trip.stops:
            counts[x.status] += 1
            if x.status not in (retime.LATE, retime.PAST_DEADLINE, retime.UNREACHABLE):
                continue
            affected.add(trip.shipment_id)
            site = session.execute(select(AffectedSite).where(
                AffectedSite.incident_id == incident.id, AffectedSite.code == x.site)
            ).scalar_one()
            lines = [FlaggedLine(item=items[v.item_id].code, item_name=items[v.item_id].name_zh,
                                 unit=items[v.item_id].unit, planned=v.planned)
                     for v in session.execute(select(StopLine).where(
                         StopLine.stop_id == x.stop_id)).scalars()]
            flagged.append(FlaggedStop(
                shipment=trip.shipment_id, plan=plans[trip.shipment_id], vehicle=trip.vehicle,
                trip_status=trip.status, seq=x.seq, site=x.site, site_name=site.name,
                status=x.status, status_zh=render(f"timing.{x.status}", "zh", {}),
                planned_arrival_min=x.planned_min,
                planned_arrival=incident.onset + timedelta(minutes=x.planned_min),
                expected_arrival_min=x.expected_min,
                expected_arrival=(incident.onset + timedelta(minutes=x.expected_min)
                                  if x.expected_min is not None else None),
                delay_min=(x.expected_min - x.planned_min
                           if x.expected_min is not None else None),
                lines=sorted(lines, key=lambda v: v.item)))
    plates = {t.vehicle_id: t.vehicle for t in timed.trips.values() if t.vehicle_id}
    return TimingReport(
        incident=incident.id or 0, as_of_min=timed.as_of_min, computed_at=now,
        deadline=incident.onset + timedelta(minutes=timed.deadline_min),
        trips=len(timed.trips), stops_pending=sum(counts[k] for k in counts
                                                   if k != retime.DELIVERED),
        stops_on_time=counts[retime.ON_TIME], stops_late=counts[retime.LATE],
        stops_past_deadline=counts[retime.PAST_DEADLINE],
        stops_unreachable=counts[retime.UNREACHABLE], shipments_affected=sorted(affected),
        flagged=sorted(flagged, key=lambda f: (f.shipment, f.seq)),
        vehicles_free={plates[v]: (incident.onset + timedelta(minutes=t) if t is not None
                                   else None) for v, t in sorted(timed.vehicle_free.items())
                       if v in plates})


class ReplenishLine(BaseModel):
    """One item a source sent out during the incident."""

    item: str
    item_name: str
    unit: str
    dispatched: int
    delivered: int
    returned: int
    damaged: int = 0
    restock: int


class ReplenishDepot(BaseModel):
    """What one source sent out, and what it needs back (回补)."""

    depot: str
    depot_name: str
    tier: str
    source_kind: str
    lines: list[ReplenishLine]


def replenishment(session: Session, incident: Incident) -> list[ReplenishDepot]:
    """Per source and item: dispatched, delivered, returned (of which damaged: back in a
    damaged lot, not usable); stock sources restock what left for good or came back damaged,
    agreement and capacity reserves settle what they delivered."""
    rows = session.execute(
        select(Shipment.source_depot_id, Shipment.source_tier, ShipmentLot.item_id,
               ShipmentLot.departed, ShipmentLot.delivered, ShipmentLot.returned,
               ShipmentLot.damaged)
        .join(ShipmentLot, ShipmentLot.shipment_id == Shipment.id)
        .where(Shipment.incident_id == incident.id)
    ).all()
    acc: dict[tuple[int, str], dict[int, list[int]]] = defaultdict(
        lambda: defaultdict(lambda: [0, 0, 0, 0]))
    for depot_id, tier, item_id, departed, delivered, returned, damaged in rows:
        totals = acc[(depot_id, tier)][item_id]
        totals[0] += departed
        totals[1] += delivered
        totals[2] += returned
        totals[3] += damaged
    items = {i.id: i for i in session.execute(select(Item)).scalars()}
    out = []
    for (depot_id, tier), by_item in sorted(acc.items()):
        depot = session.get_one(Depot, depot_id)
        kind = tier if tier in ("agreement", "capacity") else "stock"
        lines = []
        for item_id, (departed, delivered, returned, damaged) in sorted(
                by_item.items(), key=lambda kv: items[kv[0]].code):
            item = items[item_id]
            lines.append(ReplenishLine(
                item=item.code, item_name=item.name_zh, unit=item.unit, dispatched=departed,
                delivered=delivered, returned=returned, damaged=damaged,
                restock=departed - (returned - damaged) if kind == "stock" else delivered))
        out.append(ReplenishDepot(depot=depot.code, depot_name=depot.name, tier=tier,
                                  source_kind=kind, lines=lines))
    return out
