"""solve(scenario, params) -> Plan: the dispatch engine.

Phases (docs/planning.md, "The engine"), all inside one wall-clock budget:

1. network: travel matrices, once;
2. bound: ``coverage_upper_bound`` (a share of the budget) - reported beside the plan;
3. baseline: ``greedy_baseline`` - the floor the plan never falls below;
4. allocation: ``allocate`` - which source sends what to which site (stage 1 MIP: sites to
   cover; stage 2 LP: fill, tiered draw, short trips);
5. routing: one OR-Tools routing model per source (a vehicle only loads at its home source,
   so given the allocation the sources are independent): the source's vehicles, the
   allocated goods cut into vehicle-sized visits (split deliveries), reload nodes for
   multiple trips, deadline windows, optional visits (per-visit fill penalty, one group
   penalty per site for coverage), arrival weights and distance;
6. repair: what routing dropped is allocated and routed again around the trips already
   made (residual demand, residual stock, each vehicle from its last return) while time
   remains; then a greedy pass adds direct trips with the stock and vehicle time left
   (completing sites first, then filling);
7. check: the better of (this plan, the baseline) by (coverage, fill rate), validated by
   ``check``; a plan that fails the check is never returned (the baseline is).
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatch.planning.allocation import (
    Allocation,
    AllocationParams,
    AllocationSolver,
    FleetModel,
    allocate,
    fleet_model,
)
from dispatch.planning.baseline import Bound, BoundSolver, coverage_upper_bound, greedy_baseline
from dispatch.planning.needs import scenario_demand
from dispatch.planning.network import TravelNetwork, build_network, distance_m
from dispatch.planning.plan import (
    Plan,
    Route,
    Stop,
    Trip,
    build_plan,
    check,
    evaluate,
    time_trip,
    with_summary,
)
from dispatch.planning.problem import Scenario, VehicleUnit
from dispatch.planning.routing import (
    FIRST_SOLUTION_STRATEGIES,
    RoutingParams,
    RoutingProblem,
    RoutingResult,
    solve_routing,
)
from dispatch.planning.routing import Vehicle as RVehicle
from dispatch.planning.routing import Visit as RVisit

Progress = Callable[[str, float], None]
log = logging.getLogger(__name__)

# Routing objective scales (integers): coverage >> fill >> arrivals >> distance.
W_COVER = 1_000_000  # per person of a site kept whole (group penalty, charged once)
W_FILL = 100_000  # per "fill person" of a dropped visit
W_ARRIVAL = 10  # per fill person and minute of arrival
DISTANCE_UNIT_M = 100  # distance in units of 100 m, weight 1
_QUICK_S = 0.1  # a source given less routing time than this is routed by greedy descent
_G = 1000  # routing capacities in grams ...
_CM3 = 1_000_000  # ... and cubic centimetres


class SolveParams(BaseModel):
    """Solver parameters (frozen, validated). ``time_limit_s`` None: the scenario's policy.

    Budget: ``bound_share`` of the limit for the upper bound's MIP, ``allocation_share`` for
    the first allocation (half of it for later ones); each routing round gets
    ``round_share`` of what is left (the last one nearly all), minus a reserve for building
    and checking the plan. ``allocation_solver``, ``township_candidates``,
    ``source_candidates`` and ``time_factor`` go to ``AllocationParams``.

    Routing: ``first_solution`` (an OR-Tools FirstSolutionStrategy), ``routing_search``
    (``gls`` guided local search, ``ils`` the routing layer's iterated local search, or
    ``greedy`` descent), used for sources with more than ``small_visits`` visits (smaller
    ones always use greedy descent); ``max_trips`` per vehicle; ``cover_first``: share of a
    source's time spent first on its covered sites' visits alone (``cover_first_quick``:
    greedy descent for that phase); ``split_remainder``: cut what is left after full loads
    into the source's smallest vehicle size. ``reallocate`` with ``max_rounds``: residual
    rounds; ``augment``: the final greedy pass. ``seed`` goes to the routing search.

    Fleet-bound retries: when the routed plan covers clearly fewer people than the first
    allocation planned (more than ``retry_gap`` of them: the allocation's fleet-time model
    was too optimistic, the trucks rather than the stock bind), the whole plan is made again
    with ``time_factor`` multiplied by ``retry_tighten``, at most ``max_retries`` times and
    only while ``retry_share`` of the limit is left; the best plan of all attempts is kept.

    ``strict``: raise ``EngineError`` instead of returning a degraded plan (engine error,
    checker rejection, unsupported scenario); tests use it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_limit_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    seed: Annotated[int, Field(ge=0)] = 0
    bound_share: Annotated[float, Field(ge=0, le=0.5)] = 0.1
    bound_solver: BoundSolver = "scip"
    allocation_solver: AllocationSolver = "scip"
    allocation_share: Annotated[float, Field(gt=0, le=0.6)] = 0.25
    township_candidates: Annotated[int, Field(ge=1)] = 6
    source_candidates: Annotated[int, Field(ge=0)] = 5
    time_factor: Annotated[float, Field(gt=0, le=2)] = 0.75
    first_solution: str = "PARALLEL_CHEAPEST_INSERTION"
    routing_search: Literal["gls", "ils", "greedy"] = "ils"
    small_visits: Annotated[int, Field(ge=0)] = 8
    max_trips: Annotated[int, Field(ge=1, le=50)] = 8
    cover_first: Annotated[float, Field(ge=0, lt=1)] = 0.4
    cover_first_quick: bool = False
    split_remainder: bool = True
    reallocate: bool = True
    max_rounds: Annotated[int, Field(ge=1, le=20)] = 4
    round_share: Annotated[float, Field(gt=0, le=1)] = 0.6
    augment: bool = True
    max_retries: Annotated[int, Field(ge=0, le=5)] = 3
    retry_gap: Annotated[float, Field(ge=0, le=1)] = 0.02
    retry_tighten: Annotated[float, Field(gt=0, lt=1)] = 0.8
    retry_share: Annotated[float, Field(ge=0, le=1)] = 0.25
    strict: bool = False

    @model_validator(mode="after")
    def _names(self) -> SolveParams:
        if self.first_solution not in FIRST_SOLUTION_STRATEGIES:
            raise ValueError(f"unknown first_solution {self.first_solution!r}")
        return self


