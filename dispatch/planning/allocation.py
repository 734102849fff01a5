"""Allocation: which source sends how much of which item to which site (before routing).

Sites are grouped into clusters (same reachable sources, within ``cluster_minutes`` of the
cluster's biggest site, at most ``cluster_size`` sites); flows run from sources to clusters,
deliveries from clusters to sites. Two stages on that model:

1. **Coverage** (MIP; SCIP by default, CP-SAT or an LP dive on request): choose the sites to
   cover fully, maximising the people covered, under stock, reach (a vehicle of the source
   can arrive by the deadline), the most each source's fleet can carry by the deadline (the
   bound's ``K_s``), per-pair direct-trip limits and a vehicle-time budget per source.
2. **Flows** (LP, GLOP): with the stage-1 sites held covered (and the others not), maximise
   the fill rate, then draw lower tiers first (``policy.tier_order``), then prefer short
   trips. Flows are rounded to whole units by a min-cost flow per item (OR-Tools
   ``SimpleMinCostFlow``) and handed to the cluster's sites so that each site gets its
   items from as few sources as possible.

Vehicle time. Source s has ``time_factor * alpha_s * sum_v H_v`` vehicle-minutes (``H_v``:
from the vehicle's start to the deadline plus a typical drive home, since the last trip only
has to *arrive* in time). Serving cluster c costs ``cycle_sc`` (load, out, back) per trip and
``service + drive between sites`` per stop; trips to c must carry the weight and the volume
(mean vehicle capacity) and fit the stops into a vehicle's working window; stops at c are at
least the share of each item s brings times the sites of c that need it.

docs/planning.md ("Allocation") gives the model, the measurements behind the defaults and
why the solvers were chosen.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from dispatch.planning.needs import scenario_demand
from dispatch.planning.network import UNREACHABLE, TravelNetwork, build_network, earliest_arrival
from dispatch.planning.problem import Scenario, VehicleUnit

log = logging.getLogger(__name__)

AllocationSolver = Literal["scip", "cp-sat", "lp"]

# Stage-2 objective weights (per unit of the flow variables), see docs/planning.md.
FILL_WEIGHT = 1e6  # per "fill person": one person's whole demand of one item / items of the site
TIER_WEIGHT = 1e3  # per kg and tier rank step
TIME_WEIGHT = 1.0  # per kg and minute of one-way travel
_EPS = 1e-6
_STAGE2_S = 10.0  # the flow LP always gets at least this (it takes ~2 s at 600 sites)


@dataclass(frozen=True)
class AllocationParams:
    """Parameters of ``allocate`` (frozen, validated).

    ``solver``: stage-1 coverage model: ``scip`` (MIP), ``cp-sat`` (MIP in integers) or
    ``lp`` (LP relaxation, then dive: fix the most nearly covered site and re-solve).
    ``capacity_factor``: ``alpha_s`` per source id (missing: 1.0).
    """

    solver: AllocationSolver = "scip"
    time_limit_s: float = 10.0
    township_candidates: int = 6
    source_candidates: int = 5
    cluster_minutes: float = 30.0
    cluster_size: int = 12
    capacity_factor: Mapping[str, float] = field(default_factory=dict)
    time_factor: float = 0.75
    mip_gap: float = 5e-4
    seed: int = 0

    def __post_init__(self) -> None:
        """Reject out-of-range values with the offending field name."""
        if self.solver not in ("scip", "cp-sat", "lp"):
            raise ValueError(f"unknown solver {self.solver!r}")
        if not (self.time_limit_s > 0 and math.isfinite(self.time_limit_s)):
            raise ValueError("time_limit_s must be a positive number")
        if self.township_candidates < 1 or self.source_candidates < 0:
            raise ValueError("township_candidates >= 1 and source_candidates >= 0")
        if self.cluster_minutes < 0 or self.cluster_size < 1:
            raise ValueError("cluster_minutes >= 0 and cluster_size >= 1")
        if not 0 < self.time_factor <= 2:
            raise ValueError("time_factor must be in (0, 2]")
        if any(not (a >= 0 and math.isfinite(a)) for a in self.capacity_factor.values()):
            raise ValueError("capacity_factor values must be finite and >= 0")
        if not 0 <= self.mip_gap < 1:
            raise ValueError("mip_gap must be in [0, 1)")


@dataclass(frozen=True)
class Allocation:
    """What each source sends to each site, and which sites the plan means to cover.

    ``flows[(source_id, site_id)]`` maps item code -> whole units (only positive entries).
    ``covered`` are the sites whose whole demand is allocated; ``people_planned`` their
    people. ``bound_people`` is stage 1's proven bound (with the fleet-time model, so it is
    *not* a bound on feasible plans: use ``coverage_upper_bound`` for that).
    """

    flows: dict[tuple[str, str], dict[str, int]]
    covered: frozenset[str]
    people_planned: int
    status: str
    solver: str
    solve_s: float
    bound_people: float | None = None
    usage: dict[str, float] = field(default_factory=dict)  # source -> share of R_s used
    clusters: int = 0

    def by_source(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{source: {site: {item: qty}}}``."""
        out: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
        for (s, j), load in self.flows.items():
            out[s][j] = load
        return dict(out)


