"""The console's readiness view: a run from the form with progress, the county map data and
tables with the binding reason, the quota shortfall beside the scenario gap, and the library
editor showing errors at their fields."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from tests.dispatch.readiness.conftest import Ready, ready  # noqa: F401  (fixture)
from tests.web.conftest import Console
from tests.world import TENT

MakeConsole = Callable[[str | None], Console]
MAP = re.compile(r'<script type="application/json" id="map-data">(.*?)</script>', re.S)


def test_a_run_from_the_console_fills_the_map_and_the_tables(
        ready: Ready, console: MakeConsole) -> None:  # noqa: F811
    """Before a run the county shows "not run"; a dispatcher runs Tongzhou from the form, the
    progress fragment finishes, and the page shows its share, binding reason (tents) and the
    tent gap in units and tonnes; a viewer sees it but gets no run form."""
    ready.world.dispatcher.post("/readiness/scenarios", ready.scenario())
    viewer = console(ready.world.viewer.token)
    before = viewer.get("/console/readiness").text
    assert 'id="run-form"' not in before and "尚未评估" in before
    c = console(ready.world.dispatcher.token)
    posted = c.post("/console/readiness/runs", {"county": "320612", "time_limit_s": "2"})
    assert posted.status_code == 303, posted.text
    run_id = int(posted.headers["location"].split("run=")[1].split("#")[0])
    ready.world.client.app.state.readiness.wait("run", run_id, timeout=300)
    progress = c.get(f"/console/readiness/runs/{run_id}/progress").text
    assert 'data-status="succeeded"' in progress
    page = viewer.get("/console/readiness").text
    row = page.split('data-county="320612"')[1].split("</tr>")[0]
    assert "库存不足: 救灾帐篷" in row
    data = json.loads(MAP.search(page).group(1))
    county = next(x for x in data["counties"] if x["code"] == "320612")
    result = ready.world.viewer.get("/readiness/results").json()[0]
    assert county["share"] == result["coverage"] and county["band"] in ("warn", "bad", "ok")
    gap = page.split(f'data-county="320612" data-item="{TENT}"')[1].split("</tr>")[0]
    assert "11" in gap and "0.4" in gap  # 11 tents x 38 kg
    english = viewer.get("/console/readiness?lang=en").text
    assert "Stock: relief tent" in english.split('data-county="320612"')[1].split("</tr>")[0]
    # Each need's share is named in Chinese (an item's name, or the catalogue's need word).
    needs = re.findall(r'title="[^"]*">([^<]+?) \d+%</span>', page)
    assert needs and not any(n in ("bedding", "food", "shelter", "water") for n in needs)


def test_the_library_editor_saves_versions_and_shows_errors_at_their_fields(
        ready: Ready, console: MakeConsole) -> None:  # noqa: F811
    """A bad share is shown at its field and writes nothing; a good edit becomes version 2;
    the exercise button opens an incident with the scenario's sites."""
    ready.world.dispatcher.post("/readiness/scenarios", ready.scenario())
    c = console(ready.world.dispatcher.token)
    page = c.get("/console/readiness/scenarios/320612-typhoon").text
    assert 'id="edit-form"' in page and "320612101" in page
    form = {"name": "通州区台风(改)", "townships": ["320612101"], "displaced_share": "1.5",
            "displaced_basis": "assumption", "displaced_source": "x", "sheltered_share": "0.5",
            "sheltered_basis": "assumption", "sheltered_source": "y",
            "townships_source": "z", "deadline_hours": "10", "active": "on"}
    bad = c.post("/console/readiness/scenarios/320612-typhoon", form)
    assert bad.status_code == 422
    assert 'id="edit-displaced_share-error"' in bad.text
    assert ready.world.viewer.get("/readiness/scenarios/320612-typhoon").json()[
        "current_version"] == 1
    good = c.post("/console/readiness/scenarios/320612-typhoon",
                  {**form, "displaced_share": "0.02"})
    assert good.status_code == 303, good.text
    body = ready.world.viewer.get("/readiness/scenarios/320612-typhoon").json()
    assert body["current_version"] == 2 and body["current"]["people"] == 400
    assert [t["code"] for t in body["current"]["townships"]] == ["320612101"]
    opened = c.post("/console/readiness/scenarios/320612-typhoon/exercise", {})
    assert opened.status_code == 303 and opened.headers["location"].startswith(
        "/console/incidents/")
    incident = opened.headers["location"].rsplit("/", 1)[1]
    sites = ready.world.viewer.get(f"/incidents/{incident}").json()["sites"]
    assert sorted((s["code"], s["people"]) for s in sites) == [
        ("320612101", 200), ("320612101-S", 200)]
    viewer = console(ready.world.viewer.token)
    assert viewer.post("/console/readiness/scenarios/320612-typhoon", form).status_code == 403


def test_advice_from_the_console_with_before_after_and_accept_once(
        ready: Ready, console: MakeConsole) -> None:  # noqa: F811
    """A dispatcher asks for advice from the form; its page shows the engine's before/after
    and the draft transfer; the sending depot's manager accepts it once (a second click
    changes nothing); a bad budget is shown at its field."""
    from sqlalchemy import func, select, update

    from supplies.models import Depot, Transfer

    world = ready.world
    world.db.write(lambda s: s.execute(update(Depot).where(Depot.code.in_(["CTY", "CITY"]))
                                       .values(floor_area_m2=500.0)))
    world.receive("TWN", TENT, 30, lot="T-TWN")
    world.dispatcher.post("/readiness/scenarios", ready.scenario())
    c = console(world.dispatcher.token)
    bad = c.post("/console/readiness/advice", {"budget_t": "-1", "horizon_days": "0"})
    assert bad.status_code == 422 and 'id="advice-budget_t-error"' in bad.text
    posted = c.post("/console/readiness/advice", {"budget_t": "2", "horizon_days": "0",
                                                  "purchase_t": "0"})
    assert posted.status_code == 303, posted.text
    advice_id = int(posted.headers["location"].rsplit("/", 1)[1])
    world.client.app.state.readiness.wait("advice", advice_id, timeout=300)
    manager = console(world.manager.token)
    page = manager.get(f"/console/readiness/advice/{advice_id}").text
    assert 'data-scenario="320612-typhoon"' in page and "100.0%" in page
    row = page.split('data-seq="1"')[1].split("</tr>")[0]
    assert "TWN" in row and "/orders/1/accept" in row

    def transfers() -> int:
        with world.db.read_session() as s:
            return s.execute(select(func.count()).select_from(Transfer)).scalar_one()

    accepted = manager.post(f"/console/readiness/advice/{advice_id}/orders/1/accept", {})
    assert accepted.status_code == 303, accepted.text
    count = transfers()
    assert count >= 1
    again = manager.post(f"/console/readiness/advice/{advice_id}/orders/1/accept", {})
    assert again.status_code == 303 and transfers() == count
    done = manager.get(f"/console/readiness/advice/{advice_id}?done=accepted").text
    assert 'data-state="accepted"' in done and "已确认。" in done
