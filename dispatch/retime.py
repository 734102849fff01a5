"""Re-time an incident's live trips on today's road network: when each pending stop will really
be reached, which stops are late or past the deadline, and when each vehicle is back at base.

Called whenever the picture changes (a closure, a lifted closure, a head count, a departure, a
confirmed stop): every figure is computed from the stored trips and the incident's active
closures, so it is never stale. Rules (docs/dispatch.md, "Trips re-timed"):

* a vehicle's live trips (planned or departed, of approved plans) run in their planned order;
* a departed trip starts at its source at its actual departure, or, once stops are confirmed,
  at the last confirmed stop when it was confirmed (its arrival time) plus its stop time;
* a trip not yet departed leaves at its planned time, or later when its vehicle's previous
  trip brings it back to the trip's source late (then after loading, ``LOAD_MIN``), and
  never before now;
* legs are the fastest open paths of the road graph at the vehicle's speed factor (the
  engine's network, ``dispatch.planning.network``); a stop takes its service minutes plus the
  per-tonne unloading time of live plans; drivers' breaks are not re-inserted, so the
  expected arrival is ``max(planned, re-timed)``: trucks keep to their manifest when nothing
  delays them;
* a stop is ``late`` when expected after its planned arrival, ``past_deadline`` when expected
  after the deadline, ``unreachable`` when no open road leads there (closures cut it off);
  the vehicle is back at base after the last trip's return leg (``None`` when cut off).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.models import (
    AffectedSite,
    DispatchPlan,
    Incident,
    PlanState,
    Shipment,
    ShipmentStatus,
    ShipmentStop,
    StopLine,
    StopStatus,
    TransportEnterprise,
    Vehicle,
)
from dispatch.planning.network import TravelNetwork, build_network
from dispatch.planning.problem import LIVE_UNLOAD_MIN_PER_T, load_scenario
from dispatch.roads import load_graph
from dispatch.service import active_closures
from supplies.models import Depot, Item

LOAD_MIN = 20  # loading at a source before a trip leaves (live plans' load_min)
ON_TIME, LATE, PAST_DEADLINE, UNREACHABLE, DELIVERED = (
    "on_time", "late", "past_deadline", "unreachable", "delivered")


@dataclass(frozen=True)
class StopTiming:
    """One stop of a live trip, re-timed."""

    shipment_id: int
    stop_id: int
    seq: int
    site: str
    planned_min: int
    expected_min: int | None  # None: unreachable; for a delivered stop, its actual arrival
    status: str  # on_time | late | past_deadline | unreachable | delivered


@dataclass
class TripTiming:
    """A live trip re-timed: its stops, and when its vehicle reaches its next place."""

    shipment_id: int
    vehicle: str
    vehicle_id: int | None
    status: ShipmentStatus
    depart_min: int
    stops: list[StopTiming] = field(default_factory=list)
    return_min: int | None = None  # at the next trip's source, or at base after the last


@dataclass
class Retimed:
    """Every live trip of an incident re-timed, and when each vehicle is free at its base."""

    as_of_min: int
    deadline_min: int
    trips: dict[int, TripTiming]
    vehicle_free: dict[int, int | None]  # vehicle id -> back at base (None: cut off)

    def stop(self, stop_id: int) -> StopTiming | None:
        """The re-timed stop ``stop_id`` (None when not on a live trip)."""
        for trip in self.trips.values():
            for s in trip.stops:
                if s.stop_id == stop_id:
                    return s
        return None


def _minutes(onset: datetime, at: datetime) -> int:
    return math.ceil((at - onset).total_seconds() / 60)


def _network(session: Session, incident_id: int, depots: dict[int, Depot],
             sites: dict[int, AffectedSite], yards: dict[str, TransportEnterprise]
             ) -> TravelNetwork:
    """The engine's travel network over the places the trips use, with active closures."""
    closed: dict[frozenset[str], tuple[str, str]] = {}
    for closure in active_closures(session, incident_id):
        for a, b in closure.edges:
            closed.setdefault(frozenset((a, b)), (a, b))
    items = list(session.execute(select(Item).order_by(Item.code).limit(1)).scalars())
    scenario = {
        "contract_version": 2, "name": f"re-timing of incident {incident_id}",
        "onset": "2026-01-01T00:00:00+08:00", "deadline_min": 600,
        "items": [{"code": i.code, "name": i.name_zh, "unit_kg": i.unit_weight_kg,
                   "unit_m3": i.unit_volume_m3} for i in items],
        # Only the places matter here: sites carry no people, so no demand.
        "needs": {"per_person": {i.code: 1 for i in items}},
        "sources": [{"id": d.code, "name": d.name, "tier": "county", "lat": d.lat,
                     "lon": d.lon, "stock": {}} for d in depots.values()],
        "sites": [{"id": s.code, "name": s.name, "lat": s.lat, "lon": s.lon, "people": 0}
                  for s in sites.values()],
        "bases": [{"id": f"TE:{e.code}", "name": e.name, "lat": e.lat, "lon": e.lon}
                  for e in yards.values()],
        "vehicles": [],
        "network": load_graph().scenario_network(list(closed.values())),
    }
    return build_network(load_scenario(json.dumps(scenario)))


