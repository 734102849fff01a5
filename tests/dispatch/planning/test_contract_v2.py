"""Contract v2: every new rule on a small named scenario, asserted through the checker.

Scenarios (planning_scenarios): ``yard`` (a depot P with a home truck, a kit store Q, a
transport enterprise's truck based at a yard Y that may load anywhere; 1 km = 1 min) and
``substitutes`` (named needs met by groups of items, a sheltered site).
"""

from __future__ import annotations

import copy
import json

import pytest
from planning_scenarios import FLAT, build, line, site, source, substitutes, truck, yard

from dispatch.planning.baseline import greedy_baseline
from dispatch.planning.network import build_network
from dispatch.planning.plan import Plan, Route, build_plan, check, evaluate, schedule_route
from dispatch.planning.problem import ScenarioError, load_scenario

# e's day in `yard`: leaves Y at 0, reaches P at 10 (load 10), A at 30 (service 5), drives
# to Q (arrives 45, load 10), A at 65 (service 5), B at 90 (service 5), back at Y at 135:
# 10 + 10 + 10 + 10 + 20 + 40 = 100 km.
E_TRIPS = [("P", [("A", {"water": 5})]), ("Q", [("A", {"kit": 2}), ("B", {"kit": 3})])]


def e_route(data: dict | None = None, trips=None) -> tuple[Route, object]:
    sc = build(data or yard())
    net = build_network(sc)
    route = schedule_route(sc, net, sc.vehicle_map["e#1"], trips or E_TRIPS)
    assert route is not None
    return route, sc


def codes(plan: Plan, sc) -> set[str]:
    return check(plan, sc).codes()


def edited(plan: Plan, edit) -> Plan:
    data = copy.deepcopy(plan.model_dump())
    edit(data)
    return Plan.model_validate(data)


# -- versions ------------------------------------------------------------------------------


def test_v2_fields_are_errors_in_a_v1_scenario():
    """A scenario without contract_version is v1: loads_at, bases, driver rules, sheltered
    and need groups are refused at their field (their meaning would change silently)."""
    data = yard()
    del data["contract_version"]
    data["policy"] = {"drivers": {"max_shift_min": 600}}
    data["sites"][0]["sheltered"] = True
    with pytest.raises(ScenarioError) as exc:
        load_scenario(json.dumps(data, indent=1))
    paths = {i.path for i in exc.value.issues}
    assert {"bases", "vehicles[1].base", "vehicles[1].loads_at", "vehicles[1].source",
            "policy.drivers", "sites[0].sheltered"} <= paths
    assert all("contract-v2" in i.message or "required" in i.message
               for i in exc.value.issues)


def test_a_v2_scenario_without_v2_fields_means_what_v1_meant():
    """The `line` scenario and its hand plan give the same figures as v1 when the scenario
    says contract_version 2 (every new field at its default)."""
    data = line()
    v1 = build(data)
    v2 = build({**data, "contract_version": 2})
    route = schedule_route(v1, build_network(v1), v1.vehicle_map["T#1"],
                           [("D", [("A", {"water": 4}), ("B", {"water": 5})]),
                            ("D", [("C", {"water": 3})])])
    p1, p2 = build_plan(v1, [route]), build_plan(v2, [route])
    assert p1.summary == p2.summary and p1.sites == p2.sites and p1.unmet == p2.unmet
    assert [t.return_min for t in route.trips] == [60, 135]  # the v1 hand timing
    assert check(p2, v2).ok


def test_a_v1_plan_is_checked_with_v1_reason_names():
    """An old plan (no contract_version) keeps v1's reason vocabulary; a v2 scenario needs a
    v2 plan."""
    sc = build(line())
    plan = build_plan(sc, [schedule_route(sc, build_network(sc), sc.vehicle_map["T#1"],
                                          [("D", [("C", {"water": 6})])])])
    old = plan.model_dump()
    old.pop("contract_version")
    for r in old["routes"]:
        for k in ("start_min", "end_min", "km", "cost", "longest_drive_min"):
            r.pop(k)
    old["unmet"] = [{**u, "reason": {"stock": "no_stock_in_reach",
                                      "fleet_time": "no_fleet_capacity"}.get(u["reason"],
                                                                             u["reason"])}
                    for u in old["unmet"]]
    v1_plan = Plan.model_validate(old)
    assert v1_plan.contract_version == 1
    assert check(v1_plan, sc).ok, str(check(v1_plan, sc))
    sc2 = build({**line(), "contract_version": 2})
    assert "contract_version" in check(v1_plan, sc2).codes()


