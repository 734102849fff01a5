"""Composition-root wiring shared by the API, the CLI and the worker: how domains are plugged
together."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from dispatch.flows import (
    PlanExecutor,
    Planner,
    PlanQueue,
    RunInCaller,
    inline_planner,
    subprocess_planner,
    worker_name,
)
from dispatch.jobs import EmbeddedWorkers, LocalPlans, PlanRunner, QueuedPlans
from dispatch.readiness.runner import ReadinessRunner
from dispatch.readiness.service import Engine
from relief.platform import jobqueue
from relief.platform.background import BackgroundJobs
from relief.platform.db import Database, is_sqlite
from relief.platform.leases import LeaseTiming
from relief.platform.settings import Settings

if TYPE_CHECKING:
    from exchange.jobs import ImportRunner


def uses_job_queue(settings: Settings) -> bool:
    """Whether planning jobs go through the PostgreSQL job queue (else: this process)."""
    if settings.plan_queue == "auto":
        return not is_sqlite(settings.database_url)
    return settings.plan_queue == "procrastinate"


def plan_executor(db: Database, settings: Settings, *, role: str,
                  planner: Planner | None = None,
                  stopping: threading.Event | None = None) -> PlanExecutor:
    """Runs planning jobs, with provincial depots' lead times from the exchange."""
    from exchange.service import lead_minutes

    if planner is None:
        planner = inline_planner if settings.planner == "inline" else subprocess_planner
    return PlanExecutor(db, settings, owner=worker_name(role), planner=planner,
                        lead_times=lead_minutes, stopping=stopping)


def plan_runner(db: Database, settings: Settings, *, planner: Planner | None = None,
                jobs: BackgroundJobs | None = None) -> PlanRunner:
    """An API process's planning: the queue requests go to and the workers it runs itself
    (SQLite: all of them; PostgreSQL: only with ``embedded_plan_workers``, which then also
    run the background ``jobs``)."""
    executor = plan_executor(db, settings, role="api", planner=planner)
    if not uses_job_queue(settings):
        local = LocalPlans(db, executor, settings)
        return PlanRunner(db, local, local)
    queue = QueuedPlans(jobqueue.queue_app(settings.database_url))
    embedded = (EmbeddedWorkers(jobqueue.queue_app(settings.database_url), executor, settings,
                                jobs=jobs)
                if settings.embedded_plan_workers else None)
    return PlanRunner(db, queue, embedded)


def background_jobs(db: Database, settings: Settings, *, role: str,
                    planner: Planner | None = None) -> BackgroundJobs:
    """A process's background jobs: readiness runs, advice and import batches, on the
    PostgreSQL job queue (run by workers) or on this process's threads (SQLite)."""
    from dispatch.readiness.advice_service import execute_advice
    from dispatch.readiness.runner import job_kinds
    from exchange.jobs import job_kind

    kinds = [*job_kinds(readiness_engine(settings, planner=planner), execute_advice),
             job_kind(today=settings.today, chunk_size=settings.exchange_import_chunk)]
    app = jobqueue.queue_app(settings.database_url) if uses_job_queue(settings) else None
    return BackgroundJobs(db, kinds, owner=worker_name(role),
                          timing=LeaseTiming(lease_s=settings.plan_lease_s,
                                             heartbeat_s=settings.plan_heartbeat_s),
                          app=app, slots=settings.background_slots)


def cli_planning(db: Database, settings: Settings) -> tuple[PlanQueue, PlanExecutor]:
    """The CLI plans in its own process with the engine inline; on PostgreSQL the job also
    goes on the queue, so a worker finishes it should the CLI die."""
    executor = plan_executor(db, settings, role="cli", planner=inline_planner)
    if uses_job_queue(settings):
        return QueuedPlans(jobqueue.queue_app(settings.database_url)), executor
    return RunInCaller(), executor


def readiness_engine(settings: Settings, *, planner: Planner | None = None) -> Engine:
    """How readiness solves its scenarios: the dispatcher's planner and provincial lead times."""
    from exchange.service import lead_minutes

    if planner is None:
        planner = inline_planner if settings.planner == "inline" else subprocess_planner
    return Engine(planner, lead_times=lead_minutes, parallel=settings.readiness_parallel)


def readiness_runner(db: Database, settings: Settings, *, planner: Planner | None = None,
                     jobs: BackgroundJobs | None = None) -> ReadinessRunner:
    """The readiness runner (runs, advice, the schedule) on the same planner as plan jobs;
    its jobs go to ``jobs`` (None: its own, on this process's threads)."""
    from dispatch.readiness.advice_service import execute_advice

    return ReadinessRunner(db, readiness_engine(settings, planner=planner),
                           today=settings.today, interval_hours=settings.readiness_interval_hours,
                           time_limit_s=settings.readiness_time_limit_s,
                           advice_job=execute_advice, jobs=jobs)


def import_runner(db: Database, settings: Settings, *, jobs: BackgroundJobs | None = None
                  ) -> ImportRunner:
    """The runner of provincial import batches; its jobs go to ``jobs``."""
    from exchange.jobs import ImportRunner

    return ImportRunner(db, today=settings.today, chunk_size=settings.exchange_import_chunk,
                        jobs=jobs)
