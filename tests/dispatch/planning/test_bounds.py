"""The trip-time bound: never below any feasible plan (exhaustive search on tiny contract-v2
scenarios), equal to the optimum where the relaxation is tight, tighter than the flow bound
when vehicle time binds."""

from __future__ import annotations

import copy

from brute import brute_force_v2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from planning_scenarios import FLAT, ITEMS, LON0, build, km_north, line, site, source, truck

from dispatch.planning.baseline import coverage_upper_bound, greedy_baseline
from dispatch.planning.bounds import trip_time_bound
from dispatch.planning.plan import build_plan, check


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
    unloading): greedy <= exhaustive optimum <= trip-time bound (LP and MIP) and <= the
    flow bound; the plans pass the checker."""
    sc = build(tiny_v2(p))
    people, routes = brute_force_v2(sc)
    assert check(build_plan(sc, routes), sc).ok
    greedy = greedy_baseline(sc)
    assert check(greedy, sc).ok, str(check(greedy, sc))
    assert greedy.summary.people_covered <= people
    assert people <= trip_time_bound(sc).people_bound
    assert people <= trip_time_bound(sc, mip_nodes=20).people_bound
    assert people <= coverage_upper_bound(sc, 5).people_bound
