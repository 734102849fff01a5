"""solve(): every plan passes check(), never below the baseline, never above the bound;
tiered draw, lead times, split deliveries, multiple trips, closures and drop-and-report on
tiny named scenarios. Quality is asserted by bounds, never by exact routes or wall time."""

from __future__ import annotations

import pytest
from planning_scenarios import (
    ITEMS,
    big_site,
    bridge,
    build,
    lead_time,
    line,
    short,
    site,
    source,
    three_loads,
    tiers,
    truck,
    two_depots,
)

from dispatch.planning.baseline import coverage_upper_bound, greedy_baseline
from dispatch.planning.needs import DEFAULT_ITEMS, scenario_demand
from dispatch.planning.plan import Plan, check
from dispatch.planning.problem import Scenario
from dispatch.planning.solve import SolveParams, solve

FAST = SolveParams(time_limit_s=2)


def planned(sc: Scenario, params: SolveParams = FAST) -> Plan:
    """Solve and assert the plan passes the independent checker and reports its context."""
    plan = solve(sc, params)
    report = check(plan, sc)
    assert report.ok, str(report)
    s = plan.summary
    assert s.bound_coverage is not None and s.baseline_coverage is not None
    assert s.coverage <= s.bound_coverage + 1e-9
    assert (s.coverage, s.fill_rate) >= (s.baseline_coverage, 0.0)
    return plan


def loads_from(plan: Plan, source_id: str) -> int:
    return sum(q for r in plan.routes for t in r.trips if t.source == source_id
               for q in t.load.values())


def stops_at(plan: Plan, site_id: str) -> list[tuple[str, int]]:
    """(vehicle, arrival) of every stop at a site."""
    return [(r.vehicle, st.arrive_min) for r in plan.routes for t in r.trips for st in t.stops
            if st.site == site_id]


