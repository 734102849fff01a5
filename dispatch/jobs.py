"""Where planning jobs wait and who runs them.

* **PostgreSQL**: the job goes on procrastinate's queue (``plans-urgent`` or ``plans-long``) in
  the transaction that creates its row (:class:`QueuedPlans`). ``relief worker`` processes, on
  any machine, run them (:func:`run_plan_workers`): each keeps ``plan_urgent_slots`` slots for
  the urgent lane and ``plan_long_slots`` for the long one. A delivery that finds the job held
  by a live worker raises :class:`~dispatch.flows.TryLater` and procrastinate delivers it
  again 5 s later; a worker that dies stops its heartbeat and its jobs are re-queued (see
  ``relief.platform.jobqueue``), then claimed again once their lease lapsed.
* **SQLite** (``make run``, one process): :class:`LocalPlans` runs jobs on threads of the API
  process, one pool per lane. Jobs are handed over when their transaction commits; a sweep
  (at start and every half lease) picks up every job that is queued or whose lease lapsed,
  so a job committed just before a crash runs after the restart.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import procrastinate
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from dispatch.flows import PlanExecutor, PlanQueue, TryLater
from dispatch.models import FINISHED, DispatchPlan, JobStatus, PlanLane
from relief.platform import background, jobqueue, leases
from relief.platform.db import Database
from relief.platform.dbtypes import utcnow
from relief.platform.settings import Settings

log = logging.getLogger(__name__)

PLAN_TASK = "relief.plan"
# How long procrastinate waits before delivering again a job it could not run now.
RETRY_WAIT_S = 5


def queue_name(lane: PlanLane) -> str:
    """The procrastinate queue of a lane."""
    return f"plans-{lane.value}"


class QueuedPlans:
    """The PostgreSQL queue: procrastinate jobs deferred in the caller's transaction."""

    def __init__(self, app: procrastinate.App) -> None:
        self.app = app

    def enqueue(self, session: Session, plan: DispatchPlan) -> None:
        """Defer the job on its lane's queue; its queue job id is stored on the row."""
        plan.queue_job_id = jobqueue.defer(session, self.app, task=PLAN_TASK,
                                           queue=queue_name(plan.lane),
                                           kwargs={"plan_id": plan.id or 0})

    def cancel(self, session: Session, plan: DispatchPlan) -> None:
        """Withdraw the job from the queue."""
        if plan.queue_job_id is not None:
            jobqueue.cancel(session, self.app, plan.queue_job_id)


def register_plan_task(app: procrastinate.App, executor: PlanExecutor) -> None:
    """Teach a worker's procrastinate app to run planning jobs with ``executor``."""

    @app.task(name=PLAN_TASK, retry=procrastinate.RetryStrategy(
        wait=RETRY_WAIT_S, retry_exceptions={TryLater}))
    def plan(plan_id: int) -> None:
        executor.run(plan_id)


def plan_lanes(settings: Settings) -> list[jobqueue.Lane]:
    """The lanes one worker process serves, with their slots."""
    return [jobqueue.Lane(queue_name(PlanLane.urgent), settings.plan_urgent_slots),
            jobqueue.Lane(queue_name(PlanLane.long), settings.plan_long_slots)]


def worker_timing(settings: Settings) -> jobqueue.WorkerTiming:
    """Queue heartbeats in step with the job lease."""
    return jobqueue.WorkerTiming(heartbeat_s=max(1.0, settings.plan_lease_s / 6),
                                 stalled_after_s=settings.plan_lease_s * 2 / 3,
                                 sweep_every_s=max(1.0, settings.plan_lease_s / 6))


async def run_plan_workers(app: procrastinate.App, executor: PlanExecutor,
                           settings: Settings, *, stop: asyncio.Event | None = None,
                           on_started: Callable[[], None] | None = None,
                           jobs: background.BackgroundJobs | None = None) -> None:
    """Run this process's planning workers (and, with ``jobs``, a lane of
    ``background_slots`` for readiness runs, advice and import batches) until ``stop``."""
    register_plan_task(app, executor)
    lanes = plan_lanes(settings)
    if jobs is not None:
        jobs.register(app)
        lanes.append(background.lane(settings.background_slots))
    await jobqueue.run_workers(app, lanes, name=executor.owner,
                               timing=worker_timing(settings), stop=stop,
                               on_started=on_started)