# -- fleet-time model -----------------------------------------------------------------------


@dataclass(frozen=True)
class FleetModel:
    """Per-source fleet figures used by allocation (and by solve to size routing)."""

    units: dict[str, list[VehicleUnit]]  # source id -> its vehicles
    vehicle_minutes: NDArray[np.float64]  # (S,) sum_v H_v
    window: NDArray[np.float64]  # (S,) mean H_v: the longest a trip can usefully last
    speed: NDArray[np.float64]  # (S,) capacity-weighted mean speed factor
    mean_kg: NDArray[np.float64]  # (S,) mean vehicle capacity
    mean_m3: NDArray[np.float64]
    cycle: NDArray[np.float64]  # (S, N) load + out + back minutes at the fleet's mean speed
    out: NDArray[np.float64]  # (S, N) one-way minutes at the fleet's mean speed
    pair_kg: NDArray[np.float64]  # (S, N) kg direct trips can bring by the deadline
    pair_m3: NDArray[np.float64]
    load_kg: NDArray[np.float64]  # (S,) sum_v cap_kg * trips_by_deadline (valid for any plan)
    load_m3: NDArray[np.float64]


def fleet_model(
    scenario: Scenario, network: TravelNetwork, free_at: Mapping[str, int] | None = None
) -> FleetModel:
    """Capacity-minutes per source, per-pair trip limits and the most each source's fleet
    can carry by the deadline (see the module docstring). ``free_at``: minute from which a
    vehicle (expanded id) is free, for planning what is left after some trips are fixed."""
    free_at = free_at or {}
    n_src = network.n_sources
    n_site = len(network.site_ids)
    deadline = scenario.deadline_min
    service = np.array([s.service_min for s in scenario.sites], dtype=float)
    units: dict[str, list[VehicleUnit]] = defaultdict(list)
    for v in scenario.vehicle_units:
        units[v.source].append(v)
    minutes = np.zeros(n_src)
    window = np.zeros(n_src)
    mean_kg = np.zeros(n_src)
    mean_m3 = np.zeros(n_src)
    speeds = np.ones(n_src)
    cycle = np.full((n_src, n_site), np.inf)
    out = np.full((n_src, n_site), np.inf)
    pair_kg = np.zeros((n_src, n_site))
    pair_m3 = np.zeros((n_src, n_site))
    load_kg = np.zeros(n_src)
    load_m3 = np.zeros(n_src)
    for s, source in enumerate(scenario.sources):
        fleet = units.get(source.id, [])
        if not fleet or n_site == 0:
            continue
        total_kg = sum(v.capacity_kg for v in fleet)
        speed = sum(v.capacity_kg * v.speed_factor for v in fleet) / total_kg
        speeds[s] = speed
        go = network.base_min[s, n_src:] / speed
        back = network.base_min[n_src:, s] / speed
        out[s] = go
        cycle[s] = source.load_min + go + back
        finite = np.isfinite(go)
        typical_back = float(np.median(back[finite])) if finite.any() else 0.0
        mean_kg[s] = total_kg / len(fleet)
        mean_m3[s] = sum(v.capacity_m3 for v in fleet) / len(fleet)
        for v in fleet:
            start = max(source.ready_min, v.available_min, free_at.get(v.id, 0))
            horizon = max(0.0, deadline - start + typical_back)
            minutes[s] += horizon
            window[s] += horizon / len(fleet)
            m = network.minutes(v.speed_factor)
            t_go = m[s, n_src:].astype(float)
            t_back = m[n_src:, s].astype(float)
            ok = (t_go < UNREACHABLE) & (t_back < UNREACHABLE)
            slack = deadline - start - source.load_min - t_go
            trip = source.load_min + t_go + service + t_back
            n = np.where(ok & (slack >= 0), np.floor(np.maximum(slack, 0) / trip) + 1, 0)
            pair_kg[s] += n * v.capacity_kg
            pair_m3[s] += n * v.capacity_m3
            # most trips of v that can deliver anything by the deadline (the bound's n_v,
            # from the vehicle's start): every trip lasts at least the shortest cycle
            if ok.any():
                first = float(np.min(t_go[ok]))
                shortest = source.load_min + float(np.min((t_go + service + t_back)[ok]))
                room = deadline - start - source.load_min - first
                k = 0.0 if room < 0 else math.inf if shortest <= 0 else room // shortest + 1
                load_kg[s] += v.capacity_kg * k if k else 0.0
                load_m3[s] += v.capacity_m3 * k if k else 0.0
    big = 1e12  # an unbounded trip count (zero-length cycle) caps nothing
    return FleetModel(
        dict(units), minutes, window, speeds, mean_kg, mean_m3, cycle, out, pair_kg, pair_m3,
        np.minimum(load_kg, big), np.minimum(load_m3, big),
    )


# -- the model --------------------------------------------------------------------------------


