"""Tiny named instances for dispatch.planning.routing (no wall-clock assertions)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from dispatch.planning.routing import (
    RoutingParams,
    RoutingProblem,
    RoutingResult,
    Stop,
    Trip,
    Vehicle,
    Visit,
    _build_nodes,
    check_routing_result,
    solve_routing,
)

FAST = RoutingParams(time_limit_s=0.3, metaheuristic="GREEDY_DESCENT")
SEARCH = RoutingParams(time_limit_s=0.3)
BIG = 10**6


def line(*xs: int) -> np.ndarray:
    """Distance/time matrix of points on a line: |xi - xj|."""
    a = np.array(xs, dtype=np.int64)
    return np.abs(a[:, None] - a[None, :])


def problem(
    xs: tuple[int, ...], visits: list[Visit], vehicles: list[Vehicle], **kw
) -> RoutingProblem:
    m = line(*xs)
    return RoutingProblem(time=m, distance=m, visits=tuple(visits), vehicles=tuple(vehicles), **kw)


def solve(p: RoutingProblem, params: RoutingParams = FAST, **kw) -> RoutingResult:
    r = solve_routing(p, params, **kw)
    assert check_routing_result(p, r) == []
    return r


def trips_of(r: RoutingResult) -> list[tuple[int, list[int]]]:
    return [(k, [s.visit for s in t.stops]) for k, ts in enumerate(r.trips) for t in ts]


def v(loc: int, demand: tuple[int, ...] = (1,), window: tuple[int, int] = (0, BIG), **kw) -> Visit:
    return Visit(location=loc, demand=demand, window=window, **kw)


# --------------------------------------------------------------------------- capacity


def test_two_capacity_dimensions_are_both_respected():
    """Weight and volume both bind: light bulky items cannot share a truck even though
    their weight would fit, so every trip stays within both capacities."""
    visits = [v(1, (1, 6)), v(2, (1, 6)), v(3, (6, 1)), v(4, (6, 1))]
    fleet = [Vehicle(start=0, capacity=(10, 10)) for _ in range(3)]
    r = solve(problem((0, 1, 2, 3, 4), visits, fleet))
    assert r.dropped == ()
    for ts in r.trips:
        for t in ts:
            assert t.load[0] <= 10 and t.load[1] <= 10
    groups = [sorted(stops) for _, stops in trips_of(r)]
    assert [0, 1] not in groups and [2, 3] not in groups


def test_volume_alone_forces_a_drop():
    """With one truck whose weight capacity is ample but volume is not, the visit that
    does not fit by volume is dropped at its penalty rather than making the model fail."""
    visits = [v(1, (1, 6), penalty=100), v(2, (1, 6), penalty=50)]
    r = solve(problem((0, 1, 2), visits, [Vehicle(start=0, capacity=(100, 10))]))
    assert r.status == "feasible"
    assert r.dropped == (1,)
    assert r.objective == 2 + 50


# --------------------------------------------------------------------------- windows


def test_time_windows_order_the_stops():
    """A far visit whose window closes early is served before a near one that opens late;
    every arrival lies inside its window."""
    visits = [v(1, window=(50, 60)), v(2, window=(0, 10))]
    r = solve(problem((0, 10, 5), visits, [Vehicle(start=0, capacity=(10,))]), SEARCH)
    assert trips_of(r) == [(0, [1, 0])]
    stops = r.trips[0][0].stops
    assert stops[0].arrival == 5  # travel 5, window (0, 10)
    assert stops[1].arrival == 50  # at 10 after travel 5, waits to 50


def test_latest_end_is_respected():
    """A visit the vehicle could reach but not come back from before latest_end is
    dropped (it is optional)."""
    visits = [v(1, penalty=1000)]
    fleet = [Vehicle(start=0, capacity=(10,), latest_end=15)]
    r = solve(problem((0, 10), visits, fleet))
    assert r.dropped == (0,)


# --------------------------------------------------------------------------- drops


def test_drop_lowest_penalties_when_demand_exceeds_fleet():
    """Three visits each filling the only truck: the most valuable is served, the two
    others are dropped at their penalties; the model never becomes infeasible."""
    visits = [v(1, (10,), penalty=100), v(2, (10,), penalty=300), v(3, (10,), penalty=200)]
    r = solve(problem((0, 1, 2, 3), visits, [Vehicle(start=0, capacity=(10,))]), SEARCH)
    assert r.status == "feasible"
    assert trips_of(r) == [(0, [1])]
    assert r.dropped == (0, 2)
    assert r.objective == 4 + 100 + 200


def test_group_penalty_drops_one_whole_group():
    """Two sites split into two chunks each, room for two chunks: dropping one whole site
    (its group penalty once) beats covering neither site fully (two group penalties)."""
    visits = [
        v(1, (2,), penalty=10, group=7), v(1, (2,), penalty=10, group=7),
        v(2, (2,), penalty=10, group=8), v(2, (2,), penalty=10, group=8),
    ]  # fmt: skip
    p = problem(
        (0, 1, 2), visits, [Vehicle(start=0, capacity=(4,))], group_penalties={7: 1000, 8: 900}
    )
    r = solve(p, SEARCH)
    assert sorted(r.served) == [0, 1]  # group 7 has the larger penalty: keep it whole
    assert r.dropped == (2, 3)
    assert r.objective == 2 + 20 + 900  # the group penalty is charged once


@pytest.mark.parametrize("ils", [False, True])
@pytest.mark.parametrize("first_solution", ["SAVINGS", "PARALLEL_CHEAPEST_INSERTION"])
@pytest.mark.parametrize("keep", [7, 8])
def test_group_warm_start_keeps_the_valuable_site_whole(first_solution, keep, ils):
    """Whatever the construction heuristic, the search (GLS or ILS) and whichever site is
    worth more, the group warm start keeps the more valuable site whole; without it
    OR-Tools keeps whichever site its construction heuristic happened to pick."""
    visits = [
        v(1, (2,), penalty=10, group=7), v(1, (2,), penalty=10, group=7),
        v(2, (2,), penalty=10, group=8), v(2, (2,), penalty=10, group=8),
    ]  # fmt: skip
    penalties = {7: 1000, 8: 900} if keep == 7 else {7: 900, 8: 1000}
    p = problem((0, 1, 2), visits, [Vehicle(start=0, capacity=(4,))], group_penalties=penalties)
    mh = "GREEDY_DESCENT" if ils else "GUIDED_LOCAL_SEARCH"
    params = RoutingParams(time_limit_s=0.2, first_solution=first_solution, metaheuristic=mh,
                           iterated_local_search=ils)  # fmt: skip
    r = solve(p, params)
    assert sorted(r.served) == ([0, 1] if keep == 7 else [2, 3])


def test_impossible_optional_visits_are_pre_dropped():
    """A visit heavier than every truck, one whose window closes before any truck can
    arrive and one no vehicle is allowed to serve are dropped; the rest is planned."""
    visits = [
        v(1, (50,), penalty=5),
        v(9, window=(0, 3), penalty=5),
        v(1, vehicles=(), penalty=5),
        v(1),
    ]
    r = solve(problem((0, 1, 2, 3, 4, 5, 6, 7, 8, 9), visits, [Vehicle(start=0, capacity=(10,))]))
    assert r.dropped == (0, 1, 2)
    assert r.served == (3,)


def test_unservable_mandatory_visit_reports_infeasible_without_raising():
    """A mandatory visit nobody can reach in time gives status 'infeasible' with every
    visit dropped, instead of an exception."""
    visits = [v(9, window=(0, 3)), v(1)]
    r = solve(problem((0, 1, 2, 3, 4, 5, 6, 7, 8, 9), visits, [Vehicle(start=0, capacity=(10,))]))
    assert r.status == "infeasible"
    assert r.dropped == (0, 1)
    assert r.trips == ((),)


# --------------------------------------------------------------------------- multi-trip


@pytest.mark.parametrize("mode", ["reload", "copies"])
def test_three_trips_for_one_vehicle(mode):
    """One truck, three full loads: with max_trips=3 it serves them in three trips that do
    not overlap in time, reloading (reload_time) at home between them (both multi-trip
    models)."""
    visits = [v(1, (10,)), v(2, (10,)), v(3, (10,))]
    fleet = [Vehicle(start=0, capacity=(10,), max_trips=3, reload_time=4)]
    r = solve(problem((0, 3, 5, 7), visits, fleet), replace(SEARCH, multi_trip=mode))
    assert r.dropped == ()
    trips = r.trips[0]
    assert len(trips) == 3
    assert trips[0].depart == 4
    for a, b in itertools.pairwise(trips):
        assert b.depart >= a.return_time + 4
    assert r.distance == 2 * (3 + 5 + 7)


@pytest.mark.parametrize("mode", ["reload", "copies"])
def test_trip_limit_drops_the_rest(mode):
    """With max_trips=2 the third full load cannot be carried and is dropped."""
    visits = [v(1, (10,), penalty=50), v(2, (10,), penalty=60), v(3, (10,), penalty=70)]
    fleet = [Vehicle(start=0, capacity=(10,), max_trips=2)]
    r = solve(problem((0, 3, 5, 7), visits, fleet), replace(SEARCH, multi_trip=mode))
    assert len(r.trips[0]) == 2
    assert r.dropped == (0,)


@pytest.mark.parametrize("mode", ["reload", "copies"])
def test_both_capacity_dimensions_reset_at_reload(mode):
    """Each trip may use the full weight and volume again after reloading."""
    visits = [v(1, (10, 1)), v(2, (1, 10))]
    fleet = [Vehicle(start=0, capacity=(10, 10), max_trips=2)]
    r = solve(problem((0, 1, 2), visits, fleet), replace(SEARCH, multi_trip=mode))
    assert r.dropped == ()
    assert len(r.trips[0]) == 2


def test_single_trip_vehicles_add_no_reload_nodes():
    """Unused features cost nothing: max_trips=1 creates no reload node; max_trips=3
    creates exactly two, at the vehicle's home."""
    p = problem((0, 1), [v(1)], [Vehicle(start=0, capacity=(5,))])
    assert len(_build_nodes(p, [0]).loc) == 2
    p3 = problem((0, 1), [v(1)], [Vehicle(start=0, capacity=(5,), max_trips=3)])
    m = _build_nodes(p3, [0])
    assert len(m.loc) == 4 and list(m.loc[2:]) == [0, 0]