# -- vehicles: base, loads_at, legs --------------------------------------------------------


def test_the_base_leg_and_loading_anywhere_are_timed_and_counted():
    """e leaves its yard at 0, loads at P from 10, drives from A to the kit store Q (its
    first trip's return_min is the arrival at Q), then back to the yard: 80 km, and the
    checker agrees with every time."""
    route, sc = e_route()
    t1, t2 = route.trips
    assert (t1.depart_min, t1.stops[0].arrive_min, t1.return_min) == (20, 30, 45)
    assert (t2.depart_min, [s.arrive_min for s in t2.stops], t2.return_min) == (
        55, [65, 90], 135)
    plan = build_plan(sc, [route])
    r = plan.routes[0]
    assert (r.start_min, r.end_min, r.km) == (0, 135, pytest.approx(100.0))
    assert plan.summary.distance_km == pytest.approx(100.0)
    assert check(plan, sc).ok, str(check(plan, sc))


def test_loading_early_at_the_first_source_ignores_the_base_leg():
    """Loading at P cannot start before e has driven there from its yard (10 min)."""
    route, sc = e_route()
    plan = build_plan(sc, [route])
    early = edited(plan, lambda d: d["routes"][0]["trips"][0].update(depart_min=15))
    assert "depart_early" in codes(early, sc)


def test_a_trip_may_load_only_where_loads_at_allows():
    """The home truck h may load only at P; e (loads_at any) may load at Q; a list allows
    just its sources."""
    data = yard()
    sc = build(data)
    net = build_network(sc)
    h = schedule_route(sc, net, sc.vehicle_map["h#1"], [("Q", [("B", {"kit": 3})])])
    assert "trip_source" in codes(build_plan(sc, [h]), sc)
    data["vehicles"][1]["loads_at"] = ["P"]
    route, sc2 = e_route(data)
    assert "trip_source" in codes(build_plan(sc2, [route]), sc2)
    data["vehicles"][1]["loads_at"] = ["P", "Q"]
    route, sc3 = e_route(data)
    assert check(build_plan(sc3, [route]), sc3).ok


def test_the_return_leg_goes_to_the_next_trips_source():
    """Trip 1's return_min is when e reaches Q (A -> Q, 10 km after A's service): earlier
    is a violation."""
    route, sc = e_route()
    plan = build_plan(sc, [route])
    assert "return_early" in codes(
        edited(plan, lambda d: d["routes"][0]["trips"][0].update(return_min=44)), sc)


# -- drivers -----------------------------------------------------------------------------


def test_the_shift_limit_is_checked_from_base_to_base():
    """e's day runs from 0 to 135; with a 130-minute shift limit it breaks the rule."""
    route, sc = e_route(yard(drivers={"max_shift_min": 130}))
    assert "shift" in codes(build_plan(sc, [route]), sc)
    route, sc = e_route(yard(drivers={"max_shift_min": 135}))
    assert check(build_plan(sc, [route]), sc).ok


def test_continuous_driving_needs_a_break():
    """With at most 45 min of driving between 20-minute breaks, e's legs 0-10, 20-30,
    35-45, 55-65, 70-90 add up to 60 min (its 10-minute loads and 5-minute stops are no
    breaks): the earliest timing without rules breaks the rule; Day waits at A until 85 and
    at B before the 40-minute drive home, and passes."""
    rules = {"max_drive_min": 45, "break_min": 20}
    free_route, _ = e_route()
    sc = build(yard(drivers=rules))
    assert "driving" in codes(build_plan(sc, [free_route]), sc)
    route, sc = e_route(yard(drivers=rules))
    plan = build_plan(sc, [route])
    assert check(plan, sc).ok, str(check(plan, sc))
    assert route.trips[1].stops[1].arrive_min == 105
    assert plan.routes[0].longest_drive_min <= 45