@dataclass
class _Data:
    """The aggregated allocation model's data (sites grouped into clusters)."""

    sites: list[int]  # candidate site indices (into scenario.sites)
    demand: dict[int, dict[str, int]]  # site -> item -> qty
    people: dict[int, int]
    clusters: list[list[int]]  # cluster -> member sites
    cdemand: list[dict[str, int]]  # cluster -> item -> total qty of its members
    cneed: list[dict[str, int]]  # cluster -> item -> members demanding it
    pairs: dict[tuple[int, str], list[int]]  # (cluster, item) -> candidate sources
    stock: list[dict[str, int]]
    kg: dict[str, float]
    m3: dict[str, float]
    cycle: dict[tuple[int, int], float]  # (s, c) -> minutes per trip (load, out, back)
    stop: dict[tuple[int, int], float]  # (s, c) -> vehicle-minutes of one stop
    pair_kg: dict[tuple[int, int], float]  # (s, c) -> kg direct trips bring by the deadline
    pair_m3: dict[tuple[int, int], float]
    minutes: list[float]  # alpha_s * sum_v H_v
    window: list[float]  # mean H_v
    mean_kg: list[float]  # mean vehicle capacity
    mean_m3: list[float]
    load_kg: list[float]  # K_s
    load_m3: list[float]
    fill_value: dict[tuple[int, str], float]  # (site, item) -> fill persons per unit
    cost: dict[tuple[int, int, str], float]  # (s, c, item) -> stage-2 cost per unit
    ranks: list[int]
    coverable: set[int]  # sites whose every item has a candidate source


def _hops(network: TravelNetwork) -> NDArray[np.float64]:
    """Per site: minutes (speed factor 1) from its nearest other site (0 when alone)."""
    n_src = network.n_sources
    between = network.base_min[n_src:, n_src:].copy()
    if len(between) < 2:
        return np.zeros(len(between))
    np.fill_diagonal(between, np.inf)
    hop = np.min(between, axis=0)
    return np.where(np.isfinite(hop), hop, 0.0)


def _cluster_hops(
    clusters: list[list[int]], between: NDArray[np.float64], nearest: NDArray[np.float64]
) -> dict[int, float]:
    """Per site: the mean drive from the other sites of its cluster (a trip serving a
    cluster drives about that far between stops); the nearest site for a lone site."""
    out: dict[int, float] = {}
    for members in clusters:
        for j in members:
            others = [between[k, j] for k in members if k != j and np.isfinite(between[k, j])]
            out[j] = float(np.mean(others)) if others else float(nearest[j])
    return out


def _cluster(
    sites: list[int],
    people: dict[int, int],
    reach: NDArray[np.bool_],
    between: NDArray[np.float64],
    radius: float,
    size: int,
) -> list[list[int]]:
    """Leader clustering: sites (most people first) join the nearest leader within
    ``radius`` minutes that has the same reachable sources, up to ``size`` members."""
    leaders: dict[bytes, list[int]] = defaultdict(list)
    members: dict[int, list[int]] = {}
    for j in sorted(sites, key=lambda k: (-people[k], k)):
        key = np.packbits(reach[:, j]).tobytes()
        best, best_t = None, radius
        for lead in leaders[key]:
            t = max(between[lead, j], between[j, lead])
            if t <= best_t and len(members[lead]) < size:
                best, best_t = lead, t
        if best is None:
            leaders[key].append(j)
            members[j] = [j]
        else:
            members[best].append(j)
    return [sorted(m) for _, m in sorted(members.items())]


