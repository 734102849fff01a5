"""Leases on job rows: one owner at a time, a heartbeat, fenced writes, take-over of the dead.

A background job (a readiness run, an advice job, an import batch) is a row with ``status``,
``lease_owner``, ``lease_until`` and ``attempts``. Whoever delivers it (a queue worker, or the
SQLite process's own threads) runs it through :func:`run_leased`:

1. **claim**: one UPDATE takes the row if it is queued, or running under a lease that lapsed
   (its owner died): it becomes running, owned by this process, ``lease_until`` = now +
   lease (the database's clock on PostgreSQL) and ``attempts`` + 1. A row whose lease is
   alive is never touched: the delivery raises :class:`TryLater`;
2. **heartbeat**: a thread (:class:`Heartbeat`) renews the lease every ``heartbeat_s`` with an
   UPDATE fenced on (owner, attempt); when it finds the lease gone it notes it;
3. **fenced writes**: the job body gets a :class:`FencedDatabase` whose every write transaction
   first locks the job row *as held by this claim* (``SELECT ... FOR UPDATE`` on owner and
   attempt) and raises :class:`LeaseLost` when it is not, so a worker that lost its lease
   (paused, cut off, taken over) can never write over the new owner's work.

Planning jobs (``dispatch.flows``) use the same pieces with their own policy: the claim resets
their progress, the heartbeat also reads the cancel request and stops the engine on it (or on
a lost lease, or when the process is stopping), and their writes are single UPDATEs fenced on
the claim (:func:`update_held`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import DateTime, Row, and_, func, or_, select, update
from sqlalchemy.orm import Session

from relief.platform.db import Database
from relief.platform.dbtypes import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

QUEUED, RUNNING = "queued", "running"
FINISHED = frozenset({"succeeded", "failed", "cancelled"})


def stalled(model: Any, now: Any) -> Any:
    """The SQL condition a sweep hands a job out on: queued, or running with its lease
    lapsed (or never set)."""
    return or_(model.status == QUEUED,
               and_(model.status == RUNNING,
                    or_(model.lease_until.is_(None), model.lease_until < now)))


class LeaseLost(Exception):
    """This process no longer holds the job (another owner took it over)."""


class TryLater(Exception):
    """This delivery cannot run the job now (a live owner holds it, or this process is
    stopping): the queue should deliver it again later."""


@dataclass(frozen=True)
class Lease:
    """This process's hold on one job row: the fencing token of every write of the run."""

    model: Any  # a job table (relief.platform.leasedjob.LeasedRow) with id and status
    row_id: int
    owner: str
    attempt: int


def db_now(session: Session) -> Any:
    """The database's clock on PostgreSQL (processes on several machines agree on it); this
    process's clock on SQLite (one process, one machine)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.now(type_=DateTime(timezone=True))
    return utcnow()


def held(lease: Lease) -> Any:
    """The condition that the job row is still running under ``lease`` (the fencing token)."""
    m = lease.model
    return and_(m.id == lease.row_id, m.lease_owner == lease.owner, m.attempts == lease.attempt,
                m.status == RUNNING)


def claim(db: Database, model: Any, row_id: int, owner: str, lease_s: float,
          values: Mapping[str, Any] | None = None) -> Lease | None:
    """Take the job if it is queued or its lease lapsed (setting ``values`` too); None when it
    is not ours to take."""
    def take(session: Session) -> int | None:
        now = db_now(session)
        row = session.execute(update(model).where(
            model.id == row_id,
            or_(model.status == QUEUED,
                and_(model.status == RUNNING,
                     or_(model.lease_until.is_(None), model.lease_until < now)))).values(
            status=RUNNING, attempts=model.attempts + 1, lease_owner=owner,
            lease_until=now + timedelta(seconds=lease_s),
            started_at=func.coalesce(model.started_at, now), **(values or {})
        ).returning(model.attempts)).first()
        return None if row is None else int(row[0])

    attempt = db.write(take)
    return None if attempt is None else Lease(model, row_id, owner, attempt)


def renew(db: Database, lease: Lease, lease_s: float, read: Sequence[Any] = ()
          ) -> Row[Any] | None:
    """Extend the lease (fenced on the claim); the row's id and the ``read`` columns as they
    are after the renewal, or None when the job is no longer ours."""
    def beat(session: Session) -> Row[Any] | None:
        now = db_now(session)
        return session.execute(update(lease.model).where(held(lease)).values(
            lease_until=now + timedelta(seconds=lease_s)).returning(
            lease.model.id, *read)).first()

    return db.write(beat)


def update_held(db: Database, lease: Lease, *where: Any, **values: Any) -> bool:
    """Set ``values`` on the job row in one write transaction, only while it is held by
    ``lease`` (and ``where`` holds); False when nothing was written."""
    return bool(db.write(lambda session: session.execute(update(lease.model).where(
        held(lease), *where).values(**values)).rowcount))


def fence(session: Session, lease: Lease) -> None:
    """Lock the job row as held by ``lease`` for the rest of the transaction, or raise
    :class:`LeaseLost`."""
    found = session.execute(select(lease.model.id).where(held(lease)).with_for_update()).first()
    if found is None:
        raise LeaseLost(f"{lease.model.__tablename__} {lease.row_id}: lease "
                        f"{lease.owner}#{lease.attempt} lost")


class FencedDatabase(Database):
    """The database as the job body sees it: every write is fenced on the lease."""

    def __init__(self, db: Database, lease: Lease) -> None:
        super().__init__(engine=db.engine, write_retries=db.write_retries)
        self.lease = lease

    def write(self, use_case: Callable[[Session], T]) -> T:
        """Run ``use_case`` in one write transaction that holds the job row's lock as this
        lease's (or raises :class:`LeaseLost` before anything is written)."""
        def fenced(session: Session) -> T:
            fence(session, self.lease)
            return use_case(session)

        return super().write(fenced)


