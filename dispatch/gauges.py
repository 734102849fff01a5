"""Planning gauges for ``/metrics``, read from the database at each scrape (so every API
process answers the same): jobs per lane and status, the oldest queued job's age, and each
open incident's latest plan: its coverage and its gap to the upper bound."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from dispatch.models import DispatchPlan, Incident, IncidentStatus, JobStatus, PlanLane
from relief.platform.db import Database
from relief.platform.dbtypes import utcnow


def plan_gauges(db: Database) -> Callable[[], Iterable[Any]]:
    """A reader yielding the planning gauges from ``db``."""

    def read() -> Iterable[Any]:
        jobs = GaugeMetricFamily("relief_plan_jobs", "Planning jobs queued or running",
                                 labels=["lane", "status"])
        oldest = GaugeMetricFamily("relief_plan_queue_oldest_seconds",
                                   "Age of the oldest queued planning job (0: none queued)",
                                   labels=["lane"])
        coverage = GaugeMetricFamily(
            "relief_plan_coverage", "Coverage of each open incident's latest succeeded plan",
            labels=["incident"])
        gap = GaugeMetricFamily(
            "relief_plan_gap", "Upper bound minus coverage of each open incident's latest plan",
            labels=["incident"])
        summary = DispatchPlan.result["summary"]  # type: ignore[index]
        with db.read_session() as session:
            counts = {(lane, status): n for lane, status, n in session.execute(
                select(DispatchPlan.lane, DispatchPlan.status, func.count()).where(
                    DispatchPlan.status.in_((JobStatus.queued, JobStatus.running)))
                .group_by(DispatchPlan.lane, DispatchPlan.status))}
            first = dict(session.execute(
                select(DispatchPlan.lane, func.min(DispatchPlan.requested_at)).where(
                    DispatchPlan.status == JobStatus.queued).group_by(DispatchPlan.lane)).all())
            latest = (select(func.max(DispatchPlan.id)).join(
                Incident, Incident.id == DispatchPlan.incident_id).where(
                DispatchPlan.status == JobStatus.succeeded,
                Incident.status == IncidentStatus.open).group_by(DispatchPlan.incident_id))
            plans = session.execute(select(
                DispatchPlan.incident_id, summary["coverage"].as_float(),
                summary["bound_coverage"].as_float()).where(
                DispatchPlan.id.in_(latest.scalar_subquery()))).all()
        now = utcnow()
        for lane in PlanLane:
            for status in (JobStatus.queued, JobStatus.running):
                jobs.add_metric([lane.value, status.value], counts.get((lane, status), 0))
            since = first.get(lane)
            oldest.add_metric([lane.value], (now - _aware(since)).total_seconds()
                              if since is not None else 0.0)
        for incident_id, cov, bound in plans:
            if cov is not None:
                coverage.add_metric([str(incident_id)], float(cov))
                if bound is not None:
                    gap.add_metric([str(incident_id)], max(0.0, float(bound) - float(cov)))
        return [jobs, oldest, coverage, gap]

    return read


def _aware(value: Any) -> Any:
    from datetime import UTC, datetime

    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
