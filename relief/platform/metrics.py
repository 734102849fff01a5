"""Prometheus metrics (prometheus-client): what each process counts, and gauges read from the
database when ``/metrics`` is scraped.

Counted in the process that does the work:

* ``relief_http_requests_total{method,route,status}`` and
  ``relief_http_request_duration_seconds{method,route}``: every API request, by route
  template (``/api/v1/incidents/{incident_id}/plans``), never by raw path;
* ``relief_ledger_moves_total{kind}``: stock moves committed (the ledger write rate);
* ``relief_plan_job_duration_seconds{lane,status}`` and ``relief_plan_job_wait_seconds{lane}``:
  planning jobs, observed by the worker that finished them.

With several API processes on one machine (``relief serve --workers N``) the processes write
their samples to ``PROMETHEUS_MULTIPROC_DIR`` and any of them answers for all. A ``relief
worker`` on another machine serves its own with ``--metrics-port``.

Read from the database at scrape time (the same answer from every process): queue depth per
lane and status, the age of the oldest queued job, and each open incident's latest plan
coverage and gap to its upper bound (functions handed to :func:`render`).
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.orm import Session

CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_REQUESTS = Counter("relief_http_requests_total", "API requests answered",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("relief_http_request_duration_seconds",
                         "API request latency by route template", ["method", "route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
LEDGER_MOVES = Counter("relief_ledger_moves_total", "Stock moves committed to the ledger",
                       ["kind"])
PLAN_JOB_SECONDS = Histogram("relief_plan_job_duration_seconds",
                             "Planning job run time (claim to finish)", ["lane", "status"],
                             buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1200))
PLAN_JOB_WAIT = Histogram("relief_plan_job_wait_seconds",
                          "Time a planning job waited in its queue before it started",
                          ["lane"], buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 900))

# Moves a session wrote, by kind, counted when (and only if) its transaction commits.
_SESSION_KEY = "relief.metrics.moves"


def count_move(session: Session, kind: str) -> None:
    """Note a stock move written in ``session``; it is counted when the session commits."""
    tally: Tally[str] = session.info.setdefault(_SESSION_KEY, Tally())
    tally[kind] += 1


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    tally = session.info.pop(_SESSION_KEY, None)
    if tally:
        for kind, n in tally.items():
            LEDGER_MOVES.labels(kind=kind).inc(n)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_SESSION_KEY, None)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered API request."""
    HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
    HTTP_LATENCY.labels(method=method, route=route).observe(seconds)


class _Gauges(Collector):
    def __init__(self, read: Callable[[], Iterable[Any]]) -> None:
        self.read = read

    def collect(self) -> Iterable[Any]:
        return list(self.read())


def render(gauges: Iterable[Callable[[], Iterable[Any]]] = ()) -> bytes:
    """The exposition text: this process's (or this machine's) counters, then ``gauges``
    (functions yielding metric families, computed from the database at each scrape)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        counted = generate_latest(registry)
    else:
        counted = generate_latest(REGISTRY)
    computed = CollectorRegistry(auto_describe=False)
    for read in gauges:
        computed.register(_Gauges(read))
    return counted + generate_latest(computed)


def start_worker_metrics(port: int) -> None:
    """Serve this process's metrics on ``port`` (a planning worker on its own machine)."""
    start_http_server(port)
