"""Planning jobs: request and cancel them, and run one under a lease.

A job is a ``dispatch_plan`` row. :func:`request_plan` creates it and hands it to a
:class:`PlanQueue` **in the same transaction** (``dispatch.jobs`` has the two queues: the
PostgreSQL job queue, and this process's own threads on SQLite), after checking the caps on
jobs per incident and per user. Short jobs (time limit up to ``plan_urgent_limit_s``) wait in
the *urgent* lane, long ones in the *long* lane, and every worker keeps slots for each lane, so
a 5 s plan never waits behind ten 600 s ones.

:class:`PlanExecutor` runs one delivery of a job under the platform's lease on its row
(:mod:`relief.platform.leases`, as readiness runs, advice and import batches):

1. **claim**: one UPDATE takes the job if it is queued, or running under a lease that lapsed
   (its worker died); it becomes ``running`` with this worker as ``lease_owner``, a fresh
   ``lease_until`` and ``attempts`` + 1. A job whose lease is alive is never touched: the
   delivery raises :class:`TryLater` and the queue delivers it again later;
2. **heartbeat**: every ``plan_heartbeat_s`` the owner renews the lease with an UPDATE fenced on
   (owner, attempt); the same statement reads the cancel request. Losing the lease (someone
   else took over) or a cancel request stops the engine (the worker process is killed);
3. **build, solve, check, store**: the scenario from live data, the engine in a separate
   process (``python -m dispatch.worker``), the independent checker; every write is fenced on
   (owner, attempt), so a worker that lost its lease can never overwrite the new owner's job.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from dispatch import diagnosis, live
from dispatch.models import FINISHED, DispatchPlan, JobStatus, PlanLane
from dispatch.planning.plan import Plan, check
from dispatch.planning.problem import ScenarioError, load_scenario
from dispatch.record import get_plan, vehicle_map, verdict_of
from dispatch.service import open_incident
from relief.platform import leases
from relief.platform.audit import record
from relief.platform.db import Database
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict, JobFailed, ReliefError
from relief.platform.leases import TryLater
from relief.platform.settings import Settings
from relief.platform.statustext import StatusText

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]


class Planner(Protocol):
    """Runs the engine: scenario JSON, time limit, progress callback and (optionally) an event
    that stops it -> plan JSON."""

    def __call__(self, scenario: dict[str, Any], time_limit_s: float, progress: Progress,
                 stop: threading.Event | None = None) -> dict[str, Any]:
        """The plan JSON for ``scenario``."""


# Depot id -> minutes after a call before its stock can leave (provincial depots).
LeadTimes = Callable[[Session, date], dict[int, int]]

# Grace on top of the time limit before a silent worker is killed.
WORKER_GRACE_S = 120.0
ACTIVE = (JobStatus.queued, JobStatus.running)


class PlanningFailed(JobFailed):
    """The engine could not produce a plan; its catalogue key says why."""


def failure_text(exc: BaseException) -> StatusText:
    """Why a planning, readiness or advice job failed, as the key and parameters stored with
    it: a scenario's issues under ``status.scenario_invalid``, a keyed error's own key, else
    the exception's kind and message."""
    if isinstance(exc, ScenarioError):
        return StatusText.of("status.scenario_invalid", count=len(exc.issues),
                             issues="; ".join(str(i) for i in exc.issues))
    return StatusText.failure(exc)


class PlanningStopped(Exception):
    """The engine was stopped (cancel, lost lease or shutdown) before it finished."""


class PlanCapReached(ReliefError):
    """Too many planning jobs queued or running for the incident or for the user (429)."""

    status = 429
    code = "plan_cap_reached"


class PlanJobFinished(Conflict):
    """The job has already finished; there is nothing to cancel (409)."""

    code = "plan_job_finished"


class PlanQueue(Protocol):
    """Where requested jobs go; both calls run inside the caller's transaction."""

    def enqueue(self, session: Session, plan: DispatchPlan) -> None:
        """Queue the (flushed) job so it runs once the transaction commits."""

    def cancel(self, session: Session, plan: DispatchPlan) -> None:
        """Withdraw a queued job from the queue."""