# -- helpers ---------------------------------------------------------------------------------


@dataclass
class _Ctx:
    """Everything the phases share."""

    scenario: Scenario
    params: SolveParams
    net: TravelNetwork
    demand: dict[str, dict[str, int]]
    fleet: FleetModel
    dist: NDArray[np.int64]
    t0: float
    end: float  # monotonic deadline of the whole solve
    limit: float  # the whole solve's time limit, seconds
    unit_g: dict[str, int] = field(default_factory=dict)
    unit_cm3: dict[str, int] = field(default_factory=dict)

    def left(self) -> float:
        return self.end - time.monotonic()


def _fill_persons(ctx: _Ctx, site_id: str, load: dict[str, int]) -> float:
    """People-weighted fill a load brings to a site (capped at its demand per item)."""
    need = ctx.demand[site_id]
    if not need:
        return 0.0
    people = ctx.scenario.site_map[site_id].people
    return sum(people * min(q, need.get(c, 0)) / (len(need) * need[c])
               for c, q in load.items() if need.get(c, 0) > 0)


def _chunks(
    ctx: _Ctx, load: dict[str, int], caps: Sequence[tuple[int, int]], split: bool
) -> list[dict[str, int]]:
    """Cut a site's load from one source into vehicle-sized pieces: full loads of the largest
    vehicle, then the rest (cut to the smallest vehicle's size when ``split``)."""
    order = [i.code for i in ctx.scenario.items if load.get(i.code, 0) > 0]
    rest = dict(load)
    big = max(caps)
    small = min(caps, key=lambda c: (c[0], c[1]))

    def size(part: dict[str, int]) -> tuple[int, int]:
        return (sum(q * ctx.unit_g[c] for c, q in part.items()),
                sum(q * ctx.unit_cm3[c] for c, q in part.items()))

    def take(cap: tuple[int, int]) -> dict[str, int]:
        g = cm3 = 0
        piece: dict[str, int] = {}
        for code in order:
            n = min(rest.get(code, 0), (cap[0] - g) // ctx.unit_g[code],
                    (cap[1] - cm3) // ctx.unit_cm3[code])
            if n > 0:
                piece[code] = n
                rest[code] -= n
                g += n * ctx.unit_g[code]
                cm3 += n * ctx.unit_cm3[code]
        return piece

    pieces: list[dict[str, int]] = []
    while True:
        g, cm3 = size(rest)
        if g == 0 and cm3 == 0:
            break
        if g <= big[0] and cm3 <= big[1]:
            if split and (g > small[0] or cm3 > small[1]):
                n = max(math.ceil(g / small[0]), math.ceil(cm3 / small[1]))
                target = (math.ceil(g / n), math.ceil(cm3 / n))
                cap = (max(target[0], small[0]), max(target[1], small[1]))
                piece = take(cap)
            else:
                piece = {c: q for c, q in rest.items() if q > 0}
                rest = {}
        else:
            piece = take(big)
        if not piece:  # an item larger than any vehicle: cannot be carried
            break
        pieces.append(piece)
        rest = {c: q for c, q in rest.items() if q > 0}
    return pieces


# -- routing of one source ---------------------------------------------------------------------


@dataclass
class _SourceRoutes:
    """Routing outcome of one source: trips per vehicle (site sequence with unloads) and
    the loads routing dropped."""

    trips: dict[str, list[list[tuple[str, dict[str, int]]]]]
    dropped: list[tuple[str, dict[str, int]]]
    visits: int
    status: str


def _route_source(
    ctx: _Ctx,
    source_id: str,
    flows: dict[str, dict[str, int]],
    covered: frozenset[str],
    limit_s: float,
    start_after: dict[str, int] | None = None,
) -> _SourceRoutes:
    sc = ctx.scenario
    source = sc.source_map[source_id]
    units: list[VehicleUnit] = ctx.fleet.units.get(source_id, [])
    start_after = start_after or {}
    s_loc = ctx.net.source_loc(source_id)
    site_ids = sorted(flows, key=lambda j: ctx.net.site_loc(j))
    locs = [s_loc] + [ctx.net.site_loc(j) for j in site_ids]
    loc_of = {j: k + 1 for k, j in enumerate(site_ids)}
    deadline = sc.deadline_min
    caps = sorted({(math.floor(v.capacity_kg * _G + 1e-6), math.floor(v.capacity_m3 * _CM3 + 1e-6))
                   for v in units})
    visits: list[RVisit] = []
    pieces: list[tuple[str, dict[str, int]]] = []
    groups: dict[int, int] = {}
    # covered sites' visits first, so that a solution of the covered-only problem is a
    # valid starting solution of the whole one (same visit indices)
    for whole in (True, False):
        for j in site_ids:
            site = sc.site_map[j]
            if (j in covered and site.people > 0) != whole:
                continue
            group = None
            if whole:
                group = len(groups)
                groups[group] = W_COVER * site.people
            for piece in _chunks(ctx, flows[j], caps, ctx.params.split_remainder):
                fp = _fill_persons(ctx, j, piece)
                g = sum(q * ctx.unit_g[c] for c, q in piece.items())
                cm3 = sum(q * ctx.unit_cm3[c] for c, q in piece.items())
                visits.append(RVisit(
                    location=loc_of[j], demand=(g, cm3), window=(0, deadline),
                    service=site.service_min, penalty=max(1, round(W_FILL * fp)), group=group,
                    arrival_weight=round(W_ARRIVAL * fp),
                ))
                pieces.append((j, piece))
    n_whole = sum(1 for v in visits if v.group is not None)
    if not visits or not units:
        return _SourceRoutes({}, list(pieces), len(visits), "empty")
    factors = sorted({v.speed_factor for v in units})
    ix = np.ix_(locs, locs)
    cap_t = 100 * deadline  # no path: too long to use, small enough for the model
    times = np.stack([np.minimum(ctx.net.minutes(f)[ix], cap_t) for f in factors])
    dist = np.minimum(ctx.dist[ix] // DISTANCE_UNIT_M, 10**7)
    vehicles = []
    for v in units:
        m = times[factors.index(v.speed_factor)]
        start = max(source.ready_min, v.available_min, start_after.get(v.id, 0))
        reach = [int(m[0, k]) for k in range(1, len(locs))]
        cycle = source.load_min + min(int(m[0, k] + m[k, 0]) for k in range(1, len(locs)))
        slack = deadline - start - source.load_min - min(reach)
        trips = 0 if slack < 0 else slack // max(1, cycle) + 1
        trips = int(max(1, min(ctx.params.max_trips, trips, len(visits))))
        vehicles.append(RVehicle(
            start=0, capacity=(math.floor(v.capacity_kg * _G + 1e-6),
                               math.floor(v.capacity_m3 * _CM3 + 1e-6)),
            earliest_start=start, max_trips=trips, reload_time=source.load_min,
            time_profile=factors.index(v.speed_factor),
        ))
    problem = RoutingProblem(time=times, distance=dist, visits=tuple(visits),
                             vehicles=tuple(vehicles), group_penalties=groups)
    t_start = time.monotonic()

    def params_for(n: int, limit: float, quick: bool = False) -> RoutingParams:
        search = "greedy" if quick or n <= ctx.params.small_visits else ctx.params.routing_search
        return RoutingParams(
            time_limit_s=max(0.05, limit),
            first_solution=ctx.params.first_solution,
            metaheuristic="GUIDED_LOCAL_SEARCH" if search == "gls" else "GREEDY_DESCENT",
            iterated_local_search=search == "ils",
            group_warm_start=True,
            restarts=1,
            polish_share=0.0,
            seed=ctx.params.seed,
        )

    # out of time: greedy descent only (~20 ms a source), no covered-first phase
    hurry = limit_s < _QUICK_S
    initial = None
    if 0 < n_whole < len(visits) and ctx.params.cover_first > 0 and not hurry:
        # phase 1: only the covered sites' visits, so the search keeps them whole
        first = RoutingProblem(time=times, distance=dist, visits=tuple(visits[:n_whole]),
                               vehicles=tuple(vehicles), group_penalties=groups)
        initial = solve_routing(first, params_for(n_whole, ctx.params.cover_first * limit_s,
                                                  quick=ctx.params.cover_first_quick))
        if initial.status not in ("optimal", "feasible"):
            initial = None
    left = limit_s - (time.monotonic() - t_start)
    result = solve_routing(problem, params_for(len(visits), left, quick=hurry), initial)
    return _to_routes(ctx, units, pieces, result, len(visits))


def _to_routes(
    ctx: _Ctx,
    units: list[VehicleUnit],
    pieces: list[tuple[str, dict[str, int]]],
    result: RoutingResult,
    n_visits: int,
) -> _SourceRoutes:
    trips: dict[str, list[list[tuple[str, dict[str, int]]]]] = {}
    for k, vtrips in enumerate(result.trips):
        seqs = []
        for trip in vtrips:
            seq: list[tuple[str, dict[str, int]]] = []
            for stop in trip.stops:
                j, piece = pieces[stop.visit]
                if seq and seq[-1][0] == j:
                    merged = dict(seq[-1][1])
                    for c, q in piece.items():
                        merged[c] = merged.get(c, 0) + q
                    seq[-1] = (j, merged)
                else:
                    seq.append((j, dict(piece)))
            if seq:
                seqs.append(seq)
        if seqs:
            trips[units[k].id] = seqs
    dropped = [pieces[i] for i in result.dropped]
    return _SourceRoutes(trips, dropped, n_visits, result.status)


# -- plan assembly -----------------------------------------------------------------------------


def _timed(ctx: _Ctx, vehicle: VehicleUnit, seqs: list[list[tuple[str, dict[str, int]]]],
           free: int = 0) -> list[Trip]:
    """Earliest schedule of a vehicle's trips; stops that would arrive after the deadline are
    left out (they could not count)."""
    out: list[Trip] = []
    for seq in seqs:
        while seq:
            times = time_trip(ctx.scenario, ctx.net, vehicle, free, [j for j, _ in seq])
            if times is None:
                seq = []
                break
            late = [k for k, a in enumerate(times.arrive_min) if a > ctx.scenario.deadline_min]
            if not late:
                break
            seq = seq[: late[0]]
        if not seq or times is None:
            continue
        stops = [Stop(site=j, arrive_min=a, unload=dict(u))
                 for (j, u), a in zip(seq, times.arrive_min, strict=True)]
        load: dict[str, int] = defaultdict(int)
        for _, u in seq:
            for c, q in u.items():
                load[c] += q
        out.append(Trip(source=vehicle.source, depart_min=times.depart_min, load=dict(load),
                        stops=stops, return_min=times.return_min))
        free = times.return_min
    return out


def _assemble(
    ctx: _Ctx, per_source: dict[str, _SourceRoutes], before: dict[str, list[Trip]]
) -> dict[str, list[Trip]]:
    """All trips: ``before`` plus the routed ones, each vehicle's new trips timed after its
    last trip in ``before``."""
    trips = {k: list(v) for k, v in before.items()}
    for sr in per_source.values():
        for vid, seqs in sr.trips.items():
            old = trips.get(vid, [])
            free = old[-1].return_min if old else 0
            timed = _timed(ctx, ctx.scenario.vehicle_map[vid], seqs, free)
            if timed:
                trips[vid] = old + timed
    return trips


def _state(
    ctx: _Ctx, trips: dict[str, list[Trip]]
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]], dict[str, int]]:
    """What is left after ``trips``: demand not yet delivered by the deadline per site,
    stock per source, and the minute each vehicle is back from its last trip."""
    sc = ctx.scenario
    got: dict[str, dict[str, int]] = {s.id: defaultdict(int) for s in sc.sites}
    stock = {s.id: dict(s.stock) for s in sc.sources}
    free: dict[str, int] = {}
    for vid, ts in trips.items():
        for t in ts:
            for c, q in t.load.items():
                stock[t.source][c] = stock[t.source].get(c, 0) - q
            for st in t.stops:
                if st.arrive_min <= sc.deadline_min:
                    for c, q in st.unload.items():
                        got[st.site][c] += q
        if ts:
            free[vid] = ts[-1].return_min
    demand = {j: {c: q - got[j][c] for c, q in need.items() if q > got[j][c]}
              for j, need in ctx.demand.items()}
    return demand, stock, free


