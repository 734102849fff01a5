"""Re-planning and late stops on the desk, over HTTP, on both databases: the plan form offers
"re-optimise everything not yet departed" once a plan is approved and passes it to the
planning job; the result says how many trips approval will re-plan; the desk's timing
fragment flags the stops of approved trips that are now late, with their shipments and loads
(tests/world.py network around 通州)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dispatch.models import Shipment
from relief.platform.dbtypes import utcnow
from relief.platform.settings import Settings
from tests.web.conftest import Console
from tests.world import QUILT, TENT, WATER, World

NEEDS = {"days": 1, "household_size": 3, "per_person": {QUILT: 1},
         "per_person_per_day": {WATER: 0.25}, "per_household": {TENT: 1}}
SITES = [("P-1", "西亭安置点", 32.10, 121.00, 60), ("P-2", "兴仁安置点", 32.12, 120.95, 45),
         ("P-3", "金沙安置点", 32.07, 121.08, 30)]


@pytest.fixture
def desk(world: World, settings: Settings) -> Iterator[tuple[World, Console]]:
    """Stock at CTY for several rounds, two small trucks; the app plans in-process; a console
    client of the dispatcher."""
    world.receive("CTY", QUILT, 600, lot="Q-A")
    world.receive("CTY", TENT, 200, lot="T-A")
    world.receive("CTY", WATER, 300, lot="W-A")
    for plate in ("苏F-A1", "苏F-A2"):
        assert world.admin.post("/vehicles", {"plate": plate, "depot": "CTY",
                                              "capacity_kg": 1500, "capacity_m3": 12}
                                ).status_code == 201
    assert settings.planner == "inline"  # the world's app plans in the test's process
    console = Console(world.client)
    assert console.login(world.dispatcher.token).status_code == 303
    yield world, console


def _approved_incident(world: World) -> int:
    api = world.dispatcher
    incident = api.post("/incidents", {"kind": "flood", "name": "通州内涝",
                                       "onset": (utcnow() - timedelta(minutes=30)).isoformat(),
                                       "needs": NEEDS}).json()["id"]
    for code, name, lat, lon, people in SITES:
        assert api.post(f"/incidents/{incident}/sites", {
            "code": code, "name": name, "lat": lat, "lon": lon, "people": people,
            "reported_by": "灾害信息员 王"}).status_code == 201
    job = api.post(f"/incidents/{incident}/plans", {"time_limit_s": 2}).json()
    world.client.app.state.runner.wait(job["id"], timeout=120)
    assert api.post(f"/incidents/{incident}/plans/{job['id']}/approve").status_code == 200
    return int(incident)


def test_the_desk_flags_stops_made_late_and_says_so_in_chinese(
        desk: tuple[World, Console]) -> None:
    """With every approved trip on time the timing fragment says so; a trip that left three
    hours late has each pending stop flagged (late or past the deadline) with its trip,
    vehicle, expected arrival and load, and an alert counts the stops and trips."""
    world, c = desk
    incident = _approved_incident(world)
    page = c.get(f"/console/incidents/{incident}").text
    assert f'hx-get="/console/incidents/{incident}/timing" hx-trigger="load"' in page
    calm = c.get(f"/console/incidents/{incident}/timing").text
    assert 'id="timing-ok">所有待送达站点均可按计划送达。<' in calm
    trip = world.dispatcher.get(f"/incidents/{incident}/shipments").json()[0]
    assert world.dispatcher.post(f"/shipments/{trip['id']}/depart").status_code == 200

    def late(session: Any) -> None:
        row = session.execute(select(Shipment).where(Shipment.id == trip["id"])).scalar_one()
        row.departed_at = utcnow() + timedelta(hours=3)
        session.add(row)

    world.db.write(late)
    flagged = c.get(f"/console/incidents/{incident}/timing").text
    rows = re.findall(r'<tr class="(?:bad|warn)" data-shipment="(\d+)" data-status="(\w+)">',
                      flagged)
    # Its stops, and those of the truck's later trips (they start later too), are flagged.
    same_truck = {t["id"] for t in world.dispatcher.get(f"/incidents/{incident}/shipments"
                                                        ).json()
                  if t["vehicle"] == trip["vehicle"] and t["id"] >= trip["id"]}
    assert sum(int(s) == trip["id"] for s, _ in rows) == len(trip["stops"])
    assert {int(s) for s, _ in rows} <= same_truck
    assert {st for _, st in rows} <= {"late", "past_deadline"}
    alert = re.search(r'id="timing-alert">([^<]+)<', flagged).group(1)
    trips = len({s for s, _ in rows})
    assert alert == f"{len(rows)} 个站点受影响,涉及 {trips} 个运输任务:请调整或重新规划。"
    assert "晚 " in flagged and "分钟" in flagged  # the delay, in Chinese
    assert trip["vehicle"] in flagged and "棉被" in flagged
    english = c.get(f"/console/incidents/{incident}/timing?lang=en").text
    assert "trips: adjust or re-plan." in english


def test_reoptimise_from_the_plan_form(desk: tuple[World, Console]) -> None:
    """Once a plan is approved the form offers re-optimisation; ticked, the job re-plans the
    trips not yet departed, and its result says how many trips approval will re-plan."""
    world, c = desk
    incident = _approved_incident(world)
    page = c.get(f"/console/incidents/{incident}").text
    assert 'name="reoptimise" value="true" id="plan-reoptimise"' in page
    waiting = [t["id"] for t in world.dispatcher.get(f"/incidents/{incident}/shipments").json()]
    r = c.post(f"/console/incidents/{incident}/plans", {"time_limit_s": "2",
                                                        "reoptimise": "true"})
    assert r.status_code == 303
    plan = int(re.search(r"plan=(\d+)", r.headers["location"]).group(1))
    world.client.app.state.runner.wait(plan, timeout=120)
    job = world.dispatcher.get(f"/incidents/{incident}/plans/{plan}").json()
    assert job["reoptimise"] and sorted(job["supersedes"]) == sorted(waiting)
    result = c.get(f"/console/incidents/{incident}?plan={plan}").text
    note = re.search(r'id="plan-reoptimise-note">([^<]+)<', result).group(1).strip()
    assert note == f"重新优化方案:批准时将取消并重新安排 {len(waiting)} 个尚未出发的运输任务。"
    assert '<span class="pill reopt">重新优化</span>' in result


def test_a_replan_shows_the_true_reason_of_what_stays_unmet(
        desk: tuple[World, Console]) -> None:
    """After a head count rises beyond what the stock and the busy trucks can bring, the
    re-plan's result shows the diagnosis' sentence (in Chinese) and each unmet line with the
    diagnosis' reason (a fleet held by approved trips is not "no stock")."""
    world, c = desk
    incident = _approved_incident(world)
    trip = world.dispatcher.get(f"/incidents/{incident}/shipments").json()[0]
    assert world.dispatcher.post(f"/shipments/{trip['id']}/depart").status_code == 200
    assert world.dispatcher.post(f"/incidents/{incident}/sites/P-1/head-counts",
                                 {"people": 900, "reported_by": "灾害信息员 李"}
                                 ).status_code == 201
    r = c.post(f"/console/incidents/{incident}/plans", {"time_limit_s": "2"})
    plan = int(re.search(r"plan=(\d+)", r.headers["location"]).group(1))
    world.client.app.state.runner.wait(plan, timeout=120)
    job = world.dispatcher.get(f"/incidents/{incident}/plans/{plan}?full=true").json()
    diagnosis = job["diagnosis"]
    assert diagnosis["unmet"], job["status"]
    page = c.get(f"/console/incidents/{incident}?plan={plan}").text
    shown = re.search(r'id="plan-diagnosis">([^<]+)<', page).group(1).strip()
    assert shown == diagnosis["message_zh"]  # rendered from the stored key and parameters
    assert diagnosis["key"].startswith("diag.") and diagnosis["params"]["total"] >= 1
    english = c.get(f"/console/incidents/{incident}?plan={plan}&lang=en").text
    assert re.search(r'id="plan-diagnosis">([^<]+)<', english).group(1).strip() == \
        diagnosis["message"].replace("'", "&#39;")
    table = page.split('id="unmet-table"')[1].split("</table>")[0]
    reasons = re.findall(r'<td class="num">[^<]+</td><td>([^<]+)</td></tr>', table)
    labels = {"fleet_busy": "有库存,但车辆被已批准的运输任务占用",
              "stock": "可达范围内库存不足", "fleet_time": "有库存但运力(车辆时间)不足",
              "lead_time": "有库存但来不及启用(准备时间)", "unreachable": "道路不可达"}
    assert sorted(reasons) == sorted(labels[u["reason"]] for u in diagnosis["unmet"])
