"""Readiness runs: the number a county shows is what a dispatcher's plan on the same scenario
covers (same engine, same live data); results keep their version and input digest; the
schedule queues one run per slot."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import select

from dispatch.flows import PlanExecutor, RunInCaller, inline_planner, request_plan
from dispatch.models import DispatchPlan
from dispatch.readiness import service
from dispatch.readiness.models import JobStatus, ReadinessResult, ReadinessRun, Trigger
from dispatch.readiness.runner import ReadinessRunner
from dispatch.readiness.scenario import digest
from dispatch.readiness.service import Engine
from relief.app.main import create_app
from relief.platform import leases
from relief.platform.settings import Settings
from tests.dispatch.readiness.conftest import Ready
from tests.world import TENT, TODAY


def _run(ready: Ready, **body: object) -> dict:
    r = ready.world.dispatcher.post("/readiness/runs", {"time_limit_s": 2, **body})
    assert r.status_code == 202, r.text
    done = ready.wait_run(r.json()["id"])
    assert done["status"] == "succeeded", done
    return done


def test_county_readiness_equals_a_dispatchers_plan_on_the_same_scenario(
        ready: Ready, settings: Settings) -> None:
    """Readiness for a scenario, then an exercise incident with the same sites planned by the
    dispatcher's planning job: same people, same people covered, same input digest."""
    api = ready.world.dispatcher
    assert api.post("/readiness/scenarios", ready.scenario()).status_code == 201
    run = _run(ready)
    [result] = ready.world.viewer.get(f"/readiness/runs/{run['id']}/results").json()
    assert result["people"] == 300 and result["checker_ok"]
    assert 0 < result["coverage"] < 1  # 51 tents needed, 40 in stock
    assert result["binding"] == {"reason": "stock", "item": TENT,
                                 "people": result["binding"]["people"],
                                 "qty": result["binding"]["qty"]}
    needs = {n["need"]: n for n in result["needs"]}
    # live plans count needs with substitutes (DEFAULT_STANDARD_V2): water, food, shelter
    # (tents), bedding (quilts)
    assert set(needs) == {"water", "food", "shelter", "bedding"}
    assert needs["bedding"]["people_covered"] == needs["bedding"]["people"] == 300
    assert needs["shelter"]["people"] == 150  # the sheltered half needs no tent

    exercise = api.post("/readiness/scenarios/320612-typhoon/exercise", {})
    assert exercise.status_code == 201, exercise.text
    incident = exercise.json()["id"]
    db = ready.world.db
    job = db.write(lambda s: request_plan(s, incident_id=incident, time_limit_s=2,
                                          actor="test", settings=settings,
                                          queue=RunInCaller()))
    PlanExecutor(db, settings, owner="test", planner=inline_planner).run(job.id)
    with db.read_session() as s:
        plan = s.execute(select(DispatchPlan).where(DispatchPlan.id == job.id)).scalar_one()
        assert plan.result is not None, plan.error
        summary = plan.result["summary"]
        assert plan.verdict["ok"]
        assert digest(plan.scenario) == result["inputs_digest"]
    assert summary["people"] == result["people"]
    assert summary["people_covered"] == result["people_covered"]
    assert summary["coverage"] == result["coverage"]
    county = next(c for c in ready.world.viewer.get("/readiness/counties").json()
                  if c["code"] == "320612")
    assert county["worst"]["coverage"] == summary["coverage"]
    tents = next(i for i in county["items"] if i["item"] == TENT)
    assert tents["scenario_gap"] == 11 and tents["scenario_gap_t"] == round(11 * 38 / 1000, 3)


