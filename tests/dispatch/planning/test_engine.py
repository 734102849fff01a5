"""The second-generation engine's rules, each on a small named scenario, asserted through the
independent checker and the bounds (never exact routes, never wall time): sites completed
before part-deliveries, multi-stop trips, the last trip's return not needed by the deadline,
determinism, a busy machine does not change the plan, a loud status when the wall-clock cap
cuts the search, strict mode, never below the greedy baseline, no idle vehicle while
demand it could bring is unmet."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import pytest
from planning_scenarios import FLAT, ITEMS, build, site, source, substitutes, truck, yard

import dispatch.planning.solve as engine
from dispatch.planning.baseline import coverage_upper_bound, greedy_baseline
from dispatch.planning.diagnostics import idle_while_coverable
from dispatch.planning.network import build_network
from dispatch.planning.plan import Plan, check
from dispatch.planning.problem import Scenario
from dispatch.planning.solve import EngineError, SolveParams, solve


def scenario(name: str, deadline: int, sites: list[dict[str, Any]],
             sources: list[dict[str, Any]], vehicles: list[dict[str, Any]]) -> Scenario:
    """A flat-network scenario (1 km = 1 minute) with water and kits."""
    return build({"name": name, "onset": "2025-08-01T06:00:00+08:00", "deadline_min": deadline,
                  "items": copy.deepcopy(ITEMS), "sites": sites, "sources": sources,
                  "vehicles": vehicles, "network": dict(FLAT)})


def planned(sc: Scenario, params: SolveParams | None = None) -> Plan:
    """Solve and assert the plan passes the checker, stays within the bound and is never
    below the greedy baseline."""
    plan = solve(sc, params or SolveParams(time_limit_s=20))
    report = check(plan, sc)
    assert report.ok, str(report)
    s = plan.summary
    base = greedy_baseline(sc).summary
    assert s.coverage <= s.bound_coverage + 1e-9
    assert (s.people_covered, s.fill_rate) >= (base.people_covered, base.fill_rate - 1e-9)
    return plan


def covered(plan: Plan) -> set[str]:
    return {s.site for s in plan.sites if s.covered}


def one_trip_two_sites() -> Scenario:
    """One 10-kg truck with time for one trip; B (100 people) needs 15 water, more than a
    truckload, A (40 people) needs 8. The biggest-first greedy sends the truck to B and
    covers nobody; completing A first covers 40."""
    return scenario(
        "complete-first", 30,
        [site("B", 10, 100, demand={"water": 15}, service_min=5),
         site("A", 12, 40, demand={"water": 8}, service_min=5)],
        [source("D", 0, {"water": 100}, load_min=10)],
        [truck("t", "D", 10)])


def test_sites_are_completed_before_any_part_delivery():
    """A is completed; B, which no plan can complete, only gets what is left after that."""
    sc = one_trip_two_sites()
    plan = planned(sc)
    assert covered(plan) == {"A"}
    assert plan.summary.people_covered == coverage_upper_bound(sc, 2).people_bound == 40
    assert greedy_baseline(sc).summary.people_covered == 0
    b = next(s for s in plan.sites if s.site == "B")
    assert sum(b.delivered.values()) <= 10 - 8  # only the room A left on the truck


def test_a_multi_stop_trip_covers_what_one_stop_trips_cannot():
    """Three sites, 10 water each, one 30-kg truck and time for a single trip: only one trip
    stopping at all three covers everyone."""
    sc = scenario(
        "multi-stop", 40,
        [site(x, km, 30, demand={"water": 10}, service_min=2)
         for x, km in (("X", 10), ("Y", 12), ("Z", 14))],
        [source("D", 0, {"water": 100}, load_min=10)],
        [truck("t", "D", 30)])
    plan = planned(sc)
    assert plan.summary.coverage == 1.0
    assert greedy_baseline(sc).summary.coverage < 1.0  # one site per trip cannot


def test_the_last_trip_need_not_return_by_the_deadline():
    """A (km 10) then B (km 30): the second trip arrives at minute 75 <= 80 and is back only
    at 110, after the deadline, which is allowed: both sites are covered."""
    sc = scenario(
        "last-leg", 80,
        [site("A", 10, 50, demand={"water": 10}, service_min=5),
         site("B", 30, 50, demand={"water": 10}, service_min=5)],
        [source("D", 0, {"water": 100}, load_min=10)],
        [truck("t", "D", 10)])
    plan = planned(sc)
    assert plan.summary.coverage == 1.0
    assert max(t.return_min for r in plan.routes for t in r.trips) > sc.deadline_min


def twelve_sites() -> Scenario:
    """Twelve sites on a line, two depots with a truck or two each, water and kits short
    enough that choices matter."""
    return scenario(
        "twelve", 150,
        [site(f"S{k}", 3 + 4 * k, 10 + (13 * k) % 40,
              demand={"water": 3 + k % 4, "kit": 1 + k % 2}, service_min=4)
         for k in range(12)],
        [source("N", 0, {"water": 30, "kit": 9}, load_min=8),
         source("F", 45, {"water": 25, "kit": 6}, tier="county", load_min=8)],
        [truck("n", "N", 12, count=2), truck("f", "F", 20)])


def plan_json(plan: Plan) -> str:
    data = plan.model_dump(mode="json")
    data["summary"].pop("solve_s")
    return json.dumps(data, sort_keys=True)


def test_same_scenario_and_seed_give_the_same_plan():
    """Two solves with the same seed give byte-identical plans (apart from solve_s)."""
    sc = twelve_sites()
    params = SolveParams(time_limit_s=60, seed=3, moves=120)
    assert plan_json(planned(sc, params)) == plan_json(planned(sc, params))


def test_a_busy_machine_does_not_change_the_plan():
    """The work budget decides the plan: a generous and a tight wall-clock cap (both above
    what the budget needs) and a second thread burning the CPU give the same plan."""
    sc = twelve_sites()
    quiet = plan_json(planned(sc, SolveParams(time_limit_s=600, moves=150)))
    stop = threading.Event()

    def burn() -> None:
        x = 0
        while not stop.is_set():
            x = (x * 31 + 7) % 1_000_003

    hog = threading.Thread(target=burn, daemon=True)
    hog.start()
    try:
        busy = plan_json(planned(sc, SolveParams(time_limit_s=30, moves=150)))
    finally:
        stop.set()
        hog.join()
    assert busy == quiet


def test_the_wall_clock_cap_is_reported_in_the_status():
    """A work budget far beyond a tiny cap: the search stops at the cap, the plan (the
    first construction, which always completes) is still valid and above the baseline, and
    its status says time_capped, with the reason."""
    plan = planned(one_trip_two_sites(), SolveParams(time_limit_s=0.05, moves=10**6))
    assert plan.summary.status == "time_capped"
    assert "cap" in (plan.summary.status_reason or "")
    assert plan.summary.people_covered == 40


def test_strict_mode_raises_when_the_checker_rejects_the_plan(monkeypatch, caplog):
    """A corrupted engine plan is rejected by the checker: reported as checker_rejected with
    the baseline returned (and logged), or raised in strict mode."""
    real = engine.build_plan

    def corrupt(*args, **kwargs):
        plan = real(*args, **kwargs)
        wrong = plan.summary.model_copy(update={"people_covered": plan.summary.people + 1})
        return plan.model_copy(update={"summary": wrong})

    monkeypatch.setattr(engine, "build_plan", corrupt)
    sc = twelve_sites()
    with caplog.at_level("ERROR", logger="dispatch.planning.solve"):
        plan = planned(sc, SolveParams(time_limit_s=20, moves=20))
    assert plan.summary.status == "checker_rejected"
    assert "failed the checker" in caplog.text
    assert plan.summary.people_covered == greedy_baseline(sc).summary.people_covered
    with pytest.raises(EngineError, match="checker"):
        solve(sc, SolveParams(time_limit_s=20, moves=20, strict=True))


def test_the_plan_is_never_below_the_greedy_baseline_on_small_fleets():
    """Sixteen variations with one to three small trucks: the plan covers at least as many
    people as the greedy baseline (fill breaking ties) and passes the checker."""
    for k in range(16):
        sc = scenario(
            f"fleet-{k}", 90 + 15 * (k % 3),
            [site(f"S{i}", 2 + 3 * i + k % 3, 10 + (11 * i * (k + 1)) % 60,
                  demand={"water": 2 + (i + k) % 6, "kit": (i + k) % 3}, service_min=3)
             for i in range(9)],
            [source("N", 0, {"water": 40, "kit": 12}, load_min=6),
             source("F", 30, {"water": 30, "kit": 4}, tier="county", load_min=6)],
            [truck("n", "N", 8 + k % 5, count=1 + k % 2), truck("f", "F", 12 + k % 3)])
        planned(sc, SolveParams(time_limit_s=20, seed=k, moves=40))


def test_no_vehicle_stays_idle_while_demand_it_could_bring_is_unmet():
    """Every vehicle without a trip could not have delivered anything useful: no site still
    short of an item that the vehicle's source has left can be reached by it in time."""
    for sc in (twelve_sites(), one_trip_two_sites()):
        plan = planned(sc, SolveParams(time_limit_s=20, moves=60))
        net = build_network(sc)
        used = {r.vehicle for r in plan.routes}
        loaded: dict[tuple[str, str], int] = {}
        for r in plan.routes:
            for t in r.trips:
                for code, q in t.load.items():
                    loaded[t.source, code] = loaded.get((t.source, code), 0) + q
        short = {(u.site, u.item) for u in plan.unmet}
        for v in sc.vehicle_units:
            if v.id in used:
                continue
            src = sc.source_map[v.source]
            minutes = net.minutes(v.speed_factor)
            for site_id, code in short:
                left = src.stock.get(code, 0) - loaded.get((src.id, code), 0)
                arrive = (max(src.ready_min, v.available_min) + src.load_min
                          + int(minutes[net.source_loc(src.id), net.site_loc(site_id)]))
                assert left <= 0 or arrive > sc.deadline_min, (v.id, site_id, code)