class EmbeddedWorkers:
    """Planning workers on a background thread of this process (PostgreSQL without separate
    ``relief worker`` processes: tests, a single-machine ``make run``)."""

    def __init__(self, app: procrastinate.App, executor: PlanExecutor,
                 settings: Settings, jobs: background.BackgroundJobs | None = None) -> None:
        self.app, self.executor, self.settings, self.jobs = app, executor, settings, jobs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    def start(self) -> None:
        """Start the workers and wait until they listen."""
        def main() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._stop = asyncio.Event()
            try:
                self._loop.run_until_complete(run_plan_workers(
                    self.app, self.executor, self.settings, stop=self._stop,
                    on_started=self._started.set, jobs=self.jobs))
            except Exception:
                log.exception("embedded planning workers stopped")
            finally:
                self._started.set()
                self._loop.close()

        self._thread = threading.Thread(target=main, daemon=True, name="plan-workers")
        self._thread.start()
        self._started.wait(timeout=30)

    def stop(self) -> None:
        """Stop taking jobs; a running job is handed back to the queue."""
        self.executor.stopping.set()
        if self.jobs is not None:
            self.jobs.stopping.set()
        if self._loop is not None and self._stop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=self.settings.plan_heartbeat_s + 30)


class LocalPlans:
    """SQLite: jobs run on this process's threads, one pool per lane."""

    def __init__(self, db: Database, executor: PlanExecutor, settings: Settings) -> None:
        self.db, self.executor, self.settings = db, executor, settings
        self._pools = {
            PlanLane.urgent: ThreadPoolExecutor(max(1, settings.plan_urgent_slots),
                                                thread_name_prefix="plan-urgent"),
            PlanLane.long: ThreadPoolExecutor(max(1, settings.plan_long_slots),
                                              thread_name_prefix="plan-long")}
        self._in_flight: set[int] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._sweeper: threading.Thread | None = None

    # PlanQueue
    def enqueue(self, session: Session, plan: DispatchPlan) -> None:
        """Hand the job to a pool when the session's transaction commits."""
        plan_id, lane = plan.id or 0, plan.lane
        event.listen(session, "after_commit", lambda _s: self.submit(plan_id, lane), once=True)

    def cancel(self, session: Session, plan: DispatchPlan) -> None:
        """Nothing to withdraw: a cancelled job's claim fails."""

    # running
    def submit(self, plan_id: int, lane: PlanLane) -> None:
        """Run the job on its lane's pool unless it is already there."""
        with self._lock:
            if plan_id in self._in_flight or self._closed.is_set():
                return
            self._in_flight.add(plan_id)
        self._pools[lane].submit(self._deliver, plan_id)

    def _deliver(self, plan_id: int) -> None:
        try:
            self.executor.run(plan_id)
        except TryLater:
            pass  # held elsewhere or stopping: the sweep hands it out again when free
        except Exception:
            log.exception("planning job %s: delivery failed", plan_id)
        finally:
            with self._lock:
                self._in_flight.discard(plan_id)

    def sweep(self) -> int:
        """Hand out every job that is queued or whose lease lapsed; how many were new."""
        now = utcnow()
        with self.db.read_session() as session:
            rows = session.execute(select(DispatchPlan.id, DispatchPlan.lane).where(
                leases.stalled(DispatchPlan, now)).order_by(DispatchPlan.id)).all()
        before = len(self._in_flight)
        for plan_id, lane in rows:
            self.submit(plan_id, lane)
        return max(0, len(self._in_flight) - before)

    def start(self) -> None:
        """Pick up what was left and keep sweeping (a failing sweep, e.g. on a database not
        yet migrated, is logged and tried again; /readyz says why)."""
        def loop() -> None:
            while True:
                try:
                    self.sweep()
                except Exception:
                    log.exception("planning sweep failed")
                if self._closed.wait(self.settings.plan_lease_s / 2):
                    return

        self._sweeper = threading.Thread(target=loop, daemon=True, name="plan-sweep")
        self._sweeper.start()

    def stop(self) -> None:
        """Stop taking jobs; running ones are handed back (queued again)."""
        self._closed.set()
        self.executor.stopping.set()
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)


class PlanRunner:
    """What an API process holds: the queue requests go to, and (SQLite, or PostgreSQL with
    ``embedded_plan_workers``) the workers running in this process."""

    def __init__(self, db: Database, queue: PlanQueue,
                 service: LocalPlans | EmbeddedWorkers | None) -> None:
        self.db, self.queue, self.service = db, queue, service

    def start(self) -> None:
        """Start this process's workers, if any."""
        if self.service is not None:
            self.service.start()

    def shutdown(self) -> None:
        """Stop this process's workers, if any."""
        if self.service is not None:
            self.service.stop()

    def wait(self, plan_id: int, timeout: float = 60.0) -> JobStatus:
        """Block until the job has finished (tests, the CLI); its final status."""
        deadline = time.monotonic() + timeout
        while True:
            with self.db.read_session() as session:
                status = session.execute(select(DispatchPlan.status).where(
                    DispatchPlan.id == plan_id)).scalar_one()
            if status in FINISHED:
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"planning job {plan_id} still {status.value} after "
                                   f"{timeout:.0f} s")
            time.sleep(0.1)
