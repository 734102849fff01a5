"""Leases on job rows: one owner at a time, a heartbeat, fenced writes, take-over of the dead.

A background job (a readiness run, an advice job, an import batch) is a row with ``status``,
``lease_owner``, ``lease_until`` and ``attempts``. Whoever delivers it (a queue worker, or the
SQLite process's own threads) runs it through :func:`run_leased`:

1. **claim**: one UPDATE takes the row if it is queued, or running under a lease that lapsed
   (its owner died): it becomes running, owned by this process, ``lease_until`` = now +
   lease (the database's clock on PostgreSQL) and ``attempts`` + 1. A row whose lease is
   alive is never touched: the delivery raises :class:`TryLater`;
2. **heartbeat**: a thread renews the lease every ``heartbeat_s`` with an UPDATE fenced on
   (owner, attempt); when it finds the lease gone it notes it;
3. **fenced writes**: the job body gets a :class:`FencedDatabase` whose every write transaction
   first locks the job row *as held by this claim* (``SELECT ... FOR UPDATE`` on owner and
   attempt) and raises :class:`LeaseLost` when it is not, so a worker that lost its lease
   (paused, cut off, taken over) can never write over the new owner's work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import DateTime, and_, func, or_, select, update
from sqlalchemy.orm import Session

from relief.platform.db import Database
from relief.platform.dbtypes import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

QUEUED, RUNNING = "queued", "running"
FINISHED = frozenset({"succeeded", "failed", "cancelled"})


class LeaseLost(Exception):
    """This process no longer holds the job (another owner took it over)."""


class TryLater(Exception):
    """This delivery cannot run the job now (a live owner holds it, or this process is
    stopping): the queue should deliver it again later."""


@dataclass(frozen=True)
class Lease:
    """This process's hold on one job row: the fencing token of every write of the run."""

    model: Any  # an ORM table class with id, status, lease_owner, lease_until, attempts
    row_id: int
    owner: str
    attempt: int


def db_now(session: Session) -> Any:
    """The database's clock on PostgreSQL (processes on several machines agree on it); this
    process's clock on SQLite (one process, one machine)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.now(type_=DateTime(timezone=True))
    return utcnow()


def _held(lease: Lease) -> Any:
    m = lease.model
    return and_(m.id == lease.row_id, m.lease_owner == lease.owner, m.attempts == lease.attempt,
                m.status == RUNNING)


def claim(db: Database, model: Any, row_id: int, owner: str, lease_s: float) -> Lease | None:
    """Take the job if it is queued or its lease lapsed; None when it is not ours to take."""
    def take(session: Session) -> int | None:
        now = db_now(session)
        row = session.execute(update(model).where(
            model.id == row_id,
            or_(model.status == QUEUED,
                and_(model.status == RUNNING,
                     or_(model.lease_until.is_(None), model.lease_until < now)))).values(
            status=RUNNING, attempts=model.attempts + 1, lease_owner=owner,
            lease_until=now + timedelta(seconds=lease_s),
            started_at=func.coalesce(model.started_at, now)).returning(model.attempts)).first()
        return None if row is None else int(row[0])

    attempt = db.write(take)
    return None if attempt is None else Lease(model, row_id, owner, attempt)


def renew(db: Database, lease: Lease, lease_s: float) -> bool:
    """Extend the lease (fenced on the claim); False when it is no longer ours."""
    def beat(session: Session) -> bool:
        now = db_now(session)
        return bool(session.execute(update(lease.model).where(_held(lease)).values(
            lease_until=now + timedelta(seconds=lease_s))).rowcount)

    return db.write(beat)


def fence(session: Session, lease: Lease) -> None:
    """Lock the job row as held by ``lease`` for the rest of the transaction, or raise
    :class:`LeaseLost`."""
    found = session.execute(select(lease.model.id).where(_held(lease)).with_for_update()).first()
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
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(timing.heartbeat_s):
            try:
                if not renew(db, lease, timing.lease_s):
                    log.warning("%s %s: lease lost", model.__tablename__, row_id)
                    return
            except Exception:
                log.exception("lease renewal of %s %s failed; retrying",
                              model.__tablename__, row_id)

    beater = threading.Thread(target=heartbeat, daemon=True,
                              name=f"lease-{model.__tablename__}-{row_id}")
    beater.start()
    try:
        body(FencedDatabase(db, lease))
    except LeaseLost:
        log.warning("%s %s: lease lost while running; the new owner carries on",
                    model.__tablename__, row_id)
    finally:
        done.set()
        beater.join(timeout=timing.heartbeat_s + 30)
    return True