def _prepare(
    scenario: Scenario,
    network: TravelNetwork,
    demand: dict[str, dict[str, int]],
    params: AllocationParams,
    fleet: FleetModel,
    stock_left: Mapping[str, Mapping[str, int]] | None = None,
) -> _Data:
    n_src = network.n_sources
    deadline = scenario.deadline_min
    reach = earliest_arrival(scenario, network) <= deadline
    for s, source in enumerate(scenario.sources):
        if not fleet.units.get(source.id):
            reach[s] = False
    stock = [dict(stock_left[s.id]) if stock_left is not None else dict(s.stock)
             for s in scenario.sources]
    kg = {i.code: i.unit_kg for i in scenario.items}
    m3 = {i.code: i.unit_m3 for i in scenario.items}
    ranks = [scenario.tier_rank(s.tier) for s in scenario.sources]
    base = network.base_min[:n_src, n_src:]
    between = network.base_min[n_src:, n_src:]
    township = np.array([s.tier == "township" for s in scenario.sources])
    alpha = params.time_factor * np.array(
        [params.capacity_factor.get(s.id, 1.0) for s in scenario.sources])

    sites: list[int] = []
    dem: dict[int, dict[str, int]] = {}
    for j, site in enumerate(scenario.sites):
        need = demand[site.id]
        if site.people == 0 or not need:
            continue
        srcs = np.flatnonzero(reach[:, j])
        if any(stock[s].get(code, 0) > 0 for code in need for s in srcs):
            sites.append(j)
            dem[j] = need
    people = {j: scenario.sites[j].people for j in sites}
    clusters = _cluster(sites, people, reach, between, params.cluster_minutes,
                        params.cluster_size)
    cdemand: list[dict[str, int]] = []
    cneed: list[dict[str, int]] = []
    for members in clusters:
        total: dict[str, int] = defaultdict(int)
        count: dict[str, int] = defaultdict(int)
        for j in members:
            for code, q in dem[j].items():
                total[code] += q
                count[code] += 1
        cdemand.append(dict(total))
        cneed.append(dict(count))

    # candidate (source, cluster, item): non-township sources, nearest townships, and each
    # source's nearest clusters
    ctime = np.array([base[:, m].mean(axis=1) for m in clusters]).T if clusters else \
        np.zeros((n_src, 0))
    keep: set[tuple[int, int, str]] = set()
    by_source_item: dict[tuple[int, str], list[int]] = defaultdict(list)
    for c, members in enumerate(clusters):
        srcs = [int(s) for s in np.flatnonzero(reach[:, members[0]])]
        for code in cdemand[c]:
            cand = [s for s in srcs if stock[s].get(code, 0) > 0]
            towns = sorted((s for s in cand if township[s]), key=lambda s: (ctime[s, c], s))
            for s in [s for s in cand if not township[s]] + towns[: params.township_candidates]:
                keep.add((s, c, code))
            for s in cand:
                by_source_item[s, code].append(c)
    for (s, code), cs in by_source_item.items():
        for c in sorted(cs, key=lambda c: (ctime[s, c], c))[: params.source_candidates]:
            keep.add((s, c, code))
    pairs: dict[tuple[int, str], list[int]] = {}
    for s, c, code in sorted(keep):
        pairs.setdefault((c, code), []).append(s)

    hop = _cluster_hops(clusters, between, _hops(network))
    cycle: dict[tuple[int, int], float] = {}
    stop_min: dict[tuple[int, int], float] = {}
    pair_kg: dict[tuple[int, int], float] = {}
    pair_m3: dict[tuple[int, int], float] = {}
    cost: dict[tuple[int, int, str], float] = {}
    for s, c, code in keep:
        members = clusters[c]
        if (s, c) not in cycle:
            cycle[s, c] = float(fleet.cycle[s, members].mean())
            stop_min[s, c] = float(np.mean([scenario.sites[j].service_min
                                            + hop[j] / fleet.speed[s] for j in members]))
            pair_kg[s, c] = float(fleet.pair_kg[s, members].max())
            pair_m3[s, c] = float(fleet.pair_m3[s, members].max())
        cost[s, c, code] = kg[code] * (TIER_WEIGHT * ranks[s] + TIME_WEIGHT * ctime[s, c])
    cluster_of = {j: c for c, m in enumerate(clusters) for j in m}
    coverable = {j for j in sites if all((cluster_of[j], code) in pairs for code in dem[j])}
    fill_value = {
        (j, code): people[j] / (len(dem[j]) * q) for j in sites for code, q in dem[j].items()
    }
    return _Data(
        sites=sites, demand=dem, people=people, clusters=clusters, cdemand=cdemand,
        cneed=cneed, pairs=pairs, stock=stock, kg=kg, m3=m3, cycle=cycle, stop=stop_min,
        pair_kg=pair_kg, pair_m3=pair_m3, minutes=list(alpha * fleet.vehicle_minutes),
        window=list(fleet.window), mean_kg=list(fleet.mean_kg), mean_m3=list(fleet.mean_m3),
        load_kg=list(fleet.load_kg), load_m3=list(fleet.load_m3), fill_value=fill_value,
        cost=cost, ranks=ranks, coverable=coverable,
    )


