"""The trip-time bound: a tighter upper bound on the people any plan can cover.

The flow bound (``baseline.coverage_upper_bound``) caps what each source's fleet can carry by
capacity x the most trips a vehicle can make; with few vehicles and many small sites that is
loose, because a truck spends most of its day driving and stopping. This bound charges every
delivery its share of a trip's time instead: a delivery of a share f of what a trip from
source s can carry (min(vehicle capacity, s's stock of counted items)) to site j costs
f x c(s, j), c = load_s + t(s,j) + service_j + min_e t(j,e) (e: where the vehicle can go
next: one of its sources or its base), plus the per-tonne unloading; a vehicle's charges fit
in its day (deadline - its first possible loading start, plus the credit of its own last
trip, whose way back is not needed by the deadline; within its shift), deliveries from
sources ready at r fit after r, and its trips are capped. Lead times and ``loads_at`` are
respected per vehicle group. docs/planning.md ("The trip-time bound") proves it valid.

Deterministic: an LP (GLOP) and, optionally, a MIP (SCIP) stopped by a node limit, never by
the clock; a stopped MIP reports its proven dual bound. ``tighten=False`` rebuilds the model
as it was before issue 10 item 6 (every vehicle credited the largest way back, shares of the
capacity only), for comparisons and tests.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from ortools.linear_solver import pywraplp

from dispatch.planning.network import UNREACHABLE, TravelNetwork, build_network
from dispatch.planning.plan import BoundFigure
from dispatch.planning.problem import Scenario, VehicleUnit

LAMBDAS = (1.0, 0.5, 0.0)  # weights of the two lower bounds on a trip's driving, one row each
PER_SITE = 200  # up to this many candidate sites, one cluster each
MAX_CLUSTERS = 150  # beyond, sites are clustered (same reachable sources, nearby)
FLOW_BUDGET = 20_000  # (source, cluster, item) flows before sites are clustered
_SLACK = 1e-7  # relative slack against LP tolerances, always in the bound's favour


@dataclass(frozen=True)
class TripBound:
    """The trip-time bound: people, coverage and how it was obtained.

    ``status``: ``lp`` (the LP relaxation), ``optimal`` (the MIP solved), ``node_limit`` (the
    MIP's dual bound when its node limit stopped it, never worse than the LP's).
    """

    people_bound: int
    people_total: int
    coverage: float
    status: str
    lp_bound: float
    clusters: int
    variables: int
    solve_s: float

    def figure(self, name: str = "trip_time") -> BoundFigure:
        """This bound as a plan's ``summary.bounds`` entry."""
        return BoundFigure(name=name, people=self.people_bound, coverage=self.coverage,
                           status=self.status)


@dataclass
class _Group:
    """Identical vehicles (same base, sources, availability, speed and capacity)."""

    units: list[VehicleUnit]

    @property
    def v(self) -> VehicleUnit:
        return self.units[0]


def _groups(scenario: Scenario) -> list[_Group]:
    out: dict[tuple[object, ...], _Group] = {}
    for v in scenario.vehicle_units:
        key = (v.base, v.loads_at, v.available_min, v.speed_factor, v.capacity_kg,
               v.capacity_m3)
        out.setdefault(key, _Group([])).units.append(v)
    return list(out.values())


@dataclass
class _GroupData:
    """Per group: source rows, arrival and charge matrices (sources x sites), budgets."""

    group: _Group
    rows: list[int]  # source indices
    arrive: NDArray[np.float64]  # (len(rows), N) earliest on-time arrival, inf: none
    charge: NDArray[np.float64]  # (len(rows), N) loading + legs of a trip (per share)
    load: NDArray[np.float64]  # (len(rows),) loading minutes
    legs: NDArray[np.float64]  # (len(rows), N) out + back legs
    entry: NDArray[np.float64]  # (N,) shortest leg into the site (from a source or a site)
    start: NDArray[np.float64]  # (len(rows),) earliest loading start per source
    horizon: float  # deadline - t0: a vehicle's charges fit in it plus its last trip's credit
    shift_cap: float  # max_shift_min - shortest base leg (inf without a shift limit)
    cred_kg: NDArray[np.float64]  # (N,) credit of a last trip ending at the site (kg rows)
    cred_m3: NDArray[np.float64]  # (N,) the same without the unloading (m3 rows)
    t0: float
    trips: float  # most trips per vehicle


