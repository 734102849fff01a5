"""Composition-root wiring shared by the API and the CLI: how domains are plugged together."""

from __future__ import annotations

from dispatch.flows import Planner, PlanRunner, inline_planner, subprocess_planner
from relief.platform.db import Database
from relief.platform.settings import Settings


def plan_runner(db: Database, settings: Settings, *, planner: Planner | None = None
                ) -> PlanRunner:
    """The planning-job runner, with provincial depots' lead times from the exchange."""
    from exchange.service import lead_minutes

    if planner is None:
        planner = inline_planner if settings.planner == "inline" else subprocess_planner
    return PlanRunner(db, settings, planner=planner, workers=settings.plan_workers,
                      lead_times=lead_minutes)
