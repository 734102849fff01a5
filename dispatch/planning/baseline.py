"""What a dispatcher does by hand (the greedy baseline) and how far any plan could go (the bound).

``greedy_baseline`` serves the biggest sites first, each from its nearest source that still has
stock and a vehicle that can arrive by the deadline, one site per trip. Every solver plan is
reported beside it.

``coverage_upper_bound`` solves a relaxation that ignores routing but keeps stock, ready and
travel times and fleet capacity; no feasible plan covers more people. docs/planning.md ("The
bound") gives the model and the proof that it is a valid upper bound.
"""

from __future__ import annotations

import heapq
import math
import os
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from dispatch.planning.needs import NEED_SLACK, ceil_slack, scenario_demand
from dispatch.planning.network import (
    UNREACHABLE,
    TravelNetwork,
    build_network,
    earliest_arrival,
)
from dispatch.planning.plan import BoundFigure, Plan, Route, Stop, Trip, build_plan
from dispatch.planning.problem import Scenario, VehicleUnit
from dispatch.planning.timing import Day, TripTiming

_FIT_SLACK = 1e-9

# -- greedy baseline ---------------------------------------------------------------------


def _fit(capacity: float, used: float, unit: float) -> int:
    """How many more units of size ``unit`` fit in ``capacity - used``."""
    return max(0, math.floor((capacity - used) / unit + _FIT_SLACK))


def _can_carry_one(v: VehicleUnit, scenario: Scenario, code: str) -> bool:
    item = scenario.item(code)
    return item.unit_kg <= v.capacity_kg * (1 + _FIT_SLACK) and item.unit_m3 <= v.capacity_m3 * (
        1 + _FIT_SLACK
    )


def greedy_baseline(scenario: Scenario, network: TravelNetwork | None = None) -> Plan:
    """A dispatcher's plan: biggest sites first, nearest stocked source, one site per trip.

    For each site (most people first) and each outstanding need (priority order), take the
    nearest source by travel time that has an item of the need and a vehicle allowed to
    load there able to arrive by the deadline; send the earliest-arriving such vehicle
    (whose day still ends within its shift) loaded with as much of the site's outstanding
    needs as that source has and it fits (needs in priority order, each need's items in the
    standard's order); repeat until the site is served or nothing more can reach it in time.
    Vehicles are timed by ``timing.Day`` (bases, loading anywhere allowed, driver rules,
    unloading per tonne). The plan passes ``check``.
    """
    t0 = time.perf_counter()
    net = network or build_network(scenario)
    g = _Greedy(scenario, net)
    model = scenario.demand
    reach = earliest_arrival(scenario, net) <= scenario.deadline_min
    base = net.minutes(1.0)
    ranks = [scenario.tier_rank(s.tier) for s in scenario.sources]

    sites = sorted(enumerate(scenario.sites), key=lambda js: (-js[1].people, js[0]))
    for j, site in sites:
        outstanding = {n: float(q) for n, q in model.by_site[site.id].items()}
        loc = net.site_loc(site.id)
        nearby = sorted(
            (int(s) for s in np.flatnonzero(reach[:, j])),
            key=lambda s: (int(base[s, loc]), ranks[s], s),
        )
        while True:
            pick = g.pick(site.id, outstanding, nearby)
            if pick is None:
                break
            source_id, vehicle, timing, load = pick
            for code, q in load.items():
                need = model.item_need[site.id][code]
                outstanding[need] -= q * model.needs[need].items[code]
            g.commit(source_id, vehicle, timing, load)
    units = scenario.vehicle_units
    routes = [Route(vehicle=v.id, trips=_trips(g.days[k], g.made[k]),
                    start_min=g.made[k][0][0].after.start_min)
              for k, v in enumerate(units) if g.made[k]]
    plan = build_plan(scenario, routes, network=net, status="baseline")
    summary = plan.summary.model_copy(
        update={
            "solve_s": round(time.perf_counter() - t0, 3),
            "baseline_coverage": plan.summary.coverage,
        }
    )
    return plan.model_copy(update={"summary": summary})


