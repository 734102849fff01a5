"""The plan (planning output, the JSON contract in docs/planning.md) and its independent checker.

``evaluate`` is the one definition of every derived figure (sites, unmet, summary) from the
routes and the scenario; ``build_plan`` assembles a Plan with it; ``check`` validates any plan
against the scenario alone: feasibility rules (fleet, stock, capacity, timing) plus every
reported figure, recomputed. Conventions (docs/planning.md, "The checker"):

* a trip loads for the source's ``load_min`` *before* ``depart_min`` (the minute the truck
  leaves), not before the source's ``ready_min``, the vehicle's ``available_min`` or the
  vehicle's previous ``return_min``;
* a stop's ``arrive_min`` is when the truck reaches the site (waiting allowed); it leaves
  ``service_min`` later;
* ``delivered`` counts every unit unloaded; ``covered``, ``coverage``, ``fill_rate`` and
  ``unmet`` count only stops with ``arrive_min <= deadline_min``.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dispatch.planning.needs import NEED_SLACK, Demand
from dispatch.planning.network import (
    UNREACHABLE,
    TravelNetwork,
    build_network,
    earliest_arrival,
)
from dispatch.planning.problem import Scenario, VehicleUnit
from dispatch.planning.timing import Day, DayFigures, TripTiming, check_day, unload_kg

Reason = Literal["unreachable", "stock", "lead_time", "fleet_time"]
V1Reason = Literal["no_stock_in_reach", "no_fleet_capacity", "unreachable"]
# What each v2 reason was called in contract v1 (v1 had no lead-time reason: it said
# no_stock_in_reach, and called "unreachable" what only late sources could reach).
V1_REASON: dict[str, str] = {"stock": "no_stock_in_reach", "lead_time": "no_stock_in_reach",
                             "fleet_time": "no_fleet_capacity", "unreachable": "unreachable"}
Status = Literal["optimal_coverage", "feasible", "time_capped", "baseline", "engine_error",
                 "checker_rejected"]
STATUSES: tuple[str, ...] = ("optimal_coverage", "feasible", "time_capped", "baseline",
                             "engine_error", "checker_rejected")
NEEDS_REASON: tuple[str, ...] = ("engine_error", "checker_rejected")  # status_reason required
Ratio = Annotated[float, Field(ge=0, le=1)]
CONTRACT_VERSION = 2

RATIO_TOL = 1e-6
KM_TOL = 1e-3
COST_TOL = 0.01
QTY_TOL = 1e-6


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stop(_Model):
    """A stop of a trip: the site, arrival minute and what is unloaded there."""

    site: str
    arrive_min: int
    unload: dict[str, int]


class Trip(_Model):
    """One trip of a vehicle: loads at ``source`` for its load_min before ``depart_min``,
    visits its stops, and reaches at ``return_min`` the next trip's source (after the last
    trip: the vehicle's base; in v1 both are the home source)."""

    source: str
    depart_min: int
    load: dict[str, int]
    stops: list[Stop]
    return_min: int


class Route(_Model):
    """All trips of one expanded vehicle (``<type>#k``), in time order.

    v2: ``start_min``, the minute the vehicle leaves its base (given by the engine; when
    absent it leaves just in time for its first loading); derived figures the checker
    recomputes: ``end_min`` (back at its base), ``km`` (the whole day, from base to base),
    ``cost`` (fixed cost + cost per km x km) and ``longest_drive_min`` (longest continuous
    driving)."""

    vehicle: str
    trips: list[Trip]
    start_min: int | None = None
    end_min: int | None = None
    km: float | None = None
    cost: float | None = None
    longest_drive_min: int | None = None


class SiteResult(_Model):
    """Per-site outcome: demand per need, everything delivered per item, last arrival,
    covered by the deadline; v2: ``needs_met``, the needs met by the deadline."""

    site: str
    people: int
    demand: dict[str, int]
    delivered: dict[str, int]
    last_arrival_min: int | None
    covered: bool
    needs_met: list[str] | None = None