def _group_data(scenario: Scenario, net: TravelNetwork, g: _Group) -> _GroupData | None:
    v = g.v
    deadline = scenario.deadline_min
    rows = [net.source_loc(s) for s in v.loads_at]
    if not rows:
        return None
    m = net.minutes(v.speed_factor).astype(np.float64)
    m[m >= UNREACHABLE] = math.inf
    base = net.place_loc(v.base)
    sites = net.sites
    sources = [scenario.source_map[s] for s in v.loads_at]
    ready = np.array([s.ready_min for s in sources], dtype=np.float64)
    load = np.array([s.load_min for s in sources], dtype=np.float64)
    approach = m[base, rows]
    start = np.maximum(ready, v.available_min + approach)  # inf when no path from base
    out_t = m[np.ix_(rows, range(sites.start, sites.stop))]
    ends = sorted({*rows, base})
    back = m[np.ix_(range(sites.start, sites.stop), ends)].min(axis=1)
    service = np.array([s.service_min for s in scenario.sites], dtype=np.float64)
    rate = np.array([scenario.policy.unload_min_per_t if s.unload_min_per_t is None
                     else s.unload_min_per_t for s in scenario.sites], dtype=np.float64)
    arrive = start[:, None] + load[:, None] + out_t
    arrive = np.where((arrive <= deadline) & np.isfinite(back)[None, :], arrive, math.inf)
    if not np.isfinite(arrive).any():
        return None
    legs = out_t + back[None, :]
    charge = load[:, None] + legs  # legs and loading, per share
    stop = np.broadcast_to(service[None, :], charge.shape)
    between = m[sites, sites].copy()
    np.fill_diagonal(between, math.inf)
    entry = np.minimum(out_t.min(axis=0), between.min(axis=0))
    ok = np.isfinite(arrive).any(axis=0)
    cred_m3 = np.where(ok, service + back, 0.0)
    cred_kg = np.where(ok, service + back + rate * v.capacity_kg / 1000.0, 0.0)
    t0 = float(np.min(start))
    shift = scenario.policy.drivers.max_shift_min
    shift_cap = math.inf if shift is None else max(0.0, shift - float(np.min(approach)))
    first = t0 + float(np.min(np.where(np.isfinite(arrive), load[:, None] + out_t, math.inf)))
    cycle = float(np.min(np.where(np.isfinite(out_t + back[None, :]), charge + stop, math.inf)))
    trips = math.inf if cycle <= 0 else math.floor(max(0.0, deadline - first) / cycle) + 1
    return _GroupData(g, rows, arrive, charge, load, legs, entry, start,
                      max(0.0, deadline - t0), shift_cap, cred_kg, cred_m3, t0, trips)


def _clusters(scenario: Scenario, net: TravelNetwork, candidates: list[int],
              reach: NDArray[np.bool_], max_clusters: int, flow_budget: int
              ) -> list[list[int]]:
    """Clusters of candidate site indices: each site alone while there are at most PER_SITE
    of them and the (source, cluster, item) flows fit ``flow_budget``; beyond, leader
    clustering (biggest first) of sites with the same reachable sources within a radius
    (minutes) that doubles until at most ``max_clusters`` remain and the flows fit."""
    stocked = [len(s.stock) for s in scenario.sources]

    def flows(clusters: list[list[int]]) -> int:
        return sum(stocked[s] for c in clusters for s in np.flatnonzero(reach[:, c[0]]))

    alone = [[j] for j in candidates]
    if len(candidates) <= PER_SITE and flows(alone) <= flow_budget:
        return alone
    m = net.minutes(1.0)
    first = net.n_sources
    order = sorted(candidates, key=lambda j: (-scenario.sites[j].people, j))
    radius = 5
    while True:
        leaders: list[tuple[int, bytes, list[int]]] = []
        for j in order:
            key = np.packbits(reach[:, j]).tobytes()
            home = None
            for leader, lkey, members in leaders:
                if lkey == key and m[first + leader, first + j] <= radius:
                    home = members
                    break
            if home is None:
                leaders.append((j, key, [j]))
            else:
                home.append(j)
        clusters = [members for _, _, members in leaders]
        if (len(clusters) <= max_clusters and flows(clusters) <= flow_budget) \
                or radius > 10_000:
            return clusters
        radius *= 2