def _trips(day: Day, made: list[tuple[TripTiming, dict[str, int]]]) -> list[Trip]:
    """Plan trips of one vehicle from its one-stop trip timings."""
    returns = day.returns([t for t, _ in made])
    assert returns is not None  # every trip was timed with a path back to base (``fits``)
    return [
        Trip(source=t.source, depart_min=t.depart_min, load=dict(load),
             stops=[Stop(site=t.stops[0], arrive_min=t.arrive_min[0], unload=dict(load))],
             return_min=back)
        for (t, load), back in zip(made, returns, strict=True)
    ]


class _Greedy:
    """The greedy baseline's state: stock left, every vehicle's day so far (``timing.Day``
    states, mirrored in arrays for a vectorised lower bound on arrivals)."""

    def __init__(self, scenario: Scenario, net: TravelNetwork) -> None:
        self.sc, self.net = scenario, net
        units = scenario.vehicle_units
        self.units = units
        self.stock = {s.id: dict(s.stock) for s in scenario.sources}
        self.days = [Day(scenario, net, v) for v in units]
        self.state = [d.start() for d in self.days]
        self.made: list[list[tuple[TripTiming, dict[str, int]]]] = [[] for _ in units]
        self.loc = np.array([st.loc for st in self.state], dtype=np.int64)
        self.ready = np.array([st.ready_min for st in self.state], dtype=np.int64)
        factors = sorted({v.speed_factor for v in units})
        self.factor = np.array([factors.index(v.speed_factor) for v in units], dtype=np.int64)
        self.minutes = [net.minutes(f) for f in factors]
        codes = [i.code for i in scenario.items]
        self.code_index = {c: k for k, c in enumerate(codes)}
        self.carry = np.array([[_can_carry_one(v, scenario, c) for c in codes] for v in units],
                              dtype=bool).reshape(len(units), len(codes))
        fleet: dict[str, list[int]] = defaultdict(list)
        for k, v in enumerate(units):
            for sid in v.loads_at:
                fleet[sid].append(k)
        self.fleet = {sid: np.array(ks, dtype=np.int64) for sid, ks in fleet.items()}
        self.allowed = np.zeros((len(units), len(scenario.sources)), dtype=bool)
        for sid, ks in self.fleet.items():
            self.allowed[ks, net.source_loc(sid)] = True
        self.src_ready = np.array([x.ready_min for x in scenario.sources], dtype=np.int64)
        self.src_load = np.array([x.load_min for x in scenario.sources], dtype=np.int64)

    def _open_sources(self, site_id: str) -> NDArray[np.bool_]:
        """Per source: whether some vehicle allowed there may still reach the site by the
        deadline (a lower bound on arrivals, no breaks)."""
        j = self.net.site_loc(site_id)
        n_src = len(self.src_ready)
        best = np.full(n_src, np.iinfo(np.int64).max // 4, dtype=np.int64)
        for f, m in enumerate(self.minutes):
            ks = np.flatnonzero(self.factor == f)
            if not len(ks):
                continue
            arrive = np.maximum(self.src_ready[None, :], self.ready[ks, None]
                                + m[self.loc[ks]][:, :n_src])
            arrive = arrive + self.src_load[None, :] + m[:n_src, j][None, :]
            arrive = np.where(self.allowed[ks], arrive, np.iinfo(np.int64).max // 4)
            best = np.minimum(best, arrive.min(axis=0))
        return best <= self.sc.deadline_min

    def commit(self, source_id: str, k: int, timing: TripTiming, load: dict[str, int]) -> None:
        """Record a trip of vehicle ``k``."""
        for code, q in load.items():
            self.stock[source_id][code] -= q
        self.state[k] = timing.after
        self.loc[k] = timing.after.loc
        self.ready[k] = timing.after.ready_min
        self.made[k].append((timing, load))

    def pick(self, site_id: str, outstanding: dict[str, float], nearby: Sequence[int]
             ) -> tuple[str, int, TripTiming, dict[str, int]] | None:
        """Nearest source with stock for the first servable need, its earliest-arriving
        allowed vehicle that can carry a unit of it and still end its day within its shift,
        and the load that vehicle takes."""
        sc = self.sc
        model = sc.demand
        open_sources: NDArray[np.bool_] | None = None
        for need, left in outstanding.items():
            if left <= NEED_SLACK:
                continue
            items = model.needs[need].items
            for s in nearby:
                if open_sources is None:
                    open_sources = self._open_sources(site_id)
                if not open_sources[s]:
                    continue
                source_id = sc.sources[s].id
                have = [c for c in items if self.stock[source_id].get(c, 0) > 0]
                if not have:
                    continue
                # earliest arrival first (input order on ties); the first that can take a
                # load and still end its day within its shift is sent
                for k in self._by_arrival(have, s, site_id):
                    v = self.units[k]
                    load = _load(sc, v, site_id, outstanding, self.stock[source_id])
                    if not load:
                        continue
                    kg = sum(q * sc.item(c).unit_kg for c, q in load.items())
                    day = self.days[k]
                    timing = day.time_trip(self.state[k], source_id, [(site_id, kg)])
                    if timing is not None and day.fits(timing.after):
                        return source_id, k, timing, load
        return None

    def _by_arrival(self, have: list[str], s: int, site_id: str) -> Iterator[int]:
        """Vehicles (indices) allowed at source ``s`` that can carry a unit of ``have`` and
        reach the site by the deadline, in order of arrival (input order on ties), lazily: a
        vectorised lower bound (no breaks) orders the exact ``first_arrival`` calls, and
        vehicles of one speed in the same state are timed once."""
        sc = self.sc
        source = sc.sources[s]
        deadline = sc.deadline_min
        idx = self.fleet.get(source.id)
        if idx is None:
            return
        idx = idx[self.carry[idx][:, [self.code_index[c] for c in have]].any(axis=1)]
        if not len(idx):
            return
        j = self.net.site_loc(site_id)
        lb = np.empty(len(idx), dtype=np.int64)
        for f, m in enumerate(self.minutes):
            sel = self.factor[idx] == f
            if sel.any():
                ks = idx[sel]
                lb[sel] = np.maximum(source.ready_min, self.ready[ks] + m[self.loc[ks], s]) \
                    + source.load_min + m[s, j]
        keep = lb <= deadline
        if not keep.any():
            return
        bounds = sorted(zip(lb[keep].tolist(), idx[keep].tolist(), strict=True))
        exact: list[tuple[int, int]] = []
        cache: dict[tuple[object, ...], int | None] = {}
        n = 0
        while n < len(bounds) or exact:
            if n < len(bounds) and (not exact or bounds[n][0] <= exact[0][0]):
                _, k = bounds[n]
                n += 1
                key = (self.factor[k], self.state[k])
                if key not in cache:
                    cache[key] = self.days[k].first_arrival(self.state[k], source.id, site_id)
                arrive = cache[key]
                if arrive is not None and arrive <= deadline:
                    heapq.heappush(exact, (arrive, k))
                continue
            yield heapq.heappop(exact)[1]


def _load(
    scenario: Scenario,
    v: VehicleUnit,
    site_id: str,
    outstanding: dict[str, float],
    stock: dict[str, int],
) -> dict[str, int]:
    """As much of the site's outstanding needs (priority order; each need's items in order)
    as the source has and the vehicle fits."""
    model = scenario.demand
    kg = m3 = 0.0
    load: dict[str, int] = {}
    for need, left in outstanding.items():
        for code, eq in model.needs[need].items.items():
            if left <= NEED_SLACK:
                break
            want = min(ceil_slack(left / eq), stock.get(code, 0) - load.get(code, 0))
            if want <= 0:
                continue
            item = scenario.item(code)
            q = min(want, _fit(v.capacity_kg, kg, item.unit_kg),
                    _fit(v.capacity_m3, m3, item.unit_m3))
            if q > 0:
                load[code] = load.get(code, 0) + q
                kg += q * item.unit_kg
                m3 += q * item.unit_m3
                left -= q * eq
    return load


# -- upper bound ---------------------------------------------------------------------------

BoundSolver = Literal["cp-sat", "scip", "lp"]


@dataclass(frozen=True)
class Bound:
    """An upper bound on people covered (and coverage) over all feasible plans.

    ``status``: ``optimal`` (the relaxation was solved to optimality), ``time_limit`` (the
    solver's proven bound when the limit cut it off) or ``lp_relaxation`` (the LP bound was
    the best available). ``relaxed_people`` is the relaxation's best solution (not a plan).
    """

    people_bound: int
    people_total: int
    coverage: float
    status: str
    solver: str
    relaxed_people: int | None
    lp_bound: float
    solve_s: float
    trips: dict[str, int]

    def figure(self, name: str = "flow") -> BoundFigure:
        """This bound as a plan's ``summary.bounds`` entry."""
        return BoundFigure(name=name, people=self.people_bound, coverage=self.coverage,
                           status=self.status)


@dataclass
class _Relaxation:
    """Data of the relaxation after aggregating sites with the same reachable sources."""

    people: list[int]  # per candidate site
    site_class: list[int]  # class of each candidate site
    class_sources: list[list[int]]  # reachable sources per class
    demand: list[dict[str, int]]  # per candidate site: need id -> quantity
    stock: list[dict[str, int]]  # per source
    cap_kg: list[float]  # per source: fleet kg deliverable by the deadline (inf: unbounded)
    cap_m3: list[float]
    kg: dict[str, float]
    m3: dict[str, float]
    free_people: int  # people of sites with no demand (always covered)
    need_items: dict[str, dict[str, float]] = field(default_factory=dict)  # units per item


def trip_cycles(scenario: Scenario, network: TravelNetwork, vehicle: VehicleUnit,
                reach: NDArray[np.bool_]) -> tuple[float, float]:
    """(first, cycle) of a vehicle: a lower bound on its first trip's first arrival at any
    site it can serve in time, and on how long any of its trips lasts from loading start to
    the next loading start (or the return to base).

    cycle = min over its sources s of load_s + min_j (t(s,j) + service_j + min_e t(j,e)),
    e ranging over its sources and its base (triangle inequality: every stop of a trip lies
    on its path from s to its end); first = min_s max(ready_s, available + t(base,s)) +
    min_s (load_s + min_{j in reach} t(s,j)). ``first`` is inf when it can serve nothing.
    """
    m = network.minutes(vehicle.speed_factor)
    rows = [network.source_loc(x) for x in vehicle.loads_at]
    if not rows:
        return math.inf, math.inf
    base = network.place_loc(vehicle.base)
    ends = sorted({*rows, base})
    service = np.array([x.service_min for x in scenario.sites], dtype=float)
    out_t = m[np.ix_(rows, range(network.sites.start, network.sites.stop))].astype(float)
    back_t = m[np.ix_(range(network.sites.start, network.sites.stop), ends)].min(axis=1)
    back_t = back_t.astype(float)
    has_path = (out_t < UNREACHABLE) & (back_t < UNREACHABLE)[None, :]
    in_time = has_path & reach[rows]
    approach = m[base, rows].astype(float)
    sources = [scenario.source_map[x] for x in vehicle.loads_at]
    load = np.array([x.load_min for x in sources], dtype=float)
    ready = np.array([x.ready_min for x in sources], dtype=float)
    if not in_time.any():
        return math.inf, math.inf
    start = np.where(approach < UNREACHABLE, np.maximum(ready, vehicle.available_min + approach),
                     math.inf)
    reach_t = np.where(in_time, out_t, math.inf).min(axis=1)
    first = float(start.min() + (load + reach_t).min())
    cyc = np.where(has_path, out_t + service[None, :] + back_t[None, :], math.inf).min(axis=1)
    return first, float((load + cyc).min())


def trips_by_deadline(
    scenario: Scenario, network: TravelNetwork, reach: NDArray[np.bool_]
) -> dict[str, float]:
    """Most trips each vehicle can make that deliver anything by the deadline.

    The k-th trip's first arrival is at least first + (k-1) cycle (``trip_cycles``); for a
    v1 vehicle that is T0 + (k-1) c + load_min + min_{j in reach} t(s,j) with
    c = load_min + min_j (t(s,j) + service_j + t(j,s)) and T0 = max(ready_min,
    available_min). ``inf`` when the cycle is 0.
    """
    out: dict[str, float] = {}
    for v in scenario.vehicle_units:
        first, cycle = trip_cycles(scenario, network, v, reach)
        slack = scenario.deadline_min - first
        if not math.isfinite(first) or slack < 0:
            out[v.id] = 0
        elif cycle <= 0:
            out[v.id] = math.inf
        else:
            out[v.id] = math.floor(slack / cycle) + 1
    return out


FLOW_BUDGET = 10_000  # (class, source, item) flow variables before classes are merged


def _relaxation(
    scenario: Scenario, network: TravelNetwork, flow_budget: int = FLOW_BUDGET
) -> tuple[_Relaxation, dict[str, float]]:
    demand = scenario_demand(scenario)
    reach = earliest_arrival(scenario, network) <= scenario.deadline_min  # (S, N)
    trips = trips_by_deadline(scenario, network, reach)
    cap_kg = [0.0] * len(scenario.sources)
    cap_m3 = [0.0] * len(scenario.sources)
    for v in scenario.vehicle_units:
        for sid in v.loads_at:  # a vehicle loading at several sources counts at each
            s = network.source_loc(sid)
            cap_kg[s] += v.capacity_kg * trips[v.id] if trips[v.id] else 0.0
            cap_m3[s] += v.capacity_m3 * trips[v.id] if trips[v.id] else 0.0
    classes: dict[bytes, int] = {}
    class_reach: list[NDArray[np.bool_]] = []
    rel = _Relaxation(
        people=[],
        site_class=[],
        class_sources=[],
        demand=[],
        stock=[dict(s.stock) for s in scenario.sources],
        cap_kg=cap_kg,
        cap_m3=cap_m3,
        kg={i.code: i.unit_kg for i in scenario.items},
        m3={i.code: i.unit_m3 for i in scenario.items},
        free_people=0,
        need_items={n.id: dict(n.items) for n in scenario.demand.needs.values()},
    )
    for j, site in enumerate(scenario.sites):
        if site.people == 0:
            continue
        need = demand[site.id]
        if not need:
            rel.free_people += site.people
            continue
        sources = np.flatnonzero(reach[:, j])
        if any(all(rel.stock[s].get(c, 0) == 0 for s in sources for c in rel.need_items[n])
               for n in need):
            continue  # some need cannot be met from anywhere in time: never covered
        key = np.packbits(reach[:, j]).tobytes()
        if key not in classes:
            classes[key] = len(class_reach)
            class_reach.append(reach[:, j])
        rel.people.append(site.people)
        rel.site_class.append(classes[key])
        rel.demand.append(need)
    n_items = max(1, len({c for need in rel.demand for c in need}))
    label = _merge_classes(np.array(class_reach, dtype=bool), flow_budget // n_items)
    merged: dict[int, int] = {}
    for old in label:
        merged.setdefault(int(old), len(merged))
    for k, c in enumerate(rel.site_class):
        rel.site_class[k] = merged[int(label[c])]
    union: dict[int, NDArray[np.bool_]] = {}
    for c, row in enumerate(class_reach):
        m = merged[int(label[c])]
        union[m] = row if m not in union else union[m] | row
    rel.class_sources = [[int(s) for s in np.flatnonzero(union[m])] for m in range(len(union))]
    return rel, trips


def _merge_classes(reach: NDArray[np.bool_], pair_budget: int) -> NDArray[np.int64]:
    """Merge site classes (rows: reachable sources) until the reachable (class, source) pairs
    fit ``pair_budget``; a merged class may draw from the union of its members' sources.

    This only adds flow options, so the relaxation stays an upper bound, just a looser one.
    Greedy: merge the two classes whose source sets differ least (Hamming distance).
    Returns, per input class, the index of the class it was merged into.
    """
    n = len(reach)
    label = np.arange(n)
    if n == 0 or int(reach.sum()) <= pair_budget:
        return label
    r = reach.astype(np.float64)
    size = r.sum(axis=1)
    dist = size[:, None] + size[None, :] - 2 * (r @ r.T)
    np.fill_diagonal(dist, np.inf)
    alive = np.ones(n, dtype=bool)
    total = float(size.sum())
    while total > pair_budget and alive.sum() > 1:
        a, b = np.unravel_index(int(np.argmin(dist)), dist.shape)
        total -= size[a] + size[b]
        r[a] = np.maximum(r[a], r[b])
        size[a] = r[a].sum()
        total += size[a]
        alive[b] = False
        label[label == b] = a
        dist[b, :] = dist[:, b] = np.inf
        row = size + size[a] - 2 * (r @ r[a])
        row[~alive] = np.inf
        row[a] = np.inf
        dist[a, :] = dist[:, a] = row
    return label


def _class_items(rel: _Relaxation) -> list[dict[str, list[int]]]:
    """Per class: item -> indices of the member sites that demand it."""
    out: list[dict[str, list[int]]] = [defaultdict(list) for _ in rel.class_sources]
    for k, need in enumerate(rel.demand):
        for code in need:
            out[rel.site_class[k]][code].append(k)
    return out


def _solve_linear(
    rel: _Relaxation, backend: str, integral: bool, limit_s: float
) -> tuple[float | None, float | None, str]:
    """SCIP (MIP) or GLOP (LP relaxation): returns (bound, incumbent, status)."""
    solver = pywraplp.Solver.CreateSolver(backend)
    if solver is None:
        raise RuntimeError(f"OR-Tools has no {backend} solver")
    solver.SetTimeLimit(int(limit_s * 1000))
    inf = solver.infinity()
    y = [
        solver.IntVar(0, 1, f"y{k}") if integral else solver.NumVar(0, 1, f"y{k}")
        for k in range(len(rel.people))
    ]
    by_source: dict[int, list[tuple[str, object]]] = defaultdict(list)
    for c, items in enumerate(_class_items(rel)):
        for need, members in items.items():
            flow = []
            for s in rel.class_sources[c]:
                for code, eq in rel.need_items[need].items():
                    if rel.stock[s].get(code, 0) > 0:
                        x = solver.NumVar(0, inf, f"x{c}_{s}_{need}_{code}")
                        flow.append(eq * x)
                        by_source[s].append((code, x))
            solver.Add(
                solver.Sum(flow) >= solver.Sum([rel.demand[k][need] * y[k] for k in members])
            )
    for s, flows in by_source.items():
        for code in sorted({c for c, _ in flows}):  # rows in a fixed order
            solver.Add(solver.Sum([x for c, x in flows if c == code]) <= rel.stock[s][code])
        if math.isfinite(rel.cap_kg[s]):
            solver.Add(solver.Sum([rel.kg[c] * x for c, x in flows]) <= rel.cap_kg[s])
        if math.isfinite(rel.cap_m3[s]):
            solver.Add(solver.Sum([rel.m3[c] * x for c, x in flows]) <= rel.cap_m3[s])
    solver.Maximize(solver.Sum([p * yk for p, yk in zip(rel.people, y, strict=True)]))
    status = solver.Solve()
    if status == pywraplp.Solver.OPTIMAL:
        value = solver.Objective().Value()
        return (value if not integral else solver.Objective().BestBound()), value, "optimal"
    if status == pywraplp.Solver.FEASIBLE and integral:
        return solver.Objective().BestBound(), solver.Objective().Value(), "time_limit"
    return None, None, "unsolved"


_EQ_SCALE = 1000  # thousandths of a unit of need
_KG_SCALE = 1000  # grams
_M3_SCALE = 1_000_000  # cm3


def _solve_cpsat(rel: _Relaxation, limit_s: float) -> tuple[float | None, float | None, str]:
    """CP-SAT on the integer relaxation, with coefficients rounded in the relaxing direction."""
    model = cp_model.CpModel()
    y = [model.NewBoolVar(f"y{k}") for k in range(len(rel.people))]
    by_source: dict[int, list[tuple[str, cp_model.IntVar]]] = defaultdict(list)
    for c, items in enumerate(_class_items(rel)):
        for need, members in items.items():
            flow = []
            for s in rel.class_sources[c]:
                for code, eq in rel.need_items[need].items():
                    have = rel.stock[s].get(code, 0)
                    if have > 0:
                        # units of need per item rounded up: a looser, still valid constraint
                        x = model.NewIntVar(0, have, f"x{c}_{s}_{need}_{code}")
                        flow.append(math.ceil(eq * _EQ_SCALE - 1e-9) * x)
                        by_source[s].append((code, x))
            model.Add(sum(flow) >= sum(rel.demand[k][need] * _EQ_SCALE * y[k] for k in members))
    for s, flows in by_source.items():
        for code in sorted({c for c, _ in flows}):  # rows in a fixed order
            model.Add(sum(x for c, x in flows if c == code) <= rel.stock[s][code])
        for cap, unit, scale in (
            (rel.cap_kg[s], rel.kg, _KG_SCALE),
            (rel.cap_m3[s], rel.m3, _M3_SCALE),
        ):
            if math.isfinite(cap):
                # floor the weights, ceil the capacity: a looser, still valid constraint
                model.Add(
                    sum(math.floor(unit[c] * scale) * x for c, x in flows) <= math.ceil(cap * scale)
                )
    model.Maximize(sum(p * yk for p, yk in zip(rel.people, y, strict=True)))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = limit_s
    solver.parameters.num_workers = max(1, min(8, os.cpu_count() or 1))
    status = solver.Solve(model)
    if status == cp_model.OPTIMAL:
        return solver.ObjectiveValue(), solver.ObjectiveValue(), "optimal"
    if status == cp_model.FEASIBLE:
        return solver.BestObjectiveBound(), solver.ObjectiveValue(), "time_limit"
    return None, None, "unsolved"


def coverage_upper_bound(
    scenario: Scenario,
    time_limit_s: float = 10.0,
    *,
    network: TravelNetwork | None = None,
    solver: BoundSolver = "scip",
) -> Bound:
    """Upper bound on the people any feasible plan can cover by the deadline.

    Solves the routing-free relaxation (docs/planning.md) as an LP (GLOP, always) and as a
    MIP with ``solver`` ("scip" default, "cp-sat", or "lp" for the LP only) within
    ``time_limit_s``; reports the smaller of the proven bounds, so a time limit never yields
    an invalid bound.
    """
    t0 = time.perf_counter()
    net = network or build_network(scenario)
    rel, trips = _relaxation(scenario, net)
    total = sum(s.people for s in scenario.sites)
    lp, _, _ = _solve_linear(rel, "GLOP", integral=False, limit_s=max(1.0, time_limit_s))
    candidates: list[tuple[float, str, str]] = []
    if lp is not None:
        # GLOP works to ~1e-7 relative; never let tolerance push the bound below the truth
        candidates.append((lp * (1 + 1e-7) + 1e-6, "lp_relaxation", "GLOP"))
    relaxed: float | None = None
    if solver != "lp":
        if solver == "cp-sat":
            bound, relaxed, status = _solve_cpsat(rel, time_limit_s)
            name = "CP-SAT"
        else:
            bound, relaxed, status = _solve_linear(rel, "SCIP", integral=True, limit_s=time_limit_s)
            bound = None if bound is None else bound * (1 + 1e-7) + 1e-6
            name = "SCIP"
        if bound is not None:
            candidates.append((bound, status, name))
    if not candidates:
        candidates.append((float(sum(rel.people)), "trivial", "none"))
    # the smallest proven bound; on a tie, report the MIP's status
    value, status, name = min(candidates, key=lambda c: (c[0], c[1] == "lp_relaxation"))
    people_bound = min(sum(rel.people), math.floor(value)) + rel.free_people
    return Bound(
        people_bound=people_bound,
        people_total=total,
        coverage=people_bound / total if total else 1.0,
        status=status,
        solver=name,
        relaxed_people=None if relaxed is None else round(relaxed) + rel.free_people,
        lp_bound=(lp if lp is not None else math.inf) + rel.free_people,
        solve_s=round(time.perf_counter() - t0, 3),
        trips={k: (v if math.isfinite(v) else -1) for k, v in trips.items()},
    )