class _Linear:
    """The aggregated model in pywraplp (SCIP or GLOP), built with the low-level API."""

    def __init__(self, data: _Data, backend: str, integral: bool) -> None:
        self.data = data
        solver = pywraplp.Solver.CreateSolver(backend)
        if solver is None:
            raise RuntimeError(f"OR-Tools has no {backend} solver")
        self.solver = solver
        inf = solver.infinity()
        new_y = solver.IntVar if integral else solver.NumVar
        self.y = {j: new_y(0, 1 if j in data.coverable else 0, "") for j in data.sites}
        self.u: dict[tuple[int, str], pywraplp.Variable] = {}
        self.x: dict[tuple[int, int, str], pywraplp.Variable] = {}
        balance: dict[tuple[int, str], pywraplp.Constraint] = {}
        for c, members in enumerate(data.clusters):
            for code in data.cdemand[c]:
                if (c, code) in data.pairs:
                    balance[c, code] = solver.Constraint(0, 0)
            for j in members:
                for code, q in data.demand[j].items():
                    u = solver.NumVar(0, q if (c, code) in data.pairs else 0, "")
                    self.u[j, code] = u
                    cover = solver.Constraint(0, inf)  # u - q y >= 0
                    cover.SetCoefficient(u, 1)
                    cover.SetCoefficient(self.y[j], -q)
                    if (c, code) in balance:
                        balance[c, code].SetCoefficient(u, -1)
        by_source: dict[int, list[tuple[int, str, pywraplp.Variable]]] = defaultdict(list)
        by_pair: dict[tuple[int, int], list[tuple[str, pywraplp.Variable]]] = defaultdict(list)
        for (c, code), srcs in data.pairs.items():
            for s in srcs:
                x = solver.NumVar(0, min(data.cdemand[c][code], data.stock[s][code]), "")
                self.x[s, c, code] = x
                balance[c, code].SetCoefficient(x, 1)
                by_source[s].append((c, code, x))
                by_pair[s, c].append((code, x))
        for s, flows in by_source.items():
            wanted: dict[str, int] = defaultdict(int)
            for c, code, _ in flows:
                wanted[code] += data.cdemand[c][code]
            stock_ct = {code: solver.Constraint(-inf, data.stock[s][code])
                        for code, w in wanted.items() if w > data.stock[s][code]}
            # vehicle-minutes: trips to each cluster (cycle each) plus stops (service + hop)
            busy = solver.Constraint(-inf, data.minutes[s])
            load_kg = solver.Constraint(-inf, data.load_kg[s])
            load_m3 = solver.Constraint(-inf, data.load_m3[s])
            for _, code, x in flows:
                if code in stock_ct:
                    stock_ct[code].SetCoefficient(x, 1)
                load_kg.SetCoefficient(x, data.kg[code])
                load_m3.SetCoefficient(x, data.m3[code])
            for c in sorted({c for c, _, _ in flows}):
                # z: stops of s in cluster c, at least the share of each item it brings
                z = solver.NumVar(0, len(data.clusters[c]), "")
                for code, x in by_pair[s, c]:
                    ct = solver.Constraint(-inf, 0)
                    ct.SetCoefficient(x, data.cneed[c][code] / data.cdemand[c][code])
                    ct.SetCoefficient(z, -1)
                # t: trips of s to cluster c, enough for the weight, the volume, and the
                # stops (a trip cannot last longer than a vehicle's working window)
                t = solver.NumVar(0, inf, "")
                for unit, mean in ((data.kg, data.mean_kg[s]), (data.m3, data.mean_m3[s])):
                    ct = solver.Constraint(0, inf)
                    ct.SetCoefficient(t, mean)
                    for code, x in by_pair[s, c]:
                        ct.SetCoefficient(x, -unit[code])
                room = data.window[s] - data.cycle[s, c]
                ct = solver.Constraint(0, inf)
                ct.SetCoefficient(t, max(room, 1.0))
                ct.SetCoefficient(z, -data.stop[s, c])
                busy.SetCoefficient(t, data.cycle[s, c])
                busy.SetCoefficient(z, data.stop[s, c])
        for (s, c), flows in by_pair.items():
            for cap, unit in ((data.pair_kg[s, c], data.kg), (data.pair_m3[s, c], data.m3)):
                if cap < sum(unit[code] * data.cdemand[c][code] for code, _ in flows):
                    ct = solver.Constraint(-inf, cap)
                    for code, x in flows:
                        ct.SetCoefficient(x, unit[code])

    def coverage_objective(self) -> None:
        """Maximise the people of covered sites."""
        obj = self.solver.Objective()
        obj.Clear()
        for j, y in self.y.items():
            obj.SetCoefficient(y, self.data.people[j])
        obj.SetMaximization()

    def flow_objective(self) -> None:
        """Maximise fill, then draw lower tiers first, then shorter trips (stage 2)."""
        d = self.data
        obj = self.solver.Objective()
        obj.Clear()
        for (j, code), u in self.u.items():
            obj.SetCoefficient(u, FILL_WEIGHT * d.fill_value[j, code])
        for key, x in self.x.items():
            obj.SetCoefficient(x, -d.cost[key])
        obj.SetMaximization()

    def fix(self, chosen: set[int]) -> None:
        """Hold the chosen sites covered and the others not."""
        for j, var in self.y.items():
            v = 1.0 if j in chosen else 0.0
            var.SetBounds(v, v)


Stage1 = tuple[set[int] | None, float | None, str]
_STAGE2_FALLBACKS = ("CLP", "SCIP")


def _stage2(model: _Linear, chosen: set[int], params: AllocationParams, t0: float) -> bool:
    """Solve the flows LP with ``chosen`` held covered; True when it is optimal."""
    model.flow_objective()
    # the LP must finish: it is given at least _STAGE2_S whatever the budget says
    left = params.time_limit_s - (time.monotonic() - t0)
    model.solver.SetTimeLimit(int(max(_STAGE2_S, left) * 1000))
    model.fix(chosen)
    return model.solver.Solve() == pywraplp.Solver.OPTIMAL  # type: ignore[no-any-return]


