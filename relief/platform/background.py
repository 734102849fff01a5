"""Background jobs other than planning: where they wait and who runs them.

A background job (a readiness run, an advice job, an import batch) is a row of its domain's
table; each kind names its table and the function that runs one job (:class:`JobKind`). The
domain's use case that creates the row calls :meth:`BackgroundJobs.enqueue` **in the same
transaction**, so a committed request is never lost and a rolled-back one leaves no job. Then:

* **PostgreSQL**: the job goes on procrastinate's ``background`` queue (the row keeps its queue
  job id). ``relief worker`` processes (any number, any machine) run
  ``background_slots`` such jobs at once beside their planning lanes. A delivery runs the job
  under a lease on its row (:func:`relief.platform.leases.run_leased`): a live owner's job is
  never touched (the delivery is retried 5 s later), a dead worker's job is re-queued by the
  stalled-job sweep and taken over once its lease lapsed, and every write of the run is fenced
  on (owner, attempt).
* **SQLite** (``make run``, one process): jobs run on this process's threads, handed over when
  their transaction commits; a sweep (at start and every half lease) picks up every job that
  is queued or whose lease lapsed, so a job committed just before a crash runs after the
  restart, through the same leases. A process starting never marks another's jobs failed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import procrastinate
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from relief.platform import jobqueue, leases
from relief.platform.db import Database
from relief.platform.dbtypes import utcnow

log = logging.getLogger(__name__)

QUEUE = "background"
# How long procrastinate waits before delivering again a job a live owner holds.
RETRY_WAIT_S = 5


@dataclass(frozen=True)
class JobKind:
    """One kind of background job: its queue task name, its table and how to run one."""

    task: str  # e.g. "relief.readiness.run"
    model: Any  # the table: id, status, lease_owner, lease_until, attempts, queue_job_id
    run: Callable[[Database, int], None]  # run job ``id`` with (fenced) writes on the database


class BackgroundJobs:
    """This process's side of background jobs: the queue requests go to, and (SQLite, or
    PostgreSQL workers) the deliveries it runs."""

    def __init__(self, db: Database, kinds: Sequence[JobKind], *, owner: str,
                 timing: leases.LeaseTiming, app: procrastinate.App | None,
                 slots: int = 1) -> None:
        """``app``: the PostgreSQL queue (None: SQLite, jobs on this process's threads)."""
        self.db, self.owner, self.timing, self.app = db, owner, timing, app
        self.kinds = {kind.task: kind for kind in kinds}
        self.stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max(1, slots), thread_name_prefix="background")
        self._in_flight: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._sweeper: threading.Thread | None = None

    @property
    def local(self) -> bool:
        """True when jobs run on this process's threads (SQLite)."""
        return self.app is None

    # -- the queue side -------------------------------------------------------------------
    def enqueue(self, session: Session, task: str, row_id: int, *, delay_s: float = 0.0
                ) -> None:
        """Queue job ``row_id`` of kind ``task`` in the session's transaction. ``delay_s``:
        deliver it only that much later (a job the request runs itself at once, queued only
        in case the request's process dies; on SQLite the sweep is that safety net)."""
        kind = self.kinds[task]
        if self.app is None:
            if delay_s <= 0:
                event.listen(session, "after_commit", lambda _s: self.submit(task, row_id),
                             once=True)
            return
        job_id = jobqueue.defer(session, self.app, task=task, queue=QUEUE,
                                kwargs={"row_id": row_id}, delay_s=delay_s)
        session.execute(update(kind.model).where(kind.model.id == row_id).values(
            queue_job_id=job_id))

    # -- running --------------------------------------------------------------------------
    def deliver(self, task: str, row_id: int, *, for_request: bool = False) -> bool:
        """One delivery: run the job under a lease; False when it was finished or gone.
        Raises :class:`~relief.platform.leases.TryLater` when a live owner holds it (or this
        process is stopping, unless ``for_request``: a request applying its own job)."""
        kind = self.kinds[task]
        return leases.run_leased(self.db, kind.model, row_id, owner=self.owner,
                                 timing=self.timing,
                                 stopping=None if for_request else self.stopping,
                                 body=lambda fenced: kind.run(fenced, row_id))

    def register(self, app: procrastinate.App) -> None:
        """Teach a worker's procrastinate app to run every kind."""
        for task in self.kinds:
            def run(row_id: int, task: str = task) -> None:
                self.deliver(task, row_id)

            app.task(name=task, retry=procrastinate.RetryStrategy(
                wait=RETRY_WAIT_S, retry_exceptions={leases.TryLater}))(run)

    def submit(self, task: str, row_id: int) -> None:
        """SQLite: run the job on this process's pool unless it is already there."""
        with self._lock:
            if (task, row_id) in self._in_flight or self.stopping.is_set():
                return
            self._in_flight.add((task, row_id))
        self._pool.submit(self._local_delivery, task, row_id)

    def _local_delivery(self, task: str, row_id: int) -> None:
        try:
            self.deliver(task, row_id)
        except leases.TryLater:
            pass  # held by a live owner: the sweep hands it out again once its lease lapses
        except Exception:
            log.exception("%s %s failed", task, row_id)
        finally:
            with self._lock:
                self._in_flight.discard((task, row_id))

    def sweep(self) -> int:
        """SQLite: hand out every job that is queued or whose lease lapsed; how many."""
        now = utcnow()
        found: list[tuple[str, int]] = []
        with self.db.read_session() as session:
            for task, kind in self.kinds.items():
                m = kind.model
                found += [(task, row_id) for row_id in session.execute(
                    select(m.id).where(leases.stalled(m, now)).order_by(m.id)).scalars()]
        for task, row_id in found:
            self.submit(task, row_id)
        return len(found)

    def start(self) -> None:
        """SQLite: pick up what was left and keep sweeping (a failing sweep, e.g. on a
        database not yet migrated, is logged and tried again)."""
        if not self.local or self._sweeper is not None:
            return

        def loop() -> None:
            while True:
                try:
                    self.sweep()
                except Exception:
                    log.exception("background job sweep failed")
                if self.stopping.wait(self.timing.lease_s / 2):
                    return

        self._sweeper = threading.Thread(target=loop, daemon=True, name="background-sweep")
        self._sweeper.start()

    def stop(self) -> None:
        """Take no more jobs; a running one finishes its current step."""
        self.stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def wait(self, task: str, row_id: int, timeout: float = 60.0) -> str:
        """Block until the job has finished (tests, the CLI); its final status."""
        model = self.kinds[task].model
        deadline = time.monotonic() + timeout
        while True:
            status = leases.status_of(self.db, model, row_id)
            if status is None or status in leases.FINISHED:
                return status or "gone"
            if time.monotonic() > deadline:
                raise TimeoutError(f"{task} {row_id} still {status} after {timeout:.0f} s")
            time.sleep(0.1)


def lane(slots: int) -> jobqueue.Lane:
    """The background lane of a worker process."""
    return jobqueue.Lane(QUEUE, slots)


class JobSink(Protocol):
    """Where a use case queues the background job it created (in its own transaction)."""

    def enqueue(self, session: Session, task: str, row_id: int, *, delay_s: float = 0.0
                ) -> None:
        """Queue job ``row_id`` of kind ``task`` so it runs once the transaction commits
        (``delay_s`` later)."""