def test_unloading_time_grows_with_the_load():
    """At 1000 min per tonne (1 min per kg), A's stop of 5 kg of water takes 5 + 5 min: the
    return to Q is 5 min later; a plan ignoring it returns too early."""
    free_route, _ = e_route()
    route, sc = e_route(yard(unload_min_per_t=1000.0))
    assert route.trips[0].return_min == free_route.trips[0].return_min + 5
    assert "return_early" in codes(build_plan(sc, [free_route]), sc)
    assert check(build_plan(sc, [route]), sc).ok


def test_costs_are_recomputed():
    """e costs 100 fixed + 2 per km x 100 km = 300; reported costs that disagree are
    flagged."""
    data = yard()
    data["vehicles"][1].update(fixed_cost=100.0, cost_per_km=2.0)
    route, sc = e_route(data)
    plan = build_plan(sc, [route])
    assert plan.routes[0].cost == pytest.approx(300.0) == plan.summary.cost
    assert "route" in codes(edited(plan, lambda d: d["routes"][0].update(cost=100.0)), sc)
    assert "summary" in codes(edited(plan, lambda d: d["summary"].update(cost=1.0)), sc)


# -- needs -------------------------------------------------------------------------------


def test_needs_are_met_by_any_item_of_their_group():
    """S (20 people, 7 households) needs 60 L of water (5 cases of 13.2 L), 60 meals and 7
    tents; one case of biscuits (64 meals) meets its food need as well as 5 of rice would.
    H is sheltered: no tent. Per-need coverage counts people whose need is met."""
    sc = build(substitutes())
    assert sc.demand.by_site == {"S": {"water": 60, "food": 60, "shelter": 7},
                                 "H": {"water": 90, "food": 90}}
    net = build_network(sc)
    t = sc.vehicle_map["t#1"]
    route = schedule_route(sc, net, t, [("D", [("S", {"case": 5, "biscuit": 1, "tent": 7}),
                                               ("H", {"case": 7, "rice": 2})])])
    plan = build_plan(sc, [route])
    assert check(plan, sc).ok, str(check(plan, sc))
    assert [(x.site, x.covered, x.needs_met) for x in plan.sites] == [
        ("S", True, ["water", "food", "shelter"]), ("H", False, ["water"])]
    assert {n.need: n.people_met for n in plan.summary.needs} == {
        "water": 50, "food": 20, "shelter": 50}
    assert [(u.site, u.item, u.qty, u.unit) for u in plan.unmet] == [("H", "food", 66, "meal")]


def test_demand_may_name_a_need_but_not_also_its_items():
    """Explicit demand keyed by a need id is in the need's unit; naming the need and one of
    its items at one site is ambiguous and refused."""
    data = substitutes()
    data["sites"][0]["demand"] = {"food": 30}
    assert build(data).demand.by_site["S"] == {"food": 30}
    data["sites"][0]["demand"] = {"food": 30, "rice": 2}
    with pytest.raises(ScenarioError, match="only one need"):
        load_scenario(json.dumps(data))


def test_per_item_demand_keeps_its_meaning_in_v2():
    """An explicit per-item demand is its own need even when the item is in a group: rice
    there is not replaced by biscuits."""
    data = substitutes()
    data["sites"][0]["demand"] = {"rice": 1}
    sc = build(data)
    route = schedule_route(sc, build_network(sc), sc.vehicle_map["t#1"],
                           [("D", [("S", {"biscuit": 1})])])
    plan = build_plan(sc, [route])
    assert not plan.sites[0].covered and check(plan, sc).ok


def test_the_v2_default_standard_accepts_biscuits_and_noodles():
    """A v2 scenario without needs uses DEFAULT_STANDARD_V2: food is met by self-heating
    rice, compressed biscuits or instant noodles; when a need has no item in the catalogue
    the scenario is refused (coverage would silently ignore it)."""
    from dispatch.planning.needs import DEFAULT_ITEMS, DEFAULT_STANDARD_V2, SUBSTITUTE_ITEMS

    items = [{"code": i.code, "name": i.name, "unit_kg": i.unit_kg, "unit_m3": i.unit_m3}
             for i in (*DEFAULT_ITEMS, *SUBSTITUTE_ITEMS)]
    data = {**line(), "contract_version": 2, "items": items}
    data["sources"][0]["stock"] = {"1050102": 10}
    for s in data["sites"]:
        s.pop("demand")
    sc = build(data)
    assert sc.needs_standard() == DEFAULT_STANDARD_V2
    food = sc.demand.needs["food"].items
    assert set(food) == {"1050103", "1050102", "1050101"}
    data["items"] = [i for i in items if i["code"] not in ("1010101", "1010102")]
    with pytest.raises(ScenarioError, match="shelter"):
        load_scenario(json.dumps(data))