class Unmet(_Model):
    """A need short by the deadline at a site, with why. ``item`` is the need's id (an item
    code when the item is its own need); ``qty`` is in the need's ``unit`` (v2)."""

    site: str
    item: str
    qty: int | float
    reason: Reason | V1Reason
    unit: str | None = None


class NeedCoverage(_Model):
    """People whose need is met by the deadline (or who do not have it) and their share of
    all people."""

    need: str
    name: str
    unit: str
    people_met: int
    coverage: Ratio


class BoundFigure(_Model):
    """One proven upper bound on people covered (``name``: which relaxation)."""

    name: str
    people: int
    coverage: Ratio
    status: str


class Summary(_Model):
    """Headline figures. ``status``, ``bound_coverage`` and ``baseline_coverage`` extend the
    v1 contract (the solver status, an upper bound on coverage, the greedy baseline's
    coverage); v2 adds ``status_reason``, ``bounds``, ``gap`` = bound_coverage - coverage,
    ``cost`` and per-need coverage ``needs`` (priority order)."""

    people: int
    people_covered: int
    coverage: Ratio
    fill_rate: Ratio
    latest_arrival_min: int | None
    distance_km: float
    vehicles_used: int
    solve_s: float
    status: str | None = None
    bound_coverage: Ratio | None = None
    baseline_coverage: Ratio | None = None
    status_reason: str | None = None
    bounds: list[BoundFigure] | None = None
    gap: float | None = None
    cost: float | None = None
    needs: list[NeedCoverage] | None = None


class Plan(_Model):
    """A dispatch plan for a scenario (``contract_version`` 1 when absent: an old plan)."""

    contract_version: Literal[1, 2] = 1
    scenario: str
    summary: Summary
    routes: list[Route]
    sites: list[SiteResult]
    unmet: list[Unmet]


# -- evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """Every figure derived from a plan's routes (see ``evaluate``)."""

    sites: list[SiteResult]
    unmet: list[Unmet]
    people: int
    people_covered: int
    coverage: float
    fill_rate: float
    latest_arrival_min: int | None
    distance_km: float
    vehicles_used: int
    cost: float = 0.0
    needs: list[NeedCoverage] = field(default_factory=list)
    days: dict[str, DayFigures] = field(default_factory=dict)


def trip_km(trip: Trip, network: TravelNetwork) -> float:
    """Kilometres of a trip as in v1: source -> stops in order -> source (legs without a
    path: 0). A vehicle's whole day is ``timing.check_day(...).km``."""
    try:
        home = network.source_loc(trip.source)
        path = [home, *(network.site_loc(s.site) for s in trip.stops), home]
    except KeyError:
        return 0.0
    legs = (network.km[a, b] for a, b in itertools.pairwise(path))
    return float(sum(d for d in legs if math.isfinite(d)))


def _qty(x: float) -> int | float:
    """A need quantity as JSON shows it: an integer when it is one."""
    r = round(x, 6)
    return int(r) if r == int(r) else r