def lane_for(time_limit_s: float, settings: Settings) -> PlanLane:
    """The lane of a job with this time limit."""
    return PlanLane.urgent if time_limit_s <= settings.plan_urgent_limit_s else PlanLane.long


def _active(session: Session, *conditions: Any) -> int:
    return int(session.execute(select(func.count()).select_from(DispatchPlan).where(
        DispatchPlan.status.in_(ACTIVE), *conditions)).scalar_one())


def _lock_user(session: Session, actor: str) -> None:
    """Serialise one user's job requests (PostgreSQL advisory lock; SQLite writes are serial)."""
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"relief.plan-requests:{actor}".encode())
        session.execute(select(func.pg_advisory_xact_lock(key)))


def request_plan(session: Session, *, incident_id: int, time_limit_s: float, actor: str,
                 settings: Settings, queue: PlanQueue, reoptimise: bool = False
                 ) -> DispatchPlan:
    """Queue a planning job for an open incident, within the per-incident and per-user caps
    (``reoptimise``: re-plan the approved trips not yet departed with the new demand)."""
    incident = open_incident(session, incident_id, lock=True)
    _lock_user(session, actor)
    for scope, cap, active in (
            ("incident", settings.plan_cap_per_incident,
             _active(session, DispatchPlan.incident_id == incident_id)),
            ("user", settings.plan_cap_per_user,
             _active(session, DispatchPlan.requested_by == actor))):
        if active >= cap:
            raise PlanCapReached.of("plan.cap_reached", scope=scope, active=active, cap=cap)
    job = DispatchPlan(incident_id=incident.id or 0, time_limit_s=time_limit_s,
                       requested_by=actor, lane=lane_for(time_limit_s, settings),
                       reoptimise=reoptimise)
    session.add(job)
    session.flush()
    queue.enqueue(session, job)
    record(session, actor=actor, action="plan.request", entity="dispatch_plan",
           entity_id=str(job.id), details={"incident": incident_id, "lane": job.lane,
                                           "time_limit_s": time_limit_s})
    return job


def cancel_plan(session: Session, *, incident_id: int, plan_id: int, actor: str,
                queue: PlanQueue) -> DispatchPlan:
    """Cancel a job: a queued one at once; a running one is stopped by its worker within a
    heartbeat (the job shows ``cancel_requested_at`` until then)."""
    plan = get_plan(session, plan_id, incident_id=incident_id, lock=True)
    if plan.status in FINISHED:
        raise PlanJobFinished.of("plan.job_finished", plan=plan_id,
                                 status=plan.status.value,
                                 details={"status": plan.status.value})
    now = utcnow()
    if plan.cancel_requested_at is None:
        plan.cancel_requested_at, plan.cancel_requested_by = now, actor
    if plan.status == JobStatus.queued:
        plan.status, plan.finished_at, plan.phase = JobStatus.cancelled, now, "cancelled"
        queue.cancel(session, plan)
    record(session, actor=actor, action="plan.cancel", entity="dispatch_plan",
           entity_id=str(plan_id), details={"incident": incident_id, "was": plan.status})
    session.flush()
    return plan


# ---------------------------------------------------------------------------------------------
# Planners: how the engine is run


def subprocess_planner(scenario: dict[str, Any], time_limit_s: float, progress: Progress,
                       stop: threading.Event | None = None) -> dict[str, Any]:
    """Run the engine in ``python -m dispatch.worker`` and return its plan JSON; setting
    ``stop`` kills the process and raises :class:`PlanningStopped`."""
    stop = stop or threading.Event()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dispatch.worker", "--time-limit", str(time_limit_s)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    finished = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + time_limit_s + WORKER_GRACE_S
        while not finished.is_set():
            if stop.wait(0.2) or time.monotonic() > deadline:
                proc.kill()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
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
    except BrokenPipeError:
        code = proc.wait()
        plan = None
    finally:
        finished.set()
    drain.join(timeout=5)
    if stop.is_set():
        raise PlanningStopped("the planning worker process was stopped")
    if code != 0 or plan is None:
        tail = "".join(stderr)[-1500:].strip()
        raise PlanningFailed.of("plan.worker_exit", code=code, output=tail or "-")
    return plan


