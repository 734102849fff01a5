"""Planning jobs on a queue: enqueued with their row or not at all, one owner at a time under a
lease, taken over when the owner dies, cancellable, capped, and short jobs in their own lane.

The real engine plans every job (in-process, or ``python -m dispatch.worker``); where a test
needs a job that stays running, the engine's answer is held back until the test releases it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from dispatch.flows import (
    PlanExecutor,
    PlanningStopped,
    PlanQueue,
    RunInCaller,
    TryLater,
    inline_planner,
    request_plan,
)
from dispatch.jobs import LocalPlans, QueuedPlans
from dispatch.models import DispatchPlan, JobStatus, PlanLane
from relief.app.main import create_app
from relief.platform import jobqueue, leases
from relief.platform.db import Database
from relief.platform.dbtypes import utcnow
from relief.platform.settings import Settings
from tests.world import QUILT, TENT, TODAY, WATER, Api, World

NEEDS = {"days": 1, "household_size": 3, "per_person": {QUILT: 1},
         "per_person_per_day": {WATER: 0.25}, "per_household": {TENT: 1}}
SITES = [("P-1", "西亭安置点", 32.10, 121.00, 60), ("P-2", "兴仁安置点", 32.12, 120.95, 45)]


@pytest.fixture
def stocked(world: World) -> World:
    """The world with stock and two trucks at the Tongzhou depot. The world app's own planning
    workers are stopped: each test runs the workers (or app) it is about."""
    world.client.app.state.runner.shutdown()
    world.receive("CTY", QUILT, 200, lot="Q-A")
    world.receive("CTY", TENT, 60, lot="T-A")
    world.receive("CTY", WATER, 80, lot="W-A", expiry=TODAY + timedelta(days=90))
    for plate in ("苏F-A1", "苏F-A2"):
        r = world.admin.post("/vehicles", {"plate": plate, "depot": "CTY", "capacity_kg": 5000,
                                           "capacity_m3": 30})
        assert r.status_code == 201, r.text
    return world


def _incident(api: Api, name: str = "测试洪涝") -> int:
    onset = (utcnow() - timedelta(minutes=30)).isoformat()
    r = api.post("/incidents", {"kind": "flood", "name": name, "onset": onset, "needs": NEEDS})
    assert r.status_code == 201, r.text
    incident = int(r.json()["id"])
    for code, site, lat, lon, people in SITES:
        s = api.post(f"/incidents/{incident}/sites", {"code": code, "name": site, "lat": lat,
                                                      "lon": lon, "people": people,
                                                      "reported_by": "王"})
        assert s.status_code == 201, s.text
    return incident


def _request(db: Database, settings: Settings, incident: int, queue: PlanQueue,
             limit: float = 2, actor: str = "dispatcher:test") -> int:
    job = db.write(lambda s: request_plan(s, incident_id=incident, time_limit_s=limit,
                                          actor=actor, settings=settings, queue=queue))
    assert job.id is not None
    return job.id


def _job(db: Database, plan_id: int) -> DispatchPlan:
    with db.read_session() as s:
        return s.execute(select(DispatchPlan).where(DispatchPlan.id == plan_id)).scalar_one()


class HeldPlanner:
    """The real engine, whose answer is held back until :meth:`release` (a job that stays
    running for as long as a test needs it)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self._release = threading.Event()

    def release(self) -> None:
        """Let held plans finish."""
        self._release.set()

    def __call__(self, scenario: dict[str, Any], limit: float, progress: Any,
                 stop: threading.Event) -> dict[str, Any]:
        self.started.set()
        while not self._release.wait(0.05):
            if stop.is_set():
                raise PlanningStopped("stopped while held")
        return inline_planner(scenario, limit, progress, stop)