def far_truck_behind_a_busy_depot() -> Scenario:
    """Depot N (km 0) and its truck serve B (km 5); A (km 50, 100 people, 200 water) cannot
    be completed by anyone. N is A's nearest holder of water and keeps a trip with room (to
    B), so a nearest-sources view of A sees only N, whose truck cannot reach A in time; the
    fast truck of F (km 101, 51 km beyond A) can bring water to A by the deadline."""
    return scenario(
        "far-truck", 60,
        [site("B", 5, 10, demand={"water": 5}, service_min=5),
         site("A", 50, 100, demand={"water": 200}, service_min=5)],
        [source("N", 0, {"water": 100}, load_min=10),
         source("F", 101, {"water": 100}, tier="county", load_min=10)],
        [truck("n", "N", 10), truck("f", "F", 10, speed_factor=2.0)])


def test_an_idle_truck_brings_what_a_site_it_can_reach_lacks():
    """After filling, a vehicle with no trip that can still bring a short need somewhere in
    time is given trips (``construct.use_idle``): no vehicle idle while coverable, A gets
    the far truck's water, B stays covered (checker, bound and baseline via ``planned``)."""
    sc = far_truck_behind_a_busy_depot()
    plan = planned(sc, SolveParams(time_limit_s=20, moves=20, per_item=1))
    assert idle_while_coverable(sc, plan.routes).count == 0
    assert covered(plan) == {"B"}
    a = next(s for s in plan.sites if s.site == "A")
    assert a.delivered.get("water", 0) >= 10
    assert "f#1" in {r.vehicle for r in plan.routes}