def evaluate(
    scenario: Scenario,
    routes: Sequence[Route],
    network: TravelNetwork | None = None,
    *,
    demand: dict[str, dict[str, int]] | None = None,
    v1_reasons: bool = False,
) -> Evaluation:
    """Recompute sites, unmet and summary figures of ``routes`` from the scenario alone.

    Stops at unknown sites and routes of unknown vehicles are ignored here (``check``
    reports them). ``demand`` (site -> need -> quantity) overrides the scenario's, for
    engines evaluating residual problems. ``v1_reasons``: name unmet reasons as contract v1
    did (for checking v1 plans).
    """
    network = network or build_network(scenario)
    model = scenario.demand
    demand = demand if demand is not None else model.by_site
    deadline = scenario.deadline_min
    delivered: dict[str, dict[str, int]] = {s.id: defaultdict(int) for s in scenario.sites}
    on_time: dict[str, dict[str, int]] = {s.id: defaultdict(int) for s in scenario.sites}
    last: dict[str, int] = {}
    loaded: dict[tuple[str, str], int] = defaultdict(int)
    latest: int | None = None
    used = set()
    days: dict[str, DayFigures] = {}
    cost = 0.0
    for route in routes:
        vehicle = scenario.vehicle_map.get(route.vehicle)
        if route.trips:
            used.add(route.vehicle)
            if vehicle is not None and route.vehicle not in days:
                day = check_day(scenario, network, vehicle, route.trips, route.start_min)
                days[route.vehicle] = day
                cost += vehicle.fixed_cost + vehicle.cost_per_km * day.km
        for trip in route.trips:
            for code, q in trip.load.items():
                loaded[trip.source, code] += q
            for stop in trip.stops:
                latest = stop.arrive_min if latest is None else max(latest, stop.arrive_min)
                if stop.site not in delivered:
                    continue
                last[stop.site] = max(last.get(stop.site, stop.arrive_min), stop.arrive_min)
                for code, q in stop.unload.items():
                    delivered[stop.site][code] += q
                    if stop.arrive_min <= deadline:
                        on_time[stop.site][code] += q

    sites: list[SiteResult] = []
    people = covered_people = 0
    weighted_fill = 0.0
    met_people: dict[str, int] = dict.fromkeys(model.needs, 0)
    shortfalls: dict[str, dict[str, float]] = {}
    for site in scenario.sites:
        need = demand[site.id]
        met = _met(model, site.id, need, on_time[site.id])
        ok = [n for n, q in need.items() if met[n] >= q - NEED_SLACK]
        covered = len(ok) == len(need)
        fill = sum(min(1.0, met[n] / q) for n, q in need.items()) / len(need) if need else 1.0
        people += site.people
        covered_people += site.people if covered else 0
        weighted_fill += site.people * fill
        for n in met_people:
            if n not in need or n in ok:
                met_people[n] += site.people
        shortfalls[site.id] = {n: q - met[n] for n, q in need.items() if n not in ok}
        sites.append(
            SiteResult(
                site=site.id,
                people=site.people,
                demand=dict(need),
                delivered={c: q for c, q in delivered[site.id].items() if q},
                last_arrival_min=last.get(site.id),
                covered=covered,
                needs_met=ok,
            )
        )
    unmet = _unmet(scenario, network, model, shortfalls, loaded, v1_reasons)
    needs = [
        NeedCoverage(need=n.id, name=n.name, unit=n.unit, people_met=met_people[n.id],
                     coverage=met_people[n.id] / people if people else 1.0)
        for n in model.needs.values()
    ]
    return Evaluation(
        sites=sites,
        unmet=unmet,
        people=people,
        people_covered=covered_people,
        coverage=covered_people / people if people else 1.0,
        fill_rate=weighted_fill / people if people else 1.0,
        latest_arrival_min=latest,
        distance_km=round(sum(d.km for d in days.values()), 3),
        vehicles_used=len(used),
        cost=round(cost, 2),
        needs=needs,
        days=days,
    )


def _met(model: Demand, site_id: str, need: dict[str, int], units: dict[str, int]
         ) -> dict[str, float]:
    """Need units met at a site by these item units (needs outside the site's demand: 0)."""
    out = dict.fromkeys(need, 0.0)
    mapping = model.item_need.get(site_id, {})
    for code, q in units.items():
        n = mapping.get(code)
        if n is None and code in need:  # an engine's residual demand keyed by item
            n = code
        if n in out and q:
            out[n] += q * (model.needs[n].items.get(code, 1.0) if n in model.needs else 1.0)
    return out


