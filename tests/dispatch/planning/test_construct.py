"""The construction's move scan (``construct.best_move``) and its site order
(``construct.construct``): what they find, checked against an exhaustive scan and the plan
checker, not against exact routes."""

from __future__ import annotations

import copy
import itertools
import random

import pytest
from planning_scenarios import FLAT, ITEMS, build, enterprise_yard, site, source, truck

import dispatch.planning.construct as construct_module
from dispatch.families import generate_family
from dispatch.planning.bounds import trip_time_bound
from dispatch.planning.construct import (
    _rate,
    best_move,
    can_serve,
    candidate_sources,
    candidates,
    construct,
    evaluate,
    insertion,
    made_day,
)
from dispatch.planning.network import build_network
from dispatch.planning.plan import build_plan, check
from dispatch.planning.problem import Scenario
from dispatch.planning.solve import SolveParams, solve
from dispatch.planning.state import State, Static


def family_state(family: str, sites: int, seed: int) -> tuple[Scenario, Static]:
    """A generated family day (synthetic head counts) in the engine's form."""
    sc = Scenario.model_validate(generate_family(family, sites, seed)[0])  # type: ignore[arg-type]
    st = Static(sc, build_network(sc), offer_late=True)
    return sc, st


def half_built(st: Static, seed: int) -> tuple[State, list[int]]:
    """A plan with a seeded half of the sites completed (in a shuffled order), and the
    other half in that order."""
    order = list(range(st.n_sites))
    random.Random(seed).shuffle(order)
    state = State.empty(st)
    construct(state, order[: len(order) // 2], per_item=10)
    return state, order[len(order) // 2:]


def exhaustive_best(state: State, j: int, filling: bool) -> tuple[float, int, int] | None:
    """The best key (rate, -cost, -vehicle) over every candidate move that works when made:
    every candidate packed, timed and its day rebuilt, no bound used."""
    rem = state.outstanding(j)
    best = None
    for c in candidates(state, j, rem, filling, per_item=10):
        m = evaluate(state, c, j, rem, filling)
        if m is None or made_day(state, m) is None:
            continue
        w = 1.0 if filling else state.st.source_weight[c.s]
        key = _rate(m, filling, w)
        if best is None or key > best:
            best = key
    return best


@pytest.mark.parametrize(("family", "sites", "seed"),
                         [("typhoon", 30, 11), ("fleet-bound", 40, 12)])
def test_the_lazy_scan_finds_the_move_an_exhaustive_scan_finds(family, sites, seed):
    """``best_move`` generates a source's new-trip candidates only when their bound comes up
    and stops when no bound can beat the best move found; on half-built plans of generated
    days (loading anywhere, late reserves, several speeds) the move it returns has the best
    key an exhaustive scan of every candidate finds, completing and filling."""
    sc, st = family_state(family, sites, seed)
    state, rest = half_built(st, seed)
    compared = 0
    for j in rest:
        if state.is_covered(j) or not st.people[j] or not st.reach[j]:
            continue
        for filling in (False, True):
            found = best_move(state, j, state.outstanding(j), filling, per_item=10)
            want = exhaustive_best(state, j, filling)
            if want is None:
                assert found is None
                continue
            assert found is not None
            w = 1.0 if filling else st.source_weight[found[0].source]
            assert _rate(found[0], filling, w) == pytest.approx(want, rel=1e-12)
            compared += 1
    assert compared >= 10
    plan = build_plan(sc, state.routes(), network=st.net)
    assert check(plan, sc, st.net).ok


@pytest.mark.parametrize(("family", "sites", "seed"),
                         [("typhoon", 30, 9), ("stock-bound", 30, 7)])
def test_a_trip_placed_earlier_never_costs_less_than_its_estimate(family, sites, seed):
    """``insertion`` estimates a lower bound on what a new trip placed before one of a
    vehicle's trips costs, and the scan compares it with appending. Placed first, the trip
    may let the day begin later than before (its base leg is driven just in time); placed
    later, its own wait for a source that opens late is not work: both take minutes off
    the cost. On half-built generated days the exactly timed move (``evaluate``) costs at
    least the estimate for every busy vehicle, source and uncovered site (thousands of
    triples); the estimate that counted neither overstated it on 35 and 66 of them."""
    _, st = family_state(family, sites, seed)
    state, rest = half_built(st, seed)
    checked = 0
    for j in rest:
        if state.is_covered(j) or not st.people[j]:
            continue
        rem = state.outstanding(j)
        for s in st.reach[j]:
            for k in st.loaders[s]:
                ins = insertion(state, k, s, j) if state.trips[k] else None
                if ins is None:
                    continue
                cand = construct_module._Cand(0.0, k, s, None, ins[0], st.tier[s], ins[1])
                move = evaluate(state, cand, j, rem, False)
                if move is not None:
                    assert move.cost >= ins[0], (j, s, k, ins, move.cost)
                    checked += 1
    assert checked >= 1000


@pytest.mark.parametrize(("family", "sites", "seed"),
                         [("typhoon", 30, 11), ("earthquake", 40, 13)])
def test_a_kept_vehicle_scan_finds_and_counts_what_a_fresh_scan_does(family, sites, seed):
    """A vehicle's new-trip candidates and trip-placed-earlier scans are kept while its day
    is unchanged (``State.scans``), and a repeat counts the work units the scan counted,
    so the work budget ends the search where it would without them. On a half-built
    generated day, site after site (each time after the previous site's best move was made,
    so some kept scans are of days since changed): the scan with everything kept gives the
    same candidates and counts the same units as a scan with nothing kept (the days' slack,
    which a fresh day computes and counts once, kept in both)."""
    _, st = family_state(family, sites, seed)
    state, rest = half_built(st, seed)
    compared = moved = 0
    for j in rest:
        if state.is_covered(j) or not st.people[j] or not st.reach[j]:
            continue
        for filling in (False, True):
            rem = state.outstanding(j)
            candidates(state, j, rem, filling, per_item=10)  # the days' slack computed
            kept = state.scans
            state.scans = [None] * len(kept)
            w0 = state.work
            fresh = candidates(state, j, rem, filling, per_item=10)
            fresh_units = state.work - w0
            state.scans = kept
            w0 = state.work
            again = candidates(state, j, rem, filling, per_item=10)
            assert again == fresh
            assert state.work - w0 == fresh_units
            compared += 1
        found = best_move(state, j, state.outstanding(j), per_item=10)
        if found is not None:
            state.apply_trips(found[0].k, found[1])
            moved += 1
    assert compared >= 20 and moved >= 5


def every_reach_source(state: State, j: int, rem: dict[int, float], per_item: int
                       ) -> list[int]:
    """``candidate_sources`` as it was before ``Static.holders``: every source in reach
    scanned for every need."""
    st = state.st
    chosen: set[int] = set()
    for n in rem:
        count = 0
        for s in st.reach[j]:
            if count >= per_item and s not in st.late:
                continue
            if any(state.stock[s].get(i, 0) > 0 for i, _ in st.need_items[j][n]) \
                    and can_serve(state, s, j):
                chosen.add(s)
                count += 1
    return [s for s in st.reach[j] if s in chosen]


def test_sources_scanned_per_need_are_those_that_held_it_and_lose_none():
    """``candidate_sources`` scans, per need of a site, only the sources in reach that held
    one of its items at the start (``Static.holders``: stock never grows past that); on a
    half-built generated day with late reserves it offers exactly the sources a scan of
    every source in reach offers, for every site still short."""
    _, st = family_state("typhoon", 40, 13)
    state = State.empty(st)
    order = list(range(st.n_sites))
    random.Random(13).shuffle(order)
    construct(state, order[: len(order) // 2], per_item=10)
    compared = 0
    for j in range(st.n_sites):
        rem = state.outstanding(j)
        if not rem or not st.reach[j]:
            continue
        for n in rem:
            assert set(st.holders[j][n]) < set(st.reach[j])  # some sources never held it
        assert candidate_sources(state, j, rem, 10) == every_reach_source(state, j, rem, 10)
        compared += 1
    assert compared >= 10


def four_on_a_line() -> Scenario:
    """One 20-kg truck at depot D (km 0, loading 10 min), deadline 120: S3 (km 14, 53 people,
    5 water), S0 (km 22, 21 people, 10), S1 (km 26, 28, 5), S2 (km 32, 20, 5); 25 water in
    all, more than one truckload (found by a seeded search over random lines)."""
    return build({"name": "four-on-a-line", "onset": "2025-08-01T06:00:00+08:00",
                  "deadline_min": 120, "items": copy.deepcopy(ITEMS),
                  "sites": [site(x, km, people, demand={"water": water}, service_min=5)
                            for x, km, people, water in (("S0", 22, 21, 10), ("S1", 26, 28, 5),
                                                          ("S2", 32, 20, 5), ("S3", 14, 53, 5))],
                  "sources": [source("D", 0, {"water": 200}, load_min=10)],
                  "vehicles": [truck("t", "D", 20)], "network": dict(FLAT)})


def test_following_neighbours_fills_the_trip_that_passes_them():
    """``follow`` keys a completed site's nearest waiting sites again as extra stops on its
    trips: on four sites along one road, the construction alone (no search) covers all 122
    people, the trip-time bound, and the plan passes the checker; without it a site's stale
    fresh-trip key lets the truck's room go to others first and 101 are covered."""
    sc = four_on_a_line()
    st = Static(sc, build_network(sc))
    plain = State.empty(st)
    construct(plain, range(st.n_sites), per_item=10)
    followed = State.empty(st)
    construct(followed, range(st.n_sites), per_item=10, follow=8)
    assert plain.covered_people == 101
    assert followed.covered_people == 122 == trip_time_bound(sc, mip_nodes=50).people_bound
    plan = build_plan(sc, followed.routes(), network=st.net)
    assert check(plan, sc, st.net).ok


def reserve_first() -> Scenario:
    """Contract v2, deadline 200, 1 km = 1 minute. Depot D (km 0, 40 water, load 10) and an
    agreement reserve A (km 58, 100 water, load 10) ready at minute 120; one 10-kg
    enterprise truck e (yard at km 30, loads anywhere). F at km 60 (200 people, 10 water)
    and N0-N3 at km 5 (30 people, 10 water each). Completing the most people per
    vehicle-minute first gives the truck A's water for F first (F reached at minute 132);
    appended after that trip, one from D reaches an N site at minute 212 and one from A at
    202, past the deadline: 200 people. Placed before it, the four N trips from D fit in the
    morning (the last N reached at 120) and the truck still loads at A by 178 and reaches F
    at 190: all 320 people."""
    return build({
        "contract_version": 2, "name": "reserve-first", "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 200, "items": copy.deepcopy(ITEMS),
        "sites": [site(f"N{x}", 5, 30, demand={"water": 10}, service_min=5) for x in range(4)]
        + [site("F", 60, 200, demand={"water": 10}, service_min=5)],
        "sources": [source("D", 0, {"water": 40}, load_min=10),
                    source("A", 58, {"water": 100}, load_min=10, tier="agreement",
                           ready_min=120)],
        **enterprise_yard(30), "network": dict(FLAT)})


def test_a_trip_placed_before_a_late_reserves_trip_serves_what_appending_cannot():
    """A new trip may go before a vehicle's existing trips (``construct.insertion``), the
    later ones moving later: on ``reserve_first`` the construction alone (no search) covers
    all 320 people, the trip-time bound, and the plan passes the checker. With new trips
    only appended (every insertion refused) it covers 200."""
    sc = reserve_first()
    st = Static(sc, build_network(sc), offer_late=True)
    state = State.empty(st)
    construct(state, range(st.n_sites), per_item=10, follow=8)
    assert state.covered_people == 320 == trip_time_bound(sc, mip_nodes=50).people_bound
    plan = build_plan(sc, state.routes(), network=st.net)
    assert check(plan, sc, st.net).ok

    appended = State.empty(st)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(construct_module, "insertion", lambda *args: None)
        construct(appended, range(st.n_sites), per_item=10, follow=8)
    assert appended.covered_people == 200


def own_truck_first() -> Scenario:
    """Contract v2, deadline 100, 1 km = 1 minute. Depot D (km 0, 10 water, load 10) with
    its own 10-kg truck h (based there, loads only there, speed factor 0.8); township point
    R (km -20, 10 water, load 10, no vehicle of its own); one 10-kg enterprise truck e (yard
    at km 2, loads anywhere). N at km 10 (100 people, 10 water), F at km -60 (30 people, 10
    water). N comes first; e's trip to it from D takes less time than slow h's, and then
    cannot bring R's water to F by the deadline (minute 107): 100 people. With h carrying
    D's water, e takes R's to F by minute 72: 130 people."""
    return build({
        "contract_version": 2, "name": "own-truck-first", "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 100, "items": copy.deepcopy(ITEMS),
        "sites": [site("N", 10, 100, demand={"water": 10}, service_min=5),
                  site("F", -60, 30, demand={"water": 10}, service_min=5)],
        "sources": [source("D", 0, {"water": 10}, load_min=10),
                    source("R", -20, {"water": 10}, load_min=10)],
        **enterprise_yard(2, 10, truck("h", "D", 10, speed_factor=0.8)),
        "network": dict(FLAT)})


def test_a_depots_own_truck_carries_its_stock_before_a_truck_that_may_load_anywhere():
    """``SolveParams.flex_premium`` (0.5): a move by a vehicle allowed at several sources,
    loading at a source that has vehicles of its own, counts its goods per vehicle-minute
    divided by 1.5 (``Static.flex_weight``). On ``own_truck_first`` the construction then
    covers 130 people, the trip-time bound, and the plan passes the checker; counted
    alike (weight 1), the enterprise truck takes the depot's load and covers 100. The
    engine's default plan covers the bound too."""
    sc = own_truck_first()
    st = Static(sc, build_network(sc), offer_late=True)
    alike = State.empty(st)
    construct(alike, range(st.n_sites), per_item=10, follow=8)
    assert alike.covered_people == 100
    st.flex_weight = 1 / 1.5
    state = State.empty(st)
    construct(state, range(st.n_sites), per_item=10, follow=8)
    assert state.covered_people == 130 == trip_time_bound(sc, mip_nodes=50).people_bound
    assert check(build_plan(sc, state.routes(), network=st.net), sc, st.net).ok
    plan = solve(sc, SolveParams(strict=True))
    assert plan.summary.people_covered == 130 and check(plan, sc).ok


def own_truck_same_kind(order: list[str]) -> Scenario:
    """``own_truck_first`` with both trucks based at D, alike in all but where they may
    load: e2 (D or R) and h (D only), same capacity and speed, listed in ``order``. With h
    carrying D's water to N, e2 takes R's to F: 130 people, whatever the order."""
    trucks = {"e2": truck("e2", "D", 10, loads_at=["D", "R"]), "h": truck("h", "D", 10)}
    return build({
        "contract_version": 2, "name": "own-truck-same-kind",
        "onset": "2025-08-01T06:00:00+08:00", "deadline_min": 100,
        "items": copy.deepcopy(ITEMS),
        "sites": [site("N", 10, 100, demand={"water": 10}, service_min=5),
                  site("F", -60, 30, demand={"water": 10}, service_min=5)],
        "sources": [source("D", 0, {"water": 10}, load_min=10),
                    source("R", -20, {"water": 10}, load_min=10)],
        "vehicles": [trucks[v] for v in order], "network": dict(FLAT)})


@pytest.mark.parametrize("order", [["e2", "h"], ["h", "e2"]])
def test_an_idle_truck_stands_only_for_trucks_allowed_at_the_same_sources(order):
    """The scan tries one idle vehicle per kind (``Static.kind``); a kind includes where
    the vehicle may load, so an idle truck allowed at several sources does not stand for a
    depot's own truck of the same base, capacity and speed. On ``own_truck_same_kind`` the
    construction (own trucks preferred, ``Static.flex_weight``) covers 130 people, the
    trip-time bound, in either vehicle order, and the plan passes the checker; when the
    flexible truck stood for both and came first, it took D's water and covered 100."""
    sc = own_truck_same_kind(order)
    st = Static(sc, build_network(sc), offer_late=True)
    st.flex_weight = 1 / 1.5
    state = State.empty(st)
    construct(state, range(st.n_sites), per_item=10, follow=8)
    assert state.covered_people == 130 == trip_time_bound(sc, mip_nodes=50).people_bound
    assert check(build_plan(sc, state.routes(), network=st.net), sc, st.net).ok
    narrowed = st.narrowed(0.5)  # the narrowed copy's kinds follow its own sources
    same_kind = [(a, b) for a in range(len(narrowed.kind)) for b in range(a)
                 if narrowed.kind[a] == narrowed.kind[b]]
    assert all(narrowed.allowed[a] == narrowed.allowed[b] for a, b in same_kind)
    assert len(set(narrowed.kind)) >= len(set(narrowed.allowed))


def full_loads_first() -> Scenario:
    """Contract v2, deadline 100, 1 km = 1 minute. One 10-kg enterprise truck e (yard at km
    0, loads anywhere); depot D (km -5, 30 water, load 10) and township point T (km 36, 2
    water, load 10), neither with vehicles of its own; S1-S5 at km 40, 42, 44, 46, 48 (20
    people, 2 water each). T's trip to S1 is the cheapest first move (S1 reached at minute
    50); D's water then reaches two more sites by the deadline: 60 people. Loading full at
    D, one trip serves all five: 100."""
    return build({
        "contract_version": 2, "name": "full-loads-first", "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 100, "items": copy.deepcopy(ITEMS),
        "sites": [site(f"S{x + 1}", 40 + 2 * x, 20, demand={"water": 2}, service_min=5)
                  for x in range(5)],
        "sources": [source("D", -5, {"water": 30}, load_min=10),
                    source("T", 36, {"water": 2}, load_min=10)],
        **enterprise_yard(0), "network": dict(FLAT)})


def test_a_truck_allowed_anywhere_loads_full_where_a_township_point_holds_little():
    """``SolveParams.narrow`` (0.5): one of the engine's starts lets a vehicle allowed at
    several sources load only where at least half its capacity is held (``Static.narrowed``).
    On ``full_loads_first`` that construction covers all 100 people, the trip-time bound, and
    the plan passes the checker; the construction over every source spends the truck's
    morning on the township point's 2 kg and covers 60. The engine's default plan (the better
    start kept) covers the bound."""
    sc = full_loads_first()
    st = Static(sc, build_network(sc), offer_late=True)
    every = State.empty(st)
    construct(every, range(st.n_sites), per_item=10, follow=8)
    assert every.covered_people == 60
    narrowed = State.empty(st.narrowed(0.5))
    construct(narrowed, range(st.n_sites), per_item=10, follow=8)
    assert narrowed.covered_people == 100 == trip_time_bound(sc, mip_nodes=50).people_bound
    assert check(build_plan(sc, narrowed.routes(), network=st.net), sc, st.net).ok
    plan = solve(sc, SolveParams(strict=True))
    assert plan.summary.people_covered == 100 and check(plan, sc).ok


@pytest.mark.parametrize(("family", "sites", "seed"), [("typhoon", 80, 3), ("fleet-bound", 60, 7)])
def test_a_site_is_costed_again_only_after_the_plan_changed(family, sites, seed, monkeypatch):
    """The lazy greedy puts a costed site back only for a waiting site's live key: the next
    site costed is then another one, never the same site on an unchanged plan (which a
    stale key of a site already completed or keyed again would cause, wasting work)."""
    _, st = family_state(family, sites, seed)
    state = State.empty(st)
    calls: list[tuple[int, int, int]] = []
    real = construct_module.complete

    def counted(state: State, j: int, *args, **kwargs):
        calls.append((j, state.covered_people, sum(map(len, state.trips))))
        return real(state, j, *args, **kwargs)

    monkeypatch.setattr(construct_module, "complete", counted)
    done = construct(state, range(st.n_sites), per_item=10, follow=8)
    assert done and len(calls) > len(done)  # some sites were put back: the rule was used
    repeats = [a for a, b in itertools.pairwise(calls) if a == b]
    assert repeats == []
