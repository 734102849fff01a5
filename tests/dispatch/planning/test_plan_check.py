"""Plan figures (evaluate/build_plan) and the independent checker's rules, one rule per test."""

from __future__ import annotations

import copy

import pytest
from planning_scenarios import LON0, build, km_north, line, site, source

from dispatch.planning.network import build_network
from dispatch.planning.plan import Plan, build_plan, check, evaluate, time_trip

# The hand plan for `line` (1 km = 1 min; load 10, service 5, deadline 100, stock 12 water):
# trip 1 loads 9, leaves at 10, A at 20 (4), B at 35 (5), home at 60;
# trip 2 loads the last 3, leaves at 70, C at 100 (3 of 6), home at 135.
HAND = {
    "vehicle": "T#1",
    "trips": [
        {
            "source": "D",
            "depart_min": 10,
            "load": {"water": 9},
            "stops": [
                {"site": "A", "arrive_min": 20, "unload": {"water": 4}},
                {"site": "B", "arrive_min": 35, "unload": {"water": 5}},
            ],
            "return_min": 60,
        },
        {
            "source": "D",
            "depart_min": 70,
            "load": {"water": 3},
            "stops": [{"site": "C", "arrive_min": 100, "unload": {"water": 3}}],
            "return_min": 135,
        },
    ],
}


def hand_plan(scenario_data: dict | None = None, route: dict | None = None) -> tuple[Plan, object]:
    """build_plan over the hand route (or a variant) for `line` (or a variant)."""
    sc = build(scenario_data or line())
    return build_plan(sc, [Plan.model_validate({**EMPTY, "routes": [route or HAND]}).routes[0]]), sc


EMPTY = {
    "scenario": "line",
    "summary": {
        "people": 0,
        "people_covered": 0,
        "coverage": 0,
        "fill_rate": 0,
        "latest_arrival_min": None,
        "distance_km": 0,
        "vehicles_used": 0,
        "solve_s": 0,
    },
    "routes": [],
    "sites": [],
    "unmet": [],
}


def tampered(plan: Plan, edit) -> Plan:
    """A copy of the plan with ``edit(dict)`` applied to its JSON form."""
    data = copy.deepcopy(plan.model_dump())
    edit(data)
    return Plan.model_validate(data)


def codes(plan: Plan, sc) -> set[str]:
    return check(plan, sc).codes()


def test_hand_plan_figures():
    """coverage = covered people / all people (90/150); fill = people-weighted mean of per-item
    min(1, delivered/demand) ((40+50+60*0.5)/150); distance = 40 + 60 km; C's shortfall has no
    stock left in reach."""
    plan, sc = hand_plan()
    s = plan.summary
    assert (s.people, s.people_covered, s.coverage) == (150, 90, 0.6)
    assert s.fill_rate == pytest.approx(0.8)
    assert (s.latest_arrival_min, s.vehicles_used) == (100, 1)
    assert s.distance_km == pytest.approx(100.0)
    assert [(x.site, x.covered, x.last_arrival_min) for x in plan.sites] == [
        ("A", True, 20),
        ("B", True, 35),
        ("C", False, 100),
    ]
    assert [u.model_dump() for u in plan.unmet] == [
        {"site": "C", "item": "water", "qty": 3, "reason": "stock", "unit": "unit"}
    ]
    assert check(plan, sc).ok, str(check(plan, sc))


def test_plan_json_round_trip():
    """A plan survives JSON serialisation unchanged (the API stores and serves it as JSON)."""
    plan, _ = hand_plan()
    assert Plan.model_validate_json(plan.model_dump_json()) == plan


def test_late_arrivals_count_as_delivered_but_not_covered():
    """With the deadline at 99, C's 3 units still appear in delivered but not in fill or
    unmet: its shortfall is the full 6."""
    data = line()
    data["deadline_min"] = 99
    plan, sc = hand_plan(data)
    c = plan.sites[2]
    assert c.delivered == {"water": 3} and not c.covered
    assert plan.summary.fill_rate == pytest.approx(90 / 150)
    assert [(u.site, u.qty) for u in plan.unmet] == [("C", 6)]
    assert check(plan, sc).ok


def test_unmet_reason_fleet_when_stock_was_left():
    """With 20 water in stock, 8 are left at D after the plan: C's shortfall of 3 is the
    fleet's, not the stock's."""
    data = line()
    data["sources"][0]["stock"]["water"] = 20
    plan, sc = hand_plan(data)
    assert [u.reason for u in plan.unmet] == ["fleet_time"]
    assert check(plan, sc).ok