def _unmet(
    scenario: Scenario,
    network: TravelNetwork,
    model: Demand,
    shortfalls: dict[str, dict[str, float]],
    loaded: dict[tuple[str, str], int],
    v1_reasons: bool,
) -> list[Unmet]:
    """Shortfall by the deadline per site and need, with its reason (docs/planning.md):

    unreachable: no vehicle can arrive at the site by the deadline from any source it may
    load at, even ignoring the sources' ready times; fleet_time: the stock left unloaded at
    the sources some vehicle can bring to the site by the deadline meets the shortfall (the
    fleet did not bring it); lead_time: it does not, but it would if the sources' ready times
    were ignored (the stock exists, its source is not ready in time); stock: otherwise.
    ``v1_reasons``: contract v1's names and its reachability (with ready times).
    """
    deadline = scenario.deadline_min
    reach = earliest_arrival(scenario, network) <= deadline  # (S, N)
    reach0 = earliest_arrival(scenario, network, ignore_ready=True) <= deadline
    left = [{c: max(0, q - loaded[s.id, c]) for c, q in s.stock.items()} for s in scenario.sources]
    out: list[Unmet] = []
    for j, site in enumerate(scenario.sites):
        short = shortfalls[site.id]
        if not short:
            continue
        in_time = np.flatnonzero(reach[:, j])
        in_reach0 = np.flatnonzero(reach0[:, j])
        for n, qty in short.items():
            need = model.needs.get(n)
            items = need.items if need is not None else {n: 1.0}

            def units(sources: np.ndarray, items: Mapping[str, float] = items) -> float:
                return sum(left[s].get(c, 0) * eq for s in sources for c, eq in items.items())

            reason: str
            if v1_reasons:
                if not len(in_time):
                    reason = "unreachable"
                else:
                    reason = ("no_stock_in_reach" if units(in_time) < qty - NEED_SLACK
                              else "no_fleet_capacity")
            elif not len(in_reach0):
                reason = "unreachable"
            elif units(in_time) >= qty - NEED_SLACK:
                reason = "fleet_time"
            elif units(in_reach0) >= qty - NEED_SLACK:
                reason = "lead_time"
            else:
                reason = "stock"
            out.append(Unmet(site=site.id, item=n, qty=_qty(qty), reason=reason,  # type: ignore[arg-type]
                             unit=None if v1_reasons else (need.unit if need else "unit")))
    return out


def build_plan(
    scenario: Scenario,
    routes: Iterable[Route],
    *,
    network: TravelNetwork | None = None,
    solve_s: float = 0.0,
    status: str | None = None,
    status_reason: str | None = None,
    bound_coverage: float | None = None,
    bounds: Sequence[BoundFigure] | None = None,
    baseline_coverage: float | None = None,
) -> Plan:
    """Assemble a contract-v2 Plan from routes: sites, unmet, per-need coverage, costs and
    route figures computed by ``evaluate``. The reported bound is the smallest of
    ``bound_coverage`` and ``bounds``; ``gap`` = bound - coverage."""
    routes = [r for r in routes if r.trips]
    ev = evaluate(scenario, routes, network)
    routes = [_with_day(r, ev.days.get(r.vehicle), scenario) for r in routes]
    candidates = [b.coverage for b in bounds or ()]
    if bound_coverage is not None:
        candidates.append(bound_coverage)
    bound = min(candidates) if candidates else None
    summary = Summary(
        people=ev.people,
        people_covered=ev.people_covered,
        coverage=ev.coverage,
        fill_rate=ev.fill_rate,
        latest_arrival_min=ev.latest_arrival_min,
        distance_km=ev.distance_km,
        vehicles_used=ev.vehicles_used,
        solve_s=round(solve_s, 3),
        status=status,
        bound_coverage=bound,
        baseline_coverage=baseline_coverage,
        status_reason=status_reason,
        bounds=list(bounds) if bounds is not None else None,
        gap=None if bound is None else round(bound - ev.coverage, 9),
        cost=ev.cost,
        needs=ev.needs,
    )
    return Plan(
        contract_version=CONTRACT_VERSION, scenario=scenario.name, summary=summary,
        routes=routes, sites=ev.sites, unmet=ev.unmet,
    )


