"""The search's late-reserve ruin (``lns._ruin_late``) on small named scenarios, asserted
through the checker and the trip-time bound (never exact routes)."""

from __future__ import annotations

import copy
import random

from planning_scenarios import (
    FLAT,
    ITEMS,
    LON0,
    build,
    enterprise_yard,
    km_north,
    site,
    source,
    truck,
)

from dispatch.planning.bounds import trip_time_bound
from dispatch.planning.construct import construct
from dispatch.planning.lns import SearchParams, _ruin_late, recreate_late, search
from dispatch.planning.network import build_network
from dispatch.planning.plan import build_plan, check
from dispatch.planning.problem import Scenario
from dispatch.planning.state import State, Static


def late_reserve() -> Scenario:
    """Contract v2, deadline 210, 1 km = 1 minute. Depot D (km 0, 60 water, load 10) and an
    agreement reserve A (km -2, 100 water, load 10) ready only at minute 120; one 10-kg
    enterprise truck e (yard at km 0, loads anywhere). Six sites N0-N5 at km 5 (30 people,
    10 water each: a truckload, a 25-minute round trip from D) and F at km 60 (100 people,
    10 water). Best: five N trips from D, then A's water to F (arriving at minute 199),
    250 people. Completing the most people per vehicle-minute first sends the truck to
    all six N sites, which uses D's water and keeps it on the road until minute 150, too
    late to bring A's water to F: 180."""
    return build({
        "contract_version": 2, "name": "late-reserve", "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 210, "items": copy.deepcopy(ITEMS),
        "sites": [site(f"N{x}", 5, 30, demand={"water": 10}, service_min=5) for x in range(6)]
        + [site("F", 60, 100, demand={"water": 10}, service_min=5)],
        "sources": [source("D", 0, {"water": 60}, load_min=10),
                    source("A", -2, {"water": 100}, load_min=10, tier="agreement",
                           ready_min=120)],
        **enterprise_yard(0), "network": dict(FLAT)})


def test_the_late_ruin_frees_a_truck_for_a_reserve_that_opens_late():
    """The construction keeps the only truck busy past the time it could still take the
    late reserve's water to F (180 people covered). One late ruin (its random time to be at
    A falling after the fifth N trip) cuts the truck's day back to the five trips after
    which it reaches A in time, names F as the target, and completing F first, then the
    site cut, covers 250 people = the trip-time bound; a search of one move that may ruin
    only this way gets there too, and its plan passes the checker."""
    sc = late_reserve()
    st = Static(sc, build_network(sc), offer_late=True)
    state = State.empty(st)
    construct(state, range(st.n_sites), per_item=10, follow=8)
    assert state.covered_people == 180
    bound = trip_time_bound(sc, mip_nodes=50).people_bound
    assert bound == 250

    near = st.neighbours(20)
    ruined = _ruin_late(state, near, random.Random(5), SearchParams(moves=1))
    assert ruined is not None
    removed, targets = ruined
    f = [x.id for x in sc.sites].index("F")
    assert targets == [f]
    assert len(removed) == 1 and f not in removed
    a = [x.id for x in sc.sources].index("A")
    at = state.at(0)
    assert at.ready + st.mins[0][at.loc][a] <= (st.deadline - st.service[f] - st.load_min[a]
                                                 - st.mins[0][a][st.loc(f)])
    recreate_late(state, targets, removed, noise=lambda j: 1.0, rank=None, per_item=10,
                  follow=8)
    assert state.covered_people == bound

    searched = State.empty(st)
    construct(searched, range(st.n_sites), per_item=10, follow=8)
    search(searched, SearchParams(moves=1, late_ruin=1.0, per_item=10, follow=8), 5,
           lambda: False)
    assert searched.covered_people == bound
    plan = build_plan(sc, searched.routes(), network=st.net)
    assert check(plan, sc, st.net).ok


def late_reserve_and_depot() -> Scenario:
    """Contract v2, deadline 210, 1 km = 1 minute. Depot D (km 0, 41 kits of 2 kg, load 10)
    with its own 10-kg truck d; an agreement reserve A (km -2, 100 water, load 10) ready only
    at minute 120, with its contracted 10-kg truck e (yard at km 0, loads at A only). Eight
    sites N0-N7 at km 5 (30 people, 5 kits each: d's truckload, a 25-minute round trip) and
    F at km 60 (100 people, 10 water and 1 kit). Best: five N trips, then F's kit (d leaves
    D at 135, arrives at 195) and A's water on e: 250 people. Completing the most people
    per vehicle-minute first gives d all eight N trips, on the road until minute 200, too
    late for F's kit: 240."""
    return build({
        "contract_version": 2, "name": "late-reserve-and-depot",
        "onset": "2025-08-01T06:00:00+08:00", "deadline_min": 210,
        "items": copy.deepcopy(ITEMS),
        "sites": [site(f"N{x}", 5, 30, demand={"kit": 5}, service_min=5) for x in range(8)]
        + [site("F", 60, 100, demand={"water": 10, "kit": 1}, service_min=5)],
        "sources": [source("D", 0, {"kit": 41}, load_min=10),
                    source("A", -2, {"water": 100}, load_min=10, tier="agreement",
                           ready_min=120)],
        "bases": [{"id": "Y", "name": "yard", "lat": km_north(0), "lon": LON0}],
        "vehicles": [truck("d", "D", 10), {"id": "e", "base": "Y", "loads_at": ["A"],
                                           "capacity_kg": 10, "capacity_m3": 10.0}],
        "network": dict(FLAT)})


def test_a_late_ruin_that_frees_a_depot_truck_too_completes_a_site_needing_both():
    """F needs the late reserve's water and a depot's kit, and the only truck that may
    carry the kit is busy all day (240 people covered). A late ruin alone frees nothing
    that helps (e is idle; F's kit cannot be loaded): recreating leaves 240. With
    ``late_pair`` it also frees a vehicle serving the sites around F's neighbours (d), and
    completing F first, then the sites cut (trips placed before F's), covers 250 people,
    the best (the docstring above; the trip-time bound, 310 here, is not tight); the plan
    passes the checker."""
    sc = late_reserve_and_depot()
    st = Static(sc, build_network(sc), offer_late=True)
    assert trip_time_bound(sc, mip_nodes=50).people_bound >= 250
    near = st.neighbours(20)
    f = [x.id for x in sc.sites].index("F")
    covered = {}
    for pair in (0, 1):
        state = State.empty(st)
        construct(state, range(st.n_sites), per_item=10, follow=8)
        assert state.covered_people == 240
        ruined = _ruin_late(state, near, random.Random(5),
                            SearchParams(moves=1, late_pair=pair))
        assert ruined is not None
        removed, targets = ruined
        assert targets == [f]
        recreate_late(state, targets, removed, noise=lambda j: 1.0, rank=None, per_item=10,
                      follow=8)
        covered[pair] = state.covered_people
        if pair:
            plan = build_plan(sc, state.routes(), network=st.net)
            assert check(plan, sc, st.net).ok
    assert covered == {0: 240, 1: 250}
