"""Build a planning scenario from live data: what is still missing, what is in stock now, which
vehicles are free, which roads are closed.

Rules (see docs/dispatch.md):

* Times are minutes since the incident's onset; the plan starts ``as_of_min`` (now), so no
  source is ready and no vehicle available before it.
* The scenario is planning contract v2 (docs/planning.md).
* Sites: every active site with people; its demand, per need, is the needs standard (the
  incident's, or ``DEFAULT_STANDARD_V2``: needs met by substitutes, and people in a shelter
  (避难场所) are ``sheltered``: no tent) applied to its latest head count, minus what is
  already committed (in units of need): delivered at confirmed stops, and planned on trips of
  approved plans that are not cancelled (in transit or still to leave) at stops that, re-timed
  now (``dispatch.retime``), still arrive by the deadline. Sites with nothing missing are
  left out.
* Physical sources: every active depot of kind government, social or shelter with usable
  available stock (good, unexpired, not reserved), tier = the depot's tier (``province`` for
  depots imported from the provincial databases, ready after the lead time the province
  reports).
* Agreement and capacity reserves (``dispatch.activations``): plans draw on the incident's
  activations and nothing else. Each activation offers its quantity (a capacity reserve: at
  most what it makes between its ready time and the deadline) minus the incident's approved
  draws (charged earliest activation first), ready at activation time + lead time (never
  before now); one source per depot, kind and ready time. A hypothetical incident
  (readiness) counts every reserve's volume no incident has activated as activated at its
  onset.
* Vehicles: available and in-service vehicles at a source's depot, free from the end of the
  trips they are on (re-timed now, ``dispatch.retime``; a re-optimisation frees them of the
  trips not yet departed), load at home; a transport enterprise's vehicles are based at the
  enterprise (a scenario base) and may load at any source, available at the enterprise
  after its lead time (the drive to a depot is the timed base leg).
* Policy: the drivers' rules and the per-tonne unloading time live plans use
  (``LIVE_DRIVER_RULES``, ``LIVE_UNLOAD_MIN_PER_T``).
* Network: the Nantong road graph with the incident's active closures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch import activations, retime
from dispatch.models import (
    AffectedSite,
    DispatchPlan,
    Incident,
    PlanState,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    ShipmentStop,
    SiteKind,
    StopLine,
    StopStatus,
    TransportEnterprise,
    Vehicle,
    VehicleStatus,
)
from dispatch.models.activations import ReserveKind
from dispatch.planning.needs import (
    DEFAULT_STANDARD_V2,
    NEED_SLACK,
    NeedsStandard,
    UnknownItemError,
    ceil_slack,
    demand_for,
)
from dispatch.planning.problem import LIVE_DRIVER_RULES, LIVE_UNLOAD_MIN_PER_T, Site
from dispatch.record import PlanSource
from dispatch.roads import load_graph
from dispatch.service import active_closures
from relief.platform.errors import Conflict
from supplies import ledger
from supplies.models import (
    CapacityReserve,
    Depot,
    DepotKind,
    Item,
    Location,
    Lot,
    Quant,
)

PHYSICAL_KINDS = (DepotKind.government, DepotKind.social, DepotKind.shelter)
LOAD_MIN = retime.LOAD_MIN


@dataclass
class LiveScenario:
    """A scenario (contract JSON) and the mapping back to live records."""

    scenario: dict[str, Any]
    sources: dict[str, PlanSource]
    sites: dict[str, int]
    as_of_min: int
    vehicles: dict[str, int] = field(default_factory=dict)
    supersedes: list[int] = field(default_factory=list)  # trips a re-optimisation re-plans
    busy: dict[str, int] = field(default_factory=dict)  # plate -> free after its live trips


def minutes_since(onset: datetime, now: datetime) -> int:
    """Whole minutes from ``onset`` to ``now`` (0 before onset)."""
    return max(0, int((now - onset).total_seconds() // 60))


def deadline_min(incident: Incident) -> int:
    """The delivery deadline in minutes after onset."""
    return round(incident.deadline_hours * 60)


def standard_for(incident: Incident, item_codes: list[str]) -> NeedsStandard:
    """The incident's needs standard, or ``DEFAULT_STANDARD_V2`` restricted to the catalogue
    (UnknownItemError when the catalogue has no item at all for one of its needs)."""
    if incident.needs:
        return NeedsStandard.model_validate(incident.needs)
    missing = DEFAULT_STANDARD_V2.missing_groups(item_codes)
    if missing:
        raise UnknownItemError(f"the catalogue has no item for the needs {missing} of the "
                               "default standard")
    return DEFAULT_STANDARD_V2.restricted_to(item_codes)


def is_sheltered(site: AffectedSite) -> bool:
    """Whether a site's people are under a roof (no tent): a seeded shelter (避难场所), or a
    site marked sheltered."""
    return bool(site.sheltered) or site.kind == SiteKind.shelter


def _planning_site(site: AffectedSite) -> Site:
    return Site(id=site.code, name=site.name, lat=site.lat, lon=site.lon, people=site.people,
                households=site.households, sheltered=is_sheltered(site))


def item_needs(standard: NeedsStandard) -> dict[str, tuple[str, float]]:
    """Item code -> (the need it meets, units of need per item unit) under a standard."""
    out = {c: (g.id, eq) for g in standard.groups for c, eq in g.items.items()}
    out.update({c: (c, 1.0) for c in standard.table_codes()})
    return out


def full_demand(incident: Incident, site: AffectedSite, item_codes: list[str]
                ) -> dict[str, int]:
    """A site's demand per need (a group id, or an item code for a single-item need) from
    its latest head count."""
    return demand_for(_planning_site(site), standard_for(incident, item_codes), item_codes)


def missing_needs(incident: Incident, site: AffectedSite, item_codes: list[str],
                  units: Mapping[str, int]) -> dict[str, int]:
    """What a site still needs (per need, whole units of need rounded up) once it has
    ``units`` (item code -> units delivered or committed)."""
    standard = standard_for(incident, item_codes)
    meets = item_needs(standard)
    got: dict[str, float] = defaultdict(float)
    for code, q in units.items():
        if code in meets and q:
            need, eq = meets[code]
            got[need] += q * eq
    return {need: ceil_slack(qty - got[need])
            for need, qty in full_demand(incident, site, item_codes).items()
            if qty - got[need] > NEED_SLACK}


def committed(session: Session, incident_id: int, *, reoptimise: bool = False,
              too_late: frozenset[int] = frozenset()) -> dict[tuple[int, int], int]:
    """Per (site id, item id): delivered at confirmed stops plus planned on live trips
    (``reoptimise``: on departed trips only; the trips not yet departed are re-planned),
    leaving out the pending stops in ``too_late`` (re-timed past the deadline or cut off)."""
    rows = session.execute(
        select(ShipmentStop.site_id, StopLine.item_id, StopLine.planned, StopLine.delivered,
               ShipmentStop.status, Shipment.status, ShipmentStop.id)
        .join(ShipmentStop, ShipmentStop.id == StopLine.stop_id)
        .join(Shipment, Shipment.id == ShipmentStop.shipment_id)
        .where(Shipment.incident_id == incident_id)
    ).all()
    live = ((ShipmentStatus.departed,) if reoptimise
            else (ShipmentStatus.planned, ShipmentStatus.departed))
    out: dict[tuple[int, int], int] = defaultdict(int)
    for site_id, item_id, planned, delivered, stop_status, ship_status, stop_id in rows:
        if stop_status == StopStatus.delivered:
            out[(site_id, item_id)] += delivered or 0
        elif ship_status in live and stop_id not in too_late:
            out[(site_id, item_id)] += planned
    return out


@dataclass(frozen=True)
class Freed:
    """What a re-optimisation frees: the incident's approved trips not yet departed, the stock
    their reservations hold and the reserve draws they make (per depot id and item id)."""

    shipments: list[int]
    stock: dict[tuple[int, int], int]
    draws: dict[tuple[int, int], int]


def not_departed(session: Session, incident_id: int) -> Freed:
    """The incident's approved trips still to leave, and what they hold."""
    rows = session.execute(
        select(Shipment.id, Shipment.source_depot_id, ShipmentLine.item_id,
               ShipmentLine.quantity, ShipmentLine.reservation_id)
        .join(ShipmentLine, ShipmentLine.shipment_id == Shipment.id, isouter=True)
        .join(DispatchPlan, DispatchPlan.id == Shipment.plan_id)
        .where(Shipment.incident_id == incident_id, Shipment.status == ShipmentStatus.planned,
               DispatchPlan.state == PlanState.approved)
        .order_by(Shipment.id)).all()
    ids: list[int] = []
    stock: dict[tuple[int, int], int] = defaultdict(int)
    draws: dict[tuple[int, int], int] = defaultdict(int)
    for shipment_id, depot_id, item_id, qty, reservation in rows:
        if not ids or ids[-1] != shipment_id:
            ids.append(shipment_id)
        if item_id is None:
            continue
        (stock if reservation is not None else draws)[(depot_id, item_id)] += qty
    return Freed(ids, dict(stock), dict(draws))