def trip_time_bound(
    scenario: Scenario,
    network: TravelNetwork | None = None,
    *,
    mip_nodes: int = 0,
    max_clusters: int = MAX_CLUSTERS,
    flow_budget: int = FLOW_BUDGET,
    tighten: bool = True,
) -> TripBound:
    """Upper bound on people covered by any plan that passes ``check`` (docs/planning.md,
    "The trip-time bound"): the LP relaxation, then, when ``mip_nodes`` > 0, SCIP with binary
    site variables stopped after that many branch-and-bound nodes (its proven bound).
    ``tighten=False``: the model before issue 10 item 6 (never tighter; for comparisons)."""
    t0 = time.perf_counter()
    net = network or build_network(scenario)
    model = scenario.demand
    total = sum(s.people for s in scenario.sites)
    groups = [d for g in _groups(scenario) if (d := _group_data(scenario, net, g)) is not None]
    n_src = len(scenario.sources)
    n = len(scenario.sites)
    reach = np.zeros((n_src, n), dtype=bool)
    for d in groups:
        reach[d.rows] |= np.isfinite(d.arrive)
    free = 0
    candidates: list[int] = []
    for j, site in enumerate(scenario.sites):
        need = model.by_site[site.id]
        if site.people == 0:
            continue
        if not need:
            free += site.people
            continue
        sources = np.flatnonzero(reach[:, j])
        if all(any(scenario.sources[s].stock.get(c, 0) > 0 for s in sources
                   for c in model.needs[k].items) for k in need):
            candidates.append(j)
    clusters = _clusters(scenario, net, candidates, reach, max_clusters, flow_budget)
    lp, nvars, _ = _model(scenario, groups, clusters, integral=False, nodes=0, tighten=tighten)
    value, status = lp, "lp"
    if mip_nodes > 0 and clusters:
        mip, _, mip_status = _model(scenario, groups, clusters, integral=True, nodes=mip_nodes,
                                    tighten=tighten)
        if mip < value:
            value, status = mip, mip_status
    people = min(sum(scenario.sites[j].people for j in candidates),
                 math.floor(value * (1 + _SLACK) + 1e-6)) + free
    return TripBound(
        people_bound=people, people_total=total, coverage=people / total if total else 1.0,
        status=status, lp_bound=lp + free, clusters=len(clusters), variables=nvars,
        solve_s=round(time.perf_counter() - t0, 3),
    )


def _share(capacity: float, stock: float) -> float:
    """capacity / min(capacity, stock): a trip from a source carries at most its stock, so a
    share of that is a larger share of the capacity (1 when the stock is nil: then nothing
    of that dimension is carried from it, any factor is valid)."""
    if stock <= 0 or stock >= capacity:
        return 1.0
    return capacity / stock


