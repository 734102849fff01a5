"""The dispatch desk over HTTP (no browser): incidents, sites and closures with errors at their
fields, planning with progress, the coverage table, approval (and its 409 when stock moved),
manifests and stop confirmation. The planning engine runs in-process. On both databases."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from relief.platform.settings import Settings
from tests.web.conftest import Console
from tests.world import QUILT, TENT, TODAY, WATER, World

MakeDesk = Callable[[str], Console]
FOOD = "1050103"
NEAR_TONGZHOU = [("P-1", "西亭安置点", "32.10", "121.00", "40"),
                 ("P-2", "金沙安置点", "32.07", "121.08", "25")]


@pytest.fixture
def desk(world: World, settings: Settings) -> Iterator[MakeDesk]:
    """Console clients of an app whose planner runs in-process; stock and vehicles at CTY."""
    world.receive("CTY", QUILT, 200, lot="Q-A")
    world.receive("CTY", TENT, 60, lot="T-A")
    world.receive("CTY", WATER, 80, lot="W-A", expiry=TODAY + timedelta(days=90))
    # The engine's default needs standard also asks for ready meals.
    food = world.admin.post("/items", {"code": FOOD, "name_zh": "自热米饭",
                                       "name_en": "ready meals", "category": "food",
                                       "unit": "箱", "unit_weight_kg": 5.5,
                                       "unit_volume_m3": 0.04, "shelf_life_days": 365})
    assert food.status_code == 201, food.text
    world.receive("CTY", FOOD, 40, lot="F-A", expiry=TODAY + timedelta(days=200))
    for plate in ("苏F-A1", "苏F-A2"):
        r = world.admin.post("/vehicles", {"plate": plate, "depot": "CTY", "capacity_kg": 5000,
                                           "capacity_m3": 30, "driver": "张师傅"})
        assert r.status_code == 201, r.text
    assert settings.planner == "inline"  # the world's app plans in the test's process
    app = world.client.app  # started by the world's client; one cookie jar per user below
    clients: list[TestClient] = []

    def make(token: str) -> Console:
        client = TestClient(app)
        clients.append(client)
        c = Console(client)
        assert c.login(token).status_code == 303
        return c

    yield make


def _open_incident(c: Console, name: str = "测试洪涝") -> int:
    r = c.post("/console/incidents", {"name": name, "kind": "flood", "deadline_hours": "10",
                                      "onset": ""})  # blank onset: now
    assert r.status_code == 303, r.text[-2000:]
    return int(r.headers["location"].rsplit("/", 1)[1])


def _add_points(c: Console, incident: int) -> None:
    for code, name, lat, lon, people in NEAR_TONGZHOU:
        r = c.post(f"/console/incidents/{incident}/sites", {
            "mode": "point", "code": code, "name": name, "lat": lat, "lon": lon,
            "people": people, "reported_by": "灾害信息员 王"})
        assert r.status_code == 303, r.text[-2000:]


def _plan(c: Console, incident: int) -> int:
    r = c.post(f"/console/incidents/{incident}/plans", {"time_limit_s": "2"})
    assert r.status_code == 303
    plan = int(re.search(r"plan=(\d+)", r.headers["location"]).group(1))
    c.client.app.state.runner.wait(plan, timeout=180)
    return plan


def _map_data(html: str) -> dict[str, Any]:
    raw = html.split('<script type="application/json" id="map-data">')[1].split("</script>")[0]
    return json.loads(raw)  # type: ignore[no-any-return]


def test_incident_sites_and_closures_show_errors_at_their_fields(world: World,
                                                                 desk: MakeDesk) -> None:
    """Opening an incident, adding sites (township, shelter or map point) and closing roads
    call the dispatch use cases; bad input comes back at the field."""
    c = desk(world.dispatcher.token)
    blank = c.post("/console/incidents", {"name": "", "kind": "flood"})
    assert blank.status_code == 422 and 'id="incident-name-error"' in blank.text
    incident = _open_incident(c)
    no_coords = c.post(f"/console/incidents/{incident}/sites", {
        "mode": "point", "code": "P-9", "name": "无坐标", "people": "10", "reported_by": "王"})
    assert no_coords.status_code == 422
    assert "地图选点须填写名称、纬度和经度" in no_coords.text
    river = c.post(f"/console/incidents/{incident}/sites", {
        "mode": "point", "code": "P-9", "name": "江心", "lat": "31.90", "lon": "120.90",
        "people": "10", "reported_by": "王"})
    assert river.status_code == 422
    assert 'id="site-lat-error">坐标 (31.9, 120.9) 在长江或海上,不在陆地上<' in river.text
    assert 'id="site-lon-error"' in river.text
    negative = c.post(f"/console/incidents/{incident}/sites", {
        "mode": "point", "code": "P-9", "name": "x", "lat": "32.1", "lon": "121", "people": "-5",
        "reported_by": "王"})
    assert negative.status_code == 422 and 'id="site-people-error"' in negative.text
    town = c.post(f"/console/incidents/{incident}/sites", {
        "mode": "township", "township": "320612101", "people": "10", "reported_by": "王"})
    assert town.status_code == 422 and 'id="site-township-error"' in town.text  # no coordinates
    _add_points(c, incident)
    hc = c.post(f"/console/incidents/{incident}/sites/P-2/head-counts",
                {"people": "30", "reported_by": "李"})
    assert hc.status_code == 303
    bad_edge = c.post(f"/console/incidents/{incident}/closures",
                      {"mode": "edge", "a": "NO-1", "b": "NO-2"})
    assert bad_edge.status_code == 422 and 'id="closure-a-error"' in bad_edge.text
    roads = world.viewer.get("/roads").json()
    edge = roads["edges"][0]
    assert c.post(f"/console/incidents/{incident}/closures",
                  {"mode": "edge", "a": edge["a"], "b": edge["b"], "reason": "淹没"}
                  ).status_code == 303
    polygon = [[32.05, 120.95], [32.05, 121.10], [32.15, 121.10], [32.15, 120.95]]
    assert c.post(f"/console/incidents/{incident}/closures",
                  {"mode": "polygon", "polygon": json.dumps(polygon), "reason": "积水"}
                  ).status_code == 303
    page = c.get(f"/console/incidents/{incident}").text
    data = _map_data(page)
    assert {s["code"]: s["people"] for s in data["sites"]} == {"P-1": 40, "P-2": 30}
    assert len(data["closures"]) == 2 and data["closures"][1]["polygon"] == polygon
    viewer = desk(world.viewer.token)
    assert viewer.post(f"/console/incidents/{incident}/plans", {"time_limit_s": "2"}
                       ).status_code == 403


def test_plan_with_progress_coverage_table_approve_manifest_and_delivery(
        world: World, desk: MakeDesk) -> None:
    """A plan's progress is polled until done; the desk then shows coverage beside the bound
    and baseline, a green or red row per site and the routes; approving creates trips whose
    manifest prints with the console session, and a stop is confirmed with a shortfall."""
    c = desk(world.dispatcher.token)
    incident = _open_incident(c)
    _add_points(c, incident)
    plan = _plan(c, incident)
    progress = c.get(f"/console/incidents/{incident}/plans/{plan}/progress",
                     headers={"HX-Request": "true"})
    # 286 stops htmx's polling; the fragment names the result page to open (no HX-Redirect,
    # whose every poll restarted the navigation).
    assert progress.status_code == 286 and "hx-redirect" not in progress.headers
    assert "hx-trigger" not in progress.text
    assert (f'data-next="/console/incidents/{incident}?plan={plan}&amp;done=planned'
            in progress.text)
    page = c.get(f"/console/incidents/{incident}?plan={plan}").text
    assert 'id="fig-coverage"' in page and 'id="fig-bound"' in page and 'id="fig-baseline"' in page
    rows = re.findall(r'data-site="(P-\d)" data-covered="(yes|no)"', page)
    assert sorted(code for code, _ in rows) == ["P-1", "P-2"]
    assert all('class="ok"' in page.split(f'data-site="{code}" data-covered')[0][-60:]
               for code, covered in rows if covered == "yes")
    # Routes run along the road graph: between the source and the stops, every point of the
    # line is a road node.
    routes = c.get(_map_data(page)["routes_url"]).json()["trips"]
    nodes = {(round(n["lat"], 5), round(n["lon"], 5))
             for n in world.viewer.get("/roads").json()["nodes"]}
    assert routes and all(len(t["path"]) >= len(t["stops"]) + 1 for t in routes)
    assert any(len(t["path"]) > len(t["stops"]) + 1 for t in routes)  # not straight lines
    for t in routes:
        stops_at = {tuple(p) for p in t["path"][-len(t["stops"]):]}
        inner = [tuple(p) for p in t["path"][1:] if tuple(p) not in stops_at]
        assert all(p in nodes for p in inner), t["vehicle"]

    approved = c.post(f"/console/incidents/{incident}/plans/{plan}/approve")
    assert approved.status_code == 303 and "done=approved" in approved.headers["location"]
    trips = world.viewer.get(f"/incidents/{incident}/shipments").json()
    assert trips and all(t["status"] == "planned" for t in trips)
    approved_routes = c.get(f"/console/incidents/{incident}/plans/{plan}/routes.json").json()
    assert {t["shipment"] for t in approved_routes["trips"]} == {t["id"] for t in trips}
    manifest = c.get(f"/console/shipments/{trips[0]['id']}/manifest")
    assert manifest.status_code == 200 and trips[0]["vehicle"] in manifest.text
    assert desk(world.viewer.token).get(f"/console/shipments/{trips[0]['id']}/manifest"
                                        ).status_code == 200

    trip = trips[0]
    assert c.post(f"/console/shipments/{trip['id']}/depart").status_code == 303
    stop = trip["stops"][0]
    line = stop["lines"][0]
    too_many = c.post(f"/console/shipments/{trip['id']}/stops/{stop['seq']}/confirm",
                      {f"delivered.{line['item']}": str(line["planned"] + 10_000)})
    assert too_many.status_code == 422
    field = f'confirm-{trip["id"]}-{stop["seq"]}-delivered-{line["item"]}'
    assert f'id="{field}-error"' in too_many.text
    delivered = {f"delivered.{x['item']}": str(x["planned"]) for x in stop["lines"]}
    delivered[f"delivered.{line['item']}"] = str(line["planned"] - 1)
    # A shortfall needs its reason (the form's select names the field when it is missing).
    no_reason = c.post(f"/console/shipments/{trip['id']}/stops/{stop['seq']}/confirm",
                       {**delivered, "note": "one wet"})
    assert no_reason.status_code == 422
    assert f'confirm-{trip["id"]}-{stop["seq"]}-error' in no_reason.text
    ok = c.post(f"/console/shipments/{trip['id']}/stops/{stop['seq']}/confirm",
                {**delivered, f"short_reasons.{line['item']}": "other", "note": "one wet"})
    assert ok.status_code == 303 and "done=confirmed" in ok.headers["location"]
    after = world.viewer.get(f"/shipments/{trip['id']}").json()
    confirmed = next(s for s in after["stops"] if s["seq"] == stop["seq"])
    assert confirmed["status"] == "delivered"
    assert sum(x["shortfall"] for x in confirmed["lines"]) == 1
    assert world.ledger_ok()
    # A re-plan's draft on show keeps the approved trips' coverage on the map (the legend's
    # "covered by approved trips"), beside what the draft itself would cover.
    second = _plan(c, incident)
    sites = _map_data(c.get(f"/console/incidents/{incident}?plan={second}").text)["sites"]
    assert all(site["approved"] in (True, False) for site in sites)
    assert any(site["approved"] for site in sites)  # the approved trips cover someone


def test_approval_after_stock_moved_lists_the_changes(world: World, desk: MakeDesk) -> None:
    """When stock left after planning, approval is refused (409) and the desk lists, per
    source and item, the planned load, the stock at planning and what is available now."""
    c = desk(world.dispatcher.token)
    incident = _open_incident(c)
    _add_points(c, incident)
    plan = _plan(c, incident)
    world.manager.post("/stock/issues", {"depot": "CTY", "item": QUILT, "quantity": 200,
                                         "reference": "elsewhere"})
    refused = c.post(f"/console/incidents/{incident}/plans/{plan}/approve")
    assert refused.status_code == 409
    assert 'id="approve-error"' in refused.text and 'id="approve-changes"' in refused.text
    changes = refused.text.split('id="approve-changes"')[1].split("</table>")[0]
    assert "CTY" in changes and QUILT in changes and '<td class="num expired">0</td>' in changes
    assert world.viewer.get("/stock/reservations", state="active").json()["total"] == 0


def test_a_failed_plan_says_why_in_chinese_first(world: World, desk: MakeDesk) -> None:
    """A plan of an incident with nothing missing fails; the reason is stored as its catalogue
    key, so the desk shows it in Chinese (English on the English page) and the API carries
    both texts, the key and its parameters."""
    c = desk(world.dispatcher.token)
    incident = _open_incident(c, "无缺口事件")
    plan = _plan(c, incident)
    page = c.get(f"/console/incidents/{incident}?plan={plan}").text
    error = page.split('id="plan-error">')[1].split("<")[0]
    assert error == "没有缺口:各受灾点的需求均已送达或在途"
    english = c.get(f"/console/incidents/{incident}?plan={plan}&lang=en").text
    assert ('id="plan-error">nothing is missing: every site&#39;s needs are delivered or on '
            'the way<') in english
    job = world.dispatcher.get(f"/incidents/{incident}/plans/{plan}").json()
    assert job["status"] == "failed" and job["error_key"] == "err.plan.nothing_missing"
    assert job["error_zh"] == error and job["error"].startswith("nothing is missing")
    assert job["error_params"] == {}