# --------------------------------------------------------------------------- stops, fleet


def test_chunks_at_one_site_share_a_single_service_time():
    """Two chunks of one site on the same truck form one stop: same arrival time, and the
    service time is paid once before driving home."""
    visits = [v(1, (5,), service=30), v(1, (5,), service=30)]
    r = solve(problem((0, 4), visits, [Vehicle(start=0, capacity=(10,))]))
    (trip,) = r.trips[0]
    assert [s.arrival for s in trip.stops] == [4, 4]
    assert trip.return_time == 4 + 30 + 4


def test_earliest_start_and_loading_time_are_respected():
    """A vehicle available at 100 that needs 10 to load departs at 110 at the earliest."""
    fleet = [Vehicle(start=0, capacity=(10,), earliest_start=100, reload_time=10)]
    r = solve(problem((0, 7), [v(1)], fleet))
    (trip,) = r.trips[0]
    assert trip.depart == 110
    assert trip.stops[0].arrival == 117


def test_allowed_vehicles_are_respected():
    """A visit next to vehicle 0's home but allowed only for vehicle 1 is served by 1."""
    visits = [v(1, vehicles=(1,)), v(1)]
    fleet = [Vehicle(start=0, capacity=(10,)), Vehicle(start=2, capacity=(10,))]
    r = solve(problem((0, 1, 50), visits, fleet), SEARCH)
    served_by = {s.visit: k for k, ts in enumerate(r.trips) for t in ts for s in t.stops}
    assert served_by[0] == 1