def _model(scenario: Scenario, groups: list[_GroupData], clusters: list[list[int]], *,
           integral: bool, nodes: int, tighten: bool = True) -> tuple[float, int, str]:
    """Build and solve the relaxation: (LP optimum or the MIP's proven bound, variables,
    status). A MIP that finds no bound gives inf (the caller keeps the LP's).

    Variables: ``y_j`` (site j covered); ``z[s,c,i]`` units of item i from source s to
    cluster c; per group g and cluster c (and, for a group that may load at several sources,
    per ready time r of its sources): kg ``w``, m3 ``u`` carried and stops ``k`` made, and
    ``q`` (``tighten``): the group's vehicles whose last on-time trip ends in c. Goods of s
    reach c on the groups based at s alone, or through the pool of groups that may load at s
    with others (``a[P,s,c]`` kg, ``b`` m3 of pool P drawn at s)."""
    demand = scenario.demand
    solver = pywraplp.Solver.CreateSolver("SCIP" if integral else "GLOP")
    if solver is None:
        raise RuntimeError("OR-Tools has no LP/MIP solver")
    if integral:
        solver.SetSolverSpecificParametersAsString(f"limits/nodes = {nodes}\n")
        solver.SetNumThreads(1)
    inf = solver.infinity()
    sites = scenario.sites
    kg = {i.code: i.unit_kg for i in scenario.items}
    m3 = {i.code: i.unit_m3 for i in scenario.items}
    ready_of = [src.ready_min for src in scenario.sources]
    rate_of = [scenario.policy.unload_min_per_t if x.unload_min_per_t is None
               else x.unload_min_per_t for x in sites]
    y = {j: (solver.IntVar(0, 1, f"y{j}") if integral else solver.NumVar(0, 1, f"y{j}"))
         for members in clusters for j in members}
    nvars = len(y)
    # what one trip from a source can carry at most: its whole stock of items some need
    # counts (kg, m3); a trip's shares are taken of min(capacity, that)
    useful = {code for need in demand.needs.values() for code in need.items}
    stock_kg = [sum(kg[c] * q for c, q in src.stock.items() if c in useful)
                for src in scenario.sources]
    stock_m3 = [sum(m3[c] * q for c, q in src.stock.items() if c in useful)
                for src in scenario.sources]

    # per group and cluster: the cheapest charge per ready class of its sources (per kg of
    # capacity and per m3), and which sources reach the cluster in time
    # group, ready class, (kg, m3) charges per LAMBDAS entry, sources
    Option = tuple[_GroupData, int, tuple[tuple[float, ...], tuple[float, ...]], list[int]]
    options: dict[int, list[Option]] = defaultdict(list)  # cluster -> options
    carriers: dict[tuple[int, int], bool] = {}  # (source, cluster) reachable by some group
    for d in groups:
        for c, members in enumerate(clusters):
            ok = np.isfinite(d.arrive[:, members])
            rows = np.flatnonzero(ok.any(axis=1))
            if not len(rows):
                continue
            by_ready: dict[int, list[int]] = defaultdict(list)
            for r in rows:
                by_ready[ready_of[d.rows[r]]].append(int(r))
            v = d.group.v
            # per source, its shortest legs into the cluster (load + lam x legs is smallest
            # there, lam >= 0)
            short = np.where(ok, d.legs[:, members], math.inf).min(axis=1)
            for ready, rs in sorted(by_ready.items()):
                base = [[float(d.load[r] + lam * short[r]) for lam in LAMBDAS] for r in rs]
                # trip charges per share of min(capacity, the source's stock): x capacity
                # / that (>= 1)
                f_kg = [_share(v.capacity_kg, stock_kg[d.rows[r]]) if tighten else 1.0
                        for r in rs]
                f_m3 = [_share(v.capacity_m3, stock_m3[d.rows[r]]) if tighten else 1.0
                        for r in rs]
                charge = (tuple(min(f * b[n] for f, b in zip(f_kg, base, strict=True))
                                for n in range(len(LAMBDAS))),
                          tuple(min(f * b[n] for f, b in zip(f_m3, base, strict=True))
                                for n in range(len(LAMBDAS))))
                srcs = [d.rows[r] for r in rs]
                options[c].append((d, ready, charge, srcs))
                for src in srcs:
                    carriers[src, c] = True

    z: dict[tuple[int, int], dict[str, pywraplp.Variable]] = defaultdict(dict)
    by_stock: dict[tuple[int, str], list[pywraplp.Variable]] = defaultdict(list)
    for c, members in enumerate(clusters):
        keys = sorted({k for j in members for k in demand.by_site[sites[j].id]})
        for k in keys:
            met = []
            for s in range(len(scenario.sources)):
                if (s, c) not in carriers:
                    continue
                stock = scenario.sources[s].stock
                for code, eq in demand.needs[k].items.items():
                    if stock.get(code, 0) <= 0:
                        continue
                    if code not in z[s, c]:
                        z[s, c][code] = solver.NumVar(0, stock[code], "")
                        by_stock[s, code].append(z[s, c][code])
                        nvars += 1
                    met.append(eq * z[s, c][code])
            solver.Add(solver.Sum(met) >= solver.Sum(
                [demand.by_site[sites[j].id].get(k, 0) * y[j] for j in members]))
    for (s, code), xs in by_stock.items():
        solver.Add(solver.Sum(xs) <= scenario.sources[s].stock[code])

    # carriers: w, u, k per (group, cluster, ready class); goods of (s, c) must be carried
    flows: dict[int, list[tuple[pywraplp.Variable, pywraplp.Variable,
                                tuple[tuple[float, ...], tuple[float, ...]], float, int]]] = \
        defaultdict(list)  # w, u, (kg, m3) charges, rate, ready
    # e, service and entry-leg minutes
    entries: dict[int, list[tuple[pywraplp.Variable, float, float]]] = defaultdict(list)
    # q: the group's vehicles whose last on-time trip ends in the cluster, with its credits
    lasts: dict[int, list[tuple[pywraplp.Variable, float, float]]] = defaultdict(list)
    carry_kg: dict[tuple[int, int], list[pywraplp.Variable]] = defaultdict(list)
    carry_m3: dict[tuple[int, int], list[pywraplp.Variable]] = defaultdict(list)
    stops_at: dict[int, list[pywraplp.Variable]] = defaultdict(list)
    for c, opts in options.items():
        members = clusters[c]
        if not any(z.get((s, c)) for o in opts for s in o[3]):
            continue
        rate = min(rate_of[j] for j in members)
        service = float(min(sites[j].service_min for j in members))
        pool_kg: dict[tuple[tuple[str, ...], int], list[pywraplp.Variable]] = defaultdict(list)
        pool_m3: dict[tuple[tuple[str, ...], int], list[pywraplp.Variable]] = defaultdict(list)
        pool_src: dict[tuple[tuple[str, ...], int], list[int]] = {}
        stops: dict[int, list[tuple[pywraplp.Variable, pywraplp.Variable]]] = defaultdict(list)
        for d, ready, charge, srcs in opts:
            v = d.group.v
            w, u = solver.NumVar(0, inf, ""), solver.NumVar(0, inf, "")
            nvars += 2
            stops[id(d)].append((w, u))
            flows[id(d)].append((w, u, charge, rate, ready))
            if len(v.loads_at) == 1:
                carry_kg[srcs[0], c].append(w)
                carry_m3[srcs[0], c].append(u)
            else:
                key = (v.loads_at, ready)
                pool_kg[key].append(w)
                pool_m3[key].append(u)
                pool_src.setdefault(key, [])
                for s in srcs:
                    if s not in pool_src[key]:
                        pool_src[key].append(s)
        for key, srcs in pool_src.items():
            a_list, b_list = [], []
            for s in srcs:
                if not z.get((s, c)):
                    continue
                a, b = solver.NumVar(0, inf, ""), solver.NumVar(0, inf, "")
                nvars += 2
                a_list.append(a)
                b_list.append(b)
                carry_kg[s, c].append(a)
                carry_m3[s, c].append(b)
            solver.Add(solver.Sum(a_list) <= solver.Sum(pool_kg[key]))
            solver.Add(solver.Sum(b_list) <= solver.Sum(pool_m3[key]))
        # entries of each group into c (a stop reached from another place; each trip that
        # delivers to c has one): at least its kg (m3) / capacity; a covered site had one
        for d_id, wu in stops.items():
            d = next(o[0] for o in opts if id(o[0]) == d_id)
            k = solver.NumVar(0, inf, "")
            nvars += 1
            solver.Add(k >= solver.Sum([w for w, _ in wu]) * (1.0 / d.group.v.capacity_kg))
            solver.Add(k >= solver.Sum([u for _, u in wu]) * (1.0 / d.group.v.capacity_m3))
            stops_at[c].append(k)
            entries[d_id].append((k, service, float(np.min(d.entry[members]))))
            if tighten:
                q = solver.NumVar(0, len(d.group.units), "")
                nvars += 1
                solver.Add(q <= k)
                lasts[d_id].append((q, float(np.max(d.cred_kg[members])),
                                    float(np.max(d.cred_m3[members]))))
    for c, ks in stops_at.items():
        solver.Add(solver.Sum(ks) >= solver.Sum([y[j] for j in clusters[c]]))
    for (s, c), goods in z.items():
        if not goods:
            continue
        solver.Add(solver.Sum(carry_kg[s, c]) >= solver.Sum([kg[i] * x for i, x in goods.items()]))
        solver.Add(solver.Sum(carry_m3[s, c]) >= solver.Sum([m3[i] * x for i, x in goods.items()]))

    # each group's day: charges within its horizon plus the credits of its vehicles' last
    # trips (one each), and within its shift (one row per LAMBDAS entry: a trip's driving is
    # at least lam x its longest out-and-back leg pair through a stop, per share of
    # capacity, plus (1 - lam) x the sum of its entry legs; loading per share, service per
    # entry, unloading per kg); deliveries from sources ready at r or later within the time
    # after r plus the same credits; trips capped
    for d in groups:
        mine = flows.get(id(d))
        if not mine:
            continue
        v = d.group.v
        count = len(d.group.units)
        stops_of = entries.get(id(d), [])
        last = lasts.get(id(d), [])
        if tighten:  # each vehicle credited its own last trip's credit
            solver.Add(solver.Sum([q for q, _, _ in last]) <= count)
            credit_kg = solver.Sum([ck * q for q, ck, _ in last])
            credit_m3 = solver.Sum([cm * q for q, _, cm in last])
            most = max((ck for _, ck, _ in last), default=0.0)
        else:  # before issue 10 item 6: every vehicle credited the largest credit
            most = float(np.max(d.cred_kg))
            credit_kg = credit_m3 = count * most
        shift_binds = d.shift_cap < d.horizon + most
        for n, lam in enumerate(LAMBDAS):
            stop_terms = [(service + (1 - lam) * entry) * k for k, service, entry in stops_of]
            kg_terms = solver.Sum([(ch[0][n] / v.capacity_kg + rate / 1000.0) * w
                                   for w, _, ch, rate, _ in mine] + stop_terms)
            m3_terms = solver.Sum([ch[1][n] / v.capacity_m3 * u for _, u, ch, _, _ in mine]
                                  + stop_terms)
            solver.Add(kg_terms <= count * d.horizon + credit_kg)
            solver.Add(m3_terms <= count * d.horizon + credit_m3)
            if shift_binds:
                solver.Add(kg_terms <= count * d.shift_cap)
                solver.Add(m3_terms <= count * d.shift_cap)
        for threshold in sorted({t[4] for t in mine if t[4] > d.t0}):
            picked = [t for t in mine if t[4] >= threshold]
            late_kg = solver.Sum([(t[2][0][0] / v.capacity_kg + t[3] / 1000.0) * t[0]
                                  for t in picked])
            late_m3 = solver.Sum([t[2][1][0] / v.capacity_m3 * t[1] for t in picked])
            rest = scenario.deadline_min - threshold
            if tighten:
                solver.Add(late_kg <= count * max(0.0, rest) + credit_kg)
                solver.Add(late_m3 <= count * max(0.0, rest) + credit_m3)
            else:
                cap = max(0.0, min(d.horizon + most, d.shift_cap, rest + most))
                solver.Add(late_kg <= count * cap)
                solver.Add(late_m3 <= count * cap)
        if math.isfinite(d.trips):
            solver.Add(solver.Sum([t[0] for t in mine]) <= count * v.capacity_kg * d.trips)
            solver.Add(solver.Sum([t[1] for t in mine]) <= count * v.capacity_m3 * d.trips)
    solver.Maximize(solver.Sum([sites[j].people * var for j, var in y.items()]))
    status = solver.Solve()
    if not integral:
        if status != pywraplp.Solver.OPTIMAL:
            raise RuntimeError(f"trip-time bound LP ended with status {status}")
        return solver.Objective().Value(), nvars, "lp"
    if status == pywraplp.Solver.OPTIMAL:
        return solver.Objective().BestBound(), nvars, "optimal"
    if status == pywraplp.Solver.FEASIBLE:
        return solver.Objective().BestBound(), nvars, "node_limit"
    return math.inf, nvars, "node_limit"


def plan_bounds(
    scenario: Scenario,
    network: TravelNetwork | None = None,
    *,
    flow_solver: str = "lp",
    flow_time_limit_s: float = 5.0,
    mip_nodes: int = 0,
) -> list[BoundFigure]:
    """Every bound a plan reports (``summary.bounds``): ``flow`` (the routing-free relaxation
    of ``baseline.coverage_upper_bound``; by default its LP, which is deterministic; "scip"
    adds its MIP within ``flow_time_limit_s``, whose proven bound then depends on the clock)
    and ``trip_time`` (this module's, deterministic; ``mip_nodes`` > 0 adds its MIP under a
    node limit). A plan's ``bound_coverage`` is the smallest."""
    from dispatch.planning.baseline import coverage_upper_bound

    net = network or build_network(scenario)
    flow = coverage_upper_bound(scenario, flow_time_limit_s, network=net,
                                solver=flow_solver)  # type: ignore[arg-type]
    trip = trip_time_bound(scenario, net, mip_nodes=mip_nodes)
    return [flow.figure("flow"), trip.figure("trip_time")]
