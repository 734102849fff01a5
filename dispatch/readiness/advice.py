"""Pre-positioning advice: which stock to move between depots, which expiring stock to rotate
and which volumes to buy or contract, to raise the covered share of the worst scenarios of the
library. A pure optimisation over typed inputs (OR-Tools); ``advice_service`` builds the inputs
from the live scenarios, verifies the result with the engine and stores the orders.

The model (docs/readiness.md, "Pre-positioning advice"). All scenarios share one first stage
(the moves) and each keeps its own second stage (who gets what), because any one of them may
strike:

* moves: ``t[a,b,i]`` units of item i sent from depot a to depot b (only what a holds and may
  send: usable at the evaluation date, unreserved), ``r[d,i]`` expiring units of d replaced
  by fresh ones (轮换), ``p[d,i]`` new units bought into a government depot, ``g[e,i]`` more
  volume under an agreement already in force;
* stock after the moves: ``S'[d,i] = S[d,i] - sum_b t[d,b,i] + sum_a t[a,d,i] + r + p`` at
  physical depots, ``S'[e,i] = S[e,i] + g[e,i]`` at agreement sources, unchanged elsewhere;
* room: the volume a depot gains (transfers in and purchases, minus transfers out) fits its
  free volume (floor area x storage density - what it holds now); a depot whose floor area is
  unknown receives nothing;
* budgets: tonnes moved <= ``tonnes``; truck-km (round trips of full trucks of
  ``TRUCK_KG``) <= ``truck_km`` when given; tonnes bought or contracted <= ``new_tonnes``;
* per scenario k, the routing-free relaxation the engine's allocation uses: sites grouped into
  classes of identical reach, ``y[j]`` in {0,1} (site j covered), flows ``x[s,c,i]`` from the
  sources that reach the class by the deadline, ``sum_s x[s,c,i] >= sum_{j in c} d[j,i] y[j]``,
  ``sum_c x[s,c,i] <= S'[s,i]``, and each source's vehicle time: trips ``tau[s,c]`` carry the
  weight and the volume, ``sum_c cycle[s,c] tau[s,c] <= theta x (vehicle-minutes by the
  deadline)``;
* objective, lexicographic: (1) maximise the smallest covered share over the scenarios; (2)
  then the population-weighted mean share; (3) then move as little as possible (tonne-km of
  transfers, tonnes bought, units rotated).

Sites are all-or-nothing, as in the engine: ``y`` is binary and the model is a MIP (SCIP, a
time limit per stage). The engine then re-plans every scenario on the moved stock: its figures,
not this model's, are the before and after a leader sees.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ortools.linear_solver import pywraplp

from dispatch.readiness.models import OrderKind
from relief.platform.errors import JobFailed

TRUCK_KG = 8000.0  # a transfer runs full 8 t trucks (the city depot's heavy trucks, seed)
THETA = 0.75  # share of vehicle-minutes a plan can use (the engine allocation's time factor)
MIN_ORDER_KG = 50.0  # smaller moves are not worth a trip
EPS = 1e-6


@dataclass(frozen=True)
class ItemSpec:
    """An item's unit weight and volume."""

    code: str
    kg: float
    m3: float


@dataclass(frozen=True)
class DepotState:
    """A physical depot (a source of the live scenarios): what it holds and may give or take.

    ``stock``: usable at the evaluation date, as the scenarios see it; ``movable``: of it, what
    may leave (every unit of ``stock`` is unreserved and usable, so the same unless the caller
    holds some back); ``expiring``: usable today but expired by the evaluation date (rotation
    candidates); ``free_m3``: volume it may still take (None: floor area unknown, receives
    nothing); ``can_buy``: a government depot where purchases may go.
    """

    code: str
    stock: Mapping[str, int]
    movable: Mapping[str, int]
    expiring: Mapping[str, int]
    free_m3: float | None
    can_buy: bool


@dataclass(frozen=True)
class Contract:
    """An agreement source (id as in the scenarios) whose enterprise may commit more of the
    items it already supplies."""

    source: str
    depot: str
    items: frozenset[str]