@pytest.mark.parametrize("heavy", [0, 1])
def test_arrival_weight_serves_many_people_first(heavy):
    """Two sites symmetric around the depot cost the same distance in either order; the
    one with the larger arrival weight (more people) is reached first."""
    visits = [
        v(1, arrival_weight=100 if heavy == 0 else 1),
        v(2, arrival_weight=100 if heavy == 1 else 1),
    ]
    r = solve(problem((0, 10, -10), visits, [Vehicle(start=0, capacity=(10,))]), SEARCH)
    assert trips_of(r)[0][1][0] == heavy
    assert r.trips[0][0].stops[0].arrival == 10


def test_time_profiles_give_per_vehicle_speeds():
    """A (P, L, L) time matrix: the slow vehicle's arrivals use its own profile."""
    fast = line(0, 10)
    t = np.stack([fast, 2 * fast])
    p = RoutingProblem(
        time=t, distance=fast, visits=(v(1, vehicles=(1,)),),
        vehicles=(Vehicle(start=0, capacity=(5,)), Vehicle(start=0, capacity=(5,), time_profile=1)),
    )  # fmt: skip
    r = solve(p)
    assert r.trips[1][0].stops[0].arrival == 20


# --------------------------------------------------------------------------- search API


@pytest.mark.parametrize("mode", ["reload", "copies"])
def test_warm_start_never_worsens_the_objective(mode):
    """Solving again from a previous result as initial solution returns a result at
    least as good."""
    visits = [v(i, (3,), penalty=100) for i in range(1, 8)]
    fleet = [Vehicle(start=0, capacity=(10,), max_trips=2) for _ in range(2)]
    p = problem(tuple(range(8)), visits, fleet)
    first = solve(p, RoutingParams(time_limit_s=0.2, first_solution="PATH_CHEAPEST_ARC",
                                   metaheuristic="GREEDY_DESCENT"))  # fmt: skip
    second = solve(p, replace(SEARCH, multi_trip=mode), initial=first)
    assert second.objective <= first.objective