# -- reasons, status, bounds -----------------------------------------------------------------


def reasons_scenario() -> dict:
    """v2: site N (km 10) and far site Z (km 900); water only at agreement A (km 5, ready
    500 > deadline 200); kits at depot D (km 0) with a truck; deadline 200."""
    return {
        "contract_version": 2,
        "name": "reasons",
        "onset": "2025-08-01T06:00:00+08:00",
        "deadline_min": 200,
        "items": [{"code": "water", "unit_kg": 1.0, "unit_m3": 0.001},
                  {"code": "kit", "unit_kg": 2.0, "unit_m3": 0.01}],
        "sites": [site("N", 10, 50, demand={"water": 5, "kit": 2}),
                  site("Z", 900, 10, demand={"kit": 1}),
                  site("M", 12, 30, demand={"kit": 60})],
        "sources": [source("D", 0, {"kit": 50}, load_min=10),
                    source("A", 5, {"water": 100}, tier="agreement", ready_min=500)],
        "vehicles": [truck("d", "D"), truck("a", "A")],
        "network": dict(FLAT),
    }


def test_unmet_reasons_name_the_binding_resource():
    """With no trips: N's water is held at a source not ready in time (lead_time), its kits
    are in reach (fleet_time); Z is out of reach (unreachable); M wants more kits than
    exist (stock)."""
    sc = build(reasons_scenario())
    ev = evaluate(sc, [])
    assert {(u.site, u.item): u.reason for u in ev.unmet} == {
        ("N", "water"): "lead_time", ("N", "kit"): "fleet_time",
        ("Z", "kit"): "unreachable", ("M", "kit"): "stock"}


def test_status_vocabulary_and_bounds_are_checked():
    """v2 statuses come from one vocabulary; engine_error needs a reason; coverage above a
    reported bound and a wrong gap are violations."""
    sc = build(yard())
    route, _ = e_route()
    from dispatch.planning.plan import BoundFigure

    plan = build_plan(sc, [route], status="feasible",
                      bounds=[BoundFigure(name="flow", people=100, coverage=1.0,
                                          status="optimal")])
    assert check(plan, sc).ok, str(check(plan, sc))
    assert plan.summary.gap == pytest.approx(0.0)
    assert "status" in codes(edited(plan, lambda d: d["summary"].update(status="fallback")), sc)
    assert "status" in codes(edited(plan, lambda d: d["summary"].update(status="engine_error")),
                             sc)
    low = {"name": "trip", "people": 40, "coverage": 0.4, "status": "optimal"}
    assert "bound" in codes(edited(plan, lambda d: d["summary"]["bounds"].append(low)), sc)
    assert "summary" in codes(edited(plan, lambda d: d["summary"].update(gap=0.1)), sc)


# -- engines -----------------------------------------------------------------------------


def test_the_engine_plans_with_v2_features():
    """solve() on `yard` (bases, loads_at, driver rules, per-tonne unloading, costs): a
    plan that passes the checker and covers everyone, the kits coming from Q on e."""
    from dispatch.planning.solve import SolveParams, solve

    data = yard(drivers={"max_shift_min": 300, "max_drive_min": 45, "break_min": 20},
                unload_min_per_t=200.0)
    data["vehicles"][1].update(fixed_cost=50.0, cost_per_km=1.5)
    sc = build(data)
    plan = solve(sc, SolveParams(time_limit_s=10, strict=True))
    assert check(plan, sc).ok, str(check(plan, sc))
    assert plan.summary.coverage == 1.0
    assert any(t.source == "Q" for r in plan.routes if r.vehicle == "e#1" for t in r.trips)