def default_needs_scenario() -> Scenario:
    """Eight sites with only head counts (the default needs standard applies), a township
    and a county depot with the default items, agreement water with a lead time."""
    data = line()
    data["deadline_min"] = 300
    data["items"] = [{"code": i.code, "name": i.name, "unit_kg": i.unit_kg,
                      "unit_m3": i.unit_m3} for i in DEFAULT_ITEMS]
    data["sites"] = [site(f"S{k}", 4 + 5 * k, 30 + 17 * (k % 3)) for k in range(8)]
    full = {i.code: 150 for i in DEFAULT_ITEMS}
    data["sources"] = [
        source("T", 0, {c: q // 3 for c, q in full.items()}, load_min=10),
        source("C", 30, full, tier="county", load_min=15),
        source("A", 50, {DEFAULT_ITEMS[0].code: 500}, tier="agreement", ready_min=90),
    ]
    data["vehicles"] = [truck("t", "T", 1500, capacity_m3=8.0),
                        truck("c", "C", 5000, count=2, capacity_m3=30.0),
                        truck("a", "A", 8000, capacity_m3=40.0, available_min=90)]
    return build(data)


NAMED = {
    "line": lambda: build(line()),
    "two-depots": lambda: build(two_depots()),
    "tiers": lambda: build(tiers()),
    "lead-time": lambda: build(lead_time()),
    "big-site": lambda: build(big_site()),
    "three-loads": lambda: build(three_loads()),
    "bridge-cut": lambda: build(bridge(alternative=False)),
    "bridge-detour": lambda: build(bridge(alternative=True)),
    "short-fleet": lambda: build(short("fleet")),
    "short-stock": lambda: build(short("stock")),
    "default-needs": default_needs_scenario,
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_every_plan_passes_the_checker_and_beats_the_baseline(name):
    """On every named scenario the plan passes check(), its coverage lies between the
    greedy baseline's and the upper bound, and so does its (coverage, fill) pair."""
    sc = NAMED[name]()
    plan = planned(sc)
    base = greedy_baseline(sc)
    assert (plan.summary.coverage, plan.summary.fill_rate) >= (
        base.summary.coverage, base.summary.fill_rate - 1e-9)
    assert plan.summary.people_covered <= coverage_upper_bound(sc, 2).people_bound


def test_default_needs_standard_drives_the_demand():
    """Sites given only head counts get the default standard's demand in the plan."""
    sc = default_needs_scenario()
    plan = planned(sc)
    demand = scenario_demand(sc)
    assert {s.site: s.demand for s in plan.sites} == demand
    assert all(len(d) == len(DEFAULT_ITEMS) for d in demand.values())
    assert plan.summary.coverage > 0


def test_tiered_draw_uses_the_township_depot():
    """The nearest depot is the city's and a county depot is nearer than the township's,
    but the township serves S alone."""
    plan = planned(build(tiers()))
    assert plan.summary.coverage == 1.0
    assert loads_from(plan, "T") == 10 and loads_from(plan, "C") == loads_from(plan, "Y") == 0


def test_a_higher_tier_serves_when_only_it_arrives_in_time():
    """With the township depot beyond reach by the deadline, the county (not the city)
    serves S."""
    data = tiers()
    data["sources"][0] = source("T", -95, {"water": 100}, load_min=10)
    plan = planned(build(data))
    assert plan.summary.coverage == 1.0
    assert loads_from(plan, "C") == 10 and loads_from(plan, "T") == loads_from(plan, "Y") == 0


def test_agreement_stock_leaves_only_after_its_lead_time():
    """The agreement reserve's water is loaded no earlier than its ready minute (40) and
    still arrives by the deadline, so S is covered."""
    sc = build(lead_time())
    plan = planned(sc)
    assert plan.summary.coverage == 1.0
    ready = sc.source_map["A"].ready_min
    load = sc.source_map["A"].load_min
    trips = [t for r in plan.routes for t in r.trips if t.source == "A"]
    assert trips and all(t.depart_min - load >= ready for t in trips)


def test_split_delivery_serves_a_site_bigger_than_any_vehicle():
    """B needs 35 water; the only truck carries 10: it is served by four visits (one truck,
    four trips) and covered by the deadline."""
    plan = planned(build(big_site()))
    assert plan.summary.coverage == 1.0
    visits = stops_at(plan, "B")
    assert len(visits) >= 4 and {v for v, _ in visits} == {"t#1"}
    assert all(a <= 200 for _, a in visits)


def test_split_delivery_across_vehicles():
    """Two 10-kg trucks and one trip's time: a site needing 18 gets a visit from each."""
    data = big_site()
    data["deadline_min"] = 40
    data["sites"][0]["demand"] = {"water": 18}
    data["vehicles"] = [truck("t", "D", 10, count=2)]
    plan = planned(build(data))
    assert plan.summary.coverage == 1.0
    assert {v for v, _ in stops_at(plan, "B")} == {"t#1", "t#2"}


def test_one_vehicle_makes_several_trips():
    """Three sites each needing a full truckload, one truck: three trips, all on time."""
    plan = planned(build(three_loads()))
    assert plan.summary.coverage == 1.0
    (route,) = plan.routes
    assert len(route.trips) == 3
    for a, b in zip(route.trips, route.trips[1:], strict=False):
        assert b.depart_min >= a.return_min


def test_closed_bridge_without_detour_reports_unreachable():
    """X lies across the closed bridge with no other road: it is reported unreachable and Y,
    on the depot's bank, is served."""
    plan = planned(build(bridge(alternative=False)))
    assert {(u.site, u.reason) for u in plan.unmet} == {("X", "unreachable")}
    assert {s.site for s in plan.sites if s.covered} == {"Y"}


def test_closed_bridge_with_detour_takes_the_long_way():
    """With a detour (80 km at 40 km/h) X is served, later than the 20 km over the closed
    bridge would allow."""
    plan = planned(build(bridge(alternative=True)))
    assert plan.summary.coverage == 1.0
    assert min(a for _, a in stops_at(plan, "X")) >= 10 + 120  # load + 80 km at 40 km/h


def test_too_little_fleet_is_reported_as_no_fleet_capacity():
    """One truck, one trip's time, two sites: the bigger is covered, the other reported
    no_fleet_capacity (the stock was there)."""
    plan = planned(build(short("fleet")))
    assert {s.site for s in plan.sites if s.covered} == {"P"}
    assert {(u.site, u.reason) for u in plan.unmet} == {("Q", "fleet_time")}


def test_too_little_stock_is_reported_as_no_stock_in_reach():
    """12 water for 20 demanded: P (60 people) covered, Q short and no_stock_in_reach."""
    plan = planned(build(short("stock")))
    assert {s.site for s in plan.sites if s.covered} == {"P"}
    assert [(u.site, u.qty, u.reason) for u in plan.unmet] == [("Q", 8, "stock")]


def test_coverage_never_below_the_baseline_on_varied_scenarios():
    """Twelve variations of a 10-site line (stock, fleet, deadline, tiers): the plan's
    (coverage, fill) is never below the greedy baseline's and never above the bound."""
    for k in range(12):
        data = line()
        data["deadline_min"] = 90 + 20 * (k % 4)
        data["sites"] = [site(f"S{i}", 2 + 4 * i, 10 + (7 * i * (k + 1)) % 50,
                              demand={"water": 2 + (i + k) % 5, "kit": (i * k) % 3})
                         for i in range(10)]
        data["sources"] = [
            source("T", 0, {"water": 10 + 3 * k, "kit": 4 + k % 5}, load_min=5),
            source("C", 25, {"water": 40, "kit": 6}, tier="county", load_min=10),
        ]
        data["vehicles"] = [truck("t", "T", 6 + k % 4, count=1 + k % 2), truck("c", "C", 15)]
        sc = build(data)
        plan = planned(sc, SolveParams(time_limit_s=1, seed=k))
        base = greedy_baseline(sc)
        assert (plan.summary.people_covered, plan.summary.fill_rate) >= (
            base.summary.people_covered, base.summary.fill_rate - 1e-9)


def test_degenerate_scenarios_give_a_valid_plan():
    """No vehicles, no stock, no sites: solve reports, never raises."""
    no_fleet = line()
    no_fleet["vehicles"] = []
    no_stock = line()
    no_stock["sources"][0]["stock"] = {}
    no_sites = line()
    no_sites["sites"] = []
    for data in (no_fleet, no_stock, no_sites):
        plan = planned(build(data))
        assert plan.summary.people_covered == 0


def test_progress_reports_every_phase_in_order():
    """The progress callback sees network, bound, baseline, allocation (construction),
    routing (search), repair (filling) and check, in that order, with fractions in [0, 1]."""
    seen: list[tuple[str, float]] = []
    solve(build(three_loads()), FAST, progress=lambda p, f: seen.append((p, f)))
    phases = list(dict.fromkeys(p for p, _ in seen))
    assert phases == ["network", "bound", "baseline", "allocation", "routing", "repair",
                      "check"]
    assert all(0.0 <= f <= 1.0 for _, f in seen)


def test_solve_params_are_frozen_and_validated():
    """Bad values are rejected with the field named; parameters cannot be changed."""
    with pytest.raises(ValueError, match="time_limit_s"):
        SolveParams(time_limit_s=0)
    with pytest.raises(ValueError, match="guide"):
        SolveParams(guide="NOPE")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="moves"):
        SolveParams(moves=-1)
    with pytest.raises(ValueError):
        SolveParams(unknown=1)  # type: ignore[call-arg]
    params = SolveParams()
    with pytest.raises(ValueError):
        params.seed = 3  # type: ignore[misc]


def test_items_unknown_to_the_fleet_are_reported_not_raised():
    """An item heavier than every vehicle cannot be carried: the site is reported short,
    the plan is valid."""
    data = line()
    data["items"] = [*ITEMS, {"code": "gen", "name": "generator", "unit_kg": 50.0,
                              "unit_m3": 0.5}]
    data["sites"][0]["demand"] = {"water": 2, "gen": 1}
    data["sources"][0]["stock"]["gen"] = 3
    plan = planned(build(data))
    assert any(u.site == "A" and u.item == "gen" for u in plan.unmet)


def test_an_engine_failure_is_reported_loudly_with_a_valid_plan(monkeypatch, caplog):
    """If the construction raised, solve still returns a checked plan (the greedy baseline
    here) but says so: status engine_error, the error logged; in strict mode it raises."""
    import dispatch.planning.solve as engine

    def broken(*args, **kwargs):
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(engine, "construct", broken)
    sc = build(three_loads())
    with caplog.at_level("ERROR", logger="dispatch.planning.solve"):
        plan = planned(sc)
    assert plan.summary.status == "engine_error"
    assert "solver crashed" in (plan.summary.status_reason or "")
    assert "solver crashed" in caplog.text
    assert plan.summary.coverage == greedy_baseline(sc).summary.coverage
    with pytest.raises(RuntimeError, match="solver crashed"):
        solve(sc, SolveParams(time_limit_s=2, strict=True))
