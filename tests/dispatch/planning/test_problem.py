"""Scenario models and the loader: defaults, helpers, strict validation with path and line."""

from __future__ import annotations

import json

import pytest
from planning_scenarios import build, line, two_depots
from pydantic import ValidationError

from dispatch.planning.problem import (
    TIERS,
    RoadNetwork,
    ScenarioError,
    StraightNetwork,
    load_scenario,
    tier_rank,
)


def dumps(data: dict) -> str:
    """Pretty JSON, one key per line, so line numbers are predictable."""
    return json.dumps(data, indent=2)


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing needle."""
    hits = [k + 1 for k, ln in enumerate(text.splitlines()) if needle in ln]
    return hits[nth - 1]


def only_issue(exc: ScenarioError, path: str):
    """The single issue with this path (fails when absent)."""
    found = [i for i in exc.issues if i.path == path]
    assert found, f"no issue at {path}: {exc}"
    return found[0]


def test_defaults_follow_the_contract():
    """Omitted fields take the contract defaults: deadline 600, service 15, load 20, ready 0,
    straight network 1.3 / 50 km/h, full tier order, 30 s."""
    data = line()
    del data["deadline_min"], data["network"]
    for s in data["sites"]:
        s.pop("service_min")
    data["sources"][0].pop("load_min")
    sc = build(data)
    assert sc.deadline_min == 600
    assert sc.sites[0].service_min == 15
    assert sc.sources[0].load_min == 20 and sc.sources[0].ready_min == 0
    assert isinstance(sc.network, StraightNetwork)
    assert (sc.network.detour, sc.network.speed_kmh) == (1.3, 50.0)
    assert tuple(sc.policy.tier_order) == TIERS and sc.policy.time_limit_s == 30
    assert sc.vehicles[0].speed_factor == 1.0 and sc.vehicles[0].available_min == 0


def test_vehicle_count_expands_to_numbered_units():
    """A vehicle entry with count n becomes n vehicles <id>#1..n at the same source."""
    data = two_depots()
    data["vehicles"][0]["count"] = 3
    sc = build(data)
    assert [v.id for v in sc.expanded_vehicles()] == ["n#1", "n#2", "n#3", "f#1"]
    assert [v.id for v in sc.vehicles_of("F")] == ["f#1"]
    assert sc.vehicle_map["n#2"].source == "N"
    assert sc.vehicle_map["f#1"].speed_factor == 2.0


def test_lookups_and_tier_rank():
    """item()/site_map/source_map find by id; tier_rank follows the policy order and puts
    unlisted tiers after the listed ones."""
    data = two_depots()
    data["policy"] = {"tier_order": ["county", "township"]}
    sc = build(data)
    assert sc.item("kit").unit_kg == 2.0
    assert sc.site_map["Y"].people == 20 and sc.source_map["F"].tier == "county"
    assert sc.tier_rank("county") == 0 and sc.tier_rank("township") == 1
    assert sc.tier_rank("city") > sc.tier_rank("township")
    assert tier_rank("province", list(TIERS)) == 5


def test_unknown_source_of_vehicle_names_path_and_line():
    """A vehicle whose source does not exist fails at vehicles[k].source, on its line."""
    data = line()
    data["vehicles"][0]["source"] = "NOPE"
    text = dumps(data)
    with pytest.raises(ScenarioError) as err:
        load_scenario(text)
    issue = only_issue(err.value, "vehicles[0].source")
    assert issue.line == line_of(text, '"source": "NOPE"')
    assert "NOPE" in issue.message and "line" in str(err.value)


def test_duplicate_ids_are_rejected():
    """Duplicate site ids, item codes and expanded vehicle ids are errors at the duplicate."""
    data = line()
    data["sites"][2]["id"] = "A"
    data["items"][1]["code"] = "water"
    data["vehicles"].append({"id": "T", "source": "D", "capacity_kg": 1, "capacity_m3": 1})
    text = dumps(data)
    with pytest.raises(ScenarioError) as err:
        load_scenario(text)
    assert only_issue(err.value, "sites[2].id").line == line_of(text, '"id": "A"', 2)
    assert only_issue(err.value, "items[1].code").line == line_of(text, '"code": "water"', 2)
    assert only_issue(err.value, "vehicles[1].id")


def test_negative_and_non_integer_quantities_are_rejected():
    """Stock, people and demand must be non-negative integers; the path names the entry."""
    data = line()
    data["sources"][0]["stock"]["water"] = -1
    data["sites"][0]["people"] = 12.5
    text = dumps(data)
    with pytest.raises(ScenarioError) as err:
        load_scenario(text)
    assert only_issue(err.value, "sources[0].stock.water").line == line_of(text, '"water": -1')
    assert only_issue(err.value, "sites[0].people").line == line_of(text, '"people": 12.5')