def _routes(ctx: _Ctx, trips: dict[str, list[Trip]]) -> list[Route]:
    return [Route(vehicle=v.id, trips=trips[v.id]) for v in ctx.scenario.vehicle_units
            if trips.get(v.id)]


def _key(plan_people: int, fill: float) -> tuple[int, float]:
    return plan_people, round(fill, 9)


# -- greedy augmentation -------------------------------------------------------------------------


def _augment(ctx: _Ctx, trips: dict[str, list[Trip]], *, fill: bool = True
             ) -> dict[str, list[Trip]]:
    """Add one-stop trips with the stock and vehicle time left: first to complete uncovered
    sites (most people first, committed only if the site becomes whole), then (``fill``)
    to fill."""
    sc = ctx.scenario
    deadline = sc.deadline_min
    stock = {s.id: dict(s.stock) for s in sc.sources}
    got: dict[str, dict[str, int]] = {s.id: defaultdict(int) for s in sc.sites}
    free: dict[str, int] = {}
    for vid, ts in trips.items():
        for t in ts:
            for c, q in t.load.items():
                stock[t.source][c] -= q
            for st in t.stops:
                if st.arrive_min <= deadline:
                    for c, q in st.unload.items():
                        got[st.site][c] += q
        free[vid] = ts[-1].return_min if ts else 0
    trips = {k: list(v) for k, v in trips.items()}
    base = ctx.net.minutes(1.0)

    def outstanding(j: str) -> dict[str, int]:
        return {c: q - got[j][c] for c, q in ctx.demand[j].items() if q > got[j][c]}

    def plan_site(j: str, whole: bool) -> list[tuple[VehicleUnit, Trip]] | None:
        """Direct trips for site j's outstanding demand (tentative; not yet committed)."""
        need = outstanding(j)
        left = {s: dict(v) for s, v in stock.items()}
        vfree = dict(free)
        made: list[tuple[VehicleUnit, Trip]] = []
        loc = ctx.net.site_loc(j)
        sources = sorted(
            (s for s in sc.sources if ctx.fleet.units.get(s.id)),
            key=lambda s: (sc.tier_rank(s.tier), int(base[ctx.net.source_loc(s.id), loc]), s.id),
        )
        for src in sources:
            if not any(left[src.id].get(c, 0) > 0 for c in need):
                continue
            while any(need.get(c, 0) > 0 and left[src.id].get(c, 0) > 0 for c in need):
                best: tuple[int, VehicleUnit] | None = None
                for v in ctx.fleet.units[src.id]:
                    times = time_trip(sc, ctx.net, v, vfree.get(v.id, 0), [j])
                    if times is None or times.arrive_min[0] > deadline:
                        continue
                    if best is None or times.arrive_min[0] < best[0]:
                        best = (times.arrive_min[0], v)
                if best is None:
                    break
                v = best[1]
                load = _greedy_load(sc, v, need, left[src.id])
                if not load:
                    break
                times = time_trip(sc, ctx.net, v, vfree.get(v.id, 0), [j])
                assert times is not None
                for c, q in load.items():
                    need[c] -= q
                    left[src.id][c] -= q
                vfree[v.id] = times.return_min
                made.append((v, Trip(source=src.id, depart_min=times.depart_min, load=load,
                                     stops=[Stop(site=j, arrive_min=times.arrive_min[0],
                                                 unload=dict(load))],
                                     return_min=times.return_min)))
            if all(q <= 0 for q in need.values()):
                break
        if whole and any(q > 0 for q in need.values()):
            return None
        return made

    order = sorted(sc.sites, key=lambda s: (-s.people, s.id))
    for whole in (True, False) if fill else (True,):
        for site in order:
            if ctx.left() <= 0:
                return trips
            if site.people == 0 or not outstanding(site.id):
                continue
            made = plan_site(site.id, whole)
            for v, trip in made or []:
                trips.setdefault(v.id, []).append(trip)
                free[v.id] = trip.return_min
                for c, q in trip.load.items():
                    stock[trip.source][c] -= q
                    got[site.id][c] += q
    return trips