def status_of(db: Database, model: Any, row_id: int) -> str | None:
    """The row's status (None when there is no such row)."""
    with db.read_session() as session:
        value = session.execute(select(model.status).where(model.id == row_id)
                                ).scalar_one_or_none()
    return None if value is None else str(getattr(value, "value", value))


@dataclass(frozen=True)
class LeaseTiming:
    """How long a lease lasts and how often its owner renews it."""

    lease_s: float = 30.0
    heartbeat_s: float = 2.0


class Heartbeat:
    """Renews a lease on its own thread every ``heartbeat_s`` while the ``with`` block runs.

    It stops renewing, sets :attr:`stop` and names :attr:`reason` when the lease is lost
    (``"lost"``), when ``stopping`` is set (``"stopping"``), or when ``check`` finds a reason
    in the row the renewal read (its id, then the ``read`` columns). A renewal that fails
    (the database unreachable a moment) is logged and tried again at the next beat.
    """

    def __init__(self, db: Database, lease: Lease, timing: LeaseTiming, *,
                 read: Sequence[Any] = (), check: Callable[[Row[Any]], str | None] | None = None,
                 stopping: threading.Event | None = None) -> None:
        self.db, self.lease, self.timing = db, lease, timing
        self.read, self.check, self.stopping = read, check, stopping
        self.stop = threading.Event()
        self.reason: str | None = None
        self._done = threading.Event()
        self._name = f"{lease.model.__tablename__} {lease.row_id}"
        self._thread = threading.Thread(target=self._beat, daemon=True,
                                        name=f"lease-{lease.model.__tablename__}-{lease.row_id}")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._done.set()
        self._thread.join(timeout=self.timing.heartbeat_s + 30)

    def _end(self, reason: str) -> None:
        self.reason = reason
        self.stop.set()

    def _beat(self) -> None:
        while not self._done.wait(self.timing.heartbeat_s):
            if self.stopping is not None and self.stopping.is_set():
                self._end("stopping")
                return
            try:
                row = renew(self.db, self.lease, self.timing.lease_s, self.read)
            except Exception:
                log.exception("lease renewal of %s failed; retrying", self._name)
                continue
            if row is None:
                log.warning("%s: lease lost", self._name)
                self._end("lost")
                return
            reason = self.check(row) if self.check is not None else None
            if reason is not None:
                log.info("%s: %s, stopping", self._name, reason)
                self._end(reason)
                return


def run_leased(db: Database, model: Any, row_id: int, *, owner: str, timing: LeaseTiming,
               body: Callable[[FencedDatabase], None],
               stopping: threading.Event | None = None) -> bool:
    """One delivery of a job: claim it, run ``body`` under a renewed lease with fenced writes.

    Returns False without running when the job is finished or gone; raises :class:`TryLater`
    when a live owner holds it (or ``stopping`` is set). A lease lost midway ends the run
    quietly (the new owner carries on); any other exception of ``body`` propagates.
    """
    if stopping is not None and stopping.is_set():
        raise TryLater("this process is stopping")
    lease = claim(db, model, row_id, owner, timing.lease_s)
    if lease is None:
        status = status_of(db, model, row_id)
        if status is None or status in FINISHED:
            return False
        raise TryLater(f"{model.__tablename__} {row_id} is held by a live owner")
    log.info("%s %s claimed (attempt %s)", model.__tablename__, row_id, lease.attempt,
             extra={"job": row_id, "attempt": lease.attempt, "owner": owner})
    with Heartbeat(db, lease, timing):
        try:
            body(FencedDatabase(db, lease))
        except LeaseLost:
            log.warning("%s %s: lease lost while running; the new owner carries on",
                        model.__tablename__, row_id)
    return True
