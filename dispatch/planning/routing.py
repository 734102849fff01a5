"""Generic OR-Tools routing layer: heterogeneous fleet, time windows, multi-trip, drops.

The module is problem-agnostic: the Nantong dispatch engine and the Solomon benchmark both
describe their instance as a :class:`RoutingProblem` (integer matrices, visits, vehicles)
and call :func:`solve_routing`. Everything is an integer in the caller's units.

Model (one OR-Tools node per visit, one start/end node per distinct home location):

* arc cost = ``distance_weight * distance[a][b]``; ``fixed_cost`` per used vehicle;
* a ``time`` dimension whose transit from node ``a`` to node ``b`` is ``service(a) +
  time[a][b]``, except between two visits at the same location (0: consecutive chunks of one
  site form one stop and pay the service time once, when the vehicle leaves the last of
  them). The start cumul is the departure after the first loading: it is at least
  ``earliest_start + reload_time``. Waiting is allowed (slack). The cumul at a visit is the
  arrival time (start of service), inside the visit's window (hard);
* one capacity dimension per entry of ``demand``/``capacity`` (e.g. kg and m3);
* multi-trip (``max_trips = k > 1``): ``k - 1`` optional reload nodes at the vehicle's home,
  usable only by that vehicle, whose demand is minus the vehicle's capacity and whose
  capacity slack may absorb the remainder, so every capacity resets; leaving a reload node
  costs ``reload_time``. No reload node exists when every ``max_trips`` is 1;
* optional visits: a one-node disjunction with the visit's penalty; groups: one extra
  disjunction over the group's visits with ``max_cardinality = len(group)`` and
  ``PENALIZE_ONCE`` (checked to work in OR-Tools 9.15, including a node belonging to both);
* arrival weights: ``SetCumulVarSoftUpperBound(node, 0, weight)``, i.e. weight * arrival.

The result is re-timed from the route sequence (earliest feasible schedule, waiting only when
a window forces it), and its objective is recomputed from that schedule, so that an
independent checker reproduces every number.
"""

from __future__ import annotations

import itertools
import math
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

import numpy as np
from ortools.constraint_solver import (
    pywrapcp,
    routing_enums_pb2,
    routing_heuristic_parameters_pb2,
    routing_ils_pb2,
)

__all__ = [
    "FIRST_SOLUTION_STRATEGIES",
    "METAHEURISTICS",
    "RUIN_STRATEGIES",
    "RoutingParams",
    "RoutingProblem",
    "RoutingResult",
    "Status",
    "Stop",
    "Trip",
    "Vehicle",
    "Visit",
    "check_routing_result",
    "solve_routing",
]

_FSS = routing_enums_pb2.FirstSolutionStrategy
_LCI = routing_heuristic_parameters_pb2.LocalCheapestInsertionParameters
_LSM = routing_enums_pb2.LocalSearchMetaheuristic

#: Names accepted by :attr:`RoutingParams.first_solution`.
FIRST_SOLUTION_STRATEGIES: frozenset[str] = frozenset(
    v.name
    for v in _FSS.DESCRIPTOR.enum_types_by_name["Value"].values
    if v.name not in {"UNSET", "EVALUATOR_STRATEGY"}
)
#: Names accepted by :attr:`RoutingParams.metaheuristic`.
METAHEURISTICS: frozenset[str] = frozenset(
    v.name for v in _LSM.DESCRIPTOR.enum_types_by_name["Value"].values if v.name != "UNSET"
)
#: Names accepted by :attr:`RoutingParams.ruin`.
RUIN_STRATEGIES: frozenset[str] = frozenset({"SISR", "RANDOM_WALK", "CLOSE_ROUTES"})
_RECREATE = frozenset(
    {
        "LOCAL_CHEAPEST_INSERTION",
        "LOCAL_CHEAPEST_COST_INSERTION",
        "PARALLEL_CHEAPEST_INSERTION",
        "SEQUENTIAL_CHEAPEST_INSERTION",
        "SAVINGS",
        "PARALLEL_SAVINGS",
    }
)

Status = Literal["optimal", "feasible", "infeasible", "no_solution"]


# --------------------------------------------------------------------------- problem


@dataclass(frozen=True)
class Visit:
    """One node to serve.

    ``window`` bounds the arrival (start of service), hard. ``penalty`` is the cost of
    dropping the visit; ``None`` makes it mandatory. ``group`` links visits whose group
    penalty (:attr:`RoutingProblem.group_penalties`) is charged once if any of them is
    dropped. ``arrival_weight`` adds ``arrival_weight * arrival`` to the objective.
    Visits at the same location served consecutively by one vehicle form one stop: they
    share the arrival time and the service time is paid once (use equal ``service`` for
    such visits).
    """

    location: int
    demand: tuple[int, ...]
    window: tuple[int, int]
    service: int = 0
    vehicles: tuple[int, ...] | None = None
    penalty: int | None = None
    group: int | None = None
    arrival_weight: int = 0


@dataclass(frozen=True)
class Vehicle:
    """One vehicle working out of ``start`` (a location index), its home.

    Every trip loads at home for ``reload_time`` (the first one too), not before
    ``earliest_start``; the vehicle must be back home by ``latest_end`` (``None``: no limit).
    ``max_trips`` > 1 lets it come back and reload (all capacities reset) up to
    ``max_trips - 1`` times. ``time_profile`` selects the travel-time matrix when
    :attr:`RoutingProblem.time` is three-dimensional (per-vehicle speeds).
    """

    start: int
    capacity: tuple[int, ...]
    earliest_start: int = 0
    latest_end: int | None = None
    max_trips: int = 1
    reload_time: int = 0
    fixed_cost: int = 0
    time_profile: int = 0


