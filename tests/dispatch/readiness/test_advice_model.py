"""The pre-positioning optimisation on small named and seeded random problems (no database):
it never moves stock a depot does not have, never fills a depot past its room, keeps its
budgets, and moves stock to where the vehicles are when that covers more people."""

from __future__ import annotations

import random

import pytest

from dispatch.readiness import advice
from dispatch.readiness.models import OrderKind

TENT = advice.ItemSpec("tent", kg=38.0, m3=0.2)
QUILT = advice.ItemSpec("quilt", kg=2.5, m3=0.03)
ITEMS = {"tent": TENT, "quilt": QUILT}


def _depot(code: str, stock: dict[str, int], free: float | None, expiring: dict[str, int]
           | None = None) -> advice.DepotState:
    return advice.DepotState(code=code, stock=stock, movable=stock, expiring=expiring or {},
                             free_m3=free, can_buy=True)


def _scenario(key: str, sites: dict[str, tuple[int, dict[str, int]]],
              stock: dict[str, dict[str, int]], fleets: dict[str, float]
              ) -> advice.ScenarioModel:
    lanes = tuple(advice.Lane(source=s, cycle_min=60.0) for s in fleets)
    return advice.ScenarioModel(
        key=key, county=key[:6], people=sum(p for p, _ in sites.values()),
        site_people={j: p for j, (p, _) in sites.items()},
        demand={j: d for j, (_, d) in sites.items()},
        classes=(advice.SiteClass(sites=tuple(sites), lanes=lanes),),
        fleets={s: advice.Fleet(minutes=m, kg=5000.0, m3=30.0) for s, m in fleets.items()},
        stock=stock)


def _named(budget: advice.Budget) -> advice.AdviceProblem:
    """A holds 30 tents but has no vehicle; B has trucks but room for only 25 tents; C has
    trucks, 10 tents and room. Two sites need 30 and 10 tents."""
    depots = {"A": _depot("A", {"tent": 30}, free=50.0),
              "B": _depot("B", {}, free=5.0),
              "C": _depot("C", {"tent": 10}, free=100.0)}
    stock = {d.code: dict(d.stock) for d in depots.values()}
    scenario = _scenario("320600-test", {"s1": (90, {"tent": 30}), "s2": (30, {"tent": 10})},
                         stock, {"B": 600.0, "C": 600.0})
    km = {(a, b): 10.0 for a in depots for b in depots if a != b}
    return advice.AdviceProblem(items=ITEMS, depots=depots, contracts=(), km=km,
                                scenarios=(scenario,), budget=budget)


@pytest.mark.parametrize("binary", [False, True])
def test_stock_moves_to_where_the_trucks_are_within_room_and_budget(binary: bool) -> None:
    """With 2 t to move, the 30 idle tents go to the depots with trucks (B no more than its
    room of 25) and both sites become coverable; with no budget nothing moves."""
    solution = advice.optimise(_named(advice.Budget(tonnes=2.0)), time_limit_s=20,
                               binary=binary)
    assert solution.before["320600-test"] == pytest.approx(30, abs=0.01)
    assert solution.predicted["320600-test"] == pytest.approx(120, abs=0.01)
    moved = {(m.source, m.target): m.quantity for m in solution.moves
             if m.kind == OrderKind.transfer}
    assert sum(moved.values()) == 30 and all(src == "A" for src, _ in moved)
    assert moved.get(("A", "B"), 0) <= 25
    assert solution.tonnes_moved <= 2.0
    idle = advice.optimise(_named(advice.Budget(tonnes=0.0)), time_limit_s=20)
    assert idle.moves == () and idle.predicted["320600-test"] == pytest.approx(30, abs=0.01)


