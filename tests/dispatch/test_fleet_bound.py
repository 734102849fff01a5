"""A fleet-bound Nantong scenario: trucks, not stock, limit who can be covered by the deadline."""

from __future__ import annotations

from dispatch.planning.allocation import AllocationParams, allocate
from dispatch.planning.plan import check
from dispatch.planning.problem import Scenario
from dispatch.planning.solve import SolveParams, solve
from dispatch.scenarios import generate_scenario


def test_when_the_fleet_binds_the_engine_replans_to_near_the_bound_and_beats_the_greedy() -> None:
    """With a quarter of the fleet (typhoon, 30 shelters, synthetic head counts) the first
    allocation over-promises what the trucks can do; the engine must plan again with a
    tighter fleet-time model and end within 2% of the upper bound, above the greedy baseline,
    with a plan the checker accepts. Without the retry it stays far below the bound, which
    shows the scenario really is fleet-bound."""
    data, _ = generate_scenario("typhoon", 30, 1, fleet=0.25)
    scenario = Scenario.model_validate(data)

    without = solve(scenario, SolveParams(time_limit_s=30, max_retries=0)).summary
    assert without.people_covered < 0.9 * without.bound_coverage * _people(scenario)

    plan = solve(scenario, SolveParams(time_limit_s=30))
    summary = plan.summary
    assert check(plan, scenario).ok
    assert summary.coverage >= 0.98 * summary.bound_coverage
    assert summary.coverage > summary.baseline_coverage


def _people(scenario: Scenario) -> int:
    return sum(site.people for site in scenario.sites)


def test_allocation_keeps_its_coverage_when_the_fleet_is_scarce() -> None:
    """With 15% of the fleet the flows LP is numerically hard (GLOP stops ABNORMAL on it);
    the allocation must still deliver the sites stage 1 chose as covered, not fall back to
    fill only."""
    data, _ = generate_scenario("typhoon", 30, 1, fleet=0.15)
    scenario = Scenario.model_validate(data)
    alloc = allocate(scenario, params=AllocationParams(time_limit_s=10))
    assert alloc.covered and alloc.bound_people is not None
    assert alloc.people_planned >= 0.9 * alloc.bound_people