@dataclass(frozen=True, eq=False)
class RoutingProblem:
    """A routing instance: integer matrices over locations, visits and a fleet.

    ``time`` is ``(L, L)`` or ``(P, L, L)`` (one matrix per :attr:`Vehicle.time_profile`);
    ``distance`` is ``(L, L)``. The objective is ``distance_weight * distance`` + fixed
    costs of used vehicles + penalties of dropped visits + group penalties + arrival costs.
    """

    time: np.ndarray
    distance: np.ndarray
    visits: tuple[Visit, ...]
    vehicles: tuple[Vehicle, ...]
    group_penalties: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    distance_weight: int = 1

    def __post_init__(self) -> None:
        """Validate shapes, indices and values; raise ``ValueError`` on bad input."""
        t = np.asarray(self.time)
        d = np.asarray(self.distance)
        if d.ndim != 2 or d.shape[0] != d.shape[1]:
            raise ValueError("distance must be a square matrix")
        n_loc = d.shape[0]
        if t.ndim == 2:
            t = t[None, :, :]
        if t.ndim != 3 or t.shape[1:] != (n_loc, n_loc):
            raise ValueError("time must be (L, L) or (P, L, L) matching distance")
        for name, m in (("time", t), ("distance", d)):
            if not np.issubdtype(m.dtype, np.integer):
                raise ValueError(f"{name} must hold integers")
            if (m < 0).any():
                raise ValueError(f"{name} must be non-negative")
        object.__setattr__(self, "time", t.astype(np.int64))
        object.__setattr__(self, "distance", d.astype(np.int64))
        object.__setattr__(self, "visits", tuple(self.visits))
        object.__setattr__(self, "vehicles", tuple(self.vehicles))
        object.__setattr__(self, "group_penalties", MappingProxyType(dict(self.group_penalties)))
        if not self.vehicles:
            raise ValueError("at least one vehicle is needed")
        if self.distance_weight < 0:
            raise ValueError("distance_weight must be >= 0")
        n_dim = len(self.vehicles[0].capacity)
        for k, v in enumerate(self.vehicles):
            if not 0 <= v.start < n_loc:
                raise ValueError(f"vehicle {k}: start {v.start} out of range")
            if len(v.capacity) != n_dim or min(v.capacity, default=0) < 0:
                raise ValueError(f"vehicle {k}: capacity must have {n_dim} values >= 0")
            if v.max_trips < 1 or v.reload_time < 0 or v.fixed_cost < 0:
                raise ValueError(f"vehicle {k}: max_trips >= 1, reload_time/fixed_cost >= 0")
            if not 0 <= v.time_profile < t.shape[0]:
                raise ValueError(f"vehicle {k}: time_profile {v.time_profile} out of range")
            if v.latest_end is not None and v.latest_end < v.earliest_start:
                raise ValueError(f"vehicle {k}: latest_end before earliest_start")
        for i, s in enumerate(self.visits):
            if not 0 <= s.location < n_loc:
                raise ValueError(f"visit {i}: location {s.location} out of range")
            if len(s.demand) != n_dim or min(s.demand, default=0) < 0:
                raise ValueError(f"visit {i}: demand must have {n_dim} values >= 0")
            if s.window[0] > s.window[1] or s.service < 0 or s.arrival_weight < 0:
                raise ValueError(f"visit {i}: bad window, service or arrival_weight")
            if s.penalty is not None and s.penalty < 0:
                raise ValueError(f"visit {i}: penalty must be >= 0 or None")
            if s.vehicles is not None and any(not 0 <= k < len(self.vehicles) for k in s.vehicles):
                raise ValueError(f"visit {i}: unknown vehicle in {s.vehicles}")
            if s.group is not None:
                if s.group not in self.group_penalties:
                    raise ValueError(f"visit {i}: group {s.group} has no group penalty")
                if s.penalty is None:
                    raise ValueError(f"visit {i}: a grouped visit must have a penalty (>= 0)")
        if any(p < 0 for p in self.group_penalties.values()):
            raise ValueError("group penalties must be >= 0")

    @property
    def n_dims(self) -> int:
        """Number of capacity dimensions."""
        return len(self.vehicles[0].capacity)


