"""Allocation: tiered draw, lead times, stock, reach and the fleet model (tiny scenarios)."""

from __future__ import annotations

import pytest
from planning_scenarios import build, lead_time, line, short, site, source, tiers, truck

from dispatch.planning.allocation import AllocationParams, allocate, fleet_model
from dispatch.planning.baseline import coverage_upper_bound
from dispatch.planning.network import build_network
from dispatch.planning.problem import Scenario

FAST = AllocationParams(time_limit_s=2)


def drawn(alloc, source_id: str) -> int:
    """Units the allocation takes from one source."""
    return sum(q for (s, _), load in alloc.flows.items() if s == source_id for q in load.values())


def check_allocation(sc: Scenario, alloc) -> None:
    """Stock never overdrawn, covered sites get their whole demand, pairs reachable."""
    from dispatch.planning.needs import scenario_demand
    from dispatch.planning.network import earliest_arrival

    net = build_network(sc)
    reach = earliest_arrival(sc, net) <= sc.deadline_min
    demand = scenario_demand(sc)
    for s in sc.sources:
        for code, have in s.stock.items():
            used = sum(load.get(code, 0) for (k, _), load in alloc.flows.items() if k == s.id)
            assert used <= have
    for (s, j), load in alloc.flows.items():
        assert reach[net.source_loc(s), net.site_loc(j) - net.n_sources]
        assert all(q > 0 for q in load.values())
    for j in alloc.covered:
        got = {}
        for (_, k), load in alloc.flows.items():
            if k == j:
                for code, q in load.items():
                    got[code] = got.get(code, 0) + q
        assert all(got.get(c, 0) >= q for c, q in demand[j].items())


@pytest.mark.parametrize("solver", ["scip", "cp-sat", "lp"])
def test_township_first_then_county_then_city(solver):
    """Every tier can serve S in time and the city depot is nearest, yet the township's
    stock is drawn (township before county before city)."""
    sc = build(tiers())
    alloc = allocate(sc, params=AllocationParams(solver=solver, time_limit_s=2))
    check_allocation(sc, alloc)
    assert alloc.covered == {"S"}
    assert drawn(alloc, "T") == 10 and drawn(alloc, "C") == drawn(alloc, "Y") == 0


def test_county_before_city_when_the_township_runs_short():
    """The township has only 4 units: the other 6 come from the county, not the city."""
    data = tiers()
    data["sources"][0]["stock"] = {"water": 4}
    alloc = allocate(build(data), params=FAST)
    assert (drawn(alloc, "T"), drawn(alloc, "C"), drawn(alloc, "Y")) == (4, 6, 0)


def test_a_higher_tier_is_used_when_only_it_arrives_in_time():
    """The township depot is 105 km away (load 10 + 105 min > deadline 100): the county
    serves, because only a higher tier can arrive by the deadline."""
    data = tiers()
    data["sources"][0] = source("T", -95, {"water": 100}, load_min=10)
    sc = build(data)
    alloc = allocate(sc, params=FAST)
    check_allocation(sc, alloc)
    assert drawn(alloc, "T") == 0 and drawn(alloc, "C") == 10


def test_agreement_stock_is_allocated_only_within_its_lead_time():
    """The agreement reserve (ready at 40) tops up the township's 10 units: it can still
    arrive by the deadline (40 + 10 load + 5 min), so S is covered with 20 from it."""
    sc = build(lead_time())
    alloc = allocate(sc, params=FAST)
    check_allocation(sc, alloc)
    assert alloc.covered == {"S"}
    assert drawn(alloc, "T") == 10 and drawn(alloc, "A") == 20


def test_an_agreement_that_cannot_arrive_in_time_is_not_allocated():
    """With a lead time of 110 min the agreement's trucks arrive after the deadline (120):
    nothing is allocated from it and S cannot be covered."""
    data = lead_time()
    data["sources"][1]["ready_min"] = 110
    sc = build(data)
    alloc = allocate(sc, params=FAST)
    check_allocation(sc, alloc)
    assert drawn(alloc, "A") == 0 and alloc.covered == set()
    assert drawn(alloc, "T") == 10  # the township's water still fills part of S


def test_scarce_stock_covers_the_most_people():
    """12 water for P (60 people) and Q (40), 10 each: P is covered, Q gets the rest."""
    sc = build(short("stock"))
    alloc = allocate(sc, params=FAST)
    check_allocation(sc, alloc)
    assert alloc.covered == {"P"} and alloc.people_planned == 60
    assert alloc.flows[("D", "Q")] == {"water": 2}


def test_planned_coverage_never_exceeds_the_bound():
    """On a 12-site, 3-depot line (fleet- and stock-limited) the allocation's covered people
    stay within the proven upper bound and every flow is feasible."""
    data = line()
    data["deadline_min"] = 150
    data["sites"] = [site(f"S{k}", 3 + 6 * k, 20 + 13 * (k % 4), demand={"water": 3 + k % 3,
                                                                          "kit": 1})
                     for k in range(12)]
    data["sources"] = [
        source("T1", 0, {"water": 20, "kit": 4}, load_min=5),
        source("C1", 40, {"water": 30, "kit": 8}, tier="county", load_min=5),
        source("A1", 70, {"water": 50}, tier="agreement", ready_min=30, load_min=5),
    ]
    data["vehicles"] = [truck("t", "T1", 8), truck("c", "C1", 12, count=2), truck("a", "A1", 20)]
    sc = build(data)
    alloc = allocate(sc, params=FAST)
    check_allocation(sc, alloc)
    assert 0 < alloc.people_planned <= coverage_upper_bound(sc, 2).people_bound


def test_fleet_model_counts_vehicle_time_and_trip_limits():
    """The fleet model gives each source its vehicle-minutes and caps what direct trips can
    bring: one 10-kg truck, 45-minute deadline, one trip -> at most 10 kg to P."""
    sc = build(short("fleet"))
    net = build_network(sc)
    fleet = fleet_model(sc, net)
    assert fleet.pair_kg[0, 0] == 10  # one trip of 10 kg arrives by minute 45
    assert fleet.vehicle_minutes[0] > 0 and fleet.load_kg[0] == 10


def test_params_are_validated():
    """Unknown solvers and out-of-range values are rejected."""
    with pytest.raises(ValueError):
        AllocationParams(solver="glpk")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        AllocationParams(time_limit_s=0)
    with pytest.raises(ValueError):
        AllocationParams(capacity_factor={"D": -1})