def _stage1_scip(data: _Data, params: AllocationParams, limit: float) -> Stage1:
    model = _Linear(data, "SCIP", True)
    model.coverage_objective()
    model.solver.SetTimeLimit(max(1, int(limit * 1000)))
    mp = pywraplp.MPSolverParameters()
    mp.SetDoubleParam(mp.RELATIVE_MIP_GAP, params.mip_gap)
    status = model.solver.Solve(mp)
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return None, None, "unsolved"
    chosen = {j for j, v in model.y.items() if v.solution_value() > 0.5}
    bound = model.solver.Objective().BestBound()
    return chosen, bound, "optimal" if status == pywraplp.Solver.OPTIMAL else "time_limit"


def _stage1_lp(data: _Data, deadline: float) -> Stage1:
    """LP relaxation, then dive: fix the most nearly covered fractional site to 1 (or to 0
    when that is infeasible) and re-solve, until integral or out of time (then round down)."""
    model = _Linear(data, "GLOP", False)
    model.coverage_objective()
    solver = model.solver
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return None, None, "unsolved"
    bound = solver.Objective().Value()
    status = "optimal"
    while True:
        y = {j: v.solution_value() for j, v in model.y.items()}
        frac = [j for j, v in y.items() if _EPS < v < 1 - _EPS]
        if not frac:
            break
        if time.monotonic() > deadline:
            status = "time_limit"
            break
        j = max(frac, key=lambda k: (y[k], data.people[k], -k))
        model.y[j].SetLb(1)
        if solver.Solve() != pywraplp.Solver.OPTIMAL:
            model.y[j].SetBounds(0, 0)
            if solver.Solve() != pywraplp.Solver.OPTIMAL:
                status = "time_limit"
                break
    return {j for j, v in model.y.items() if v.solution_value() >= 1 - _EPS}, bound, status


_KG_INT = 1000  # CP-SAT: grams
_M3_INT = 1_000_000  # CP-SAT: cm3


def _stage1_cpsat(data: _Data, params: AllocationParams, limit: float) -> Stage1:
    """Stage 1 in integers (units; grams, cm3; every weight rounded up, every capacity down,
    so at least as tight as the float model); stops are whole numbers."""
    model = cp_model.CpModel()
    y = {j: model.NewBoolVar("") for j in data.sites}
    for j, v in y.items():
        if j not in data.coverable:
            model.Add(v == 0)
    inflow: dict[tuple[int, str], list[cp_model.IntVar]] = defaultdict(list)
    for c, members in enumerate(data.clusters):
        for j in members:
            for code, q in data.demand[j].items():
                if (c, code) in data.pairs:
                    u = model.NewIntVar(0, q, "")
                    model.Add(u >= q * y[j])
                    inflow[c, code].append(u)
    by_source: dict[int, list[tuple[int, str, cp_model.IntVar]]] = defaultdict(list)
    for (c, code), srcs in data.pairs.items():
        xs = []
        for s in srcs:
            x = model.NewIntVar(0, min(data.cdemand[c][code], data.stock[s][code]), "")
            xs.append(x)
            by_source[s].append((c, code, x))
        model.Add(sum(xs) == sum(inflow[c, code]))
    for s, flows in by_source.items():
        for code in {code for _, code, _ in flows}:
            model.Add(sum(x for _, k, x in flows if k == code) <= data.stock[s][code])
        busy = []
        for c in sorted({c for c, _, _ in flows}):
            mine = [(code, x) for k, code, x in flows if k == c]
            z = model.NewIntVar(0, len(data.clusters[c]), "")
            for code, x in mine:
                model.Add(data.cneed[c][code] * x <= data.cdemand[c][code] * z)
            t = model.NewIntVar(0, 10_000, "")
            for unit, mean, scale in ((data.kg, data.mean_kg[s], _KG_INT),
                                      (data.m3, data.mean_m3[s], _M3_INT)):
                model.Add(math.floor(mean * scale) * t
                          >= sum(math.ceil(unit[code] * scale) * x for code, x in mine))
            room = max(1, math.floor(data.window[s] - data.cycle[s, c]))
            model.Add(room * t >= math.ceil(data.stop[s, c]) * z)
            busy.append(math.ceil(data.cycle[s, c]) * t + math.ceil(data.stop[s, c]) * z)
        model.Add(sum(busy) <= math.floor(data.minutes[s]))
        for load, unit, scale in ((data.load_kg[s], data.kg, _KG_INT),
                                  (data.load_m3[s], data.m3, _M3_INT)):
            model.Add(sum(math.ceil(unit[code] * scale) * x for _, code, x in flows)
                      <= math.floor(min(load, 1e12) * scale))
    model.Maximize(sum(data.people[j] * v for j, v in y.items()))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = limit
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = params.seed
    status = solver.Solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, None, "unsolved"
    chosen = {j for j, v in y.items() if solver.Value(v)}
    return chosen, solver.BestObjectiveBound(), (
        "optimal" if status == cp_model.OPTIMAL else "time_limit")