def usable_stock(session: Session, today: date) -> dict[tuple[int, int], int]:
    """Available (good, unexpired, unreserved) stock per (depot id, item id)."""
    rows = session.execute(
        select(Location.depot_id, Quant.item_id, func.sum(ledger.available_sql(today)))
        .join(Lot, Lot.id == Quant.lot_id)
        .join(Location, Location.id == Quant.location_id)
        .where(Location.depot_id.is_not(None))
        .group_by(Location.depot_id, Quant.item_id)
    ).all()
    return {(d, i): int(q) for d, i, q in rows if q and q > 0}


def busy_until(session: Session, *, other_than: int | None = None) -> dict[int, int]:
    """Per vehicle id: when (minutes after its incident's onset) its live trips end, as
    planned (``other_than``: leave out that incident's trips, which are re-timed instead)."""
    stmt = (select(Shipment.vehicle_id, func.max(Shipment.planned_return_min))
            .where(Shipment.vehicle_id.is_not(None),
                   Shipment.status.in_([ShipmentStatus.planned, ShipmentStatus.departed])))
    if other_than is not None:
        stmt = stmt.where(Shipment.incident_id != other_than)
    rows = session.execute(stmt.group_by(Shipment.vehicle_id)).all()
    return {v: int(t) for v, t in rows}


