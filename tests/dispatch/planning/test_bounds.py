"""The trip-time bound: never below any feasible plan (exhaustive search on tiny contract-v2
scenarios), equal to the optimum where the relaxation is tight, tighter than the flow bound
when vehicle time binds."""

from __future__ import annotations

import copy

import pytest
from brute import brute_force_v2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planning_scenarios import FLAT, ITEMS, LON0, build, km_north, line, site, source, truck

from dispatch.families import generate_family
from dispatch.planning.baseline import coverage_upper_bound, greedy_baseline
from dispatch.planning.bounds import trip_time_bound
from dispatch.planning.network import build_network
from dispatch.planning.plan import build_plan, check
from dispatch.planning.solve import SolveParams, solve


def far_pair() -> dict:
    """One 10 kg truck at D (km 0, load 10); A (km 5, 1 person, 1 water), B (km 40) and C
    (km 40.5), 100 people and 10 water each, service 5; deadline 100. Trips by capacity
    would allow four loads (the flow bound covers all 201), but a trip to B or C takes 95
    minutes: the best plan serves A, then B (101 people)."""
    return {
        "contract_version": 2,
        "name": "far-pair",
        "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 100,
        "items": copy.deepcopy(ITEMS),
        "sites": [site("A", 5, 1, demand={"water": 1}, service_min=5),
                  site("B", 40, 100, demand={"water": 10}, service_min=5),
                  site("C", 40.5, 100, demand={"water": 10}, service_min=5)],
        "sources": [source("D", 0, {"water": 100}, load_min=10)],
        "vehicles": [truck("t", "D", 10)],
        "network": dict(FLAT),
    }


def test_the_trip_bound_equals_the_optimum_when_vehicle_time_binds():
    """far_pair: exhaustive search covers 101 people; the trip-time MIP proves 101, its LP
    (about 1.5 trips' worth of B and C) stays far below the flow bound's 201."""
    sc = build(far_pair())
    people, routes = brute_force_v2(sc)
    assert people == 101 and check(build_plan(sc, routes), sc).ok
    assert coverage_upper_bound(sc, 5).people_bound == 201
    lp = trip_time_bound(sc)
    assert 101 <= lp.people_bound < 160 and lp.status == "lp"
    mip = trip_time_bound(sc, mip_nodes=100)
    assert mip.people_bound == 101 and mip.status == "optimal"


def test_the_trip_bound_equals_the_optimum_when_stock_binds():
    """`line` with 7 water for demands 2/3/3: B and C (110 people) is the best any plan
    does, and the trip-time bound says exactly that."""
    data = line()
    for s, q in zip(data["sites"], (2, 3, 3), strict=True):
        s["demand"] = {"water": q}
    data["sources"][0]["stock"] = {"water": 7}
    sc = build(data)
    assert brute_force_v2(sc)[0] == 110
    assert trip_time_bound(sc, mip_nodes=100).people_bound == 110


def far_credit() -> dict:
    """One 10 kg truck at D (km 0, load 10, 100 water); A (km 5, 100 people, 30 water) and B
    (km 20, 100 people, 10 water), service 5; F (km 44, 1 person) needs a kit nobody has;
    deadline 100. Three A trips and a B trip take 130 minutes of the 100 (the last trip's
    way back is not needed: at most 25 more), so the best plan covers A or B (100 people).
    Before issue 10 item 6 every trip-day was credited the longest way back from any site
    in reach (F's 44 minutes): the bound said 200."""
    return {
        "contract_version": 2,
        "name": "far-credit",
        "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 100,
        "items": copy.deepcopy(ITEMS),
        "sites": [site("A", 5, 100, demand={"water": 30}, service_min=5),
                  site("B", 20, 100, demand={"water": 10}, service_min=5),
                  site("F", 44, 1, demand={"kit": 1}, service_min=5)],
        "sources": [source("D", 0, {"water": 100}, load_min=10)],
        "vehicles": [truck("t", "D", 10)],
        "network": dict(FLAT),
    }


def test_the_last_trip_credit_is_the_vehicles_own():
    """far_credit: the old bound (every vehicle credited the largest way back) says 200;
    crediting each vehicle's last trip only (one per vehicle, at the site it ends at) the LP
    says 193 and the MIP proves 100, the exhaustive optimum."""
    sc = build(far_credit())
    people, routes = brute_force_v2(sc)
    assert people == 100 and check(build_plan(sc, routes), sc).ok
    old = trip_time_bound(sc, mip_nodes=100, tighten=False)
    assert old.people_bound == 200
    lp = trip_time_bound(sc)
    assert people <= lp.people_bound < old.people_bound
    mip = trip_time_bound(sc, mip_nodes=100)
    assert mip.people_bound == people and mip.status == "optimal"


def test_the_bound_is_deterministic():
    """Same scenario, same bound and status (no clock-dependent limit)."""
    sc = build(far_pair())
    runs = {(b.people_bound, b.status, b.lp_bound)
            for b in (trip_time_bound(sc, mip_nodes=5) for _ in range(3))}
    assert len(runs) == 1


