"""The search's late-reserve ruin (``lns._ruin_late``) on a small named scenario, asserted
through the checker and the trip-time bound (never exact routes)."""

from __future__ import annotations

import copy
import random

from planning_scenarios import FLAT, ITEMS, build, enterprise_yard, site, source

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