def test_unknown_item_codes_in_stock_demand_and_needs():
    """Item codes in stock, explicit demand and the needs tables must be in items."""
    data = line()
    data["sources"][0]["stock"]["rice"] = 3
    data["sites"][1]["demand"]["soap"] = 1
    data["needs"] = {"per_household": {"tent": 1}}
    with pytest.raises(ScenarioError) as err:
        load_scenario(dumps(data))
    paths = {i.path for i in err.value.issues}
    assert {"sources[0].stock.rice", "sites[1].demand.soap", "needs.per_household.tent"} <= paths


def test_missing_default_items_when_no_needs_given():
    """Without needs, sites lacking an explicit demand need the default standard's items."""
    data = line()
    data["sites"][0].pop("demand")
    with pytest.raises(ScenarioError) as err:
        load_scenario(dumps(data))
    assert "default standard" in only_issue(err.value, "needs").message


def test_coordinates_must_be_in_range():
    """Latitude beyond 90 and longitude beyond 180 are errors at the field."""
    data = line()
    data["sites"][1]["lat"] = 91
    data["sources"][0]["lon"] = -181
    with pytest.raises(ScenarioError) as err:
        load_scenario(dumps(data))
    assert {"sites[1].lat", "sources[0].lon"} <= {i.path for i in err.value.issues}


def test_unknown_keys_are_rejected():
    """A misspelt key (capacity_kgs) is an error, not silently ignored."""
    data = line()
    data["vehicles"][0]["capacity_kgs"] = 5
    text = dumps(data)
    with pytest.raises(ScenarioError) as err:
        load_scenario(text)
    assert only_issue(err.value, "vehicles[0].capacity_kgs").line == line_of(text, "capacity_kgs")


def road(closed: list) -> dict:
    return {
        "mode": "road",
        "nodes": [
            {"id": 1, "lat": 32.0, "lon": 120.9},
            {"id": 2, "lat": 32.1, "lon": 120.9},
            {"id": 3, "lat": 32.2, "lon": 120.9},
        ],
        "edges": [
            {"a": 1, "b": 2, "km": 11.2, "speed_kmh": 60},
            {"a": 2, "b": 3, "km": 11.2, "speed_kmh": 60},
        ],
        "closed": closed,
    }


def test_road_network_with_integer_ids_and_closures():
    """Road networks accept integer node ids (stored as strings) and closed pairs in either
    orientation."""
    data = line()
    data["network"] = road([[3, 2]])
    sc = build(data)
    assert isinstance(sc.network, RoadNetwork)
    assert sc.network.nodes[0].id == "1" and sc.network.closed == [("3", "2")]


def test_closed_edge_must_exist_and_edges_need_known_nodes():
    """Closing a pair that is not an edge, or an edge to an unknown node, is an error; the
    path has no union tag in it."""
    data = line()
    data["network"] = road([[1, 3]])
    data["network"]["edges"].append({"a": 3, "b": 9, "km": 1, "speed_kmh": 30})
    text = dumps(data)
    with pytest.raises(ScenarioError) as err:
        load_scenario(text)
    closed = only_issue(err.value, "network.closed[0]")
    assert closed.line == line_of(text, '"closed"') + 1
    assert only_issue(err.value, "network.edges[2].b")


def test_road_field_errors_skip_the_union_tag():
    """A bad field inside the road network is reported as network.nodes[k].lat, not with
    pydantic's 'road' tag."""
    data = line()
    data["network"] = road([])
    data["network"]["nodes"][1]["lat"] = 123
    text = dumps(data)
    with pytest.raises(ScenarioError) as err:
        load_scenario(text)
    assert only_issue(err.value, "network.nodes[1].lat").line == line_of(text, '"lat": 123')


def test_malformed_json_reports_the_line():
    """A syntax error carries json's own line number."""
    text = dumps(line()).replace('"deadline_min": 100,', '"deadline_min": 100,,')
    with pytest.raises(ScenarioError) as err:
        load_scenario(text)
    assert err.value.issues[0].line == line_of(text, "deadline_min")


def test_duplicate_json_keys_are_reported():
    """A key repeated in one object (json.loads would keep the last) is an error at its line."""
    text = dumps(line()).replace(
        '"deadline_min": 100,', '"deadline_min": 100,\n  "deadline_min": 90,'
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(text)
    assert err.value.issues[0].path == "deadline_min"
    assert err.value.issues[0].line == line_of(text, '"deadline_min": 90')


def test_missing_field_points_at_the_enclosing_element():
    """A missing required field is named by path; the line is where its object starts."""
    data = line()
    del data["sites"][1]["lat"]
    text = dumps(data)
    with pytest.raises(ScenarioError) as err:
        load_scenario(text)
    issue = only_issue(err.value, "sites[1].lat")
    assert issue.line == line_of(text, '"id": "B"') - 1  # the line with the opening brace


def test_load_from_file_and_model_errors(tmp_path):
    """load_scenario reads a path; Scenario.model_validate raises pydantic's ValidationError."""
    path = tmp_path / "line.json"
    path.write_text(dumps(line()), encoding="utf-8")
    assert load_scenario(path).name == "line"
    assert load_scenario(str(path)).sites[2].id == "C"
    bad = line()
    bad["vehicles"][0]["source"] = "X"
    with pytest.raises(ValidationError):
        build(bad)