def _wait(predicate: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Enqueued with the row, or not at all


def test_job_is_queued_in_the_transaction_of_its_row(stocked: World, settings: Settings,
                                                     backend: str) -> None:
    """PostgreSQL: the queue job is inserted on the same connection, inside the transaction:
    a rolled-back request leaves neither a plan row nor a queue job; a committed one both."""
    if backend != "postgresql":
        pytest.skip("the job queue is PostgreSQL's")
    db = stocked.db
    incident = _incident(stocked.dispatcher)
    queue = QueuedPlans(jobqueue.queue_app(settings.database_url))

    class Boom(Exception):
        pass

    def request_then_fail(session: Any) -> None:
        request_plan(session, incident_id=incident, time_limit_s=2, actor="d", settings=settings,
                     queue=queue)
        raise Boom

    with pytest.raises(Boom):
        db.write(request_then_fail)
    with db.read_session() as s:
        assert s.execute(select(DispatchPlan)).first() is None
        assert s.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar_one() == 0
    plan_id = _request(db, settings, incident, queue)
    with db.read_session() as s:
        rows = s.execute(text("SELECT id, queue_name, args->>'plan_id', status "
                              "FROM procrastinate_jobs")).all()
    job = _job(db, plan_id)
    assert [(r[0], r[1], int(r[2]), r[3]) for r in rows] == [
        (job.queue_job_id, "plans-urgent", plan_id, "todo")]


def test_local_queue_hands_a_job_over_only_when_it_commits(stocked: World,
                                                          settings: Settings) -> None:
    """The in-process queue (SQLite's) runs a job once its transaction commits and never one
    whose transaction rolled back; a queued job left by a crash is picked up by the sweep."""
    db = stocked.db
    incident = _incident(stocked.dispatcher)
    executor = PlanExecutor(db, settings, owner="local", planner=inline_planner)
    local = LocalPlans(db, executor, settings)
    try:
        with pytest.raises(ZeroDivisionError):
            db.write(lambda s: (request_plan(s, incident_id=incident, time_limit_s=2,
                                             actor="d", settings=settings, queue=local), 1 / 0))
        assert local.sweep() == 0
        plan_id = _request(db, settings, incident, local)
        _wait(lambda: _job(db, plan_id).status == JobStatus.succeeded)
        # A job committed while no process ran it (RunInCaller: nobody hands it over).
        orphan = _request(db, settings, incident, RunInCaller())
        assert _job(db, orphan).status == JobStatus.queued
        assert local.sweep() == 1
        _wait(lambda: _job(db, orphan).status == JobStatus.succeeded)
    finally:
        local.stop()


def test_the_sweep_takes_over_a_running_job_whose_lease_lapsed_or_was_never_set(
        stocked: World, settings: Settings) -> None:
    """A planning job left ``running`` by a process that died (its lease in the past) or
    that never set its lease is handed out again by the sweep (the platform's one sweep
    condition, ``leases.stalled``) and finishes; one whose lease is still live is not."""
    db = stocked.db
    incident = _incident(stocked.dispatcher)
    executor = PlanExecutor(db, settings, owner="local", planner=inline_planner)
    local = LocalPlans(db, executor, settings)
    try:
        lapsed, unset, live = (_request(db, settings, incident, RunInCaller()) for _ in range(3))
        past, future = utcnow() - timedelta(minutes=5), utcnow() + timedelta(minutes=5)
        for plan_id, until in ((lapsed, past), (unset, None), (live, future)):
            db.write(lambda s, plan_id=plan_id, until=until: s.execute(
                update(DispatchPlan).where(DispatchPlan.id == plan_id).values(
                    status=JobStatus.running, lease_owner="dead", lease_until=until)))
        assert local.sweep() == 2
        _wait(lambda: _job(db, lapsed).status == JobStatus.succeeded
              and _job(db, unset).status == JobStatus.succeeded)
        assert _job(db, live).status == JobStatus.running
    finally:
        local.stop()


# ---------------------------------------------------------------------------------------------
# One owner at a time


def test_two_workers_never_run_one_job(stocked: World, settings: Settings) -> None:
    """While one worker holds a job's lease, another's delivery of it is refused (TryLater)
    and only the owner's result is stored; of many simultaneous claims exactly one wins."""
    db = stocked.db
    incident = _incident(stocked.dispatcher)
    held = HeldPlanner()
    first = PlanExecutor(db, settings, owner="worker-a", planner=held)
    second = PlanExecutor(db, settings, owner="worker-b", planner=inline_planner)
    plan_id = _request(db, settings, incident, RunInCaller())
    runner = threading.Thread(target=first.run, args=(plan_id,))
    runner.start()
    assert held.started.wait(60)
    with pytest.raises(TryLater):
        second.run(plan_id)
    held.release()
    runner.join(60)
    job = _job(db, plan_id)
    assert (job.status, job.lease_owner, job.attempts) == (JobStatus.succeeded, "worker-a", 1)
    assert second.run(plan_id).ran is False  # finished: a late delivery does nothing

    racing = _request(db, settings, incident, RunInCaller())
    claimers = [PlanExecutor(db, settings, owner=f"w{i}") for i in range(6)]
    claims: list[Any] = []
    threads = [threading.Thread(target=lambda e=e: claims.append(e.claim(racing)))
               for e in claimers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [c for c in claims if c is not None]
    assert len(won) == 1 and _job(db, racing).lease_owner == won[0].owner


def test_a_dead_workers_job_is_taken_over_and_its_late_writes_change_nothing(
        stocked: World, settings: Settings) -> None:
    """A worker that claimed a job and died stops renewing its lease; once the lease lapses
    another worker claims it (attempt 2) and finishes it. Writes fenced on the dead owner's
    claim are then refused."""
    db = stocked.db
    incident = _incident(stocked.dispatcher)
    short = settings.model_copy(update={"plan_lease_s": 2.0})
    plan_id = _request(db, short, incident, RunInCaller())
    dead = PlanExecutor(db, short, owner="dead")
    claim = dead.claim(plan_id)
    assert claim is not None and claim.attempt == 1
    survivor = PlanExecutor(db, short, owner="survivor", planner=inline_planner)
    with pytest.raises(TryLater):
        survivor.run(plan_id)  # the lease is still alive
    time.sleep(2.5)
    outcome = survivor.run(plan_id)
    job = _job(db, plan_id)
    assert outcome.ran and job.status == JobStatus.succeeded
    assert (job.lease_owner, job.attempts) == ("survivor", 2)
    assert leases.renew(db, claim, short.plan_lease_s) is None
    assert not leases.update_held(db, claim, status=JobStatus.failed, error="late")
    assert _job(db, plan_id).status == JobStatus.succeeded


def test_killed_worker_process_job_is_retried_by_another(stocked: World, settings: Settings,
                                                          backend: str) -> None:
    """PostgreSQL, real processes: two `relief worker`s; the one running the job is killed with
    SIGKILL (with its engine process); the other takes the job over and finishes it, once."""
    if backend != "postgresql":
        pytest.skip("workers on the job queue are PostgreSQL's")
    db = stocked.db
    incident = _incident(stocked.dispatcher)
    env = {**os.environ, "RELIEF_DATABASE_URL": settings.database_url, "RELIEF_PLAN_LEASE_S":
           "4", "RELIEF_PLAN_HEARTBEAT_S": "0.5", "RELIEF_LOG_FORMAT": "text"}
    queue = QueuedPlans(jobqueue.queue_app(settings.database_url))

    def worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "relief.app.cli", "worker"], env=env,
                                start_new_session=True, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    workers = [worker(), worker()]
    try:
        time.sleep(3)  # both listen
        plan_id = _request(db, settings, incident, queue, limit=20)
        _wait(lambda: _job(db, plan_id).lease_owner is not None, timeout=60)
        first_owner = _job(db, plan_id).lease_owner or ""
        victim = next(w for w in workers if f":{w.pid}:" in first_owner)
        os.killpg(victim.pid, signal.SIGKILL)  # the worker and its engine process
        victim.wait()
        assert _job(db, plan_id).status == JobStatus.running  # killed mid-job
        _wait(lambda: _job(db, plan_id).status in {JobStatus.succeeded, JobStatus.failed},
              timeout=120)
        job = _job(db, plan_id)
        assert job.status == JobStatus.succeeded, job.error
        assert job.attempts == 2 and job.lease_owner != first_owner
        assert job.verdict and job.verdict["ok"]
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
                w.wait(30)


# ---------------------------------------------------------------------------------------------
# Cancel, caps, lanes (through the API)


def test_cancel_a_queued_and_a_running_job(stocked: World, settings: Settings) -> None:
    """A queued job is cancelled at once; a running one stops within seconds (its engine
    process is killed) and ends `cancelled`; a finished one cannot be cancelled (409)."""
    held = HeldPlanner()
    app = create_app(settings=settings.model_copy(update={"plan_long_slots": 1}),
                     database=stocked.db)
    app.state.runner.service.executor.planner = held
    with TestClient(app) as client:
        api = Api(client, stocked.dispatcher.token)
        incident = _incident(api)
        running = api.post(f"/incidents/{incident}/plans", {"time_limit_s": 2}).json()
        assert held.started.wait(60)
        queued = api.post(f"/incidents/{incident}/plans", {"time_limit_s": 2}).json()
        assert api.get(f"/incidents/{incident}/plans/{queued['id']}").json()["status"] \
            == "queued"
        r = api.post(f"/incidents/{incident}/plans/{queued['id']}/cancel")
        assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
        r = api.post(f"/incidents/{incident}/plans/{running['id']}/cancel")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "running" and r.json()["cancel_requested_at"]
        assert app.state.runner.wait(running["id"], timeout=30) == JobStatus.cancelled
        again = api.post(f"/incidents/{incident}/plans/{running['id']}/cancel")
        assert again.status_code == 409 and again.json()["error"]["code"] == "plan_job_finished"
        held.release()
        viewer = Api(client, stocked.viewer.token)
        assert viewer.post(f"/incidents/{incident}/plans/{queued['id']}/cancel"
                           ).status_code == 403


def test_caps_per_incident_and_per_user(stocked: World, settings: Settings) -> None:
    """Past the cap of active jobs per incident, and per user across incidents, a request gets
    429 `plan_cap_reached` naming the scope; cancelling one makes room."""
    held = HeldPlanner()
    capped = settings.model_copy(update={"plan_cap_per_incident": 2, "plan_cap_per_user": 3})
    app = create_app(settings=capped, database=stocked.db)
    app.state.runner.service.executor.planner = held
    with TestClient(app) as client:
        api = Api(client, stocked.dispatcher.token)
        one, two = _incident(api, "甲"), _incident(api, "乙")
        jobs = [api.post(f"/incidents/{one}/plans", {"time_limit_s": 2}) for _ in range(2)]
        assert [j.status_code for j in jobs] == [202, 202]
        third = api.post(f"/incidents/{one}/plans", {"time_limit_s": 2})
        assert third.status_code == 429
        assert third.json()["error"]["code"] == "plan_cap_reached"
        assert third.json()["error"]["details"] == {"scope": "incident", "active": 2, "cap": 2}
        assert api.post(f"/incidents/{two}/plans", {"time_limit_s": 2}).status_code == 202
        fourth = api.post(f"/incidents/{two}/plans", {"time_limit_s": 2})
        assert fourth.status_code == 429
        assert fourth.json()["error"]["details"]["scope"] == "user"
        other = Api(client, stocked.admin.token)  # another user still may
        assert other.post(f"/incidents/{two}/plans", {"time_limit_s": 2}).status_code == 202
        assert api.post(f"/incidents/{one}/plans/{jobs[1].json()['id']}/cancel"
                        ).status_code == 200
        assert api.post(f"/incidents/{one}/plans", {"time_limit_s": 2}).status_code == 202
        held.release()


def test_urgent_job_is_not_stuck_behind_long_ones(stocked: World, settings: Settings) -> None:
    """With the long lane's only slot busy and another long job waiting, a short job (urgent
    lane) is planned and finishes while the long one still runs."""
    held = HeldPlanner()
    lanes = settings.model_copy(update={"plan_urgent_slots": 1, "plan_long_slots": 1,
                                        "plan_urgent_limit_s": 10})
    app = create_app(settings=lanes, database=stocked.db)
    executor = app.state.runner.service.executor
    real = executor.planner

    def planner(scenario: dict[str, Any], limit: float, progress: Any,
                stop: threading.Event) -> dict[str, Any]:
        if limit > 10:
            return held(scenario, 2, progress, stop)  # a long job that stays running
        return real(scenario, limit, progress, stop)

    executor.planner = planner
    with TestClient(app) as client:
        api = Api(client, stocked.dispatcher.token)
        admin = Api(client, stocked.admin.token)
        incident = _incident(api)
        long_job = api.post(f"/incidents/{incident}/plans", {"time_limit_s": 600}).json()
        waiting = admin.post(f"/incidents/{incident}/plans", {"time_limit_s": 600}).json()
        assert held.started.wait(60)
        urgent = api.post(f"/incidents/{incident}/plans", {"time_limit_s": 2}).json()
        assert (long_job["lane"], urgent["lane"]) == (PlanLane.long, PlanLane.urgent)
        assert app.state.runner.wait(urgent["id"], timeout=60) == JobStatus.succeeded
        statuses = {j["id"]: api.get(f"/incidents/{incident}/plans/{j['id']}").json()["status"]
                    for j in (long_job, waiting)}
        assert statuses == {long_job["id"]: "running", waiting["id"]: "queued"}
        held.release()
        assert app.state.runner.wait(long_job["id"], timeout=60) == JobStatus.succeeded
        assert app.state.runner.wait(waiting["id"], timeout=60) == JobStatus.succeeded


def test_workers_report_started_only_once_registered_and_stop_at_once(
        db: Database, settings: Settings, backend: str) -> None:
    """``run_workers`` calls ``on_started`` once each lane's worker has registered (a worker
    cancelled while registering kept its loop waiting: an app stopped right after it started
    took the 32-second join timeout to stop); stopped right then, they end promptly."""
    if backend != "postgresql":
        pytest.skip("the job queue's workers are PostgreSQL's")
    app = jobqueue.queue_app(settings.database_url)
    registered: list[int] = []

    def count() -> int:
        with db.read_session() as s:
            return int(s.execute(text("SELECT count(*) FROM procrastinate_workers")).scalar_one())

    async def run() -> None:
        stop = asyncio.Event()

        def started() -> None:
            registered.append(count())
            stop.set()  # stop at once, as an app stopped right after it started does

        await asyncio.wait_for(jobqueue.run_workers(
            app, [jobqueue.Lane("urgent", 1), jobqueue.Lane("long", 1)], name="t",
            stop=stop, on_started=started), timeout=20)  # stuck: 32 s and more

    before = count()
    asyncio.run(run())
    assert registered == [before + 2]
    assert count() == before  # both unregistered on the way out