def test_rotation_replaces_expiring_stock_and_purchases_respect_the_new_stock_budget() -> None:
    """Tents expiring before the evaluation date are rotated where that covers a site; new
    stock is bought only within its tonnes."""
    depots = {"C": _depot("C", {"tent": 10}, free=100.0, expiring={"tent": 20}),
              "D": _depot("D", {}, free=100.0)}
    stock = {"C": {"tent": 10}, "D": {}}
    scenario = _scenario("320600-rot", {"s1": (30, {"tent": 10}), "s2": (60, {"tent": 20}),
                                        "s3": (99, {"tent": 33})}, stock,
                         {"C": 6000.0, "D": 6000.0})
    problem = advice.AdviceProblem(
        items=ITEMS, depots=depots, contracts=(), km={("C", "D"): 5.0, ("D", "C"): 5.0},
        scenarios=(scenario,), budget=advice.Budget(tonnes=0.0, new_tonnes=33 * 38 / 1000))
    solution = advice.optimise(problem, time_limit_s=20, binary=True)
    by_kind = {m.kind: m for m in solution.moves}
    assert by_kind[OrderKind.rotation].quantity == 20
    assert by_kind[OrderKind.purchase].quantity <= 33
    assert solution.new_tonnes <= 33 * 38 / 1000 + 1e-9
    assert solution.predicted["320600-rot"] == pytest.approx(189, abs=0.01)


def _random_problem(seed: int) -> advice.AdviceProblem:
    rng = random.Random(seed)
    codes = [f"D{k}" for k in range(6)]
    depots = {}
    for c in codes:
        stock = {i: rng.randint(0, 40) for i in ITEMS if rng.random() < 0.7}
        depots[c] = _depot(c, stock, free=None if rng.random() < 0.2 else rng.uniform(0, 8))
    stock = {c: dict(d.stock) for c, d in depots.items()}
    scenarios = []
    for k in range(3):
        sites = {f"s{k}{j}": (rng.randint(10, 200), {"tent": rng.randint(1, 30),
                                                    "quilt": rng.randint(5, 90)})
                 for j in range(rng.randint(1, 4))}
        fleets = {c: rng.choice([0.0, 300.0, 900.0]) for c in rng.sample(codes, 4)}
        scenarios.append(_scenario(f"32060{k}-r", sites, stock, fleets))
    km = {(a, b): rng.uniform(3, 60) for a in codes for b in codes if a != b}
    return advice.AdviceProblem(items=ITEMS, depots=depots, contracts=(), km=km,
                                scenarios=tuple(scenarios),
                                budget=advice.Budget(tonnes=rng.uniform(0.1, 2.0),
                                                     truck_km=rng.uniform(10, 200)))


@pytest.mark.parametrize("seed", range(6))
def test_moves_never_exceed_stock_room_or_budgets(seed: int) -> None:
    """On random problems: what leaves a depot is at most what it may send, what a depot
    gains fits its room (none for a depot of unknown floor area), tonnes and truck-km within
    budget, and neither the smallest share nor the people covered in all get worse than with
    no move (doing nothing is always feasible)."""
    problem = _random_problem(seed)
    solution = advice.optimise(problem, time_limit_s=20)
    out: dict[tuple[str, str], int] = {}
    gain: dict[str, float] = {}
    for m in solution.moves:
        assert m.kind == OrderKind.transfer and m.source is not None
        out[(m.source, m.item)] = out.get((m.source, m.item), 0) + m.quantity
        vol = m.quantity * ITEMS[m.item].m3
        gain[m.target] = gain.get(m.target, 0.0) + vol
        gain[m.source] = gain.get(m.source, 0.0) - vol
    for (src, item), qty in out.items():
        assert qty <= problem.depots[src].movable.get(item, 0)
    for code, g in gain.items():
        free = problem.depots[code].free_m3
        if free is None:
            assert g <= 1e-9, code
        else:
            assert g <= free + 1e-6, code
    assert solution.tonnes_moved <= problem.budget.tonnes + 1e-9
    assert problem.budget.truck_km is not None
    assert solution.truck_km <= problem.budget.truck_km + 0.1
    people = {k.key: k.people for k in problem.scenarios}
    before, after = solution.share(people, solution.before), solution.share(people,
                                                                            solution.predicted)
    assert min(after.values()) >= min(before.values()) - 1e-5
    assert sum(solution.predicted.values()) >= sum(solution.before.values()) - 0.01