def test_an_invalid_initial_plan_is_never_returned():
    """A starting plan that breaks a window (or names unknown visits) only seeds the
    search: the result is a valid plan all the same."""
    visits = [v(1, window=(0, 2)), v(5, window=(0, 100))]
    p = problem(tuple(range(6)), visits, [Vehicle(start=0, capacity=(10,))])
    bad = RoutingResult(
        status="feasible",
        trips=((Trip(depart=0, stops=(Stop(1, 5), Stop(0, 9), Stop(7, 9)), return_time=10,
                     distance=10, load=(2,)),),),
        dropped=(), objective=10, distance=10, solver_objective=None, wall_time_s=0.0,
    )  # fmt: skip
    r = solve(p, SEARCH, initial=bad)
    assert r.dropped == () and r.trips[0][0].stops[0].visit == 0


def test_same_parameters_same_result():
    """With a solution limit instead of a time limit the search is reproducible."""
    visits = [v(i % 7 + 1, (2,), window=(0, 60), penalty=50) for i in range(12)]
    p = problem(tuple(range(8)), visits, [Vehicle(start=0, capacity=(8,)) for _ in range(2)])
    params = RoutingParams(time_limit_s=5, solution_limit=30)
    a, b = solve_routing(p, params), solve_routing(p, params)
    assert a.trips == b.trips and a.objective == b.objective


@pytest.mark.parametrize("seed", [1, 2])
def test_seed_renumbers_nodes_reproducibly(seed):
    """A non-zero seed renumbers the visits inside the model: the plan stays valid, uses the
    caller's visit indices, and is reproducible for that seed."""
    visits = [v(i % 7 + 1, (2,), window=(0, 60), penalty=50) for i in range(12)]
    p = problem(tuple(range(8)), visits, [Vehicle(start=0, capacity=(8,)) for _ in range(2)])
    params = RoutingParams(time_limit_s=5, solution_limit=30, seed=seed)
    a, b = solve(p, params), solve(p, params)
    assert a.trips == b.trips
    assert sorted(a.served + a.dropped) == list(range(12))


def test_restarts_and_polish_return_the_best_valid_plan():
    """Several restarts (different seeds) and a GLS polish phase still return one valid
    plan, no worse than a single short search."""
    visits = [v(i, (2,), window=(0, 40)) for i in range(1, 9)]
    p = problem(tuple(range(9)), visits, [Vehicle(start=0, capacity=(6,)) for _ in range(3)])
    single = solve(p, RoutingParams(time_limit_s=0.1, metaheuristic="GREEDY_DESCENT"))
    multi = solve(p, RoutingParams(time_limit_s=0.4, restarts=2, polish_share=0.5))
    assert multi.dropped == () and multi.objective <= single.objective


def test_iterated_local_search_runs():
    """The ruin-and-recreate iterated local search is usable and returns a valid plan."""
    visits = [v(i, (2,)) for i in range(1, 6)]
    p = problem(tuple(range(6)), visits, [Vehicle(start=0, capacity=(6,)) for _ in range(2)])
    params = RoutingParams(
        time_limit_s=0.2, metaheuristic="GREEDY_DESCENT", iterated_local_search=True
    )
    r = solve(p, params)
    assert r.dropped == ()


@pytest.mark.parametrize(
    "bad",
    [
        {"time_limit_s": 0},
        {"first_solution": "NOPE"},
        {"metaheuristic": "NOPE"},
        {"operators": (("no_such_operator", True),)},
        {"round_robin": ("GUIDED_LOCAL_SEARCH", "NOPE"), "metaheuristic": "AUTOMATIC"},
        {"round_robin": ("GUIDED_LOCAL_SEARCH",)},
        {"ls_neighbors_ratio": 0},
    ],
)
def test_params_are_validated(bad):
    """Invalid search parameters are rejected when the parameter object is built."""
    with pytest.raises(ValueError):
        RoutingParams(**bad)


def test_problem_is_validated():
    """Inconsistent problems (dimension counts, unknown group) are rejected."""
    with pytest.raises(ValueError):
        problem((0, 1), [v(1, (1, 1))], [Vehicle(start=0, capacity=(5,))])
    with pytest.raises(ValueError):
        problem((0, 1), [v(1, penalty=1, group=3)], [Vehicle(start=0, capacity=(5,))])