def test_unmet_reason_unreachable_when_no_vehicle_can_arrive_in_time():
    """A site 200 km away cannot be reached by minute 100: its whole demand is unreachable."""
    data = line()
    data["sites"].append(site("Z", 200, 10, demand={"water": 2, "kit": 1}))
    plan, sc = hand_plan(data)
    assert {(u.site, u.item, u.qty, u.reason) for u in plan.unmet if u.site == "Z"} == {
        ("Z", "water", 2, "unreachable"),
        ("Z", "kit", 1, "unreachable"),
    }
    assert check(plan, sc).ok


def test_waiting_at_a_stop_is_allowed():
    """Arriving later than the earliest possible time is fine; the following times shift."""
    route = copy.deepcopy(HAND)
    trip = route["trips"][0]
    trip["stops"][0]["arrive_min"] = 22
    trip["stops"][1]["arrive_min"] = 37
    trip["return_min"] = 62
    route["trips"] = [trip]
    plan, sc = hand_plan(route=route)
    assert check(plan, sc).ok


def test_time_trip_gives_the_earliest_schedule():
    """time_trip reproduces the hand timing: leave at 10, A 20, B 35, home 60."""
    sc = build(line())
    t = time_trip(sc, build_network(sc), sc.vehicle_map["T#1"], 0, ["A", "B"])
    assert (t.depart_min, t.arrive_min, t.return_min) == (10, (20, 35), 60)


def test_unknown_and_repeated_vehicles():
    """Routes must name an expanded vehicle, each at most once."""
    plan, sc = hand_plan()
    assert "vehicle_unknown" in codes(
        tampered(plan, lambda d: d["routes"][0].update(vehicle="T")), sc
    )
    assert "vehicle_repeated" in codes(
        tampered(plan, lambda d: d["routes"].append(copy.deepcopy(d["routes"][0]))), sc
    )


def test_trip_must_start_at_home_source():
    """A trip loading at another source than the vehicle's home is a violation."""
    data = line()
    data["sources"].append(source("E", 5, {"water": 50}))
    plan, sc = hand_plan(data)
    bad = tampered(plan, lambda d: d["routes"][0]["trips"][0].update(source="E"))
    assert "trip_source" in codes(bad, sc)


def test_capacity_kg_and_m3():
    """Loads over the vehicle's kg or m3 capacity are violations (unit_kg, unit_m3 per item)."""
    data = line()
    data["sources"][0]["stock"]["water"] = 30
    route = copy.deepcopy(HAND)
    route["trips"][0]["load"] = {"water": 11}
    route["trips"][0]["stops"][1]["unload"] = {"water": 7}
    plan, sc = hand_plan(data, route)
    assert "capacity_kg" in codes(plan, sc)
    data["items"][0]["unit_m3"] = 0.2  # 9 x 0.2 m3 > 1 m3
    plan, sc = hand_plan(data)
    assert codes(plan, sc) == {"capacity_m3"}


def test_unloads_must_match_the_load():
    """What a trip unloads must equal what it loaded, item by item."""
    plan, sc = hand_plan()
    bad = tampered(plan, lambda d: d["routes"][0]["trips"][0]["load"].update(water=10))
    assert "unload_mismatch" in codes(bad, sc)


def test_stock_cannot_be_overdrawn():
    """Loads over all trips may not exceed the source's stock (12 water)."""
    data = line()
    data["sites"][2]["demand"] = {"water": 6}
    route = copy.deepcopy(HAND)
    route["trips"][1]["load"] = {"water": 4}
    route["trips"][1]["stops"][0]["unload"] = {"water": 4}
    plan, sc = hand_plan(data, route)
    assert codes(plan, sc) == {"stock"}


def test_departure_respects_ready_available_and_load_time():
    """Loading (load_min before depart_min) cannot start before the source is ready or the
    vehicle available."""
    data = line()
    data["sources"][0]["ready_min"] = 5
    plan, sc = hand_plan(data)
    assert "depart_early" in codes(plan, sc)
    data = line()
    data["vehicles"][0]["available_min"] = 1
    plan, sc = hand_plan(data)
    assert "depart_early" in codes(plan, sc)