def test_greedy_baseline_follows_every_v2_rule():
    """On `yard` with driver rules, per-tonne unloading and costs, and on `substitutes`, the
    greedy plan passes the checker; the kits for B come on e, which may load at Q."""
    data = yard(drivers={"max_shift_min": 300, "max_drive_min": 45, "break_min": 20},
                unload_min_per_t=200.0)
    data["vehicles"][1].update(fixed_cost=50.0, cost_per_km=1.5)
    sc = build(data)
    plan = greedy_baseline(sc)
    assert check(plan, sc).ok, str(check(plan, sc))
    assert plan.summary.coverage == 1.0
    assert any(t.source == "Q" for r in plan.routes if r.vehicle == "e#1" for t in r.trips)
    sc2 = build(substitutes())
    plan2 = greedy_baseline(sc2)
    assert check(plan2, sc2).ok, str(check(plan2, sc2))
    assert plan2.sites[0].covered  # biscuits make up for the missing rice


def test_the_shift_limit_holds_in_the_greedy_plan():
    """With a 40-minute shift every vehicle can make only a short day (h: one trip to A;
    e's yard is 10 min from P): the greedy plan keeps every day within 40 minutes."""
    sc = build(yard(drivers={"max_shift_min": 40}))
    plan = greedy_baseline(sc)
    assert check(plan, sc).ok, str(check(plan, sc))
    assert all(r.end_min - r.start_min <= 40 for r in plan.routes)


def test_schema_export_covers_scenario_and_plan(tmp_path):
    """`relief plan --schema` prints one JSON Schema with the scenario and plan models,
    including the v2 fields."""
    from typer.testing import CliRunner

    from relief.app.cli import app

    result = CliRunner().invoke(app, ["plan", "--schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    defs = schema["$defs"]
    assert {"contract_version", "bases"} <= set(defs["Scenario"]["properties"])
    assert {"loads_at", "base", "fixed_cost"} <= set(defs["Vehicle"]["properties"])
    assert {"contract_version"} <= set(defs["Plan"]["properties"])
    assert {"gap", "bounds", "needs", "status_reason"} <= set(defs["Summary"]["properties"])
    assert len(schema["anyOf"]) == 2


def test_stock_at_several_sources_is_shared_by_their_vehicles():
    """A vehicle loading at any source draws on that source's stock like the home trucks:
    two trips that together load more than Q holds break the stock rule."""
    data = yard()
    data["sources"][1]["stock"] = {"kit": 4}
    route, sc = e_route(data)
    assert "stock" in codes(build_plan(sc, [route]), sc)


def test_a_base_or_loads_at_must_name_known_places():
    """Unknown bases and loads_at sources are errors at their field; a base id may not be a
    source id too."""
    data = yard()
    data["vehicles"][1]["base"] = "nowhere"
    data["vehicles"][1]["loads_at"] = ["P", "X"]
    data["bases"].append({"id": "P", "lat": 32.0, "lon": 120.9})
    with pytest.raises(ScenarioError) as exc:
        load_scenario(json.dumps(data))
    paths = {i.path for i in exc.value.issues}
    assert {"vehicles[1].base", "vehicles[1].loads_at[1]", "bases[1].id"} <= paths


def test_network_places_bases_after_the_sites():
    """Bases get matrix rows after the sites; `network.sites` slices only the sites."""
    sc = build(yard())
    net = build_network(sc)
    assert net.place_loc("Y") == 4 and net.place_loc("P") == 0
    assert net.minutes()[net.place_loc("Y"), net.source_loc("P")] == 10
    assert net.minutes()[0, net.sites].shape == (2,)


@pytest.mark.parametrize("km", [5, 15])
def test_day_schedules_always_pass_the_checker(km):
    """Schedules built by timing.Day pass check_day under tight driver rules and per-tonne
    unloading, with a second depot at ``km``."""
    data = yard(drivers={"max_shift_min": 400, "max_drive_min": 50, "break_min": 20},
                unload_min_per_t=300.0)
    data["sources"].append(source("R", km, {"water": 50, "kit": 50}, load_min=5))
    data["sites"].append(site("C", 40, 10, demand={"water": 3}, service_min=3))
    sc = build(data)
    net = build_network(sc)
    trips = [("R", [("C", {"water": 3})]), ("P", [("A", {"water": 5})]),
             ("R", [("B", {"kit": 3}), ("A", {"kit": 2})])]
    route = schedule_route(sc, net, sc.vehicle_map["e#1"], trips)
    plan = build_plan(sc, [route])
    assert check(plan, sc).ok, str(check(plan, sc))
    assert plan.routes[0].longest_drive_min <= 50