def allocate(
    scenario: Scenario,
    network: TravelNetwork | None = None,
    params: AllocationParams | None = None,
    *,
    demand: dict[str, dict[str, int]] | None = None,
    fleet: FleetModel | None = None,
    stock: Mapping[str, Mapping[str, int]] | None = None,
) -> Allocation:
    """Allocate stock to sites: stage 1 chooses the sites to cover, stage 2 the flows.

    Never raises on a hard scenario: when stage 1 finds nothing in time the allocation only
    fills; when stage 2 fails too, it is empty.
    """
    t0 = time.monotonic()
    params = params or AllocationParams()
    net = network or build_network(scenario)
    demand = demand if demand is not None else scenario_demand(scenario)
    fleet = fleet or fleet_model(scenario, net)
    data = _prepare(scenario, net, demand, params, fleet, stock)
    stage1 = max(0.05, 0.6 * params.time_limit_s - (time.monotonic() - t0))
    if params.solver == "cp-sat":
        chosen, bound, status = _stage1_cpsat(data, params, stage1)
    elif params.solver == "lp":
        chosen, bound, status = _stage1_lp(data, time.monotonic() + stage1)
    else:
        chosen, bound, status = _stage1_scip(data, params, stage1)

    model = _Linear(data, "GLOP", False)
    if status != "optimal":
        # no proven solution in time: the LP relaxation's fully covered sites, if better
        model.coverage_objective()
        if model.solver.Solve() == pywraplp.Solver.OPTIMAL:
            bound = model.solver.Objective().Value() if bound is None else bound
            rounded = {j for j, v in model.y.items() if v.solution_value() >= 1 - _EPS}
            if sum(data.people[j] for j in rounded) > sum(data.people[j] for j in chosen or ()):
                chosen, status = rounded, "lp_rounded"
    chosen = chosen or set()
    solved = _stage2(model, chosen, params, t0)
    for backend in _STAGE2_FALLBACKS:
        if solved:
            break
        # GLOP can stop ABNORMAL on these weights (1e6 per fill person) when the fleet
        # binds; a second LP code keeps the chosen coverage instead of dropping it
        log.info("stage 2 LP failed with %s; trying %s", model.solver.SolverVersion(), backend)
        model = _Linear(data, backend, False)
        solved = _stage2(model, chosen, params, t0)
    if not solved:
        chosen = set()  # numerical trouble with the covering constraints: fill only
        model.fix(chosen)
        if model.solver.Solve() != pywraplp.Solver.OPTIMAL:
            return Allocation({}, frozenset(), 0, "unsolved", params.solver,
                              round(time.monotonic() - t0, 3), bound)
    u = {k: v.solution_value() for k, v in model.u.items()}
    x = {k: v.solution_value() for k, v in model.x.items()}
    flows, covered = _disaggregate(scenario, data, u, x, chosen)
    return Allocation(
        flows=flows,
        covered=frozenset(scenario.sites[j].id for j in covered),
        people_planned=sum(data.people[j] for j in covered),
        status=status,
        solver=params.solver,
        solve_s=round(time.monotonic() - t0, 3),
        bound_people=bound,
        usage=fleet_usage(scenario, net, fleet, flows, params.capacity_factor),
        clusters=len(data.clusters),
    )


def _disaggregate(
    scenario: Scenario,
    data: _Data,
    u: dict[tuple[int, str], float],
    x: dict[tuple[int, int, str], float],
    chosen: set[int],
) -> tuple[dict[tuple[str, str], dict[str, int]], set[int]]:
    """Whole units per site and source: covered sites get their demand, others the floor of
    their LP share; each cluster's supply is rounded by a min-cost flow (``_round_supply``)
    and handed to its sites so that a site gets each item, and if possible all its items,
    from as few sources as possible (fewer stops)."""
    flows: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    covered = set(chosen)
    want = {j: {code: (q if j in chosen else math.floor(u.get((j, code), 0.0) + _EPS))
                for code, q in data.demand[j].items()} for j in data.sites}
    supply = _round_supply(data, x, want)
    for c, members in enumerate(data.clusters):
        for code in data.cdemand[c]:
            short = sum(want[j].get(code, 0) for j in members) - sum(
                supply[c].get(code, {}).values())
            # short (only when the rounding could not be made exact): partial sites give
            # way first, then covered ones
            for j in sorted(members, key=lambda k: (k in chosen, data.people[k], k)):
                if short <= 0:
                    break
                cut = min(short, want[j].get(code, 0))
                if cut > 0:
                    want[j][code] -= cut
                    short -= cut
                    covered.discard(j)
        # hand the supply to the sites: covered and big sites first; each site prefers the
        # source that can bring the most of its items
        order = sorted(members, key=lambda k: (k not in chosen, -data.people[k], k))
        for j in order:
            need = {code: q for code, q in want[j].items() if q > 0}
            while need:
                here = supply[c]
                cands = {s for code in need for s in here.get(code, {})}
                if not cands:
                    break
                s = min(cands, key=lambda s, need=need: _score(s, need, here, data.ranks))
                for code in list(need):
                    q = min(need[code], here.get(code, {}).get(s, 0))
                    if q > 0:
                        flows[s, j][code] = flows[s, j].get(code, 0) + q
                        here[code][s] -= q
                        if here[code][s] == 0:
                            del here[code][s]
                        need[code] -= q
                        if need[code] == 0:
                            del need[code]
            if need or any(want[j].get(code, 0) < q for code, q in data.demand[j].items()):
                covered.discard(j)
    out = {
        (scenario.sources[s].id, scenario.sites[j].id): load
        for (s, j), load in sorted(flows.items())
        if load
    }
    return out, covered