def _with_day(route: Route, day: DayFigures | None, scenario: Scenario) -> Route:
    if day is None:
        return route
    v = scenario.vehicle_map[route.vehicle]
    return route.model_copy(update={
        "start_min": route.start_min if route.start_min is not None else day.start_min,
        "end_min": day.end_min, "km": round(day.km, 3),
        "cost": round(v.fixed_cost + v.cost_per_km * day.km, 2),
        "longest_drive_min": day.longest_drive_min,
    })


def with_summary(plan: Plan, **changes: object) -> Plan:
    """A copy of ``plan`` with summary fields replaced; ``gap`` follows ``bound_coverage``."""
    summary = plan.summary.model_copy(update=changes)
    if summary.bound_coverage is not None:
        summary = summary.model_copy(
            update={"gap": round(summary.bound_coverage - summary.coverage, 9)})
    return plan.model_copy(update={"summary": summary})


TripSpec = tuple[str, Sequence[tuple[str, Mapping[str, int]]]]  # (source, [(site, unload)])


def schedule_route(
    scenario: Scenario,
    network: TravelNetwork,
    vehicle: VehicleUnit,
    trips: Sequence[TripSpec],
    *,
    free_min: int | None = None,
) -> Route | None:
    """The earliest schedule (``timing.Day``) of a vehicle's trips, each given as (source,
    [(site, unload)]): loads are the sums of the unloads, every time is the earliest the
    rules allow (breaks inserted where the driving rule needs them). None when a leg has no
    path. It does not check ``loads_at``, capacity, stock or the shift: ``check`` does."""
    day = Day(scenario, network, vehicle)
    state = day.start(free_min)
    timings: list[TripTiming] = []
    for source_id, stops in trips:
        kg = [(site, unload_kg(scenario, unload)) for site, unload in stops]
        timing = day.time_trip(state, source_id, kg)
        if timing is None:
            return None
        timings.append(timing)
        state = timing.after
    returns = day.returns(timings)
    if returns is None:
        return None
    out: list[Trip] = []
    for (source_id, stops), timing, back in zip(trips, timings, returns, strict=True):
        load: dict[str, int] = defaultdict(int)
        for _, unload in stops:
            for c, q in unload.items():
                load[c] += q
        out.append(Trip(
            source=source_id, depart_min=timing.depart_min, load=dict(load),
            stops=[Stop(site=site, arrive_min=a, unload=dict(unload))
                   for (site, unload), a in zip(stops, timing.arrive_min, strict=True)],
            return_min=back))
    return Route(vehicle=vehicle.id, trips=out,
                 start_min=timings[0].after.start_min if timings else None)


@dataclass(frozen=True)
class TripTimes:
    """Earliest timing of a trip: departure, arrival at each stop, return home."""

    depart_min: int
    arrive_min: tuple[int, ...]
    return_min: int


def time_trip(
    scenario: Scenario,
    network: TravelNetwork,
    vehicle: VehicleUnit,
    free_min: int,
    site_ids: Sequence[str],
) -> TripTimes | None:
    """Earliest schedule for a v1 vehicle (free at its home source from ``free_min``)
    visiting ``site_ids`` and returning home, with each stop's fixed ``service_min``.

    A contract-v1 helper kept for the v1 engine: it ignores bases, ``loads_at``, driver
    rules and per-tonne unloading. v2 engines time days with ``timing.Day``.
    Loading starts at max(free_min, ready_min, available_min); None when a leg has no path.
    """
    assert vehicle.source is not None, "time_trip is for vehicles with a home source"
    source = scenario.source_map[vehicle.source]
    minutes = network.minutes(vehicle.speed_factor)
    t = max(free_min, source.ready_min, vehicle.available_min) + source.load_min
    depart = t
    here = network.source_loc(source.id)
    arrivals = []
    for sid in site_ids:
        nxt = network.site_loc(sid)
        leg = int(minutes[here, nxt])
        if leg >= UNREACHABLE:
            return None
        t += leg
        arrivals.append(t)
        t += scenario.site_map[sid].service_min
        here = nxt
    back = int(minutes[here, network.source_loc(source.id)])
    if back >= UNREACHABLE:
        return None
    return TripTimes(depart, tuple(arrivals), t + back)