@dataclass(frozen=True)
class RoutingParams:
    """Search parameters (validated, frozen).

    The defaults (parallel cheapest insertion, then OR-Tools' iterated local search with
    SISR ruin of 30 visits, local cheapest insertion recreate, greedy descent and
    improvement-only acceptance) were chosen by measurement on Solomon instances; see
    bench/results/solomon.md for the numbers and the alternatives tried.

    ``first_solution`` / ``metaheuristic``: FirstSolutionStrategy / LocalSearchMetaheuristic
    names. ``iterated_local_search`` runs OR-Tools' ILS (``SolveWithIteratedLocalSearch``):
    ruin (``ruin``, about ``ruin_visits`` visits; SISR removes strings of at most
    ``sisr_max_sequence`` visits, 0 meaning ``ruin_visits``), recreate (``recreate``; for
    local cheapest insertion, ``recreate_sorting`` orders the visits to reinsert by
    InsertionSortingProperty names without the ``SORTING_PROPERTY_`` prefix), local
    search with ``metaheuristic`` (use GREEDY_DESCENT with ILS), then acceptance: simulated
    annealing starting at ``ils_temperature`` (objective units, cooling exponentially to
    1/100 of it), or only improvements when it is 0.

    ``restarts`` > 1 splits the time into that many independent searches with seeds
    ``seed``, ``seed + 1``, ... and keeps the best plan. ``polish_share`` > 0 splits each
    search's time: the search as configured, then, for that final share, a
    ``polish_metaheuristic`` search started from the best solution so far.
    ``multi_trip``: ``reload`` (reload nodes, the default) or ``copies`` (one OR-Tools
    vehicle per trip linked by time constraints; measured far worse, see
    bench/results/solomon.md, kept to reproduce that measurement). ``group_warm_start``:
    see :func:`solve_routing`.

    ``operators`` switches local-search operators on/off by proto name without ``use_``;
    ``round_robin`` (several LocalSearchMetaheuristic names, with ``metaheuristic`` left at
    AUTOMATIC) alternates them through ``local_search_metaheuristics``.
    ``seed``: OR-Tools routing is deterministic for a given model and parameter set (its ILS
    even fixes its random seed to 0), so a non-zero seed renumbers the visits' nodes in a
    seed-dependent order, which changes tie-breaking and the random choices; seed 0 keeps
    the input order. A wall-clock time limit still makes the amount of search, and so the
    result, vary from run to run (use ``solution_limit`` for reproducible runs).
    """

    time_limit_s: float = 10.0
    first_solution: str = "PARALLEL_CHEAPEST_INSERTION"
    metaheuristic: str = "GREEDY_DESCENT"
    gls_lambda: float = 0.1
    iterated_local_search: bool = True
    ruin: str = "SISR"
    ruin_visits: int = 30
    sisr_max_sequence: int = 0
    recreate: str = "LOCAL_CHEAPEST_INSERTION"
    recreate_sorting: tuple[str, ...] = ()
    ils_temperature: float = 0.0
    ls_neighbors_ratio: float = 1.0
    ls_min_neighbors: int = 1
    operators: tuple[tuple[str, bool], ...] = ()
    round_robin: tuple[str, ...] = ()
    solution_limit: int | None = None
    multi_trip: str = "reload"
    restarts: int = 1
    polish_share: float = 0.0
    polish_metaheuristic: str = "GUIDED_LOCAL_SEARCH"
    group_warm_start: bool = True
    group_warm_start_share: float = 0.5
    seed: int = 0
    log: bool = False

    def __post_init__(self) -> None:
        """Check every field; raise ``ValueError`` with the offending name."""
        # JSON-friendly: accept lists for the tuple fields.
        object.__setattr__(self, "operators", tuple((n, bool(b)) for n, b in self.operators))
        object.__setattr__(self, "recreate_sorting", tuple(self.recreate_sorting))
        object.__setattr__(self, "round_robin", tuple(self.round_robin))
        if not (self.time_limit_s > 0 and math.isfinite(self.time_limit_s)):
            raise ValueError("time_limit_s must be a positive number")
        if self.first_solution not in FIRST_SOLUTION_STRATEGIES:
            raise ValueError(f"unknown first_solution {self.first_solution!r}")
        if self.metaheuristic not in METAHEURISTICS:
            raise ValueError(f"unknown metaheuristic {self.metaheuristic!r}")
        if self.ruin not in RUIN_STRATEGIES:
            raise ValueError(f"unknown ruin {self.ruin!r}")
        if self.recreate not in _RECREATE:
            raise ValueError(f"unknown recreate {self.recreate!r}")
        for prop in self.recreate_sorting:
            if not hasattr(_LCI, f"SORTING_PROPERTY_{prop}") or prop == "UNSPECIFIED":
                raise ValueError(f"unknown insertion sorting property {prop!r}")
        if self.recreate_sorting and self.recreate not in (
            "LOCAL_CHEAPEST_INSERTION",
            "LOCAL_CHEAPEST_COST_INSERTION",
        ):
            raise ValueError("recreate_sorting needs a local cheapest insertion recreate")
        if self.sisr_max_sequence < 0:
            raise ValueError("sisr_max_sequence must be >= 0 (0: ruin_visits)")
        if self.gls_lambda <= 0 or self.ruin_visits < 1 or self.ils_temperature < 0:
            raise ValueError("gls_lambda > 0, ruin_visits >= 1, ils_temperature >= 0")
        if not 0 < self.ls_neighbors_ratio <= 1 or self.ls_min_neighbors < 1:
            raise ValueError("ls_neighbors_ratio in (0, 1], ls_min_neighbors >= 1")
        if self.multi_trip not in ("reload", "copies"):
            raise ValueError("multi_trip must be 'reload' or 'copies'")
        if self.restarts < 1:
            raise ValueError("restarts must be >= 1")
        if not 0 <= self.polish_share < 1 or self.polish_metaheuristic not in METAHEURISTICS:
            raise ValueError("polish_share in [0, 1), polish_metaheuristic a metaheuristic")
        if not 0 < self.group_warm_start_share < 1:
            raise ValueError("group_warm_start_share must be in (0, 1)")
        if self.solution_limit is not None and self.solution_limit < 1:
            raise ValueError("solution_limit must be >= 1")
        ops = _operator_names()
        for name, _on in self.operators:
            if name not in ops:
                raise ValueError(f"unknown local search operator {name!r}")
        if any(m not in METAHEURISTICS for m in self.round_robin):
            raise ValueError(f"unknown metaheuristic in round_robin {self.round_robin!r}")
        if self.round_robin and self.metaheuristic != "AUTOMATIC":
            raise ValueError("round_robin needs metaheuristic='AUTOMATIC'")


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class Stop:
    """A visit served: its index in ``problem.visits`` and its arrival (service start)."""

    visit: int
    arrival: int


@dataclass(frozen=True)
class Trip:
    """One trip: leaves home at ``depart`` (after loading), serves ``stops``, is back home
    at ``return_time``. ``load`` is the sum of the stops' demands per dimension."""

    depart: int
    stops: tuple[Stop, ...]
    return_time: int
    distance: int
    load: tuple[int, ...]


