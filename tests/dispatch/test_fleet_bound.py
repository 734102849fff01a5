"""Fleet-bound Nantong scenarios: trucks, not stock, limit who can be covered by the deadline."""

from __future__ import annotations

from dispatch.planning.plan import check
from dispatch.planning.problem import Scenario
from dispatch.planning.solve import SolveParams, solve
from dispatch.scenarios import generate_scenario


def test_with_a_quarter_of_the_fleet_the_plan_reaches_the_bound_and_beats_the_greedy() -> None:
    """Typhoon, 30 shelters (synthetic head counts), a quarter of the fleet: completing sites
    by people per vehicle-minute ends within 2% of the upper bound, above the greedy
    baseline, with a plan the checker accepts."""
    data, _ = generate_scenario("typhoon", 30, 1, fleet=0.25)
    scenario = Scenario.model_validate(data)
    plan = solve(scenario, SolveParams(time_limit_s=60))
    summary = plan.summary
    assert check(plan, scenario).ok
    assert summary.coverage >= 0.98 * summary.bound_coverage
    assert summary.coverage > summary.baseline_coverage


def test_with_fifteen_percent_of_the_fleet_the_plan_covers_twice_the_greedy() -> None:
    """With 15% of the fleet (21 vehicles for 30 shelters) the greedy baseline, one site per
    trip, biggest first, covers 14% of the people; the engine, completing the sites it can
    reach cheaply first and sharing trips, covers more than twice that."""
    data, _ = generate_scenario("typhoon", 30, 1, fleet=0.15)
    scenario = Scenario.model_validate(data)
    plan = solve(scenario, SolveParams(time_limit_s=60))
    summary = plan.summary
    assert check(plan, scenario).ok
    assert summary.coverage >= 2 * summary.baseline_coverage