def tiered_draw_frees_a_truck() -> Scenario:
    """S (km 55, 100 people, 10 water) is nearest the city depot Y (km 60, 10 water, truck
    y); the township depot T (km 0, 10 water, truck t) can also complete it in time, and
    the tiered draw prefers T. P (km 120, 10 people, 50 water: never complete) is out of
    T's reach by the deadline (100) but 60 min from Y. Construction serves S from Y; the
    tiered draw moves S to T, which leaves y without a trip and Y's water back in stock,
    while P, which y can reach, lacks water."""
    return scenario(
        "tiered-draw-frees-a-truck", 100,
        [site("S", 55, 100, demand={"water": 10}, service_min=5),
         site("P", 120, 10, demand={"water": 50}, service_min=5)],
        [source("T", 0, {"water": 10}, load_min=10),
         source("Y", 60, {"water": 10}, tier="city", load_min=10)],
        [truck("t", "T", 100), truck("y", "Y", 100)])


def test_a_truck_the_tiered_draw_frees_is_not_left_idle():
    """The tiered draw runs last and may take a vehicle's only trips away (its site served
    from a lower tier): the idle-vehicle pass runs again after it, so no vehicle stays idle
    while a site it can reach lacks what its source holds again (checker, bound, baseline
    via ``planned``): S from T, Y's water to P by y."""
    sc = tiered_draw_frees_a_truck()
    plan = planned(sc, SolveParams(time_limit_s=20, moves=20))
    assert covered(plan) == {"S"}
    assert idle_while_coverable(sc, plan.routes).count == 0
    p = next(s for s in plan.sites if s.site == "P")
    assert p.delivered.get("water", 0) == 10
    s_trips = [t for r in plan.routes for t in r.trips if "S" in {x.site for x in t.stops}]
    assert {t.source for t in s_trips} == {"T"}


