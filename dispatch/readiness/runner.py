"""Readiness runs and advice jobs as background jobs, and the schedule.

Runs and advice are rows; the use case that creates one queues it in the same transaction
(:mod:`relief.platform.background`): on PostgreSQL on the job queue, run by ``relief worker``
processes under a lease on the row (a dead worker's job is taken over, a live one's never
touched, every write fenced); on SQLite on this process's threads through the same leases.
Each scenario's engine runs through the dispatcher's planner (a worker process by default).
The schedule: every ``interval_hours`` one run over the whole library is queued; the slot
number (hours since the epoch // interval) is unique in the table, so several API processes
queue it once between them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch.readiness import service
from dispatch.readiness.advice_service import ADVICE_TASK
from dispatch.readiness.models import Advice, ReadinessRun, Trigger
from relief.platform import background, leases
from relief.platform.db import Database
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict

log = logging.getLogger(__name__)

AdviceJob = Callable[..., None]
KIND_TASKS = {"run": service.RUN_TASK, "advice": ADVICE_TASK}


def schedule_slot(hours_since_epoch: float, interval_hours: float) -> int:
    """The schedule slot a moment falls in."""
    return int(hours_since_epoch // interval_hours)


def job_kinds(engine: service.Engine, advice_job: AdviceJob | None) -> list[background.JobKind]:
    """Readiness runs and (with ``advice_job``) advice jobs as background job kinds."""
    kinds = [background.JobKind(service.RUN_TASK, ReadinessRun, lambda db, run_id: (
        service.execute_run(db, run_id, engine, leased=True)))]
    if advice_job is not None:
        kinds.append(background.JobKind(ADVICE_TASK, Advice, lambda db, advice_id: (
            advice_job(db, advice_id, engine, leased=True))))
    return kinds


class ReadinessRunner:
    """Where readiness runs and advice jobs go (``queue``), and the schedule."""

    def __init__(self, db: Database, engine: service.Engine, *,
                 today: Callable[[], date], workers: int = 1,
                 interval_hours: float = 0.0, time_limit_s: float = 8.0,
                 advice_job: AdviceJob | None = None,
                 jobs: background.BackgroundJobs | None = None) -> None:
        """``jobs``: this process's background jobs (None: its own, on this process's threads,
        for the readiness kinds only)."""
        self.db = db
        self.engine = engine
        self.today = today
        self.interval_hours = interval_hours
        self.time_limit_s = time_limit_s
        self.queue = jobs or background.BackgroundJobs(
            db, job_kinds(engine, advice_job), owner=f"readiness:{id(self):x}",
            timing=leases.LeaseTiming(), app=None, slots=workers)
        self._own_jobs = jobs is None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the schedule (when an interval is set), and this runner's own jobs if any.
        Nothing is marked failed: a job a dead process held is taken over once its lease
        lapses, and one a live process holds is left alone."""
        if self._own_jobs:
            self.queue.start()
        if self.interval_hours > 0:
            self._ticker = threading.Thread(target=self._tick_loop, name="readiness-schedule",
                                            daemon=True)
            self._ticker.start()

    def shutdown(self) -> None:
        """Stop the schedule (and this runner's own jobs)."""
        self._stop.set()
        if self._own_jobs:
            self.queue.stop()

    def wait(self, kind: str, job_id: int, timeout: float | None = None) -> None:
        """Block until a run (``kind`` "run") or an advice job ("advice") has finished."""
        self.queue.wait(KIND_TASKS[kind], job_id, timeout=timeout or 3600.0)

    # -- the schedule -----------------------------------------------------------------------

    def tick(self) -> int | None:
        """Queue this slot's scheduled run unless one exists; returns the new run's id."""
        now = utcnow()
        slot = schedule_slot(now.timestamp() / 3600, self.interval_hours)

        def queue(session: Session) -> int | None:
            taken = session.execute(select(ReadinessRun.id).where(
                ReadinessRun.schedule_slot == slot)).first()
            if taken:
                return None
            try:
                run = service.request_run(session, county=None, time_limit_s=self.time_limit_s,
                                          trigger=Trigger.scheduled, actor="system:schedule",
                                          today=self.today(), schedule_slot=slot,
                                          queue=self.queue)
            except Conflict:
                return None  # an empty library: nothing to run
            return run.id

        try:
            return self.db.write(queue)
        except IntegrityError:  # another process queued this slot's run first
            return None

    def _tick_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("scheduling a readiness run failed")
            self._stop.wait(60.0)