def inline_planner(scenario: dict[str, Any], time_limit_s: float, progress: Progress,
                   stop: threading.Event | None = None) -> dict[str, Any]:
    """Run the engine in this process (the CLI and tests). It cannot be interrupted: a stop
    takes effect when the engine returns, and the plan is then discarded."""
    from dispatch.planning.solve import SolveParams, solve

    parsed = load_scenario(json.dumps(scenario))
    plan = solve(parsed, SolveParams(time_limit_s=time_limit_s), progress=progress)
    if stop is not None and stop.is_set():
        raise PlanningStopped("stopped while the engine ran")
    return plan.model_dump(mode="json")


# ---------------------------------------------------------------------------------------------
# Running one job under a lease


def worker_name(role: str) -> str:
    """A name unique to this process: host, pid and a random suffix."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class RunOutcome:
    """How one delivery of a job ended."""

    plan_id: int
    status: JobStatus | None  # the job's status afterwards (None: no such job)
    ran: bool  # whether this delivery ran the engine's pipeline


def _cancel_requested(row: Row[Any]) -> str | None:
    """What a heartbeat's renewal read (id, cancel_requested_at): "cancel" when requested."""
    return "cancel" if row[1] is not None else None


class PlanExecutor:
    """Runs deliveries of planning jobs; one instance per worker process (thread-safe)."""

    def __init__(self, db: Database, settings: Settings, *, owner: str,
                 planner: Planner | None = None, lead_times: LeadTimes | None = None,
                 stopping: threading.Event | None = None) -> None:
        self.db = db
        self.settings = settings
        self.owner = owner
        self.planner = planner or subprocess_planner
        self.lead_times = lead_times
        self.stopping = stopping or threading.Event()
        self.timing = leases.LeaseTiming(lease_s=settings.plan_lease_s,
                                         heartbeat_s=settings.plan_heartbeat_s)

    def claim(self, plan_id: int) -> leases.Lease | None:
        """Take the job if it is queued or its lease lapsed; None when it is not ours."""
        return leases.claim(self.db, DispatchPlan, plan_id, self.owner, self.timing.lease_s,
                            values={"phase": "scenario", "progress": 0.0})

    def status(self, plan_id: int) -> JobStatus | None:
        """The job's current status (None when there is no such job)."""
        status = leases.status_of(self.db, DispatchPlan, plan_id)
        return None if status is None else JobStatus(status)

    # -- one delivery ---------------------------------------------------------------------
    def run(self, plan_id: int) -> RunOutcome:
        """Run one delivery of job ``plan_id``.

        Returns without running when the job is finished or gone; raises :class:`TryLater`
        when a live worker holds it or this worker is shutting down.
        """
        if self.stopping.is_set():
            raise TryLater("this worker is shutting down")
        lease = self.claim(plan_id)
        if lease is None:
            status = self.status(plan_id)
            if status is None or status in FINISHED:
                return RunOutcome(plan_id, status, ran=False)
            raise TryLater(f"planning job {plan_id} is held by a live worker")
        log.info("planning job %s claimed (attempt %s)", plan_id, lease.attempt,
                 extra={"plan_id": plan_id, "attempt": lease.attempt, "owner": self.owner})
        # The heartbeat stops the engine on a lost lease, a cancel request or a shutdown.
        with leases.Heartbeat(self.db, lease, self.timing,
                              read=(DispatchPlan.cancel_requested_at,),
                              check=_cancel_requested, stopping=self.stopping) as beat:
            try:
                self._run(lease, beat.stop)
            except PlanningStopped:
                pass
            except Exception as exc:
                if not isinstance(exc, (ReliefError, ScenarioError)):
                    log.exception("planning job %s crashed", plan_id)
                if not beat.stop.is_set():
                    leases.update_held(self.db, lease, status=JobStatus.failed,
                                       **failure_text(exc).columns(), finished_at=utcnow())
        # No reason but stopped: the final write found a cancel request (or a lost lease, in
        # which case the fenced write below changes nothing).
        reason = beat.reason or ("cancel" if beat.stop.is_set() else None)
        if reason == "cancel":
            leases.update_held(self.db, lease, status=JobStatus.cancelled, phase="cancelled",
                               finished_at=utcnow())
        elif reason == "stopping":
            # Give the job back at once instead of waiting for the lease to lapse.
            leases.update_held(self.db, lease, status=JobStatus.queued, lease_owner=None,
                               lease_until=None, phase=None, progress=0.0)
            raise TryLater(f"worker stopped while running planning job {plan_id}")
        return RunOutcome(plan_id, self.status(plan_id), ran=True)

    def _run(self, lease: leases.Lease, stop: threading.Event) -> None:
        now = utcnow()
        with self.db.read_session() as session:
            job = get_plan(session, lease.row_id)
            incident = open_incident(session, job.incident_id)
            today = self.settings.today()
            leads = self.lead_times(session, today) if self.lead_times else None
            built = live.build(session, incident, now=now, today=today, lead_minutes=leads,
                               time_limit_s=job.time_limit_s, reoptimise=job.reoptimise)
            tz = self.settings.tz
            time_limit, reoptimise = job.time_limit_s, job.reoptimise
        scenario = load_scenario(json.dumps(built.scenario))
        sources = {sid: info.model_dump() for sid, info in built.sources.items()}
        vehicles = {unit: v.model_dump()
                    for unit, v in vehicle_map(scenario, built.vehicles).items()}
        if not leases.update_held(self.db, lease, scenario=built.scenario, sources=sources,
                                  vehicles=vehicles, as_of_min=built.as_of_min,
                                  phase="planning",
                                  supersedes=built.supersedes if reoptimise else None):
            raise PlanningStopped("lease lost before planning")
        if not scenario.sites:
            raise PlanningFailed.of("plan.nothing_missing")
        last = [0.0]

        def progress(phase: str, fraction: float) -> None:
            if time.monotonic() - last[0] < 0.5 and fraction < 1:
                return
            last[0] = time.monotonic()
            leases.update_held(self.db, lease, phase=phase, progress=min(1.0, fraction))

        plan_json = self.planner(built.scenario, time_limit, progress, stop)
        if stop.is_set():
            raise PlanningStopped("stopped")
        plan = Plan.model_validate(plan_json)
        report = check(plan, scenario)
        verdict = verdict_of(report.ok, report.violations).model_dump()
        why = diagnosis.diagnose(scenario, plan, busy=built.busy, as_of_min=built.as_of_min,
                                 tz=tz).model_dump(mode="json")
        finished = leases.update_held(
            self.db, lease, DispatchPlan.cancel_requested_at.is_(None),
            status=JobStatus.succeeded, result=plan_json, verdict=verdict, phase="done",
            progress=1.0, finished_at=utcnow(), diagnosis=why)
        if not finished and not stop.is_set():
            # A cancel request arrived after the last heartbeat: honour it.
            stop.set()
            raise PlanningStopped("cancelled as it finished")



class RunInCaller:
    """A queue for callers that run the job themselves right after committing it (the CLI on
    SQLite, tests). If the caller dies in between, the job stays queued and the SQLite
    process's sweep picks it up."""

    def enqueue(self, session: Session, plan: DispatchPlan) -> None:
        """Nothing to queue: the caller runs the job."""

    def cancel(self, session: Session, plan: DispatchPlan) -> None:
        """Nothing to withdraw: a cancelled job's claim fails."""
