"""Planning jobs: build the scenario from live data, run the engine outside the request, store
the plan, the scenario it used and the checker's verdict.

A job is a ``dispatch_plan`` row. ``POST /incidents/{id}/plans`` queues one and answers 202;
a :class:`PlanRunner` thread of the API process picks it up. The engine itself runs in a
separate Python process (``python -m dispatch.worker``), so a long solve never holds the API
process's interpreter, and a crash of the solver fails the job instead of the server. Progress
lines from the worker update the job's phase and fraction. When the API restarts, jobs left
running are marked failed ("interrupted") and queued ones are picked up again.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dispatch import live
from dispatch.execution import get_plan
from dispatch.models import DispatchPlan, JobStatus
from dispatch.planning.plan import Plan, check
from dispatch.planning.problem import ScenarioError, load_scenario
from dispatch.service import open_incident
from relief.platform.db import Database
from relief.platform.dbtypes import utcnow
from relief.platform.errors import ReliefError
from relief.platform.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
Planner = Callable[[dict[str, Any], float, Progress], dict[str, Any]]
# Depot id -> minutes after a call before its stock can leave (provincial depots).
LeadTimes = Callable[[Session, date], dict[int, int]]

# Grace on top of the time limit before a silent worker is killed.
WORKER_GRACE_S = 120.0


class PlanningFailed(Exception):
    """The engine could not produce a plan; the message says why."""


def request_plan(session: Session, *, incident_id: int, time_limit_s: float, actor: str
                 ) -> DispatchPlan:
    """Queue a planning job for an open incident."""
    incident = open_incident(session, incident_id)
    job = DispatchPlan(incident_id=incident.id or 0, time_limit_s=time_limit_s,
                       requested_by=actor)
    session.add(job)
    session.flush()
    return job


def subprocess_planner(scenario: dict[str, Any], time_limit_s: float, progress: Progress
                       ) -> dict[str, Any]:
    """Run the engine in ``python -m dispatch.worker`` and return its plan JSON."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatch.worker", "--time-limit", str(time_limit_s)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    killer = threading.Timer(time_limit_s + WORKER_GRACE_S, proc.kill)
    killer.start()
    stderr: list[str] = []
    drain = threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
    drain.start()
    try:
        proc.stdin.write(json.dumps(scenario))
        proc.stdin.close()
        plan: dict[str, Any] | None = None
        for line in proc.stdout:
            message = json.loads(line)
            if "progress" in message:
                progress(message["progress"]["phase"], float(message["progress"]["fraction"]))
            elif "plan" in message:
                plan = message["plan"]
        code = proc.wait()
    finally:
        killer.cancel()
    drain.join(timeout=5)
    if code != 0 or plan is None:
        tail = "".join(stderr)[-1500:].strip()
        raise PlanningFailed(f"planning worker exited with {code}: {tail or 'no output'}")
    return plan


def inline_planner(scenario: dict[str, Any], time_limit_s: float, progress: Progress
                   ) -> dict[str, Any]:
    """Run the engine in this process (the CLI uses it; the API uses the subprocess)."""
    from dispatch.planning.solve import SolveParams, solve

    parsed = load_scenario(json.dumps(scenario))
    plan = solve(parsed, SolveParams(time_limit_s=time_limit_s), progress=progress)
    return plan.model_dump(mode="json")