def _greedy_load(sc: Scenario, v: VehicleUnit, need: dict[str, int], stock: dict[str, int]
                 ) -> dict[str, int]:
    kg = m3 = 0.0
    load: dict[str, int] = {}
    for item in sc.items:
        want = min(need.get(item.code, 0), stock.get(item.code, 0))
        if want <= 0:
            continue
        n = min(want, math.floor((v.capacity_kg - kg) / item.unit_kg + 1e-9),
                math.floor((v.capacity_m3 - m3) / item.unit_m3 + 1e-9))
        if n > 0:
            load[item.code] = n
            kg += n * item.unit_kg
            m3 += n * item.unit_m3
    return load


# -- the engine ------------------------------------------------------------------------------------


def solve(
    scenario: Scenario,
    params: SolveParams | None = None,
    *,
    progress: Progress | None = None,
) -> Plan:
    """Plan deliveries for ``scenario`` within ``params.time_limit_s`` (default: the
    scenario's ``policy.time_limit_s``).

    The plan passes ``check(plan, scenario)``, reports ``bound_coverage`` and
    ``baseline_coverage``, is never lexicographically below the greedy baseline in
    (coverage, fill rate), and lists what is unmet with its reason. Never raises on a hard
    scenario; ``progress(phase, fraction)`` reports the phases.
    """
    t0 = time.monotonic()
    params = params or SolveParams()
    limit = params.time_limit_s or scenario.policy.time_limit_s
    unsupported = scenario.v2_features()
    if unsupported:
        return _unsupported(scenario, params, unsupported, t0)

    def report(phase: str, fraction: float) -> None:
        if progress is not None:
            progress(phase, min(1.0, max(0.0, fraction)))

    report("network", 0.0)
    net = build_network(scenario)
    demand = scenario_demand(scenario)
    n = len(scenario.sites)
    reserve = min(0.15 * limit, 0.1 + 0.003 * n)  # building and checking the plan
    ctx = _Ctx(
        scenario=scenario, params=params, net=net, demand=demand,
        fleet=fleet_model(scenario, net), dist=distance_m(net), t0=t0, end=t0 + limit - reserve,
        limit=limit,
        unit_g={i.code: math.ceil(i.unit_kg * _G - 1e-6) for i in scenario.items},
        unit_cm3={i.code: math.ceil(i.unit_m3 * _CM3 - 1e-6) for i in scenario.items},
    )
    report("network", 1.0)

    report("bound", 0.0)
    bound = coverage_upper_bound(
        scenario, time_limit_s=max(0.05, params.bound_share * limit), network=net,
        solver=params.bound_solver if params.bound_share > 0 else "lp",
    )
    report("bound", 1.0)
    report("baseline", 0.0)
    base = greedy_baseline(scenario, net)
    report("baseline", 1.0)

    best = _Best()
    status, reason = "feasible", None
    try:
        factor = params.time_factor
        planned = _rounds(ctx, report, best, factor)
        for _ in range(params.max_retries):
            if (best.key[0] >= (1 - params.retry_gap) * planned
                    or ctx.left() < params.retry_share * limit):
                break
            factor *= params.retry_tighten
            log.info("routing covered %d of %d planned people: planning again with time "
                     "factor %.3f", best.key[0], planned, factor)
            planned = _rounds(ctx, report, best, factor)
    except Exception as exc:  # never fail a plan job: the best plan so far, said loudly
        if params.strict:
            raise
        log.exception("planning engine failed; returning the better of what it had and the "
                      "greedy baseline")
        status, reason = "engine_error", f"{type(exc).__name__}: {exc}"
    best_trips = best.trips

    report("check", 0.0)
    plan = build_plan(
        scenario, _routes(ctx, best_trips), network=net, solve_s=time.monotonic() - t0,
        status=status, status_reason=reason, bounds=[bound.figure()],
        baseline_coverage=base.summary.coverage,
    )
    verdict = check(plan, scenario, net)
    if not verdict.ok:
        if params.strict:
            raise EngineError(f"the engine's plan failed the checker: {verdict}")
        log.error("the engine's plan failed the checker, returning the baseline: %s", verdict)
        plan = with_summary(base, status="checker_rejected",
                            status_reason="; ".join(str(v) for v in verdict.violations[:5]))
    elif _key(base.summary.people_covered, base.summary.fill_rate) > _key(
        plan.summary.people_covered, plan.summary.fill_rate
    ):
        plan = with_summary(base, status="baseline" if status != "engine_error" else status,
                            status_reason=reason)
    elif status != "engine_error" and plan.summary.people_covered >= bound.people_bound:
        plan = plan.model_copy(update={"summary": plan.summary.model_copy(
            update={"status": "optimal_coverage"})})
    report("check", 1.0)
    return _with_summary(plan, time.monotonic() - t0, bound, base.summary.coverage)