def test_trips_of_a_vehicle_do_not_overlap():
    """A vehicle's next trip starts loading only after it is back from the previous one."""
    plan, sc = hand_plan()

    def edit(d):
        trip = d["routes"][0]["trips"][1]
        trip.update(depart_min=65, return_min=130)
        trip["stops"][0]["arrive_min"] = 95

    assert "depart_early" in codes(tampered(plan, edit), sc)


def test_arrivals_and_return_respect_travel_and_service():
    """Arrival >= previous departure + travel (service included); return >= last departure +
    travel back."""
    plan, sc = hand_plan()
    early_b = tampered(plan, lambda d: d["routes"][0]["trips"][0]["stops"][1].update(arrive_min=34))
    assert "arrive_early" in codes(early_b, sc)
    early_home = tampered(plan, lambda d: d["routes"][0]["trips"][0].update(return_min=59))
    assert "return_early" in codes(early_home, sc)


def test_no_delivery_to_a_cut_off_site():
    """A stop at a site with no road path is a violation."""
    data = line()
    data["network"] = {
        "mode": "road",
        "nodes": [{"id": k, "lat": km_north(10 * k), "lon": LON0} for k in range(4)],
        "edges": [{"a": k, "b": k + 1, "km": 10, "speed_kmh": 60} for k in range(3)],
        "closed": [[2, 3]],
    }
    plan, sc = hand_plan(data)
    assert "unreachable" in codes(plan, sc)
    assert [u.reason for u in plan.unmet if u.site == "C"] == ["unreachable"]


def test_empty_trips_and_stops():
    """A trip needs a stop, and a stop must unload something."""
    plan, sc = hand_plan()

    def empty_stop(d):
        d["routes"][0]["trips"][0]["stops"].insert(0, {"site": "A", "arrive_min": 20, "unload": {}})

    assert "empty_stop" in codes(tampered(plan, empty_stop), sc)
    assert "empty_trip" in codes(
        tampered(plan, lambda d: d["routes"][0]["trips"][1].update(stops=[], load={})), sc
    )


def test_reported_figures_are_recomputed():
    """Summary, sites and unmet that disagree with the routes are violations."""
    plan, sc = hand_plan()
    assert "summary" in codes(tampered(plan, lambda d: d["summary"].update(coverage=0.7)), sc)
    assert "summary" in codes(tampered(plan, lambda d: d["summary"].update(distance_km=99)), sc)
    assert "summary" in codes(tampered(plan, lambda d: d["summary"].update(people_covered=1)), sc)
    assert "site" in codes(
        tampered(plan, lambda d: d["sites"][0].update(delivered={"water": 5})), sc
    )
    assert "site" in codes(tampered(plan, lambda d: d["sites"][2].update(covered=True)), sc)
    assert "site_missing" in codes(tampered(plan, lambda d: d["sites"].pop()), sc)
    assert "unmet" in codes(tampered(plan, lambda d: d["unmet"].clear()), sc)
    assert "unmet" in codes(
        tampered(plan, lambda d: d["unmet"][0].update(reason="fleet_time")), sc
    )
    assert "scenario" in codes(tampered(plan, lambda d: d.update(scenario="other")), sc)


def test_coverage_above_the_reported_bound_is_flagged():
    """A plan whose coverage exceeds its own reported upper bound is inconsistent."""
    plan, sc = hand_plan()
    assert "bound" in codes(tampered(plan, lambda d: d["summary"].update(bound_coverage=0.5)), sc)
    assert check(tampered(plan, lambda d: d["summary"].update(bound_coverage=0.6)), sc).ok


def test_evaluate_ignores_nothing_it_should_count():
    """evaluate on no routes: nobody covered, full demand unmet, fill 0, no distance."""
    sc = build(line())
    ev = evaluate(sc, [])
    assert (ev.people_covered, ev.fill_rate, ev.distance_km, ev.latest_arrival_min) == (
        0,
        0.0,
        0.0,
        None,
    )
    assert sum(u.qty for u in ev.unmet) == 15


def test_sites_without_people_or_demand():
    """A site with no demand is covered; with no people at all coverage and fill are 1."""
    data = line()
    data["sites"] = [site("Q", 5, 10, demand={})]
    sc = build(data)
    ev = evaluate(sc, [])
    assert (ev.coverage, ev.fill_rate) == (1.0, 1.0)
    data["sites"] = [site("Q", 5, 0, demand={"water": 1})]
    assert evaluate(build(data), []).coverage == 1.0
