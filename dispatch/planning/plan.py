"""The plan (planning output, the JSON contract in DESIGN.md) and its independent checker.

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dispatch.planning.needs import scenario_demand
from dispatch.planning.network import (
    UNREACHABLE,
    TravelNetwork,
    build_network,
    earliest_arrival,
)
from dispatch.planning.problem import Scenario, VehicleUnit

Reason = Literal["no_stock_in_reach", "no_fleet_capacity", "unreachable"]
Ratio = Annotated[float, Field(ge=0, le=1)]

RATIO_TOL = 1e-6
KM_TOL = 1e-3


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stop(_Model):
    """A stop of a trip: the site, arrival minute and what is unloaded there."""

    site: str
    arrive_min: int
    unload: dict[str, int]


class Trip(_Model):
    """One trip of a vehicle: loads at ``source``, leaves at ``depart_min``, is back at
    ``return_min``."""

    source: str
    depart_min: int
    load: dict[str, int]
    stops: list[Stop]
    return_min: int


class Route(_Model):
    """All trips of one expanded vehicle (``<type>#k``), in time order."""

    vehicle: str
    trips: list[Trip]


class SiteResult(_Model):
    """Per-site outcome: demand, everything delivered, last arrival, covered by deadline."""

    site: str
    people: int
    demand: dict[str, int]
    delivered: dict[str, int]
    last_arrival_min: int | None
    covered: bool


class Unmet(_Model):
    """Demand not arrived by the deadline, with why."""

    site: str
    item: str
    qty: int
    reason: Reason


class Summary(_Model):
    """Headline figures. ``status``, ``bound_coverage`` and ``baseline_coverage`` extend the
    contract: the solver status, an upper bound on coverage and the greedy baseline's
    coverage, reported beside ``coverage``."""

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


class Plan(_Model):
    """A dispatch plan for a scenario."""

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


def trip_km(trip: Trip, network: TravelNetwork) -> float:
    """Kilometres of a trip: source -> stops in order -> source (legs without a path: 0)."""
    try:
        home = network.source_loc(trip.source)
        path = [home, *(network.site_loc(s.site) for s in trip.stops), home]
    except KeyError:
        return 0.0
    legs = (network.km[a, b] for a, b in itertools.pairwise(path))
    return float(sum(d for d in legs if math.isfinite(d)))


def evaluate(
    scenario: Scenario,
    routes: Sequence[Route],
    network: TravelNetwork | None = None,
    *,
    demand: dict[str, dict[str, int]] | None = None,
) -> Evaluation:
    """Recompute sites, unmet and summary figures of ``routes`` from the scenario alone.

    Stops at unknown sites are ignored here (``check`` reports them).
    """
    network = network or build_network(scenario)
    demand = demand if demand is not None else scenario_demand(scenario)
    deadline = scenario.deadline_min
    delivered: dict[str, dict[str, int]] = {s.id: defaultdict(int) for s in scenario.sites}
    on_time: dict[str, dict[str, int]] = {s.id: defaultdict(int) for s in scenario.sites}
    last: dict[str, int] = {}
    loaded: dict[tuple[str, str], int] = defaultdict(int)
    distance = 0.0
    latest: int | None = None
    used = set()
    for route in routes:
        if route.trips:
            used.add(route.vehicle)
        for trip in route.trips:
            distance += trip_km(trip, network)
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
    for site in scenario.sites:
        need = demand[site.id]
        got = on_time[site.id]
        covered = all(got[c] >= q for c, q in need.items())
        fill = sum(min(1.0, got[c] / q) for c, q in need.items()) / len(need) if need else 1.0
        people += site.people
        covered_people += site.people if covered else 0
        weighted_fill += site.people * fill
        sites.append(
            SiteResult(
                site=site.id,
                people=site.people,
                demand=dict(need),
                delivered={c: q for c, q in delivered[site.id].items() if q},
                last_arrival_min=last.get(site.id),
                covered=covered,
            )
        )
    unmet = _unmet(scenario, network, demand, on_time, loaded)
    return Evaluation(
        sites=sites,
        unmet=unmet,
        people=people,
        people_covered=covered_people,
        coverage=covered_people / people if people else 1.0,
        fill_rate=weighted_fill / people if people else 1.0,
        latest_arrival_min=latest,
        distance_km=round(distance, 3),
        vehicles_used=len(used),
    )


def _unmet(
    scenario: Scenario,
    network: TravelNetwork,
    demand: dict[str, dict[str, int]],
    on_time: dict[str, dict[str, int]],
    loaded: dict[tuple[str, str], int],
) -> list[Unmet]:
    """Shortfall by the deadline per site and item, with its reason.

    unreachable: no vehicle of any source can arrive at the site by the deadline.
    no_stock_in_reach: the stock left unloaded at sources that can reach the site in time is
    less than the shortfall. no_fleet_capacity: enough stock was in reach; the fleet did not
    bring it in time.
    """
    reach = earliest_arrival(scenario, network) <= scenario.deadline_min  # (S, N)
    out: list[Unmet] = []
    for j, site in enumerate(scenario.sites):
        sources = [scenario.sources[s] for s in np.flatnonzero(reach[:, j])]
        for code, q in demand[site.id].items():
            short = q - on_time[site.id][code]
            if short <= 0:
                continue
            if not sources:
                reason: Reason = "unreachable"
            else:
                left = sum(max(0, s.stock.get(code, 0) - loaded[s.id, code]) for s in sources)
                reason = "no_stock_in_reach" if left < short else "no_fleet_capacity"
            out.append(Unmet(site=site.id, item=code, qty=short, reason=reason))
    return out


def build_plan(
    scenario: Scenario,
    routes: Iterable[Route],
    *,
    network: TravelNetwork | None = None,
    solve_s: float = 0.0,
    status: str | None = None,
    bound_coverage: float | None = None,
    baseline_coverage: float | None = None,
) -> Plan:
    """Assemble a Plan from routes: sites, unmet and summary computed by ``evaluate``."""
    routes = [r for r in routes if r.trips]
    ev = evaluate(scenario, routes, network)
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
        bound_coverage=bound_coverage,
        baseline_coverage=baseline_coverage,
    )
    return Plan(
        scenario=scenario.name, summary=summary, routes=routes, sites=ev.sites, unmet=ev.unmet
    )


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
    """Earliest schedule for ``vehicle`` (free at home from ``free_min``) visiting ``site_ids``.

    Loading starts at max(free_min, ready_min, available_min); None when a leg has no path.
    """
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
        self.out: list[Violation] = []

    def add(self, code: str, path: str, message: str) -> None:
        self.out.append(Violation(code, path, message))

    def run(self) -> list[Violation]:
        if self.plan.scenario != self.sc.name:
            self.add("scenario", "scenario", f"plan is for {self.plan.scenario!r}")
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
        source = self.sc.source_map[v.source]
        minutes = self.net.minutes(v.speed_factor)
        free = max(source.ready_min, v.available_min)
        for t, trip in enumerate(route.trips):
            tp = f"{path}.trips[{t}]"
            if trip.source != v.source:
                self.add("trip_source", tp, f"{v.id} is based at {v.source}, not {trip.source}")
                continue
            if trip.depart_min - source.load_min < free:
                self.add(
                    "depart_early",
                    tp,
                    f"loading starts at {trip.depart_min - source.load_min}, "
                    f"vehicle/source free from {free}",
                )
            self.load(trip, v, tp, drawn)
            here, t_now = self.net.source_loc(source.id), trip.depart_min
            if not trip.stops:
                self.add("empty_trip", tp, "a trip needs at least one stop")
            for k, stop in enumerate(trip.stops):
                sp = f"{tp}.stops[{k}]"
                site = self.sc.site_map.get(stop.site)
                if site is None:
                    self.add("site_unknown", sp, f"no site {stop.site!r}")
                    return
                nxt = self.net.site_loc(site.id)
                leg = int(minutes[here, nxt])
                if leg >= UNREACHABLE:
                    self.add("unreachable", sp, f"no path to {site.id}")
                    return
                if stop.arrive_min < t_now + leg:
                    self.add(
                        "arrive_early", sp, f"arrives {stop.arrive_min}, earliest {t_now + leg}"
                    )
                t_now = max(stop.arrive_min, t_now + leg) + site.service_min
                here = nxt
            back = int(minutes[here, self.net.source_loc(source.id)])
            if back >= UNREACHABLE:
                self.add("unreachable", tp, "no path back to the source")
            elif trip.return_min < t_now + back:
                self.add("return_early", tp, f"returns {trip.return_min}, earliest {t_now + back}")
            free = max(trip.return_min, t_now + back if back < UNREACHABLE else trip.return_min)

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
        ev = evaluate(self.sc, self.plan.routes, self.net)
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
        self.sites(ev)
        got_unmet = sorted((u.site, u.item, u.qty, u.reason) for u in self.plan.unmet)
        want_unmet = sorted((u.site, u.item, u.qty, u.reason) for u in ev.unmet)
        if got_unmet != want_unmet:
            extra = sorted(set(got_unmet) - set(want_unmet))[:5]
            missing = sorted(set(want_unmet) - set(got_unmet))[:5]
            self.add("unmet", "unmet", f"unexpected {extra}, missing {missing}")

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
            for name in ("people", "last_arrival_min", "covered"):
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