@dataclass
class _Best:
    """The best plan so far, by (people covered, fill rate)."""

    key: tuple[int, float] = (-1, -1.0)
    trips: dict[str, list[Trip]] = field(default_factory=dict)

    def offer(self, key: tuple[int, float], trips: dict[str, list[Trip]]) -> None:
        if key >= self.key:
            self.key, self.trips = key, trips


def _rounds(ctx: _Ctx, report: Progress, best: _Best, time_factor: float) -> int:
    """Allocation and routing rounds, then the augment pass; improvements go to ``best``.
    Returns the people the first allocation planned to cover."""
    scenario, params, net, demand = ctx.scenario, ctx.params, ctx.net, ctx.demand
    limit = ctx.limit
    t0 = ctx.t0
    trips: dict[str, list[Trip]] = {}
    planned = 0
    mine = _Best()  # this attempt's best, which the augment pass builds on
    for rounds in range(1, params.max_rounds + 1):
        if rounds > 1 and ctx.left() <= 0.05 * limit:
            break  # round 1 always runs (in a hurry if need be): it is the plan
        # round 1 plans everything; later rounds plan what is left (demand not delivered,
        # stock not loaded, vehicles after their last trip) around the trips already made
        report("allocation", (rounds - 1) / params.max_rounds)
        left_demand, left_stock, free = _state(ctx, trips)
        fleet = ctx.fleet if rounds == 1 else fleet_model(scenario, net, free)
        share = params.allocation_share if rounds == 1 else params.allocation_share / 2
        alloc = allocate(
            scenario, net,
            AllocationParams(
                solver=params.allocation_solver,
                time_limit_s=max(0.1, min(share * limit, 0.5 * ctx.left())),
                township_candidates=params.township_candidates,
                source_candidates=params.source_candidates,
                time_factor=time_factor,
                seed=params.seed,
            ),
            demand=left_demand, fleet=fleet, stock=left_stock,
        )
        if rounds == 1:
            planned = alloc.people_planned
        if not alloc.flows:
            break
        report("routing", (rounds - 1) / params.max_rounds)
        last = rounds == params.max_rounds or not params.reallocate
        budget = ctx.left() * (0.95 if last else params.round_share)
        per_source = _route_all(ctx, alloc, budget, report, free)
        trips = _assemble(ctx, per_source, trips)
        ev = evaluate(scenario, _routes(ctx, trips), net, demand=demand)
        if rounds == 1 and params.augment and ev.people_covered < planned:
            # Routing could not deliver every site the allocation covered (the fleet binds):
            # complete whole sites with the free vehicles before later rounds spend their
            # time on fill, so coverage keeps its priority over fill.
            trips = _augment(ctx, trips, fill=False)
            ev = evaluate(scenario, _routes(ctx, trips), net, demand=demand)
        key = _key(ev.people_covered, ev.fill_rate)
        n_dropped = sum(len(sr.dropped) for sr in per_source.values())
        log.info(
            "round %d: allocation %s %.1fs planned +%d people; routed: covered %d fill %.4f; "
            "dropped %d visits at %d sources; t=%.1fs", rounds, alloc.status, alloc.solve_s,
            alloc.people_planned, ev.people_covered, ev.fill_rate, n_dropped,
            sum(1 for sr in per_source.values() if sr.dropped), time.monotonic() - t0,
        )
        mine.offer(key, trips)
        best.offer(key, trips)
        if not params.reallocate or n_dropped == 0:
            break

    if params.augment and ctx.left() > 0:
        report("routing", 0.95)
        trips = _augment(ctx, mine.trips)
        ev = evaluate(scenario, _routes(ctx, trips), net, demand=demand)
        log.info("augment: covered %d fill %.4f; t=%.1fs", ev.people_covered, ev.fill_rate,
                 time.monotonic() - t0)
        best.offer(_key(ev.people_covered, ev.fill_rate), trips)
    return planned