@dataclass(frozen=True)
class RoutingResult:
    """Solution: ``trips[v]`` lists vehicle ``v``'s trips in time order.

    ``objective`` and every time are recomputed from the route sequence (earliest feasible
    schedule); ``solver_objective`` is what OR-Tools reported (None if no solution).
    ``status``: ``optimal`` (proven), ``feasible`` (best found), ``infeasible`` (mandatory
    visits cannot all be served: nothing is planned), ``no_solution`` (the search found none
    in time: nothing is planned).
    """

    status: Status
    trips: tuple[tuple[Trip, ...], ...]
    dropped: tuple[int, ...]
    objective: int
    distance: int
    solver_objective: int | None
    wall_time_s: float

    @property
    def vehicles_used(self) -> int:
        """Number of vehicles with at least one trip."""
        return sum(1 for t in self.trips if t)

    @property
    def served(self) -> tuple[int, ...]:
        """Indices of the served visits, sorted."""
        return tuple(sorted(s.visit for ts in self.trips for t in ts for s in t.stops))


# --------------------------------------------------------------------------- model


def _operator_names() -> frozenset[str]:
    desc = pywrapcp.DefaultRoutingSearchParameters().local_search_operators.DESCRIPTOR
    return frozenset(f.name.removeprefix("use_") for f in desc.fields)


@dataclass
class _Model:
    """Node layout of the OR-Tools model (internal)."""

    loc: np.ndarray  # node -> location
    kind: np.ndarray  # 0 home, 1 visit, 2 reload
    ref: np.ndarray  # visit index (kind 1) or vehicle index (kind 2), else -1
    home_node: list[int]  # vehicle -> node of its home
    visit_node: dict[int, int]  # modelled visit -> node
    reload_nodes: list[list[int]]  # vehicle -> its reload nodes
    service: np.ndarray  # node -> service time when leaving it (visits, reloads)


def _allowed_vehicles(problem: RoutingProblem, i: int, horizon: int) -> list[int]:
    """Vehicles that could serve visit ``i`` alone (capacity, reach within the window)."""
    s = problem.visits[i]
    cand = range(len(problem.vehicles)) if s.vehicles is None else sorted(set(s.vehicles))
    out = []
    for k in cand:
        v = problem.vehicles[k]
        if any(q > c for q, c in zip(s.demand, v.capacity, strict=True)):
            continue
        tm = problem.time[v.time_profile]
        arrive = max(v.earliest_start + v.reload_time + int(tm[v.start, s.location]), s.window[0])
        if arrive > s.window[1]:
            continue
        end = v.latest_end if v.latest_end is not None else horizon
        if arrive + s.service + int(tm[s.location, v.start]) > end:
            continue
        out.append(k)
    return out


def _horizon(problem: RoutingProblem) -> int:
    t = problem.time
    latest = max(
        [s.window[1] for s in problem.visits]
        + [v.latest_end or 0 for v in problem.vehicles]
        + [v.earliest_start for v in problem.vehicles]
    )
    slack = int(t.max()) + max((s.service for s in problem.visits), default=0)
    slack += max(v.reload_time for v in problem.vehicles)
    return latest + slack + 1


def _build_nodes(problem: RoutingProblem, modelled: list[int], with_reloads: bool = True) -> _Model:
    homes = sorted({v.start for v in problem.vehicles})
    home_of = {loc: n for n, loc in enumerate(homes)}
    loc = list(homes)
    kind = [0] * len(homes)
    ref = [-1] * len(homes)
    service = [0] * len(homes)
    visit_node = {}
    for i in modelled:
        visit_node[i] = len(loc)
        loc.append(problem.visits[i].location)
        kind.append(1)
        ref.append(i)
        service.append(problem.visits[i].service)
    reload_nodes: list[list[int]] = []
    for k, v in enumerate(problem.vehicles):
        nodes = []
        if modelled and with_reloads:
            for _ in range(v.max_trips - 1):
                nodes.append(len(loc))
                loc.append(v.start)
                kind.append(2)
                ref.append(k)
                service.append(v.reload_time)
        reload_nodes.append(nodes)
    return _Model(
        loc=np.array(loc, dtype=np.int64),
        kind=np.array(kind, dtype=np.int64),
        ref=np.array(ref, dtype=np.int64),
        home_node=[home_of[v.start] for v in problem.vehicles],
        visit_node=visit_node,
        reload_nodes=reload_nodes,
        service=np.array(service, dtype=np.int64),
    )


def _time_matrix(problem: RoutingProblem, m: _Model, profile: int) -> np.ndarray:
    """Node-to-node transit of the time dimension: service at the origin + travel."""
    t = problem.time[profile][np.ix_(m.loc, m.loc)] + m.service[:, None]
    is_visit = m.kind == 1
    same = (m.loc[:, None] == m.loc[None, :]) & is_visit[:, None] & is_visit[None, :]
    t[same] = 0
    return t