@dataclass(frozen=True)
class Lane:
    """Source ``source`` reaches a site class by the deadline; a trip there and back takes
    ``cycle_min`` minutes (loading, driving, unloading)."""

    source: str
    cycle_min: float


@dataclass(frozen=True)
class SiteClass:
    """Sites reached by the same sources."""

    sites: tuple[str, ...]
    lanes: tuple[Lane, ...]


@dataclass(frozen=True)
class Fleet:
    """A source's vehicles in one scenario: vehicle-minutes by the deadline, mean capacity."""

    minutes: float
    kg: float
    m3: float


@dataclass(frozen=True)
class ScenarioModel:
    """One library scenario as the model sees it."""

    key: str
    county: str
    people: int
    site_people: Mapping[str, int]
    demand: Mapping[str, Mapping[str, int]]  # site -> item -> units
    classes: tuple[SiteClass, ...]
    fleets: Mapping[str, Fleet]  # source id -> its vehicles
    stock: Mapping[str, Mapping[str, int]]  # source id -> item -> units (before any move)


@dataclass(frozen=True)
class Budget:
    """What the moves may spend."""

    tonnes: float
    truck_km: float | None = None
    new_tonnes: float = 0.0


@dataclass(frozen=True)
class AdviceProblem:
    """Everything the optimisation needs."""

    items: Mapping[str, ItemSpec]
    depots: Mapping[str, DepotState]  # by depot code = its source id in the scenarios
    contracts: tuple[Contract, ...]
    km: Mapping[tuple[str, str], float]  # road km between depots
    scenarios: tuple[ScenarioModel, ...]
    budget: Budget
    theta: float = THETA


@dataclass(frozen=True)
class Move:
    """One advised move (an order once stored)."""

    kind: OrderKind
    source: str | None  # sending depot (transfers)
    target: str  # receiving depot, depot rotating, buying, or agreement enterprise
    item: str
    quantity: int
    km: float | None = None


@dataclass(frozen=True)
class AdviceSolution:
    """The moves and what the model predicts (people covered per scenario key)."""

    moves: tuple[Move, ...]
    before: Mapping[str, float]
    predicted: Mapping[str, float]
    status: str
    solve_s: float
    tonnes_moved: float = 0.0
    truck_km: float = 0.0
    new_tonnes: float = 0.0
    stages: tuple[str, ...] = field(default_factory=tuple)

    def share(self, people: Mapping[str, int], covered: Mapping[str, float]) -> dict[str, float]:
        """Covered share per scenario key."""
        return {k: (1.0 if people[k] == 0 else covered[k] / people[k]) for k in covered}


STATUS = {pywraplp.Solver.OPTIMAL: "optimal", pywraplp.Solver.FEASIBLE: "feasible",
          pywraplp.Solver.INFEASIBLE: "infeasible", pywraplp.Solver.UNBOUNDED: "unbounded",
          pywraplp.Solver.ABNORMAL: "abnormal", pywraplp.Solver.NOT_SOLVED: "not_solved"}