_SHORT_COST = 10**12


def _round_supply(
    data: _Data, x: dict[tuple[int, int, str], float], want: dict[int, dict[str, int]]
) -> list[dict[str, dict[int, int]]]:
    """Whole units per (source, cluster, item) summing exactly to what the cluster's sites
    want, within stock, each flow at most the LP's rounded up: one min-cost flow per item
    (OR-Tools SimpleMinCostFlow; the LP solution is a fractional point of the same network,
    so an integral one exists; a penalised shortage arc keeps it feasible regardless)."""
    out: list[dict[str, dict[int, int]]] = [defaultdict(dict) for _ in data.clusters]
    by_item: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for (c, code), srcs in data.pairs.items():
        for s in srcs:
            if x.get((s, c, code), 0.0) > _EPS:
                by_item[code].append((s, c))
    for code in sorted({k for c in data.cdemand for k in c}):
        need = {c: sum(want[j].get(code, 0) for j in members)
                for c, members in enumerate(data.clusters)}
        need = {c: q for c, q in need.items() if q > 0}
        if not need:
            continue
        arcs = by_item.get(code, [])
        srcs = sorted({s for s, _ in arcs})
        node = {s: k for k, s in enumerate(srcs)}
        cnode = {c: len(srcs) + k for k, c in enumerate(sorted(need))}
        short, sink = len(srcs) + len(cnode), len(srcs) + len(cnode) + 1
        flow = min_cost_flow.SimpleMinCostFlow()
        total_stock = sum(data.stock[s].get(code, 0) for s in srcs)
        total_need = sum(need.values())
        refs = []
        for s, c in arcs:
            if c in cnode:
                cap = math.ceil(x[s, c, code] - _EPS)
                cost = round(data.cost[s, c, code] * 10)
                refs.append((flow.add_arc_with_capacity_and_unit_cost(node[s], cnode[c], cap,
                                                                      cost), s, c))
        for s in srcs:
            flow.add_arc_with_capacity_and_unit_cost(node[s], sink, total_stock, 0)
            flow.set_node_supply(node[s], data.stock[s].get(code, 0))
        for c, q in need.items():
            flow.add_arc_with_capacity_and_unit_cost(short, cnode[c], q, _SHORT_COST)
            flow.set_node_supply(cnode[c], -q)
        flow.add_arc_with_capacity_and_unit_cost(short, sink, total_need, 0)
        flow.set_node_supply(short, total_need)
        flow.set_node_supply(sink, -total_stock)
        if flow.solve() != flow.OPTIMAL:
            continue  # cannot happen (balanced, uncapacitated escape arcs); nothing sent
        for arc, s, c in refs:
            q = flow.flow(arc)
            if q > 0:
                out[c].setdefault(code, {})[s] = q
    return out


def _score(
    s: int, need: dict[str, int], supply: dict[str, dict[int, int]], ranks: list[int]
) -> tuple[int, int, int, int]:
    """Rank a source for a site: most items it can bring whole, most units, lowest tier."""
    full = sum(1 for code, q in need.items() if supply.get(code, {}).get(s, 0) >= q)
    some = sum(min(q, supply.get(code, {}).get(s, 0)) for code, q in need.items())
    return (-full, -some, ranks[s], s)


def fleet_usage(
    scenario: Scenario,
    network: TravelNetwork,
    fleet: FleetModel,
    flows: Mapping[tuple[str, str], Mapping[str, int]],
    capacity_factor: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Per source: the share of its vehicle-minutes the flows need under the allocation's
    model, counted per site (one stop per (source, site) pair, the nearest-site drive)."""
    capacity_factor = capacity_factor or {}
    n_src = network.n_sources
    hop = _hops(network)
    items = scenario.item_map
    busy: dict[str, float] = defaultdict(float)
    for (sid, jid), load in flows.items():
        s, j = network.source_loc(sid), network.site_loc(jid) - n_src
        stop = scenario.sites[j].service_min + hop[j] / fleet.speed[s]
        kg = sum(q * items[c].unit_kg for c, q in load.items())
        m3 = sum(q * items[c].unit_m3 for c, q in load.items())
        room = max(1.0, fleet.window[s] - fleet.cycle[s, j])
        trips = max(kg / fleet.mean_kg[s], m3 / fleet.mean_m3[s], stop / room)
        busy[sid] += fleet.cycle[s, j] * trips + stop
    out = {}
    for sid, b in busy.items():
        cap = capacity_factor.get(sid, 1.0) * fleet.vehicle_minutes[network.source_loc(sid)]
        out[sid] = b / cap if cap > 0 else math.inf
    return out
