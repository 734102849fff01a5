"""Readiness jobs on the API process's runner threads, and the schedule.

Same pattern as planning jobs (``dispatch.flows.PlanRunner``): the job is a row; a small thread
pool picks it up; each scenario's engine runs through the dispatcher's planner (a worker
process by default). After a restart, runs and advice left running are marked failed
("interrupted") and queued ones run. The schedule: every ``interval_hours`` one run over the
whole library is queued; the slot number (hours since the epoch // interval) is unique in the
table, so several API processes queue it once between them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from dispatch.readiness import service
from dispatch.readiness.models import Advice, JobStatus, ReadinessRun, Trigger
from relief.platform.db import Database
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict
from relief.platform.statustext import StatusText

log = logging.getLogger(__name__)

INTERRUPTED = StatusText.of("status.interrupted")
AdviceJob = Callable[[Database, int, service.Engine], None]


def schedule_slot(hours_since_epoch: float, interval_hours: float) -> int:
    """The schedule slot a moment falls in."""
    return int(hours_since_epoch // interval_hours)


class ReadinessRunner:
    """Runs readiness runs and advice jobs on a thread pool; queues the scheduled runs."""

    def __init__(self, db: Database, engine: service.Engine, *,
                 today: Callable[[], date], workers: int = 1,
                 interval_hours: float = 0.0, time_limit_s: float = 8.0,
                 advice_job: AdviceJob | None = None) -> None:
        self.db = db
        self.engine = engine
        self.today = today
        self.interval_hours = interval_hours
        self.time_limit_s = time_limit_s
        self.advice_job = advice_job
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="readiness")
        self._futures: dict[tuple[str, int], Future[None]] = {}
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Recover after a restart and start the schedule (when an interval is set)."""
        def recover(session: Session) -> tuple[list[int], list[int]]:
            for table in (ReadinessRun, Advice):
                session.execute(update(table).where(table.status == JobStatus.running)
                                .values(status=JobStatus.failed, finished_at=utcnow(),
                                        **INTERRUPTED.columns()))
            runs = list(session.execute(select(ReadinessRun.id).where(
                ReadinessRun.status == JobStatus.queued).order_by(ReadinessRun.id)).scalars())
            advice = list(session.execute(select(Advice.id).where(
                Advice.status == JobStatus.queued).order_by(Advice.id)).scalars())
            return runs, advice

        try:
            runs, advice = self.db.write(recover)
        except DBAPIError:
            # A database that is down or not migrated yet must not stop the process from
            # starting: /readyz reports it; recovery runs at the next start.
            log.exception("readiness recovery failed; starting without it")
            runs, advice = [], []
        for run_id in runs:
            self.submit_run(run_id)
        for advice_id in advice:
            self.submit_advice(advice_id)
        if self.interval_hours > 0:
            self._ticker = threading.Thread(target=self._tick_loop, name="readiness-schedule",
                                            daemon=True)
            self._ticker.start()

    def shutdown(self) -> None:
        """Stop the schedule and take no more jobs; running ones finish."""
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- jobs -----------------------------------------------------------------------------

    def submit_run(self, run_id: int) -> None:
        """Run a queued readiness run in the background."""
        self._futures[("run", run_id)] = self._pool.submit(
            service.execute_run, self.db, run_id, self.engine)

    def submit_advice(self, advice_id: int) -> None:
        """Run a queued advice job in the background."""
        if self.advice_job is None:
            raise RuntimeError("this runner has no advice job")
        self._futures[("advice", advice_id)] = self._pool.submit(
            self.advice_job, self.db, advice_id, self.engine)

    def wait(self, kind: str, job_id: int, timeout: float | None = None) -> None:
        """Block until a submitted job has finished (tests and the CLI)."""
        future = self._futures.get((kind, job_id))
        if future is not None:
            future.result(timeout=timeout)

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
                                          today=self.today(), schedule_slot=slot)
            except Conflict:
                return None  # an empty library: nothing to run
            return run.id

        try:
            run_id = self.db.write(queue)
        except IntegrityError:  # another process queued this slot's run first
            return None
        if run_id is not None:
            self.submit_run(run_id)
        return run_id

    def _tick_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("scheduling a readiness run failed")
            self._stop.wait(60.0)