def test_results_keep_their_version_and_inputs_and_show_the_trend(ready: Ready) -> None:
    """A second run on unchanged data has the same input digest; after an edit the next
    result runs the new version; after stock arrives the digest changes and the trend shows
    every result, newest first."""
    api = ready.world.dispatcher
    api.post("/readiness/scenarios", ready.scenario())
    first = _run(ready, county="320612")
    second = _run(ready)
    trend = ready.world.viewer.get("/readiness/scenarios/320612-typhoon/results").json()
    assert [t["run_id"] for t in trend] == [second["id"], first["id"]]
    assert trend[0]["inputs_digest"] == trend[1]["inputs_digest"]
    assert api.patch("/readiness/scenarios/320612-typhoon",
                     {"sheltered_share": 1.0}).status_code == 200
    ready.world.receive("CTY", TENT, 20, lot="T-B")
    third = _run(ready)
    [latest] = ready.world.viewer.get("/readiness/results").json()
    assert latest["run_id"] == third["id"] and latest["version"] == 2
    assert latest["inputs_digest"] != trend[0]["inputs_digest"]
    assert latest["coverage"] == 1.0 and latest["binding"] is None
    trend = ready.world.viewer.get("/readiness/scenarios/320612-typhoon/results").json()
    assert [t["version"] for t in trend] == [2, 1, 1]
    assert ready.world.viewer.post("/readiness/runs", {}).status_code == 403
    unknown = api.post("/readiness/runs", {"county": "320699"})
    assert unknown.status_code == 404 and unknown.json()["error"]["fields"][0]["field"] == "county"
    assert api.post("/readiness/runs", {"county": "320682"}).status_code == 409  # no scenario


def test_the_schedule_queues_one_run_per_slot(ready: Ready, settings: Settings) -> None:
    """Two runners (two API processes) ticking in the same slot queue one run between them;
    an empty library queues nothing."""
    db = ready.world.db
    engine = Engine(inline_planner)
    one = ReadinessRunner(db, engine, today=lambda: TODAY, interval_hours=24, time_limit_s=1)
    two = ReadinessRunner(db, engine, today=lambda: TODAY, interval_hours=24, time_limit_s=1)
    assert one.tick() is None  # empty library
    ready.world.dispatcher.post("/readiness/scenarios", ready.scenario())
    queued = one.tick()
    assert queued is not None and two.tick() is None and one.tick() is None
    one.wait("run", queued, timeout=300)
    run = ready.world.viewer.get(f"/readiness/runs/{queued}").json()
    assert run["trigger"] == "scheduled" and run["status"] == "succeeded", run
    assert run["finished_at"] is not None and run["done"] == run["total"] == 1
    one.shutdown()
    two.shutdown()


def test_processes_starting_never_fail_each_others_runs(ready: Ready, settings: Settings) -> None:
    """A run that another process holds under a live lease stays running (same owner, same
    attempt) while two more API processes start and sweep; a run queued before they started
    is run exactly once between them."""
    ready.world.dispatcher.post("/readiness/scenarios", ready.scenario())
    db = ready.world.db
    held = db.write(lambda s: service.request_run(
        s, county=None, time_limit_s=1, trigger=Trigger.on_demand, actor="t",
        today=TODAY).id)
    queued = db.write(lambda s: service.request_run(
        s, county=None, time_limit_s=1, trigger=Trigger.on_demand, actor="t",
        today=TODAY).id)
    owner = "api@other-machine:77:alive"
    assert leases.claim(db, ReadinessRun, held, owner, lease_s=600) is not None
    inline = settings.model_copy(update={"planner": "inline", "readiness_interval_hours": 0.0})
    apps = [create_app(settings=inline, database=db) for _ in range(2)]
    with TestClient(apps[0]), TestClient(apps[1]):  # both start: sweeps, schedules
        for app in apps:
            app.state.jobs.sweep()
        apps[0].state.readiness.wait("run", queued, timeout=300)
        time.sleep(1.0)
        with db.read_session() as s:
            run = s.get_one(ReadinessRun, held)
            assert (run.status, run.lease_owner, run.attempts) == (JobStatus.running, owner, 1)
            done = s.get_one(ReadinessRun, queued)
            assert done.status == JobStatus.succeeded and done.attempts == 1
            assert len(s.execute(select(ReadinessResult.id).where(
                ReadinessResult.run_id == queued)).all()) == done.total