# -- checker ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """A broken rule: a short code, where in the plan, and what is wrong."""

    code: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: [{self.code}] {self.message}"


@dataclass(frozen=True)
class CheckReport:
    """Result of ``check``: ``ok`` when there is no violation."""

    violations: tuple[Violation, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when the plan breaks no rule."""
        return not self.violations

    def codes(self) -> set[str]:
        """The set of violation codes (handy in tests)."""
        return {v.code for v in self.violations}

    def __str__(self) -> str:
        if self.ok:
            return "plan ok"
        return "\n".join(str(v) for v in self.violations)


class _Checker:
    def __init__(self, plan: Plan, scenario: Scenario, network: TravelNetwork) -> None:
        self.plan, self.sc, self.net = plan, scenario, network
        self.v2 = plan.contract_version >= 2
        self.out: list[Violation] = []

    def add(self, code: str, path: str, message: str) -> None:
        self.out.append(Violation(code, path, message))

    def run(self) -> list[Violation]:
        if self.plan.scenario != self.sc.name:
            self.add("scenario", "scenario", f"plan is for {self.plan.scenario!r}")
        if self.sc.contract_version > self.plan.contract_version:
            self.add("contract_version", "contract_version",
                     f"a contract-v{self.sc.contract_version} scenario needs a plan of that "
                     f"version, not v{self.plan.contract_version}")
        drawn: dict[tuple[str, str], int] = defaultdict(int)
        seen: set[str] = set()
        for r, route in enumerate(self.plan.routes):
            path = f"routes[{r}]"
            vehicle = self.sc.vehicle_map.get(route.vehicle)
            if vehicle is None:
                self.add("vehicle_unknown", path, f"no vehicle {route.vehicle!r}")
                continue
            if route.vehicle in seen:
                self.add("vehicle_repeated", path, f"{route.vehicle} has more than one route")
            seen.add(route.vehicle)
            self.route(route, vehicle, path, drawn)
        for (source_id, code), q in sorted(drawn.items()):
            source = self.sc.source_map.get(source_id)
            have = source.stock.get(code, 0) if source else 0
            if q > have:
                self.add("stock", f"sources.{source_id}", f"draws {q} {code}, stock is {have}")
        self.figures()
        return self.out

    def route(
        self, route: Route, v: VehicleUnit, path: str, drawn: dict[tuple[str, str], int]
    ) -> None:
        day = check_day(self.sc, self.net, v, route.trips, route.start_min)
        for issue in day.issues:
            self.add(issue.code, path + issue.where, issue.message)
        for t, trip in enumerate(route.trips):
            tp = f"{path}.trips[{t}]"
            if trip.source not in self.sc.source_map:
                continue
            self.load(trip, v, tp, drawn)
            if not trip.stops:
                self.add("empty_trip", tp, "a trip needs at least one stop")
        if self.v2 and route.trips:
            want = {
                "start_min": day.start_min if route.start_min is None else route.start_min,
                "end_min": day.end_min, "longest_drive_min": day.longest_drive_min,
            }
            for name, value in want.items():
                got = getattr(route, name)
                if got != value:
                    self.add("route", f"{path}.{name}", f"reported {got}, recomputed {value}")
            cost = v.fixed_cost + v.cost_per_km * day.km
            for name, got_f, value_f, tol in (("km", route.km, day.km, KM_TOL),
                                              ("cost", route.cost, cost, COST_TOL)):
                if got_f is None or abs(got_f - value_f) > tol + 1e-6 * value_f:
                    self.add("route", f"{path}.{name}", f"reported {got_f}, recomputed "
                             f"{round(value_f, 3)}")

    def load(self, trip: Trip, v: VehicleUnit, tp: str, drawn: dict[tuple[str, str], int]) -> None:
        items = self.sc.item_map
        unloaded: dict[str, int] = defaultdict(int)
        for k, stop in enumerate(trip.stops):
            for code, q in stop.unload.items():
                if code not in items or q < 0:
                    self.add("unload", f"{tp}.stops[{k}]", f"bad unload {code}: {q}")
                unloaded[code] += q
            if sum(stop.unload.values()) <= 0:
                self.add("empty_stop", f"{tp}.stops[{k}]", "a stop must unload something")
        kg = m3 = 0.0
        for code, q in trip.load.items():
            if code not in items or q < 0:
                self.add("load", tp, f"bad load {code}: {q}")
                continue
            drawn[trip.source, code] += q
            kg += q * items[code].unit_kg
            m3 += q * items[code].unit_m3
        if kg > v.capacity_kg * (1 + 1e-9):
            self.add("capacity_kg", tp, f"load {kg:.1f} kg > capacity {v.capacity_kg} kg")
        if m3 > v.capacity_m3 * (1 + 1e-9):
            self.add("capacity_m3", tp, f"load {m3:.3f} m3 > capacity {v.capacity_m3} m3")
        loads = {c: q for c, q in trip.load.items() if q}
        if loads != {c: q for c, q in unloaded.items() if q}:
            self.add("unload_mismatch", tp, f"loads {loads}, unloads {dict(unloaded)}")

    def figures(self) -> None:
        ev = evaluate(self.sc, self.plan.routes, self.net, v1_reasons=not self.v2)
        s = self.plan.summary
        exact = {
            "people": (s.people, ev.people),
            "people_covered": (s.people_covered, ev.people_covered),
            "latest_arrival_min": (s.latest_arrival_min, ev.latest_arrival_min),
            "vehicles_used": (s.vehicles_used, ev.vehicles_used),
        }
        for name, (got, want) in exact.items():
            if got != want:
                self.add("summary", f"summary.{name}", f"reported {got}, recomputed {want}")
        for name, got, want in (
            ("coverage", s.coverage, ev.coverage),
            ("fill_rate", s.fill_rate, ev.fill_rate),
        ):
            if abs(got - want) > RATIO_TOL:
                self.add("summary", f"summary.{name}", f"reported {got}, recomputed {want}")
        if abs(s.distance_km - ev.distance_km) > KM_TOL + 1e-6 * ev.distance_km:
            self.add(
                "summary",
                "summary.distance_km",
                f"reported {s.distance_km}, recomputed {ev.distance_km}",
            )
        if s.bound_coverage is not None and ev.coverage > s.bound_coverage + RATIO_TOL:
            self.add("bound", "summary.bound_coverage", f"coverage {ev.coverage} exceeds the bound")
        if self.v2:
            self.v2_summary(ev)
        self.sites(ev)
        got_unmet = sorted((u.site, u.item, float(u.qty), u.reason) for u in self.plan.unmet)
        want_unmet = sorted((u.site, u.item, float(u.qty), u.reason) for u in ev.unmet)
        if len(got_unmet) != len(want_unmet) or any(
            g[:2] != w[:2] or g[3] != w[3] or abs(g[2] - w[2]) > QTY_TOL
            for g, w in zip(got_unmet, want_unmet, strict=False)
        ):
            extra = sorted(set(got_unmet) - set(want_unmet))[:5]
            missing = sorted(set(want_unmet) - set(got_unmet))[:5]
            self.add("unmet", "unmet", f"unexpected {extra}, missing {missing}")

    def v2_summary(self, ev: Evaluation) -> None:
        """Contract-v2 figures: status vocabulary, bounds and gap, cost, per-need coverage."""
        s = self.plan.summary
        if s.status is not None and s.status not in STATUSES:
            self.add("status", "summary.status", f"unknown status {s.status!r}; one of "
                     f"{', '.join(STATUSES)}")
        if s.status in NEEDS_REASON and not (s.status_reason or "").strip():
            self.add("status", "summary.status_reason", f"status {s.status} needs a reason")
        for k, b in enumerate(s.bounds or []):
            if ev.coverage > b.coverage + RATIO_TOL or ev.people_covered > b.people:
                self.add("bound", f"summary.bounds[{k}]", f"coverage {ev.coverage} "
                         f"({ev.people_covered} people) exceeds the bound {b.name} "
                         f"({b.people} people)")
            if ev.people and abs(b.coverage - b.people / ev.people) > RATIO_TOL:
                self.add("bound", f"summary.bounds[{k}].coverage",
                         f"{b.coverage} is not {b.people} / {ev.people}")
        if s.bounds and s.bound_coverage is not None and abs(
                s.bound_coverage - min(b.coverage for b in s.bounds)) > RATIO_TOL:
            self.add("bound", "summary.bound_coverage", "is not the smallest of bounds")
        if s.gap is not None and (s.bound_coverage is None
                                  or abs(s.gap - (s.bound_coverage - ev.coverage)) > RATIO_TOL):
            self.add("summary", "summary.gap", f"reported {s.gap}, bound - coverage is "
                     f"{None if s.bound_coverage is None else s.bound_coverage - ev.coverage}")
        if s.status == "optimal_coverage" and (
                s.bound_coverage is None or ev.coverage < s.bound_coverage - RATIO_TOL):
            self.add("status", "summary.status", "optimal_coverage needs coverage = the bound")
        if s.cost is None or abs(s.cost - ev.cost) > COST_TOL + 1e-9 * ev.cost:
            self.add("summary", "summary.cost", f"reported {s.cost}, recomputed {ev.cost}")
        got = [(n.need, n.people_met, round(n.coverage, 9)) for n in s.needs or []]
        want = [(n.need, n.people_met, round(n.coverage, 9)) for n in ev.needs]
        if len(got) != len(want) or any(
                g[:2] != w[:2] or abs(g[2] - w[2]) > RATIO_TOL for g, w in zip(got, want,
                                                                               strict=False)):
            self.add("summary", "summary.needs", f"reported {got}, recomputed {want}")

    def sites(self, ev: Evaluation) -> None:
        want = {x.site: x for x in ev.sites}
        seen: set[str] = set()
        for k, got in enumerate(self.plan.sites):
            path = f"sites[{k}]"
            if got.site not in want:
                self.add("site_unknown", path, f"no site {got.site!r}")
                continue
            if got.site in seen:
                self.add("site_repeated", path, f"{got.site} listed twice")
            seen.add(got.site)
            ref = want[got.site]
            names = ["people", "last_arrival_min", "covered"] + (["needs_met"] if self.v2 else [])
            for name in names:
                if getattr(got, name) != getattr(ref, name):
                    self.add(
                        "site",
                        f"{path}.{name}",
                        f"reported {getattr(got, name)}, recomputed {getattr(ref, name)}",
                    )
            for name in ("demand", "delivered"):
                g = {c: q for c, q in getattr(got, name).items() if q}
                if g != getattr(ref, name):
                    self.add(
                        "site", f"{path}.{name}", f"reported {g}, recomputed {getattr(ref, name)}"
                    )
        for missing in sorted(set(want) - seen):
            self.add("site_missing", "sites", f"site {missing} is not listed")


def check(plan: Plan, scenario: Scenario, network: TravelNetwork | None = None) -> CheckReport:
    """Validate a plan against its scenario; every figure is recomputed, nothing is trusted.

    ``network`` may be passed to avoid rebuilding the travel matrices; it must be
    ``build_network(scenario)``.
    """
    net = network or build_network(scenario)
    return CheckReport(tuple(_Checker(plan, scenario, net).run()))