def build(session: Session, incident: Incident, *, now: datetime, today: date,
          time_limit_s: float, lead_minutes: Mapping[int, int] | None = None,
          sites: Sequence[AffectedSite] | None = None,
          stock_adjust: Mapping[tuple[int, int], int] | None = None,
          reoptimise: bool = False) -> LiveScenario:
    """The scenario for planning what ``incident`` still misses, from the state at ``now``.

    ``lead_minutes`` gives depots whose stock is ready only some time after a call (depot id
    -> minutes): the provincial depots imported by the exchange, whose lead time the province
    reports. The composition root supplies it, so dispatch never depends on the exchange.

    Hypothetical incidents (readiness, ``dispatch.readiness``): ``sites`` replaces the
    incident's stored sites with unsaved ones (the incident need not be saved either; nothing
    is committed and no road is closed), and ``stock_adjust`` adds (depot id, item id) ->
    units to the usable stock (stock moved by advice), so what-if scenarios go through exactly
    the rules below.
    """
    assert sites is not None or incident.id is not None
    as_of = minutes_since(incident.onset, now)
    deadline = deadline_min(incident)
    if as_of >= deadline:
        raise Conflict.of("incident.deadline_passed", incident=incident.id, as_of_min=as_of,
                          deadline_min=deadline)
    items = list(session.execute(select(Item).order_by(Item.code)).scalars())
    codes = [i.code for i in items]
    by_id = {i.id: i for i in items}
    freed = Freed([], {}, {})
    if sites is None and reoptimise:
        freed = not_departed(session, incident.id or 0)
    if sites is None:
        timed = retime.retime(session, incident, now=now, departed_only=reoptimise)
        too_late = frozenset(x.stop_id for t in timed.trips.values() for x in t.stops
                             if x.status in (retime.PAST_DEADLINE, retime.UNREACHABLE))
        done = committed(session, incident.id or 0, reoptimise=reoptimise, too_late=too_late)
        stored = session.execute(select(AffectedSite).where(
            AffectedSite.incident_id == incident.id, AffectedSite.active.is_(True),
            AffectedSite.people > 0).order_by(AffectedSite.id)).scalars()
        closed = _closed_edges(session, incident.id or 0)
    else:
        done, stored, closed = {}, [s for s in sites if s.active and s.people > 0], []

    standard = standard_for(incident, codes)
    scenario_sites, site_ids = [], {}
    for site in stored:
        have = {i.code: done.get((site.id or 0, i.id or 0), 0) for i in items}
        missing = missing_needs(incident, site, codes, have)
        if not missing:
            continue
        scenario_sites.append({"id": site.code, "name": site.name, "lat": site.lat,
                               "lon": site.lon,
                      "people": site.people, "demand": missing,
                      "service_min": site.service_min,
                      "sheltered": is_sheltered(site)})
        site_ids[site.code] = site.id or 0

    depots = {d.id: d for d in session.execute(select(Depot).where(
        Depot.active.is_(True))).scalars()}
    sources: dict[str, PlanSource] = {}
    stock = usable_stock(session, today)
    for key, delta in [*(stock_adjust or {}).items(), *freed.stock.items()]:
        stock[key] = stock.get(key, 0) + delta
    for (depot_id, item_id), qty in stock.items():
        depot = depots.get(depot_id)
        if depot is None or depot.kind not in PHYSICAL_KINDS or qty <= 0:
            continue
        info = sources.setdefault(depot.code, PlanSource(
            depot=depot.code, depot_id=depot_id, tier=depot.tier, kind="stock",
            lead_min=(lead_minutes or {}).get(depot_id, 0),
            stock={}))
        info.stock[by_id[item_id].code] = qty
    _contract_sources(session, sources, depots, by_id, incident, today=today, as_of=as_of,
                      deadline=deadline, hypothetical=sites is not None,
                      freed_draws=freed.draws)

    if sites is None:
        now_free = timed.vehicle_free
        busy: dict[int, int | None] = dict(busy_until(session, other_than=incident.id))
        for vid, until in now_free.items():  # on trips of several incidents: the later end
            before = busy.get(vid, 0)
            busy[vid] = None if until is None else max(until, before or 0)
    else:
        busy = dict(busy_until(session))
    vehicles, vehicle_ids, bases = _vehicles(session, sources, as_of, busy)
    held = {plate: int(busy[vid] or 0) for plate, vid in vehicle_ids.items()
            if (busy.get(vid) or 0) > as_of}
    scenario = {
        "contract_version": 2,
        "name": f"incident {incident.id}: {incident.name} (as of +{as_of} min)",
        "onset": incident.onset.isoformat(),
        "deadline_min": deadline,
        "items": [{"code": i.code, "name": i.name_zh, "unit_kg": i.unit_weight_kg,
                   "unit_m3": i.unit_volume_m3} for i in items],
        "needs": standard.model_dump(exclude_defaults=True),
        "sites": scenario_sites,
        "sources": [
            {"id": sid, "name": depots[s.depot_id].name, "tier": s.tier,
             "lat": depots[s.depot_id].lat, "lon": depots[s.depot_id].lon,
             "ready_min": as_of + s.lead_min, "load_min": LOAD_MIN, "stock": s.stock}
            for sid, s in sources.items()
        ],
        "vehicles": vehicles,
        "bases": bases,
        "network": load_graph().scenario_network(closed),
        "policy": {"time_limit_s": time_limit_s, "drivers": LIVE_DRIVER_RULES.model_dump(),
                   "unload_min_per_t": LIVE_UNLOAD_MIN_PER_T},
    }
    return LiveScenario(scenario=scenario, sources=sources, sites=site_ids, as_of_min=as_of,
                        vehicles=vehicle_ids, supersedes=freed.shipments, busy=held)