def _with_summary(plan: Plan, solve_s: float, bound: Bound, baseline: float) -> Plan:
    return with_summary(plan, solve_s=round(solve_s, 3), bound_coverage=bound.coverage,
                        bounds=[bound.figure()], baseline_coverage=baseline)


class EngineError(RuntimeError):
    """The engine failed or cannot plan this scenario (raised in strict mode only; otherwise
    the plan's status says ``engine_error`` or ``checker_rejected`` with the reason)."""


def _unsupported(scenario: Scenario, params: SolveParams, features: list[str], t0: float
                 ) -> Plan:
    """This (contract v1) engine does not implement contract-v2 features: fail loudly. In
    strict mode raise; otherwise return the greedy baseline (which implements every rule,
    and passes the checker) with status ``engine_error`` and the reason."""
    reason = ("the engine does not support contract-v2 features " + ", ".join(features)
              + "; the plan is the greedy baseline")
    if params.strict:
        raise EngineError(reason)
    log.error("planning %r: %s", scenario.name, reason)
    net = build_network(scenario)
    bound = coverage_upper_bound(scenario, time_limit_s=1.0, network=net, solver="lp")
    base = greedy_baseline(scenario, net)
    return with_summary(base, status="engine_error", status_reason=reason,
                        solve_s=round(time.monotonic() - t0, 3), bound_coverage=bound.coverage,
                        bounds=[bound.figure()], baseline_coverage=base.summary.coverage)


def _route_all(
    ctx: _Ctx, alloc: Allocation, budget: float, report: Progress, free: dict[str, int]
) -> dict[str, _SourceRoutes]:
    """Route every source's allocation; time shared in proportion to the sites served."""
    by_source = alloc.by_source()
    sizes = {s: max(1, len(flows)) for s, flows in by_source.items()}
    total = sum(sizes.values())
    out: dict[str, _SourceRoutes] = {}
    done = 0
    end = time.monotonic() + budget
    for s in sorted(by_source, key=lambda k: (-sizes[k], k)):
        left = end - time.monotonic()
        share = left * sizes[s] / max(1, total - done)
        out[s] = _route_source(ctx, s, by_source[s], alloc.covered, share, free)
        done += sizes[s]
        report("routing", done / max(1, total))
    return out