def retime(session: Session, incident: Incident, *, now: datetime,
           departed_only: bool = False) -> Retimed:
    """Re-time every live trip of the incident as of ``now`` (module docstring);
    ``departed_only`` leaves out the trips not yet departed (a re-optimisation re-plans them)."""
    assert incident.id is not None
    deadline = round(incident.deadline_hours * 60)
    now_min = max(0, _minutes(incident.onset, now))
    live = [ShipmentStatus.departed] if departed_only else [ShipmentStatus.planned,
                                                            ShipmentStatus.departed]
    trips = list(session.execute(
        select(Shipment).join(DispatchPlan, DispatchPlan.id == Shipment.plan_id)
        .where(Shipment.incident_id == incident.id, DispatchPlan.state == PlanState.approved,
               Shipment.status.in_(live))
        .order_by(Shipment.vehicle, Shipment.planned_depart_min, Shipment.trip_no)).scalars())
    if not trips:
        return Retimed(now_min, deadline, {}, {})
    ids = [t.id for t in trips]
    stops: dict[int, list[ShipmentStop]] = defaultdict(list)
    for stop in session.execute(select(ShipmentStop).where(
            ShipmentStop.shipment_id.in_(ids)).order_by(ShipmentStop.seq)).scalars():
        stops[stop.shipment_id].append(stop)
    kg = {i.id: i.unit_weight_kg for i in session.execute(select(Item)).scalars()}
    tonnes: dict[int, float] = defaultdict(float)
    stop_ids = [s.id for ss in stops.values() for s in ss]
    for line in session.execute(select(StopLine).where(StopLine.stop_id.in_(stop_ids))).scalars():
        tonnes[line.stop_id] += line.planned * kg.get(line.item_id, 0.0) / 1000
    depots = {d.id or 0: d for d in session.execute(select(Depot).where(
        Depot.id.in_({t.source_depot_id for t in trips}))).scalars()}
    sites = {s.id or 0: s for s in session.execute(select(AffectedSite).where(
        AffectedSite.id.in_({s.site_id for ss in stops.values() for s in ss}))).scalars()}
    vehicles = {v.id: v for v in session.execute(select(Vehicle).where(
        Vehicle.id.in_({t.vehicle_id for t in trips if t.vehicle_id}))).scalars()}
    yards = {e.code: e for e in session.execute(select(TransportEnterprise).where(
        TransportEnterprise.id.in_({v.enterprise_id for v in vehicles.values()
                                    if v.enterprise_id}))).scalars()}
    by_id = {e.id: e for e in yards.values()}
    net = _network(session, incident.id, depots, sites, yards)

    out: dict[int, TripTiming] = {}
    free: dict[int, int | None] = {}
    chains: dict[str, list[Shipment]] = defaultdict(list)
    for t in trips:
        chains[t.vehicle].append(t)
    for chain in chains.values():
        vehicle = vehicles.get(chain[0].vehicle_id)
        factor = vehicle.speed_factor if vehicle else 1.0
        base = (net.place_loc(f"TE:{by_id[vehicle.enterprise_id].code}")
                if vehicle and vehicle.enterprise_id else
                net.source_loc(depots[chain[0].source_depot_id].code))
        end: int | None = None
        for k, trip in enumerate(chain):
            source = net.source_loc(depots[trip.source_depot_id].code)
            if trip.status == ShipmentStatus.departed and trip.departed_at is not None:
                clock: int | None = _minutes(incident.onset, trip.departed_at)
            elif end is None and k > 0:
                clock = None  # the previous trip is cut off: so is this one
            else:
                clock = max(trip.planned_depart_min, now_min,
                            end + LOAD_MIN if end is not None else 0)
            timing = TripTiming(trip.id or 0, trip.vehicle, trip.vehicle_id, trip.status,
                                clock if clock is not None else trip.planned_depart_min)
            here = source
            for stop in stops[trip.id or 0]:
                site = sites[stop.site_id]
                loc = net.site_loc(site.code)
                stay = site.service_min + math.ceil(LIVE_UNLOAD_MIN_PER_T
                                                    * tonnes[stop.id or 0] - 1e-9)
                if stop.status == StopStatus.delivered:
                    arrived = (_minutes(incident.onset, stop.arrived_at) if stop.arrived_at
                               else stop.planned_arrival_min)
                    timing.stops.append(StopTiming(trip.id or 0, stop.id or 0, stop.seq,
                                                   site.code, stop.planned_arrival_min,
                                                   arrived, DELIVERED))
                    clock, here = arrived + stay, loc
                    continue
                leg = net.travel_min(here, loc, factor) if clock is not None else None
                if leg is None or clock is None:
                    timing.stops.append(StopTiming(trip.id or 0, stop.id or 0, stop.seq,
                                                   site.code, stop.planned_arrival_min, None,
                                                   UNREACHABLE))
                    clock = None
                    continue
                expected = max(stop.planned_arrival_min, clock + leg)
                status = (PAST_DEADLINE if expected > deadline else
                          LATE if expected > stop.planned_arrival_min else ON_TIME)
                timing.stops.append(StopTiming(trip.id or 0, stop.id or 0, stop.seq,
                                               site.code, stop.planned_arrival_min, expected,
                                               status))
                clock, here = expected + stay, loc
            nxt = (net.source_loc(depots[chain[k + 1].source_depot_id].code)
                   if k + 1 < len(chain) else base)
            back = net.travel_min(here, nxt, factor) if clock is not None else None
            timing.return_min = None if back is None or clock is None else max(
                trip.planned_return_min, clock + back)
            end = timing.return_min
            out[trip.id or 0] = timing
        if chain[0].vehicle_id is not None:
            free[chain[0].vehicle_id] = end
    return Retimed(now_min, deadline, out, free)