tiny = st.fixed_dictionaries(
    {
        "deadline": st.integers(50, 140),
        "sites": st.lists(st.tuples(st.integers(2, 30), st.integers(1, 9), st.integers(0, 3),
                                    st.integers(0, 2), st.integers(0, 8)),
                          min_size=1, max_size=3),
        "cap": st.integers(2, 6),
        "stock": st.tuples(st.integers(0, 8), st.integers(0, 4)),
        "second": st.tuples(st.integers(-20, 30), st.integers(0, 5), st.integers(0, 2),
                            st.integers(0, 60)),
        "vehicle": st.sampled_from(["home", "yard-any", "yard-list"]),
        "yard": st.integers(-15, 15),
        "available": st.integers(0, 20),
        "speed": st.sampled_from([0.5, 1.0, 2.0]),
        "drive": st.none() | st.integers(10, 40),
        "shift": st.none() | st.integers(40, 150),
        "rate": st.sampled_from([0.0, 500.0]),
    }
)


def tiny_v2(p: dict) -> dict:
    """Depot D (km 0) and source E (km ``second``, maybe an agreement with a ready time);
    1-3 sites (km, people, water, kits, service); one truck: at home at D, or based at a
    yard and loading anywhere / at a list; optional driving and shift rules and per-tonne
    unloading."""
    km, water, kits, ready = p["second"]
    vehicle = truck("t", "D", p["cap"], available_min=p["available"],
                    speed_factor=p["speed"])
    vehicle["capacity_m3"] = 1.0
    data = {
        "contract_version": 2,
        "name": "tiny-v2",
        "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": p["deadline"],
        "items": copy.deepcopy(ITEMS),
        "sites": [site(f"s{k}", km_, people, demand={"water": w, "kit": k_}, service_min=svc)
                  for k, (km_, people, w, k_, svc) in enumerate(p["sites"])],
        "sources": [source("D", 0, {"water": p["stock"][0], "kit": p["stock"][1]}, load_min=5),
                    source("E", km, {"water": water, "kit": kits}, load_min=5,
                           tier="agreement", ready_min=ready)],
        "vehicles": [vehicle],
        "network": dict(FLAT),
        "policy": {"unload_min_per_t": p["rate"],
                   "drivers": {"max_drive_min": p["drive"], "max_shift_min": p["shift"],
                               "break_min": 10}},
    }
    if p["vehicle"] != "home":
        data["bases"] = [{"id": "Y", "lat": km_north(p["yard"]), "lon": LON0}]
        vehicle.pop("source")
        vehicle["base"] = "Y"
        vehicle["loads_at"] = "any" if p["vehicle"] == "yard-any" else ["E"]
    return data


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(tiny)
def test_no_plan_covers_more_than_the_bounds(p):
    """On random tiny v2 scenarios (bases, loads_at, lead times, driver rules, per-tonne
    unloading): greedy <= exhaustive optimum <= trip-time bound (MIP <= LP) and <= the
    flow bound, and the bound is never above the one before issue 10 item 6; the plans pass
    the checker."""
    sc = build(tiny_v2(p))
    people, routes = brute_force_v2(sc)
    assert check(build_plan(sc, routes), sc).ok
    greedy = greedy_baseline(sc)
    assert check(greedy, sc).ok, str(check(greedy, sc))
    assert greedy.summary.people_covered <= people
    lp, mip = trip_time_bound(sc), trip_time_bound(sc, mip_nodes=20)
    assert people <= mip.people_bound <= lp.people_bound
    assert people <= coverage_upper_bound(sc, 5).people_bound
    # never looser than the bound before issue 10 item 6 (same model, wider rows)
    assert lp.people_bound <= trip_time_bound(sc, tighten=False).people_bound
    assert lp.lp_bound <= trip_time_bound(sc, tighten=False).lp_bound + 1e-6
    if mip.status == "optimal":
        assert mip.people_bound <= trip_time_bound(sc, mip_nodes=20,
                                                   tighten=False).people_bound


@pytest.mark.parametrize(("family", "sites", "seed"),
                         [("typhoon", 6, 1), ("fleet-bound", 10, 3)])
def test_the_bound_holds_on_generated_days(family, sites, seed):
    """Small generated family days (contract v2 as live plans see the city: yards, loading
    anywhere, agreement reserves ready late, driver rules): the engine's checked plan never
    covers more than the trip-time bound, which is never above the bound before issue 10
    item 6."""
    data, _ = generate_family(family, sites, seed)
    sc = build(data)
    net = build_network(sc)
    plan = solve(sc, SolveParams(moves=10, time_limit_s=60, strict=True))
    assert check(plan, sc, net).ok
    bound = trip_time_bound(sc, net, mip_nodes=20)
    old = trip_time_bound(sc, net, tighten=False)
    assert plan.summary.people_covered <= bound.people_bound <= old.people_bound