class _Model:
    """The model, built once with OR-Tools' row API; stages change the objective and pin the
    previous stage's optimum. ``binary``: sites all-or-nothing (SCIP) instead of the LP
    relaxation (GLOP)."""

    def __init__(self, problem: AdviceProblem, *, moves: bool, binary: bool) -> None:
        self.p = problem
        self.s = pywraplp.Solver.CreateSolver("SCIP" if binary else "GLOP")
        if self.s is None:
            raise JobFailed.of("advice.no_backend")
        s, p = self.s, problem
        inf = s.infinity()
        self.t: dict[tuple[str, str, str], pywraplp.Variable] = {}
        self.r: dict[tuple[str, str], pywraplp.Variable] = {}
        self.buy: dict[tuple[str, str], pywraplp.Variable] = {}
        self.g: dict[tuple[str, str], pywraplp.Variable] = {}
        # only items some scenario needs move; only depots whose vehicles serve some
        # scenario receive (stock elsewhere could not leave by the deadline)
        needed = {code for k in p.scenarios for d in k.demand.values() for code in d}
        fleets = {src for k in p.scenarios for src, f in k.fleets.items() if f.minutes > 0}
        receivers = [d for d in p.depots.values()
                     if d.free_m3 is not None and d.code in fleets]
        if moves:
            for a in p.depots.values():
                for code, qty in a.movable.items():
                    if qty <= 0 or code not in needed:
                        continue
                    for b in receivers:
                        if b.code != a.code and (a.code, b.code) in p.km:
                            self.t[(a.code, b.code, code)] = s.NumVar(0, qty, "")
                for code, qty in a.expiring.items():
                    if qty > 0 and code in needed:
                        self.r[(a.code, code)] = s.NumVar(0, qty, "")
            if p.budget.new_tonnes > 0:
                for b in receivers:
                    if b.can_buy:
                        for code in sorted(needed):
                            self.buy[(b.code, code)] = s.NumVar(0, inf, "")
                for c in p.contracts:
                    for code in sorted(c.items & needed):
                        self.g[(c.source, code)] = s.NumVar(0, inf, "")
        # stock after the moves: per (source, item), the move variables and their signs
        self.delta: dict[tuple[str, str], list[tuple[pywraplp.Variable, float]]] = {}
        for (a, b, code), v in self.t.items():
            self.delta.setdefault((a, code), []).append((v, -1.0))
            self.delta.setdefault((b, code), []).append((v, 1.0))
        for table in (self.r, self.buy, self.g):
            for key, v in table.items():
                self.delta.setdefault(key, []).append((v, 1.0))
        # what a depot may send
        sent: dict[tuple[str, str], pywraplp.Constraint] = {}
        for (a, _b, code), v in self.t.items():
            if (a, code) not in sent:
                sent[(a, code)] = s.Constraint(-inf, p.depots[a].movable[code])
            sent[(a, code)].SetCoefficient(v, 1.0)
        # room: the volume a receiver gains fits its free volume
        room = {b.code: s.Constraint(-inf, b.free_m3 or 0.0) for b in receivers}
        for (a, b, code), v in self.t.items():
            room[b].SetCoefficient(v, p.items[code].m3)
            if a in room:
                room[a].SetCoefficient(v, -p.items[code].m3)
        for (b, code), v in self.buy.items():
            room[b].SetCoefficient(v, p.items[code].m3)
        # budgets
        if self.t:
            tonnes = s.Constraint(-inf, p.budget.tonnes * 1000)
            for (_a, _b, code), v in self.t.items():
                tonnes.SetCoefficient(v, p.items[code].kg)
            if p.budget.truck_km is not None:
                tkm = s.Constraint(-inf, p.budget.truck_km)
                for (a, b, code), v in self.t.items():
                    tkm.SetCoefficient(v, 2 * p.km[(a, b)] * p.items[code].kg / TRUCK_KG)
        if self.buy or self.g:
            new = s.Constraint(-inf, p.budget.new_tonnes * 1000)
            for (_d, code), v in [*self.buy.items(), *self.g.items()]:
                new.SetCoefficient(v, p.items[code].kg)
        self.z = s.NumVar(0, 1, "z")
        self.pins: list[pywraplp.Constraint] = []
        self.y: dict[str, dict[str, pywraplp.Variable]] = {}
        for k in p.scenarios:
            self._scenario(k, binary)

    def _scenario(self, k: ScenarioModel, binary: bool) -> None:
        s, p = self.s, self.p
        inf = s.infinity()
        y = {j: (s.BoolVar("") if binary else s.NumVar(0, 1, "")) for j in k.site_people}
        self.y[k.key] = y
        held: dict[tuple[str, str], pywraplp.Constraint] = {}
        fleet_rows: dict[str, pywraplp.Constraint] = {}
        for cls in k.classes:
            need: dict[str, list[tuple[str, int]]] = {}
            for j in cls.sites:
                for code, qty in k.demand[j].items():
                    if qty > 0:
                        need.setdefault(code, []).append((j, qty))
            flows: dict[tuple[str, str], pywraplp.Variable] = {}
            for code, sites in need.items():
                row = s.Constraint(0, inf)  # supply - demand of covered sites >= 0
                for j, qty in sites:
                    row.SetCoefficient(y[j], -float(qty))
                for lane in cls.lanes:
                    if not self._may_hold(lane.source, code, k):
                        continue
                    v = s.NumVar(0, inf, "")
                    flows[(lane.source, code)] = v
                    row.SetCoefficient(v, 1.0)
                    key = (lane.source, code)
                    if key not in held:
                        held[key] = s.Constraint(-inf, float(k.stock.get(lane.source, {})
                                                            .get(code, 0)))
                        for mv, sign in self.delta.get(key, []):
                            held[key].SetCoefficient(mv, -sign)
                    held[key].SetCoefficient(v, 1.0)
            for lane in cls.lanes:
                load = [(code, v) for (src, code), v in flows.items() if src == lane.source]
                if not load:
                    continue
                fleet = k.fleets.get(lane.source)
                if fleet is None or fleet.minutes <= 0:
                    for _, v in load:
                        v.SetUb(0.0)
                    continue
                tau = s.NumVar(0, inf, "")
                by_kg = s.Constraint(0, inf)
                by_m3 = s.Constraint(0, inf)
                by_kg.SetCoefficient(tau, fleet.kg)
                by_m3.SetCoefficient(tau, fleet.m3)
                for code, v in load:
                    by_kg.SetCoefficient(v, -p.items[code].kg)
                    by_m3.SetCoefficient(v, -p.items[code].m3)
                if lane.source not in fleet_rows:
                    fleet_rows[lane.source] = s.Constraint(-inf, p.theta * fleet.minutes)
                fleet_rows[lane.source].SetCoefficient(tau, lane.cycle_min)
        if k.people > 0:
            cover = s.Constraint(-inf, 0)  # z * people - covered <= 0
            cover.SetCoefficient(self.z, float(k.people))
            for j, v in y.items():
                cover.SetCoefficient(v, -float(k.site_people[j]))

    def _may_hold(self, source: str, code: str, k: ScenarioModel) -> bool:
        """Whether a source can hold the item after the moves (else no flow variable)."""
        return k.stock.get(source, {}).get(code, 0) > 0 or (source, code) in self.delta

    def covered(self, key: str) -> float:
        """People a scenario covers in the current solution."""
        k = next(x for x in self.p.scenarios if x.key == key)
        return sum(k.site_people[j] * v.solution_value() for j, v in self.y[key].items())

    def mean_terms(self) -> list[tuple[pywraplp.Variable, float]]:
        """The population-weighted mean share as (variable, coefficient) terms."""
        total = sum(k.people for k in self.p.scenarios) or 1
        return [(v, k.site_people[j] / total) for k in self.p.scenarios
                for j, v in self.y[k.key].items()]

    def solve(self, terms: list[tuple[pywraplp.Variable, float]], maximize: bool,
              limit_s: float) -> int:
        """Optimise the linear objective ``terms`` within ``limit_s`` seconds."""
        obj = self.s.Objective()
        obj.Clear()
        for v, c in terms:
            obj.SetCoefficient(v, obj.GetCoefficient(v) + c)
        if maximize:
            obj.SetMaximization()
        else:
            obj.SetMinimization()
        self.s.SetTimeLimit(max(1, int(limit_s * 1000)))
        return self.s.Solve()

    def pin(self, terms: list[tuple[pywraplp.Variable, float]], low: float) -> None:
        """Keep ``terms`` at least ``low`` in the next stages (until :meth:`unpin`)."""
        row = self.s.Constraint(low, self.s.infinity())
        for v, c in terms:
            row.SetCoefficient(v, row.GetCoefficient(v) + c)
        self.pins.append(row)

    def unpin(self) -> None:
        """Forget the stages' optima (before solving the stages again)."""
        for row in self.pins:
            row.SetLb(-self.s.infinity())
        self.pins.clear()


