"""Composition-root wiring shared by the API and the CLI: how domains are plugged together."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dispatch.flows import Planner, PlanRunner, inline_planner, subprocess_planner
from dispatch.readiness.runner import ReadinessRunner
from dispatch.readiness.service import Engine
from relief.platform.db import Database
from relief.platform.settings import Settings

if TYPE_CHECKING:
    from exchange.jobs import ImportRunner


def plan_runner(db: Database, settings: Settings, *, planner: Planner | None = None
                ) -> PlanRunner:
    """The planning-job runner, with provincial depots' lead times from the exchange."""
    from exchange.service import lead_minutes

    if planner is None:
        planner = inline_planner if settings.planner == "inline" else subprocess_planner
    return PlanRunner(db, settings, planner=planner, workers=settings.plan_workers,
                      lead_times=lead_minutes)


def readiness_engine(settings: Settings, *, planner: Planner | None = None) -> Engine:
    """How readiness solves its scenarios: the dispatcher's planner and provincial lead times."""
    from exchange.service import lead_minutes

    if planner is None:
        planner = inline_planner if settings.planner == "inline" else subprocess_planner
    return Engine(planner, lead_times=lead_minutes, parallel=settings.readiness_parallel)


def readiness_runner(db: Database, settings: Settings, *, planner: Planner | None = None
                     ) -> ReadinessRunner:
    """The readiness runner (runs, advice, the schedule) on the same planner as plan jobs."""
    from dispatch.readiness.advice_service import execute_advice

    return ReadinessRunner(db, readiness_engine(settings, planner=planner),
                           today=settings.today, interval_hours=settings.readiness_interval_hours,
                           time_limit_s=settings.readiness_time_limit_s,
                           advice_job=execute_advice)


def import_runner(db: Database, settings: Settings) -> ImportRunner:
    """The runner of large provincial import batches (202 jobs)."""
    from exchange.jobs import ImportRunner

    return ImportRunner(db, today=settings.today, chunk_size=settings.exchange_import_chunk)