def late_depot_beside_the_near_one() -> Scenario:
    """X (km 5, 60 people) and Y (km -20, 50 people) need 10 water each. Depot E (km 0)
    holds 10, enough for one of them; depot L (km 15) holds 10 but is ready only at minute
    60, in time for X (arrival 80) and not for Y (105 > 100). Whoever takes E's water first
    decides: X from E covers 60 people, X from L and Y from E cover 110."""
    return scenario(
        "late-depot", 100,
        [site("X", 5, 60, demand={"water": 10}, service_min=5),
         site("Y", -20, 50, demand={"water": 10}, service_min=5)],
        [source("E", 0, {"water": 10}, load_min=10),
         source("L", 15, {"water": 10}, tier="agreement", load_min=10, ready_min=60)],
        [truck("e", "E", 10), truck("l", "L", 10)])


def test_late_weight_keeps_early_stock_for_sites_only_it_can_reach():
    """``late_weight`` (off by default) weights completing moves from late-ready sources up:
    with it the construction alone (no search moves) takes X's water from L and so covers
    both sites, which the trip-time bound says is the most any plan can."""
    sc = late_depot_beside_the_near_one()
    plan = planned(sc, SolveParams(time_limit_s=20, moves=0, guide="none", late_weight=8))
    assert covered(plan) == {"X", "Y"}
    assert plan.summary.people_covered == 110 == round(plan.summary.bound_coverage * 110)


def test_a_late_reserve_is_offered_beside_the_nearest_sources():
    """Late reserves (``offer_late``, on by default) are candidate sources for every site,
    not only when among its ``per_item`` nearest holders: with one nearest source per need,
    X sees depot E only and takes its water, so Y (which only E can reach in time) stays
    short; offered the late depot L too, the construction alone (no search move) serves X
    from L and covers both sites, the most the trip-time bound allows."""
    sc = late_depot_beside_the_near_one()
    shape = {"time_limit_s": 20, "moves": 0, "guide": "none", "late_weight": 8, "per_item": 1}
    nearest_only = planned(sc, SolveParams(offer_late=False, **shape))
    assert covered(nearest_only) == {"X"}
    plan = planned(sc, SolveParams(**shape))
    assert covered(plan) == {"X", "Y"}
    assert plan.summary.people_covered == 110 == round(plan.summary.bound_coverage * 110)


def test_the_work_budget_ends_the_search_the_same_way_every_time():
    """A work budget (``work``: vehicle-source pairs scanned) far below what the moves would
    spend ends the search: twice the same plan, well inside a generous cap (not
    ``time_capped``), checked and within the bound (``planned``)."""
    sc = twelve_sites()
    params = SolveParams(time_limit_s=600, seed=1, moves=10**6, work=20_000)
    first = planned(sc, params)
    assert first.summary.status != "time_capped"
    assert plan_json(first) == plan_json(planned(sc, params))


def test_the_work_budget_grows_with_the_time_limit_and_is_a_count():
    """Without ``work`` the budget is ``work_per_s x work_share x limit``: an integer
    proportional to the scenario's limit, the same on any machine."""
    p = SolveParams()
    for limit in (30.0, 120.0):
        assert p.search_work(limit) == round(p.work_per_s * p.work_share * limit)
    assert p.search_work(30.0) < p.search_work(120.0)
    assert SolveParams(work=7).search_work(120.0) == 7


# -- contract v2: timing, drivers, loading anywhere, substitutes ---------------------------