OK = (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE)


def _stages(problem: AdviceProblem, m: _Model, left: Callable[[float], float],
            stages: list[str]) -> int:
    """Solve the three lexicographic stages; returns the last stage's status."""
    status = m.solve([(m.z, 1.0)], True, left(1 / 3))
    stages.append(f"min share {STATUS.get(status, status)}")
    if status not in OK:
        raise JobFailed.of("advice.no_solution", status=STATUS.get(status, status))
    m.pin([(m.z, 1.0)], m.z.solution_value() - EPS)
    mean = m.mean_terms()
    status = m.solve(mean, True, left(1 / 2))
    stages.append(f"mean share {STATUS.get(status, status)}")
    if status not in OK:
        raise JobFailed.of("advice.lost_solution", status=STATUS.get(status, status))
    m.pin(mean, m.s.Objective().Value() - EPS)
    effort = ([(v, problem.km[(a, b)] * problem.items[c].kg / 1000)
               for (a, b, c), v in m.t.items()]
              + [(v, problem.items[c].kg / 1000) for (_d, c), v in
                 [*m.buy.items(), *m.g.items()]]
              + [(v, 0.001) for v in m.r.values()])
    status = m.solve(effort, False, left(1.0))
    stages.append(f"least movement {STATUS.get(status, status)}")
    if status not in OK:
        raise JobFailed.of("advice.lost_solution", status=STATUS.get(status, status))
    return status