def _contract_sources(session: Session, sources: dict[str, PlanSource],
                      depots: dict[int | None, Depot], items: dict[int | None, Item],
                      incident: Incident, *, today: date, as_of: int, deadline: int,
                      hypothetical: bool, freed_draws: Mapping[tuple[int, int], int]) -> None:
    """Agreement and capacity reserves as sources: a saved incident's activations (what each
    still offers, ready at its activation + lead time), one source per depot, kind and ready
    time; a hypothetical incident (readiness) counts every reserve's open volume as activated
    at its onset (now)."""
    found: list[tuple[ReserveKind, int, int, int, int]] = []  # kind, depot, item, qty, ready
    if hypothetical:
        for kind, depot_id, item_id, units, lead in activations.open_volume(session, today):
            if kind == ReserveKind.capacity:
                rate = units_per_day(session, depot_id, item_id)
                units = activations.produced(rate, as_of + lead, deadline)
            found.append((kind, depot_id, item_id, units, as_of + lead))
    else:
        for o in activations.offers(session, incident, deadline_min=deadline,
                                    freed=freed_draws):
            found.append((o.kind, o.depot_id, o.item_id, o.quantity, max(as_of, o.ready_min)))
    grouped: dict[tuple[int, ReserveKind, int], dict[str, int]] = defaultdict(dict)
    for kind, depot_id, item_id, units, ready in found:
        if depot_id in depots and units > 0:
            stock = grouped[(depot_id, kind, ready)]
            code = items[item_id].code
            stock[code] = stock.get(code, 0) + units
    for (depot_id, kind, ready), stock in sorted(grouped.items()):
        depot = depots[depot_id]
        prefix = "AGR" if kind == ReserveKind.agreement else "CAP"
        sid = f"{prefix}:{depot.code}"
        if sid in sources:
            sid = f"{sid}@{ready}min"
        sources[sid] = PlanSource(depot=depot.code, depot_id=depot_id, tier=kind.value,
                                  kind=kind.value, lead_min=ready - as_of, stock=stock)