def test_the_engine_clock_agrees_with_the_contract_timing():
    """The engine's integer timing (state.Clock) gives the same arrivals, returns and day
    ends as the contract's timing module (plan.schedule_route / timing.Day) on random days
    with bases, loading anywhere, a driving limit with breaks and per-tonne unloading."""
    import random

    from dispatch.planning.plan import schedule_route
    from dispatch.planning.state import Clock, Static

    rng = random.Random(7)
    compared = 0
    for trial in range(40):
        data = yard(drivers={"max_drive_min": 30 + trial % 50, "break_min": 5 + trial % 15},
                    unload_min_per_t=float(trial * 37 % 300))
        data["sites"].append(site("C", 45, 10, demand={"water": 2}, service_min=trial % 7))
        data["sources"][1]["ready_min"] = trial * 3
        sc = build(data)
        net = build_network(sc)
        st = Static(sc, net)
        clock = Clock(st)
        for k, v in [*enumerate(sc.vehicle_units)] * 2:
            sources = [sc.sources.index(sc.source_map[s]) for s in v.loads_at]
            specs, days = [], []
            at, first = clock.start(k), True
            for _ in range(rng.randint(1, 4)):
                s = rng.choice(sources)
                stops = rng.sample(range(len(sc.sites)), rng.randint(1, 3))
                kgs = tuple(float(rng.randint(1, 40)) for _ in stops)
                timed = clock.trip(k, at, first, s, tuple(stops), kgs)
                if timed is None:
                    break
                # each stop is done after its service and unloading
                assert list(timed[3]) == [
                    a + sc.unload_min(sc.sites[j], kg)
                    for a, j, kg in zip(timed[2], stops, kgs, strict=True)]
                days.append(timed)
                specs.append((sc.sources[s].id, [(sc.sites[j].id, {"water": int(kg)})
                                                 for j, kg in zip(stops, kgs, strict=True)]))
                at, first = timed[4], False
            if not specs:
                continue
            route = schedule_route(sc, net, v, specs)
            if clock.end(k, at) is None:  # no way back to base within the driving limit
                assert route is None
                continue
            assert route is not None
            assert [[s.arrive_min for s in t.stops] for t in route.trips] == [
                list(d[2]) for d in days]
            assert [t.depart_min for t in route.trips] == [d[1] for d in days]
            assert route.trips[-1].return_min == clock.end(k, at)
            compared += 1
    assert compared >= 60


def test_a_truck_based_far_away_loads_where_the_goods_are():
    """An enterprise's truck is based at its yard (km -40) beside a point holding 1 water;
    with loads_at any it fetches the county depot's goods and covers both sites (the tiered
    draw may add the township point's one unit on a trip placed first); with loads_at home
    (the yard point only) nobody can be covered."""
    def data(loads_at: Any) -> dict[str, Any]:
        return {
            "contract_version": 2, "name": "far-yard", "onset": "2025-08-01T06:00:00+08:00",
            "deadline_min": 180, "items": copy.deepcopy(ITEMS),
            "sites": [site("A", 10, 40, demand={"water": 20}, service_min=5),
                      site("B", 14, 30, demand={"water": 15}, service_min=5)],
            "sources": [source("Y", -40, {"water": 1}, load_min=5),
                        source("C", 0, {"water": 200}, tier="county", load_min=10)],
            "vehicles": [{"id": "e", "source": "Y", "loads_at": loads_at,
                          "capacity_kg": 40, "capacity_m3": 10.0}],
            "network": dict(FLAT),
        }

    anywhere = planned(build(data("any")))
    assert anywhere.summary.coverage == 1.0
    assert "C" in {t.source for r in anywhere.routes for t in r.trips}
    assert planned(build(data("home"))).summary.people_covered == 0


def test_driver_rules_and_the_shift_are_kept():
    """With a 45-minute driving limit (20-minute breaks), 200 min per tonne unloading and a
    300-minute shift the plan passes the checker (which verifies every rule) and still
    covers everyone on `yard`; with a 40-minute shift it covers what the greedy can, or
    more, and every day ends within 40 minutes."""
    full = build(yard(drivers={"max_shift_min": 300, "max_drive_min": 45, "break_min": 20},
                      unload_min_per_t=200.0))
    assert planned(full).summary.coverage == 1.0
    short_day = build(yard(drivers={"max_shift_min": 40}))
    plan = planned(short_day)
    assert all(r.end_min - r.start_min <= 40 for r in plan.routes)


def test_substitutes_complete_a_site_when_one_item_is_short():
    """Site S needs 60 meals: 2 cases of rice (24 meals) are not enough, biscuits (64 meals
    a case) are accepted for food; sheltered H needs no tent. Both are covered, as the
    bound allows."""
    sc = build(substitutes())
    plan = planned(sc)
    assert plan.summary.coverage == 1.0
    h = next(s for s in plan.sites if s.site == "H")
    assert "tent" not in h.delivered