class PlanRunner:
    """Runs queued planning jobs on a small thread pool of the API process."""

    def __init__(self, db: Database, settings: Settings, planner: Planner | None = None,
                 workers: int = 1, lead_times: LeadTimes | None = None) -> None:
        self.db = db
        self.settings = settings
        self.planner = planner or subprocess_planner
        self.lead_times = lead_times
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="plan")
        self._futures: dict[int, Future[None]] = {}

    def start(self) -> None:
        """Recover after a restart: fail jobs left running, pick queued ones up again."""
        def recover(session: Session) -> list[int]:
            session.execute(update(DispatchPlan).where(DispatchPlan.status == JobStatus.running)
                            .values(status=JobStatus.failed, finished_at=utcnow(),
                                    error="interrupted: the server stopped while planning"))
            return list(session.execute(select(DispatchPlan.id).where(
                DispatchPlan.status == JobStatus.queued).order_by(DispatchPlan.id)).scalars())

        for plan_id in self.db.write(recover):
            self.submit(plan_id)

    def submit(self, plan_id: int) -> None:
        """Run job ``plan_id`` in the background."""
        self._futures[plan_id] = self._pool.submit(self.run, plan_id)

    def wait(self, plan_id: int, timeout: float | None = None) -> None:
        """Block until a submitted job has finished (tests and the CLI)."""
        future = self._futures.get(plan_id)
        if future is not None:
            future.result(timeout=timeout)

    def shutdown(self) -> None:
        """Stop taking jobs; running ones finish."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def run(self, plan_id: int) -> None:
        """Run one job to completion, recording success or the reason for failure."""
        if not self.db.write(lambda s: _claim(s, plan_id)):
            return
        try:
            self._run(plan_id)
        except (ReliefError, ScenarioError, PlanningFailed) as exc:
            self._fail(plan_id, str(exc))
        except Exception as exc:
            log.exception("planning job %s crashed", plan_id)
            self._fail(plan_id, f"{type(exc).__name__}: {exc}")

    def _run(self, plan_id: int) -> None:
        now = utcnow()
        with self.db.read_session() as session:
            job = get_plan(session, plan_id)
            incident = open_incident(session, job.incident_id)
            today = self.settings.today()
            leads = self.lead_times(session, today) if self.lead_times else None
            built = live.build(session, incident, now=now, today=today, lead_minutes=leads,
                               time_limit_s=job.time_limit_s)
            time_limit = job.time_limit_s
        scenario = load_scenario(json.dumps(built.scenario))
        sources = {sid: vars(info) for sid, info in built.sources.items()}
        self.db.write(lambda s: _store(s, plan_id, scenario=built.scenario, sources=sources,
                                       as_of_min=built.as_of_min, phase="planning"))
        if not scenario.sites:
            raise PlanningFailed("nothing is missing: every site's needs are delivered or "
                                 "on the way")
        last = [0.0]

        def progress(phase: str, fraction: float) -> None:
            if time.monotonic() - last[0] < 0.5 and fraction < 1:
                return
            last[0] = time.monotonic()
            self.db.write(lambda s: s.execute(update(DispatchPlan).where(
                DispatchPlan.id == plan_id).values(phase=phase, progress=min(1.0, fraction))))

        plan_json = self.planner(built.scenario, time_limit, progress)
        plan = Plan.model_validate(plan_json)
        report = check(plan, scenario)
        verdict = {"ok": report.ok,
                   "violations": [{"code": v.code, "path": v.path, "message": v.message}
                                  for v in report.violations]}
        self.db.write(lambda s: _finish(s, plan_id, plan_json, verdict))

    def _fail(self, plan_id: int, reason: str) -> None:
        self.db.write(lambda s: s.execute(update(DispatchPlan).where(
            DispatchPlan.id == plan_id).values(status=JobStatus.failed, error=reason[:2000],
                                               finished_at=utcnow())))


def _claim(session: Session, plan_id: int) -> bool:
    claimed = session.execute(update(DispatchPlan).where(
        DispatchPlan.id == plan_id, DispatchPlan.status == JobStatus.queued).values(
        status=JobStatus.running, started_at=utcnow(), phase="scenario", progress=0.0))
    return bool(claimed.rowcount)


def _store(session: Session, plan_id: int, **values: Any) -> None:
    session.execute(update(DispatchPlan).where(DispatchPlan.id == plan_id).values(**values))


def _finish(session: Session, plan_id: int, plan_json: dict[str, Any], verdict: dict[str, Any]
            ) -> None:
    session.execute(update(DispatchPlan).where(DispatchPlan.id == plan_id).values(
        status=JobStatus.succeeded, result=plan_json, verdict=verdict, phase="done",
        progress=1.0, finished_at=utcnow()))