def units_per_day(session: Session, depot_id: int, item_id: int) -> int:
    """A producer's daily rate of an item (0 when it has no capacity reserve for it)."""
    rate = session.execute(select(CapacityReserve.units_per_day).where(
        CapacityReserve.depot_id == depot_id, CapacityReserve.item_id == item_id)
    ).scalar_one_or_none()
    return int(rate or 0)


def _vehicles(session: Session, sources: dict[str, PlanSource], as_of: int,
              busy: Mapping[int, int | None]
              ) -> tuple[list[dict[str, Any]], dict[str, int], list[dict[str, Any]]]:
    """Scenario vehicles (one per real vehicle, named by plate), plate -> vehicle id, and the
    bases of the transport enterprises whose trucks take part (id ``TE:<code>``).

    Available and in-service vehicles take part, free at their base when their live trips
    end (``busy``: vehicle id -> minutes after onset; ``None``: cut off by closures, left
    out)."""
    home_of: dict[int, str] = {}
    for sid, info in sources.items():
        home_of.setdefault(info.depot_id, sid)
    out, ids = [], {}
    bases: dict[str, dict[str, Any]] = {}
    rows = session.execute(select(Vehicle).where(Vehicle.status.in_(
        [VehicleStatus.available, VehicleStatus.in_service])).order_by(Vehicle.plate)).scalars()
    enterprises = {e.id: e for e in session.execute(select(TransportEnterprise).where(
        TransportEnterprise.active.is_(True))).scalars()}
    for v in rows:
        until = busy.get(v.id or 0, 0)
        if until is None:
            continue
        free = max(as_of, until)
        entry: dict[str, Any] = {"id": v.plate}
        if v.depot_id is not None:
            home = home_of.get(v.depot_id)
            if home is None:
                continue
            entry["source"] = home
        else:
            enterprise = enterprises.get(v.enterprise_id)
            if enterprise is None or not sources:
                continue
            base = f"TE:{enterprise.code}"
            bases.setdefault(base, {"id": base, "name": enterprise.name, "lat": enterprise.lat,
                                    "lon": enterprise.lon})
            entry.update(base=base, loads_at="any")
            free = max(free, as_of + round(enterprise.lead_time_hours * 60))
        entry.update(capacity_kg=v.capacity_kg, capacity_m3=v.capacity_m3, available_min=free,
                     speed_factor=v.speed_factor)
        out.append(entry)
        ids[v.plate] = v.id or 0
    return out, ids, list(bases.values())


def _closed_edges(session: Session, incident_id: int) -> list[tuple[str, str]]:
    seen: dict[frozenset[str], tuple[str, str]] = {}
    for closure in active_closures(session, incident_id):
        for a, b in closure.edges:
            seen.setdefault(frozenset((a, b)), (a, b))
    return list(seen.values())