def optimise(problem: AdviceProblem, *, time_limit_s: float = 60.0,
             binary: bool = False, rounds: int = 4) -> AdviceSolution:
    """The advice: moves and the people each scenario would cover with them (the model's
    estimate; the engine verifies). The three stages share ``time_limit_s``; a move too small
    to be worth a trip (under ``MIN_ORDER_KG``) is forbidden and the stages solved again, at
    most ``rounds`` times, so the moves that remain carry the stock the model counted on."""
    started = time.monotonic()
    stages: list[str] = []
    before = _covered_without_moves(problem, time_limit_s / 4, binary)
    m = _Model(problem, moves=True, binary=binary)

    def left(share: float) -> float:
        return max(1.0, (time_limit_s - (time.monotonic() - started)) * share)

    status = _stages(problem, m, left, stages)
    for _ in range(rounds - 1):
        small = [v for table in (m.t, m.buy, m.g) for key, v in table.items()
                 if v.solution_value() > 1e-6
                 and v.solution_value() * problem.items[key[-1]].kg < MIN_ORDER_KG]
        if not small:
            break
        for v in small:
            v.SetUb(0.0)
        m.unpin()
        stages.append(f"forbid {len(small)} small moves")
        status = _stages(problem, m, left, stages)
    moves = _moves(problem, m)
    predicted = {k.key: m.covered(k.key) for k in problem.scenarios}
    return AdviceSolution(
        moves=tuple(moves), before=before, predicted=predicted,
        status="optimal" if status == pywraplp.Solver.OPTIMAL else "feasible",
        solve_s=round(time.monotonic() - started, 2),
        tonnes_moved=round(sum(problem.items[mv.item].kg * mv.quantity for mv in moves
                               if mv.kind == OrderKind.transfer) / 1000, 3),
        truck_km=round(sum(2 * (mv.km or 0) * problem.items[mv.item].kg * mv.quantity / TRUCK_KG
                           for mv in moves if mv.kind == OrderKind.transfer), 1),
        new_tonnes=round(sum(problem.items[mv.item].kg * mv.quantity for mv in moves
                             if mv.kind in (OrderKind.purchase, OrderKind.agreement)) / 1000, 3),
        stages=tuple(stages))


def _covered_without_moves(problem: AdviceProblem, limit_s: float, binary: bool
                           ) -> dict[str, float]:
    """The model's people covered per scenario with no move (its own 'before'; scenarios are
    independent then, so maximising the total maximises each)."""
    m = _Model(problem, moves=False, binary=binary)
    status = m.solve(m.mean_terms(), True, limit_s)
    if status not in OK:
        raise JobFailed.of("advice.no_solution_without_moves",
                           status=STATUS.get(status, status))
    return {k.key: m.covered(k.key) for k in problem.scenarios}


