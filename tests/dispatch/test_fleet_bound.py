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


def test_with_fifteen_percent_of_the_fleet_the_plan_closes_the_gap_to_the_bound() -> None:
    """With 15% of the fleet (21 vehicles for 30 shelters) the greedy baseline, one site per
    trip, biggest first, covers 26% of the people and the upper bound 59%; the engine,
    completing the sites it can reach cheaply first and sharing trips, closes at least 38% of
    the gap between the two with the work budget of a 10-second plan (it closes 54%; 56%
    with a 60-second one). 38% is what "twice the greedy" asked before the township points
    were moved inside their counties (greedy 14%, bound 51%): with the greedy at 26% and the
    bound at 59%, twice the greedy would be 87% of the bound."""
    data, _ = generate_scenario("typhoon", 30, 1, fleet=0.15)
    scenario = Scenario.model_validate(data)
    # the work budget of a 10-second plan decides; the clock's cap is far off on any machine
    plan = solve(scenario, SolveParams(time_limit_s=120, work=SolveParams().search_work(10)))
    summary = plan.summary
    assert summary.status != "time_capped"
    assert check(plan, scenario).ok
    base, bound = summary.baseline_coverage, summary.bound_coverage
    assert summary.coverage >= base + 0.38 * (bound - base)
    assert summary.coverage > base
