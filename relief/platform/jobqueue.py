"""The PostgreSQL job queue: procrastinate, used the way this project needs it.

* :func:`defer` puts a job on the queue **inside the caller's transaction** (procrastinate's
  external-connection defer on the session's own psycopg connection), so the job exists exactly
  when the row that asked for it commits: a committed request is never lost and a rolled-back
  one leaves no job.
* :func:`cancel` cancels a waiting job, or asks a running one to abort, in the same way.
* :func:`run_workers` runs procrastinate workers, one per lane (a queue name and how many of
  its jobs run at once), plus a loop that re-queues the jobs of workers whose heartbeat
  stopped (a process killed with SIGKILL, a machine that fell off the network). Procrastinate
  guarantees at-least-once delivery from there; the task itself must make a repeated delivery
  harmless (the planning jobs hold a lease on their own row, see ``dispatch.flows``).

The queue's schema (tables, types, functions, triggers) comes in through Alembic migration
0009 on PostgreSQL; SQLite has no queue and runs jobs in its one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import procrastinate
import procrastinate.worker
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# Table, type, function and trigger names of the queue schema all start with this.
SCHEMA_PREFIX = "procrastinate_"


def conninfo(database_url: str) -> str:
    """The libpq connection string of a ``postgresql+psycopg://`` SQLAlchemy URL."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"the job queue needs PostgreSQL, not {url.get_backend_name()}")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def queue_app(database_url: str) -> procrastinate.App:
    """A procrastinate app on ``database_url``. Deferring and cancelling through it use the
    caller's connection only; :func:`run_workers` opens its own pool."""
    return procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=conninfo(database_url), min_size=1, max_size=4))


def _raw_connection(session: Session) -> Any:
    """The psycopg connection under the session's current transaction."""
    return session.connection().connection.driver_connection


def defer(session: Session, app: procrastinate.App, *, task: str, queue: str,
          kwargs: dict[str, Any], priority: int = 0, delay_s: float = 0.0) -> int:
    """Queue ``task(**kwargs)`` on ``queue`` in the session's transaction (to run no sooner
    than ``delay_s`` from now); its job id."""
    schedule = {"schedule_in": {"seconds": delay_s}} if delay_s > 0 else {}
    deferrer = app.configure_task(task, queue=queue, priority=priority,
                                  connection=_raw_connection(session), **schedule)
    return int(deferrer.defer(**kwargs))


def cancel(session: Session, app: procrastinate.App, job_id: int) -> bool:
    """Cancel a waiting job or ask a running one to abort, in the session's transaction.
    False when the job is already finished."""
    return bool(app.job_manager.cancel_job_by_id(
        job_id, abort=True, connection=_raw_connection(session)))


@dataclass(frozen=True)
class Lane:
    """A queue and how many of its jobs one worker process runs at once."""

    queue: str
    slots: int


@dataclass(frozen=True)
class WorkerTiming:
    """How often a worker proves it is alive and when another takes its jobs over."""

    heartbeat_s: float = 5.0
    stalled_after_s: float = 20.0
    sweep_every_s: float = 5.0


async def retry_stalled(app: procrastinate.App, stalled_after_s: float) -> list[int]:
    """Put back on the queue the running jobs of workers silent for ``stalled_after_s``."""
    retried: list[int] = []
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_s):
        try:
            await app.job_manager.retry_job(job)
        except procrastinate.exceptions.ConnectorException:
            # Another worker re-queued it first (it is no longer "doing").
            continue
        log.warning("re-queued job %s of a worker that stopped", job.id,
                    extra={"job_id": job.id, "queue": job.queue})
        if job.id is not None:
            retried.append(job.id)
    return retried


async def run_workers(app: procrastinate.App, lanes: list[Lane], *, name: str,
                      timing: WorkerTiming = WorkerTiming(),
                      stop: asyncio.Event | None = None,
                      on_started: Callable[[], None] | None = None) -> None:
    """Run one procrastinate worker per lane with slots until ``stop`` is set (or a signal
    stops them), sweeping stalled jobs meanwhile. ``on_started`` is called once every worker
    has registered (or ended): a worker cancelled while it registers can keep its loop
    waiting (seen as a 32-second stop of an app stopped right after it started)."""
    stop = stop or asyncio.Event()
    app.perform_import_paths()  # as App.run_worker_async does
    async with app.open_async():
        runners = [procrastinate.worker.Worker(
            app=app, queues=[lane.queue], concurrency=lane.slots, name=f"{name}:{lane.queue}",
            update_heartbeat_interval=timing.heartbeat_s,
            stalled_worker_timeout=timing.stalled_after_s,
            install_signal_handlers=False, listen_notify=True, fetch_job_polling_interval=5.0)
            for lane in lanes if lane.slots > 0]
        if not runners:
            raise ValueError("a worker needs at least one lane with a slot")
        workers = [asyncio.create_task(runner.run()) for runner in runners]
        while any(runner.worker_id is None and not task.done()
                  for runner, task in zip(runners, workers, strict=True)):
            await asyncio.sleep(0.01)  # registering: one round trip to the database

        async def sweep() -> None:
            while not stop.is_set():
                try:
                    await retry_stalled(app, timing.stalled_after_s)
                except Exception:
                    log.exception("stalled-job sweep failed; trying again")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=timing.sweep_every_s)

        sweeper = asyncio.create_task(sweep())
        if on_started is not None:
            on_started()
        done, _ = await asyncio.wait([*workers, asyncio.create_task(stop.wait())],
                                     return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        for task in workers:
            task.cancel()  # a procrastinate worker stops gracefully on cancellation
        await asyncio.gather(*workers, sweeper, return_exceptions=True)
        for task in done:
            if task in workers and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