def _search_parameters(params: RoutingParams, time_limit_s: float) -> object:
    p = pywrapcp.DefaultRoutingSearchParameters()
    p.first_solution_strategy = getattr(_FSS, params.first_solution)
    p.local_search_metaheuristic = getattr(_LSM, params.metaheuristic)
    p.guided_local_search_lambda_coefficient = params.gls_lambda
    p.ls_operator_neighbors_ratio = params.ls_neighbors_ratio
    p.ls_operator_min_neighbors = params.ls_min_neighbors
    for name, on in params.operators:
        setattr(p.local_search_operators, f"use_{name}", 2 if on else 3)  # BOOL_TRUE/FALSE
    if params.iterated_local_search:
        p.use_iterated_local_search = True
        ils = p.iterated_local_search_parameters
        ils.perturbation_strategy = routing_ils_pb2.PerturbationStrategy.RUIN_AND_RECREATE
        rr = ils.ruin_recreate_parameters
        del rr.ruin_strategies[:]
        ruin = rr.ruin_strategies.add()
        if params.ruin == "SISR":
            ruin.sisr.max_removed_sequence_size = params.sisr_max_sequence or params.ruin_visits
            ruin.sisr.avg_num_removed_visits = params.ruin_visits
            ruin.sisr.bypass_factor = 0.01
        elif params.ruin == "RANDOM_WALK":
            ruin.random_walk.num_removed_visits = params.ruin_visits
        else:
            ruin.spatially_close_routes.num_ruined_routes = max(1, params.ruin_visits // 10)
        rr.recreate_strategy.heuristic = getattr(_FSS, params.recreate)
        if params.recreate_sorting:
            lci = rr.recreate_strategy.parameters.local_cheapest_insertion
            for prop in params.recreate_sorting:
                lci.insertion_sorting_properties.append(getattr(_LCI, f"SORTING_PROPERTY_{prop}"))
        ils.improve_perturbed_solution = True
        ref = ils.reference_solution_acceptance_strategy
        if params.ils_temperature > 0:
            sa = ref.simulated_annealing
            sa.cooling_schedule_strategy = routing_ils_pb2.CoolingScheduleStrategy.EXPONENTIAL
            sa.automatic_temperatures = False
            sa.initial_temperature = params.ils_temperature
            sa.final_temperature = params.ils_temperature / 100.0
        else:
            ref.greedy_descent.SetInParent()
        ils.best_solution_acceptance_strategy.greedy_descent.SetInParent()
    if params.solution_limit is not None:
        p.solution_limit = params.solution_limit
    p.log_search = params.log
    for name in params.round_robin:
        p.local_search_metaheuristics.append(getattr(_LSM, name))
    p.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    return p


# --------------------------------------------------------------------------- solve


def solve_routing(
    problem: RoutingProblem,
    params: RoutingParams | None = None,
    initial: RoutingResult | None = None,
) -> RoutingResult:
    """Solve ``problem`` with OR-Tools within ``params.time_limit_s``; never raises on
    hard instances.

    Visits no allowed vehicle can reach in time or carry are dropped before the search (or
    make the result ``infeasible`` if mandatory). ``initial`` (e.g. a previous result for
    the same problem) seeds the search; its stops that are not modelled are ignored; since
    OR-Tools' ILS cannot start from a given plan, an initial plan is improved with
    ``polish_metaheuristic`` (GLS) instead. Returns the best solution found, re-timed (see
    :class:`RoutingResult`), never worse than a readable ``initial``.

    Group warm start (``params.group_warm_start``, used only when some group has a positive
    penalty and no ``initial`` is given): OR-Tools' construction heuristics and local
    search ignore group penalties when they choose which visits to drop, and no operator
    swaps a whole group for another, so the search can get stuck keeping the wrong site
    whole. We first solve, for ``group_warm_start_share`` of the time and with the
    configured search, a copy of the problem in which every grouped visit carries its
    group's penalty on top of its own (so the chunks of the most valuable sites are placed
    first), then improve that plan on the true problem for the rest of the time (with
    ``polish_metaheuristic`` when the configured search is the ILS, which cannot start from
    a given plan).
    """
    params = params or RoutingParams()
    t0 = _time.monotonic()
    grouped = any(
        s.group is not None and problem.group_penalties[s.group] > 0 for s in problem.visits
    )
    if initial is None and grouped and params.group_warm_start:
        boosted = replace(
            problem,
            visits=tuple(
                replace(s, penalty=(s.penalty or 0) + problem.group_penalties[s.group], group=None)
                if s.group is not None
                else s
                for s in problem.visits
            ),
            group_penalties={},
        )
        share = params.time_limit_s * params.group_warm_start_share
        warm = _solve(boosted, replace(params, time_limit_s=share), None, t0)
        if warm.status in ("feasible", "optimal"):
            initial = _rescore(problem, warm, t0)
    best: RoutingResult | None = None
    begin = min(_time.monotonic() - t0, params.time_limit_s)
    for r in range(params.restarts):
        deadline = begin + (params.time_limit_s - begin) * (r + 1) / params.restarts
        run = _search(problem, replace(params, seed=params.seed + r), initial, t0, deadline)
        if best is None or _better(run, best):
            best = run
        if best.status in ("optimal", "infeasible"):
            break
    assert best is not None
    if initial is not None:
        # Never return worse than a valid starting plan (e.g. one OR-Tools could not read).
        start = _rescore(problem, initial, t0)
        if _better(start, best) and not check_routing_result(problem, start):
            best = start
    return replace(best, wall_time_s=_time.monotonic() - t0)


def _better(a: RoutingResult, b: RoutingResult) -> bool:
    """Whether ``a`` is a better outcome than ``b`` (a plan beats no plan, then objective)."""
    planned = ("optimal", "feasible")
    if (a.status in planned) != (b.status in planned):
        return a.status in planned
    return a.objective < b.objective


def _search(
    problem: RoutingProblem,
    params: RoutingParams,
    initial: RoutingResult | None,
    t0: float,
    deadline: float,
) -> RoutingResult:
    """One search until ``t0 + deadline``: the configured search, then the optional polish."""
    if params.polish_share > 0:
        start = deadline - (deadline - (_time.monotonic() - t0)) * params.polish_share
        first = _solve(problem, replace(params, time_limit_s=start), initial, t0)
        if first.status != "feasible":
            return first
        polish = replace(params, time_limit_s=deadline, metaheuristic=params.polish_metaheuristic,
                         iterated_local_search=False)  # fmt: skip
        second = _solve(problem, polish, first, t0)
        return second if _better(second, first) else first
    return _solve(problem, replace(params, time_limit_s=deadline), initial, t0)


def _solve(
    problem: RoutingProblem,
    params: RoutingParams,
    initial: RoutingResult | None,
    t0: float,
) -> RoutingResult:
    """One OR-Tools run; the deadline is ``t0 + params.time_limit_s``."""
    horizon = _horizon(problem)
    allowed = [_allowed_vehicles(problem, i, horizon) for i in range(len(problem.visits))]
    impossible = [i for i, a in enumerate(allowed) if not a]
    if any(problem.visits[i].penalty is None for i in impossible):
        return _empty(problem, "infeasible", t0)
    modelled = [i for i, a in enumerate(allowed) if a]
    copies = params.multi_trip == "copies"
    if params.seed:
        # OR-Tools' ILS uses a fixed seed and the rest of its search is deterministic, so a
        # seed acts by renumbering the visits' nodes: ties and random choices then differ.
        rng = np.random.default_rng(params.seed)
        modelled = [modelled[j] for j in rng.permutation(len(modelled))]
    m = _build_nodes(problem, modelled, with_reloads=not copies)
    # OR-Tools vehicles: one per vehicle, or (copies) one per vehicle and trip.
    owner = [k for k, v in enumerate(problem.vehicles) for _ in range(v.max_trips if copies else 1)]
    ors_of: list[list[int]] = [[] for _ in problem.vehicles]
    for o, k in enumerate(owner):
        ors_of[k].append(o)
    fleet = [problem.vehicles[k] for k in owner]
    n_nodes = len(m.loc)
    n_or = len(owner)
    homes = [m.home_node[k] for k in owner]
    manager = pywrapcp.RoutingIndexManager(n_nodes, n_or, homes, homes)
    routing = pywrapcp.RoutingModel(manager)
    solver = routing.solver()
    solver.ReSeed(params.seed)

    def index(node: int) -> int:
        return manager.NodeToIndex(node)

    # Arc cost: one shared evaluator (all vehicles in one cost class unless fixed costs differ).
    dist = problem.distance[np.ix_(m.loc, m.loc)] * problem.distance_weight
    arc = routing.RegisterTransitMatrix(dist.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(arc)
    for k, v in enumerate(problem.vehicles):
        if v.fixed_cost:
            routing.SetFixedCostOfVehicle(v.fixed_cost, ors_of[k][0])

    # Time dimension (one transit matrix per time profile in use).
    profiles = sorted({v.time_profile for v in fleet})
    cb = {p: routing.RegisterTransitMatrix(_time_matrix(problem, m, p).tolist()) for p in profiles}
    routing.AddDimensionWithVehicleTransits(
        [cb[v.time_profile] for v in fleet], horizon, horizon, False, "time"
    )
    tdim = routing.GetDimensionOrDie("time")
    for o, v in enumerate(fleet):
        end = v.latest_end if v.latest_end is not None else horizon
        lo = v.earliest_start + v.reload_time
        tdim.CumulVar(routing.Start(o)).SetRange(min(lo, end), end)
        tdim.CumulVar(routing.End(o)).SetRange(0, end)
    for k, nodes in enumerate(m.reload_nodes):
        end = problem.vehicles[k].latest_end
        for node in nodes:
            tdim.CumulVar(index(node)).SetRange(0, horizon if end is None else end)
    if copies:
        # Trip j+1 of a vehicle starts after trip j is back and reloaded; trips are used in
        # order (no idle copy in between), which also breaks the copies' symmetry.
        for k, ors in enumerate(ors_of):
            reload = problem.vehicles[k].reload_time
            for a, b in itertools.pairwise(ors):
                solver.Add(
                    tdim.CumulVar(routing.Start(b)) >= tdim.CumulVar(routing.End(a)) + reload
                )
                solver.Add(routing.ActiveVehicleVar(b) <= routing.ActiveVehicleVar(a))

    # Capacity dimensions; reload nodes carry minus the capacity and absorb it with slack.
    has_reload = any(m.reload_nodes)
    for d in range(problem.n_dims):
        dem = np.zeros(n_nodes, dtype=np.int64)
        for i, node in m.visit_node.items():
            dem[node] = problem.visits[i].demand[d]
        if not dem.any():
            continue
        caps = [v.capacity[d] for v in fleet]
        for k, nodes in enumerate(m.reload_nodes):
            dem[nodes] = -problem.vehicles[k].capacity[d]
        slack = max(caps) if has_reload else 0
        routing.AddDimensionWithVehicleCapacity(
            routing.RegisterUnaryTransitVector(dem.tolist()), slack, caps, True, f"cap{d}"
        )
        if has_reload:
            cdim = routing.GetDimensionOrDie(f"cap{d}")
            for node in range(n_nodes):
                if m.kind[node] == 1:
                    cdim.SlackVar(index(node)).SetValue(0)
            for o in range(n_or):
                cdim.SlackVar(routing.Start(o)).SetValue(0)

    # Visits: windows, allowed vehicles, disjunctions, arrival cost.
    for i, node in m.visit_node.items():
        s = problem.visits[i]
        idx = index(node)
        tdim.CumulVar(idx).SetRange(s.window[0], s.window[1])
        if len(allowed[i]) < len(problem.vehicles):
            # SetAllowedVehiclesForIndex's Python binding rejects every list in 9.15
            # (absl::Span typemap); restricting the vehicle variable is equivalent.
            routing.VehicleVar(idx).SetValues([-1, *(o for k in allowed[i] for o in ors_of[k])])
        if s.penalty is not None:
            routing.AddDisjunction([idx], s.penalty)
        if s.arrival_weight:
            tdim.SetCumulVarSoftUpperBound(idx, 0, s.arrival_weight)
    for k, nodes in enumerate(m.reload_nodes):
        for node in nodes:
            routing.VehicleVar(index(node)).SetValues([-1, ors_of[k][0]])
            routing.AddDisjunction([index(node)], 0)
    dropped_groups = {problem.visits[i].group for i in impossible} - {None}
    members: dict[int, list[int]] = {}
    for i, node in m.visit_node.items():
        g = problem.visits[i].group
        if g is not None and g not in dropped_groups:
            members.setdefault(g, []).append(index(node))
    for g, idxs in members.items():
        if problem.group_penalties[g] > 0:
            routing.AddDisjunction(
                idxs, problem.group_penalties[g], len(idxs), routing.PENALIZE_ONCE
            )

    remaining = params.time_limit_s - (_time.monotonic() - t0)
    if initial is not None and params.iterated_local_search:
        # OR-Tools' ILS cannot start from a given solution: improve it with the polish search.
        params = replace(params, metaheuristic=params.polish_metaheuristic)
    search = _search_parameters(params, max(0.05, remaining))
    solution = None
    if initial is not None:
        routes = [[index(n) for n in r] for r in _initial_routes(problem, m, initial, ors_of)]
        routing.CloseModelWithParameters(search)
        start = routing.ReadAssignmentFromRoutes(routes, True)
        if start is not None:
            solution = routing.SolveFromAssignmentWithParameters(start, search)
    if solution is None:
        if params.iterated_local_search and initial is None:
            solution = routing.SolveWithIteratedLocalSearch(search)
        else:
            solution = routing.SolveWithParameters(search)
    if solution is None:
        status = routing.status()
        infeasible = status == routing_enums_pb2.RoutingSearchStatus.ROUTING_INFEASIBLE
        return _empty(problem, "infeasible" if infeasible else "no_solution", t0)
    optimal = routing.status() == routing_enums_pb2.RoutingSearchStatus.ROUTING_OPTIMAL
    sequences: list[list[int]] = [[] for _ in problem.vehicles]
    for o, k in enumerate(owner):
        idx = solution.Value(routing.NextVar(routing.Start(o)))
        if copies and sequences[k]:
            sequences[k].append(-1)  # trip boundary
        while not routing.IsEnd(idx):
            sequences[k].append(manager.IndexToNode(idx))
            idx = solution.Value(routing.NextVar(idx))
    status: Status = "optimal" if optimal else "feasible"
    return _result(problem, m, sequences, status, int(solution.ObjectiveValue()), t0)


def _initial_routes(
    problem: RoutingProblem, m: _Model, initial: RoutingResult, ors_of: list[list[int]]
) -> list[list[int]]:
    """Node sequences per OR-Tools vehicle that reproduce ``initial`` (stops not modelled
    are skipped, trips beyond the vehicle's limit too)."""
    routes: list[list[int]] = [[] for _ in range(sum(len(o) for o in ors_of))]
    for k, ors in enumerate(ors_of):
        trips = initial.trips[k] if k < len(initial.trips) else ()
        reloads = list(m.reload_nodes[k])
        for t, trip in enumerate(trips):
            nodes = [m.visit_node[s.visit] for s in trip.stops if s.visit in m.visit_node]
            if len(ors) > 1:  # one OR-Tools vehicle per trip
                if t < len(ors):
                    routes[ors[t]] = nodes
                continue
            if t > 0:
                if not reloads:
                    break
                routes[ors[0]].append(reloads.pop(0))
            routes[ors[0]].extend(nodes)
    return routes


def _empty(problem: RoutingProblem, status: Status, t0: float) -> RoutingResult:
    dropped = tuple(range(len(problem.visits)))
    return RoutingResult(
        status=status,
        trips=tuple(() for _ in problem.vehicles),
        dropped=dropped,
        objective=_drop_cost(problem, dropped),
        distance=0,
        solver_objective=None,
        wall_time_s=_time.monotonic() - t0,
    )


def _drop_cost(problem: RoutingProblem, dropped: Sequence[int]) -> int:
    cost = sum(problem.visits[i].penalty or 0 for i in dropped)
    groups = {problem.visits[i].group for i in dropped} - {None}
    return cost + sum(problem.group_penalties[g] for g in groups)


def _result(
    problem: RoutingProblem,
    m: _Model,
    sequences: list[list[int]],
    status: Status,
    solver_objective: int | None,
    t0: float,
) -> RoutingResult:
    """Split node sequences into trips at reload nodes (empty trips vanish) and assemble."""
    plans = []
    for seq in sequences:
        chunks: list[list[int]] = [[]]
        for node in seq:
            if node < 0 or m.kind[node] == 2:  # trip boundary (copies) or reload node
                chunks.append([])
            else:
                chunks[-1].append(int(m.ref[node]))
        plans.append([c for c in chunks if c])
    return _assemble(problem, plans, status, solver_objective, t0)


def _rescore(problem: RoutingProblem, result: RoutingResult, t0: float) -> RoutingResult:
    """Re-time and re-cost ``result``'s visit sequences on ``problem`` (unknown vehicles and
    visits are ignored; feasibility is not checked here)."""
    n = len(problem.visits)
    plans = [
        [[s.visit for s in t.stops if 0 <= s.visit < n] for t in ts]
        for ts in result.trips[: len(problem.vehicles)]
    ]
    plans += [[] for _ in range(len(problem.vehicles) - len(plans))]
    return _assemble(problem, plans, "feasible", None, t0)


def _assemble(
    problem: RoutingProblem,
    plans: list[list[list[int]]],
    status: Status,
    solver_objective: int | None,
    t0: float,
) -> RoutingResult:
    """Build a result from visit sequences per vehicle and trip: earliest schedule, then
    the objective recomputed from it."""
    trips_all = []
    served: set[int] = set()
    total_dist = 0
    arrival_cost = 0
    fixed = 0
    for k, chunks in enumerate(plans):
        v = problem.vehicles[k]
        trips = _time_trips(problem, v, [c for c in chunks if c])
        for trip in trips:
            total_dist += trip.distance
            for s in trip.stops:
                served.add(s.visit)
                arrival_cost += problem.visits[s.visit].arrival_weight * s.arrival
        if trips:
            fixed += v.fixed_cost
        trips_all.append(tuple(trips))
    dropped = tuple(i for i in range(len(problem.visits)) if i not in served)
    objective = (
        problem.distance_weight * total_dist + fixed + arrival_cost + _drop_cost(problem, dropped)
    )
    return RoutingResult(
        status=status,
        trips=tuple(trips_all),
        dropped=dropped,
        objective=int(objective),
        distance=int(total_dist),
        solver_objective=solver_objective,
        wall_time_s=_time.monotonic() - t0,
    )


def _time_trips(problem: RoutingProblem, v: Vehicle, chunks: list[list[int]]) -> list[Trip]:
    """Earliest schedule of a vehicle's trips (the same rules as the time dimension)."""
    tm = problem.time[v.time_profile]
    dm = problem.distance
    trips = []
    depart = v.earliest_start + v.reload_time
    for chunk in chunks:
        t = depart
        here = v.start
        prev: Visit | None = None
        dist = 0
        stops = []
        load = [0] * problem.n_dims
        for i in chunk:
            s = problem.visits[i]
            if prev is not None and prev.location == s.location:
                t = max(t, s.window[0])
            else:
                t = max(t + (prev.service if prev else 0) + int(tm[here, s.location]), s.window[0])
            dist += int(dm[here, s.location])
            here = s.location
            prev = s
            stops.append(Stop(visit=i, arrival=int(t)))
            for d in range(problem.n_dims):
                load[d] += s.demand[d]
        assert prev is not None
        back = t + prev.service + int(tm[here, v.start])
        dist += int(dm[here, v.start])
        trips.append(
            Trip(
                depart=int(depart),
                stops=tuple(stops),
                return_time=int(back),
                distance=dist,
                load=tuple(load),
            )
        )
        depart = back + v.reload_time
    return trips


# --------------------------------------------------------------------------- checking


def check_routing_result(problem: RoutingProblem, result: RoutingResult) -> list[str]:
    """Independent feasibility check of ``result`` against ``problem``; returns the list of
    violations (empty when feasible): windows, capacities, allowed vehicles, trip count,
    trip timing, every visit served at most once and either served or dropped, and the
    reported distance, loads and objective recomputed from the trips."""
    errors: list[str] = []
    seen: dict[int, int] = {}
    if len(result.trips) != len(problem.vehicles):
        errors.append(f"{len(result.trips)} trip lists for {len(problem.vehicles)} vehicles")
    total_dist = 0
    objective = 0
    for k, trips in enumerate(result.trips):
        v = problem.vehicles[k]
        tm = problem.time[v.time_profile]
        if len(trips) > v.max_trips:
            errors.append(f"vehicle {k}: {len(trips)} trips > max_trips {v.max_trips}")
        ready = v.earliest_start
        for n, trip in enumerate(trips):
            if trip.depart < ready + v.reload_time:
                errors.append(f"vehicle {k} trip {n}: departs before loading is done")
            t = trip.depart
            here = v.start
            prev: Visit | None = None
            load = [0] * problem.n_dims
            dist = 0
            for st in trip.stops:
                s = problem.visits[st.visit]
                seen[st.visit] = seen.get(st.visit, 0) + 1
                dist += int(problem.distance[here, s.location])
                objective += s.arrival_weight * st.arrival
                if s.vehicles is not None and k not in s.vehicles:
                    errors.append(f"visit {st.visit}: vehicle {k} not allowed")
                same = prev is not None and prev.location == s.location
                earliest = (
                    t if same else t + (prev.service if prev else 0) + int(tm[here, s.location])
                )
                if st.arrival < earliest:
                    errors.append(f"visit {st.visit}: arrival {st.arrival} < {earliest}")
                if not s.window[0] <= st.arrival <= s.window[1]:
                    errors.append(f"visit {st.visit}: arrival {st.arrival} outside {s.window}")
                t = st.arrival
                here = s.location
                prev = s
                for d in range(problem.n_dims):
                    load[d] += s.demand[d]
            for d in range(problem.n_dims):
                if load[d] > v.capacity[d]:
                    errors.append(f"vehicle {k} trip {n}: load {load[d]} > cap dim {d}")
            if tuple(load) != trip.load:
                errors.append(f"vehicle {k} trip {n}: load {trip.load} reported, {load} carried")
            dist += int(problem.distance[here, v.start])
            if dist != trip.distance:
                errors.append(f"vehicle {k} trip {n}: distance {trip.distance} != {dist}")
            total_dist += dist
            back = t + (prev.service if prev else 0) + int(tm[here, v.start])
            if trip.return_time < back:
                errors.append(f"vehicle {k} trip {n}: return {trip.return_time} < {back}")
            if v.latest_end is not None and trip.return_time > v.latest_end:
                errors.append(f"vehicle {k} trip {n}: back after latest_end")
            ready = trip.return_time
        objective += v.fixed_cost if trips else 0
    for i, c in seen.items():
        if c > 1:
            errors.append(f"visit {i} served {c} times")
    for i in result.dropped:
        if i in seen:
            errors.append(f"visit {i} both served and dropped")
        if problem.visits[i].penalty is None and result.status in ("optimal", "feasible"):
            errors.append(f"mandatory visit {i} dropped")
    if len(seen) + len(result.dropped) != len(problem.visits):
        errors.append("some visits are neither served nor dropped")
    if total_dist != result.distance:
        errors.append(f"distance {result.distance} reported, {total_dist} driven")
    objective += problem.distance_weight * total_dist + _drop_cost(problem, result.dropped)
    if objective != result.objective:
        errors.append(f"objective {result.objective} reported, {objective} recomputed")
    return errors