def _moves(problem: AdviceProblem, m: _Model) -> list[Move]:
    """Whole units (the nearest), large enough to be worth a trip, in a stable order; then
    :func:`_repair` trims whatever rounding pushed past what a depot holds, its room or a
    budget, so the orders keep every constraint exactly."""
    def units(v: pywraplp.Variable) -> int:
        return math.floor(v.solution_value() + 0.5)

    def worth(code: str, qty: int) -> bool:
        return qty > 0 and qty * problem.items[code].kg >= MIN_ORDER_KG

    out: list[Move] = []
    for (a, b, code), v in sorted(m.t.items()):
        q = units(v)
        if worth(code, q):
            out.append(Move(OrderKind.transfer, a, b, code, q, round(problem.km[(a, b)], 1)))
    for (d, code), v in sorted(m.r.items()):
        q = units(v)
        if q > 0:
            out.append(Move(OrderKind.rotation, None, d, code, q))
    for (d, code), v in sorted(m.buy.items()):
        q = units(v)
        if worth(code, q):
            out.append(Move(OrderKind.purchase, None, d, code, q))
    for (src, code), v in sorted(m.g.items()):
        q = units(v)
        if worth(code, q):
            depot = next(c.depot for c in problem.contracts if c.source == src)
            out.append(Move(OrderKind.agreement, None, depot, code, q))
    return _repair(problem, out)


def _repair(problem: AdviceProblem, moves: list[Move]) -> list[Move]:
    """Take single units off the largest orders until stock, room and budgets hold."""
    qty = [mv.quantity for mv in moves]
    items = problem.items

    def trim(indices: list[int]) -> None:
        k = max(indices, key=lambda i: (qty[i] * items[moves[i].item].kg, -i))
        qty[k] -= 1

    def violations() -> list[int] | None:
        sent: dict[tuple[str, str], int] = {}
        gain: dict[str, float] = {}
        for i, mv in enumerate(moves):
            if mv.kind == OrderKind.transfer and mv.source is not None:
                sent[(mv.source, mv.item)] = sent.get((mv.source, mv.item), 0) + qty[i]
                gain[mv.source] = gain.get(mv.source, 0.0) - qty[i] * items[mv.item].m3
            if mv.kind in (OrderKind.transfer, OrderKind.purchase):
                gain[mv.target] = gain.get(mv.target, 0.0) + qty[i] * items[mv.item].m3
        for (src, code), n in sent.items():
            if n > problem.depots[src].movable.get(code, 0):
                return [i for i, mv in enumerate(moves) if mv.source == src and mv.item == code
                        and qty[i] > 0]
        for code, g in gain.items():
            free = problem.depots[code].free_m3 if code in problem.depots else None
            if g > (free or 0.0) + 1e-9:
                return [i for i, mv in enumerate(moves) if mv.target == code and qty[i] > 0
                        and mv.kind in (OrderKind.transfer, OrderKind.purchase)]
        transfers = [i for i, mv in enumerate(moves) if mv.kind == OrderKind.transfer
                     and qty[i] > 0]
        tonnes = sum(qty[i] * items[moves[i].item].kg for i in transfers) / 1000
        if tonnes > problem.budget.tonnes + 1e-9:
            return transfers
        if problem.budget.truck_km is not None and sum(
                2 * (moves[i].km or 0.0) * qty[i] * items[moves[i].item].kg / TRUCK_KG
                for i in transfers) > problem.budget.truck_km + 1e-9:
            return transfers
        new = [i for i, mv in enumerate(moves)
               if mv.kind in (OrderKind.purchase, OrderKind.agreement) and qty[i] > 0]
        if sum(qty[i] * items[moves[i].item].kg for i in new) / 1000 > (
                problem.budget.new_tonnes + 1e-9):
            return new
        return None

    while (bad := violations()) is not None:
        trim(bad)
    return [Move(mv.kind, mv.source, mv.target, mv.item, q, mv.km)
            for mv, q in zip(moves, qty, strict=True) if q > 0]
