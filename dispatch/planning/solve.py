"""solve(scenario, params) -> Plan: the dispatch engine (second generation).

Coverage is all-or-nothing per site, so the engine completes sites (docs/planning.md, "The
engine"):

1. network: travel matrices, once;
2. bound: ``bounds.plan_bounds`` (the flow and the trip-time bounds, deterministic) -
   reported beside the plan;
3. baseline: ``greedy_baseline`` - the floor the plan never falls below;
4. allocation (construction): a selection LP (``select``) says which sites the stock and
   the fleet can cover; two plans are built by completing sites, most people per
   vehicle-minute first (``construct``), one taking the LP's sites first, one not;
5. routing (search): ruin-and-recreate moves (``lns``) on both, then on the better one, for
   a fixed number of moves and work units (the work budget): the same scenario and seed give
   the same plan however busy the machine is; the wall-clock limit is only a cap, and a plan the cap
   cut short says ``time_capped``;
6. repair (filling): part-deliveries with the stock and vehicle time left, only after every
   site that could be completed is (``construct.fill``), then trips for vehicles still idle
   (``construct.use_idle``), then the tiered draw (``construct.polish_tiers``) and, when
   it changed something, idle vehicles again;
7. check: the plan must pass ``check``; the greedy baseline replaces it only when it covers
   more (status ``baseline``); an engine error or a checker rejection is reported in the
   status (``engine_error``, ``checker_rejected``) and logged, and raises in strict mode.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from dispatch.planning.baseline import BoundSolver, coverage_upper_bound, greedy_baseline
from dispatch.planning.bounds import plan_bounds
from dispatch.planning.construct import construct, fill, polish_tiers, use_idle
from dispatch.planning.lns import SearchParams, search
from dispatch.planning.network import TravelNetwork, build_network
from dispatch.planning.plan import Plan, Status, build_plan, check, with_summary
from dispatch.planning.problem import Scenario
from dispatch.planning.select import select
from dispatch.planning.state import Clock, State, Static

Progress = Callable[[str, float], None]
log = logging.getLogger(__name__)

# contract-v2 features the engine plans with (the others make it refuse loudly, for now)
SUPPORTED_V2 = frozenset({"costs", "bases", "loads_at", "driver_rules", "unload_min_per_t",
                          "need_groups"})


class EngineError(RuntimeError):
    """The engine failed or its plan failed the checker (raised in strict mode only;
    otherwise the plan's status says ``engine_error`` or ``checker_rejected``)."""


# work units (``State.work``) the search does per CPU second, measured on the tune half of
# the scenario families on this 2-core machine, the lowest (docs/planning.md, "The work budget")
WORK_PER_S = 1.0e6


class SolveParams(BaseModel):
    """Solver parameters (frozen, validated).

    ``time_limit_s``: the wall-clock cap (None: the scenario's ``policy.time_limit_s``); the
    work budget, not the clock, decides the plan, so the cap only matters on a machine far
    too slow or busy for the budget, and then the status says ``time_capped``.
    ``moves``: search moves (None: ``500 + 10 x sites``, at most 10,000); ``work``: work units
    the search may spend (``State.work``, sources, vehicles and trips scanned; None: ``work_per_s x
    work_share x`` the time limit, see ``search_work``): the work budget is both, whichever
    ends first. ``offer_late``: sources that open late are candidates for every site, beside
    the ``per_item`` nearest (``construct.candidate_sources``).
    ``flex_premium``: a completing move by a vehicle allowed at several sources, loading at
    a source that has vehicles of its own, counts its goods per vehicle-minute divided by
    ``1 + flex_premium``, so the enterprise trucks keep their time for the sources only they
    can load at (``Static.flex_weight``). ``follow``: once a site is completed, its
    ``follow`` nearest waiting sites are keyed again as extra stops on the way
    (``construct.construct``).
    ``trial_share``: the share of the moves the constructions' trials take together, split
    evenly among them, before the best one takes the rest. ``guide``: ``auto`` builds them
    all (with and without the selection LP's sites first, and the narrowed one),
    ``selection`` or ``none`` only that one. ``narrow``: the narrowed construction lets a
    vehicle allowed at several sources load only where at least ``narrow`` x its capacity
    (kg) of needed items is held at the start (``Static.narrowed``; 0: not built; its
    search keeps the restriction, its repair passes do not). ``per_item``: sources
    considered per item of a site (the nearest that still hold it). ``ruin_max``,
    ``around``, ``noise``, ``vehicle_ruin``, ``threshold``: the search's shape (``lns``);
    ``late_ruin``: the share of its moves that free a vehicle for a reserve that opens late
    (``lns._ruin_late``); ``late_pair``: such a move also frees this many vehicles serving
    the sites around its targets (their other needs come from the depots, on trucks busy
    all day).
    ``bound_solver`` and ``bound_time_s``: the flow bound's solver (``lp``, deterministic, by
    default; ``scip`` within the time, whose proven bound then depends on the clock);
    ``bound_nodes``: the trip-time bound's MIP node limit (deterministic; 0, the default: its
    LP only). ``strict``: raise
    ``EngineError`` instead of returning a degraded plan (tests).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_limit_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    seed: Annotated[int, Field(ge=0)] = 0
    moves: Annotated[int, Field(ge=0)] | None = None
    trial_share: Annotated[float, Field(ge=0, le=0.9)] = 0.1
    guide: Literal["auto", "selection", "none"] = "auto"
    per_item: Annotated[int, Field(ge=1, le=100)] = 10
    ruin_max: Annotated[int, Field(ge=1, le=100)] = 10
    around: Annotated[int, Field(ge=0, le=200)] = 16
    noise: Annotated[float, Field(ge=0, le=3)] = 0.3
    vehicle_ruin: Annotated[float, Field(ge=0, le=1)] = 0.2
    late_ruin: Annotated[float, Field(ge=0, le=1)] = 0.45
    threshold: Annotated[float, Field(ge=0, le=1)] = 0.02
    bound_solver: BoundSolver = "lp"
    bound_time_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 5.0
    bound_nodes: Annotated[int, Field(ge=0)] = 0
    late_weight: Annotated[float, Field(ge=0, le=10)] = 0.0
    flex_premium: Annotated[float, Field(ge=0, le=10)] = 0.5
    late_pair: Annotated[int, Field(ge=0, le=10)] = 1
    offer_late: bool = True
    follow: Annotated[int, Field(ge=0, le=100)] = 8
    narrow: Annotated[float, Field(ge=0, le=10)] = 0.5
    work: Annotated[int, Field(ge=0)] | None = None
    work_per_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = WORK_PER_S
    work_share: Annotated[float, Field(gt=0, le=1)] = 0.6
    strict: bool = False

    def search_moves(self, sites: int) -> int:
        """The search's moves for a scenario with this many sites."""
        return self.moves if self.moves is not None else min(10_000, 500 + 10 * sites)

    def search_work(self, limit_s: float) -> int:
        """The work units the search may spend (``State.work``) under a time limit of
        ``limit_s``: ``work`` if given, else ``work_per_s x work_share x limit_s`` - a
        count, not a clock, sized so that on a quiet 2-core machine the search ends at
        about ``work_share`` of the limit (with construction, repair and check, about
        60-70 %)."""
        if self.work is not None:
            return self.work
        return round(self.work_per_s * self.work_share * limit_s)


def solve(
    scenario: Scenario,
    params: SolveParams | None = None,
    *,
    progress: Progress | None = None,
) -> Plan:
    """Plan deliveries for ``scenario``.

    The plan passes ``check(plan, scenario)``, reports ``bound_coverage`` and
    ``baseline_coverage``, is never below the greedy baseline in (coverage, fill rate), and
    lists what is unmet with its reason. ``progress(phase, fraction)`` reports the phases
    ``network``, ``bound``, ``baseline``, ``allocation``, ``routing``, ``repair``, ``check``.
    """
    t0 = time.monotonic()
    params = params or SolveParams()
    cap = params.time_limit_s or scenario.policy.time_limit_s
    unsupported = [f for f in scenario.v2_features() if f not in SUPPORTED_V2]
    if unsupported:
        return _unsupported(scenario, params, unsupported, t0)

    def report(phase: str, fraction: float) -> None:
        if progress is not None:
            progress(phase, min(1.0, max(0.0, fraction)))

    report("network", 0.0)
    net = build_network(scenario)
    report("network", 1.0)
    report("bound", 0.0)
    bounds = plan_bounds(scenario, net, flow_solver=params.bound_solver,
                         flow_time_limit_s=params.bound_time_s, mip_nodes=params.bound_nodes)
    bound = min(bounds, key=lambda b: (b.people, b.name))
    report("bound", 1.0)
    report("baseline", 0.0)
    base = greedy_baseline(scenario, net)
    report("baseline", 1.0)

    status: Status = "feasible"
    reason = ""
    plan: Plan | None = None
    try:
        state, capped = _engine(scenario, net, params, report, t0 + cap)
        plan = build_plan(scenario, state.routes(), network=net)
        if capped:
            status = "time_capped"
            reason = f"the {cap:g} s wall-clock cap stopped the search before its work budget"
    except Exception as exc:  # reported in the status, never silent
        if params.strict:
            raise
        log.exception("planning %r: the engine failed", scenario.name)
        status, reason = "engine_error", f"{type(exc).__name__}: {exc}"

    report("check", 0.0)
    if plan is not None:
        verdict = check(plan, scenario, net)
        if not verdict.ok:
            reason = "; ".join(str(v) for v in verdict.violations[:5])
            if params.strict:
                raise EngineError(f"the engine's plan failed the checker: {reason}")
            log.error("planning %r: the engine's plan failed the checker: %s",
                      scenario.name, reason)
            status, plan = "checker_rejected", None
    if plan is None:
        plan = base
    elif (base.summary.people_covered, base.summary.fill_rate) > (
            plan.summary.people_covered, plan.summary.fill_rate + 1e-12):
        log.warning("planning %r: the greedy baseline covers more (%d people, fill %.4f) than "
                    "the engine (%d, %.4f); returning the baseline", scenario.name,
                    base.summary.people_covered, base.summary.fill_rate,
                    plan.summary.people_covered, plan.summary.fill_rate)
        reason = "the greedy baseline covers more people (or as many with more fill)" + (
            f"; {reason}" if reason else "")
        status, plan = "baseline", base
    elif status == "feasible" and plan.summary.people_covered >= bound.people:
        status = "optimal_coverage"
    if reason:
        log.info("planning %r: status %s (%s)", scenario.name, status, reason)
    report("check", 1.0)
    return with_summary(plan, solve_s=round(time.monotonic() - t0, 3),
                        bound_coverage=bound.coverage, bounds=bounds,
                        baseline_coverage=base.summary.coverage, status=status,
                        status_reason=reason or None)


def _unsupported(scenario: Scenario, params: SolveParams, features: list[str], t0: float
                 ) -> Plan:
    """Contract-v2 features the engine does not plan with yet: fail loudly. In strict mode
    raise; otherwise return the greedy baseline (which implements every rule and passes the
    checker) with status ``engine_error`` and the reason."""
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


def _engine(scenario: Scenario, net: TravelNetwork, params: SolveParams, report: Progress,
            cap_at: float) -> tuple[State, bool]:
    """Construct, search, fill; returns the working plan and whether the cap cut it short."""
    st = Static(scenario, net, offer_late=params.offer_late)
    if params.late_weight:
        st.source_weight = [1.0 + params.late_weight if r > 0 else 1.0 for r in st.ready]
    st.flex_weight = 1.0 / (1.0 + params.flex_premium)
    n = st.n_sites
    began = time.monotonic()
    reserve = min(0.25 * (cap_at - began), 0.5 + 0.01 * n)  # filling + checking
    stop_at = cap_at - reserve
    capped = False

    def out_of_time() -> bool:
        nonlocal capped
        if time.monotonic() > stop_at:
            capped = True
        return capped

    def past_cap() -> bool:  # the tiered draw stops here, leaving time to build and check
        nonlocal capped
        if time.monotonic() > cap_at - check_reserve:
            capped = True
        return capped

    sites = range(n)
    check_reserve = 0.5 + 0.01 * n
    report("allocation", 0.0)
    ranks: dict[str, Callable[[int], int] | None] = {}
    if params.guide in ("auto", "none"):
        ranks["none"] = None
    if params.guide in ("auto", "selection"):
        ranks["selection"] = select(st, params.per_item).rank
    narrowed = st.narrowed(params.narrow) if params.guide == "auto" and params.narrow else st
    if narrowed.allowed != st.allowed:  # only when some vehicle is kept from a source
        ranks["narrow"] = None
    starts: dict[str, State] = {}
    for k, (name, rank) in enumerate(ranks.items()):
        if starts and out_of_time():
            break  # the first construction always completes: it is the plan
        state = State.empty(narrowed if name == "narrow" else st)
        construct(state, sites, rank=rank, per_item=params.per_item, follow=params.follow)
        starts[name] = state
        if k == 0:
            # what the machine gives this solve, measured: the repair passes, building the
            # plan and the check take about half a construction, so keep that much before
            # the cap (a busy machine cuts the search, not the repair)
            built = time.monotonic() - began
            stop_at = min(stop_at, cap_at - 0.5 * built)
            check_reserve = min(0.5 + 0.01 * n + 0.3 * built, 0.5 * (cap_at - began))
        report("allocation", (k + 1) / len(ranks))
        log.info("construction %s: %d people covered", name, state.covered_people)

    total = params.search_moves(n)
    work = params.search_work(params.time_limit_s or scenario.policy.time_limit_s)
    trial = round(total * params.trial_share / len(starts)) if len(starts) > 1 else 0
    ranks = {name: ranks[name] for name in starts}
    shape = {"ruin_max": params.ruin_max, "around": params.around, "noise": params.noise,
             "vehicle_ruin": params.vehicle_ruin, "late_ruin": params.late_ruin,
             "threshold": params.threshold, "late_pair": params.late_pair,
             "per_item": params.per_item, "follow": params.follow}
    done = 0

    def phase(moves: int, state: State, rank: Callable[[int], int] | None, seed: int) -> None:
        nonlocal done
        first = done

        def sub(f: float) -> None:
            report("routing", (first + f * moves) / max(1, total))

        share = round(work * moves / max(1, total))
        stats = search(state, SearchParams(moves=moves, work=share, **shape), seed, out_of_time,
                       sub, rank=rank)
        log.info("search phase: %d of %d moves (%d accepted; late-reserve ruins %d, %d "
                 "accepted), %d work units", stats.moves, moves, stats.accepted, stats.late,
                 stats.late_accepted, state.work)
        done += moves

    report("routing", 0.0)
    if trial:
        for k, (name, state) in enumerate(starts.items()):
            phase(trial, state, ranks[name], params.seed * 1000 + k)
    name = max(starts, key=lambda x: (starts[x].covered_people, -starts[x].busy_minutes()))
    state = starts[name]
    phase(max(0, total - trial * len(starts)), state, ranks[name], params.seed * 1000 + 7)
    log.info("search (%s): %d people covered, %d vehicle-minutes", name, state.covered_people,
             state.busy_minutes())
    report("repair", 0.0)
    if state.st is not st:  # the narrowed start: the repair may use every source again
        state.st, state.clock = st, Clock(st)
    # filling and idle vehicles always run to the end (bounded work, and what keeps no
    # vehicle idle while coverable demand is unmet); the tiered draw only breaks cost ties
    # and stops at the cap
    fill(state, sites, per_item=params.per_item)
    report("repair", 0.5)
    use_idle(state)
    # the tiered draw may take a vehicle's only trips away (its sites served from a lower
    # tier) and put its source's stock back: idle vehicles are offered moves again
    if polish_tiers(state, stop=past_cap, per_item=params.per_item):
        use_idle(state)
    report("repair", 1.0)
    return state, capped
