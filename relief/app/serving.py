"""Processes: ``relief serve`` (N API processes, and planning workers beside them) and
``relief worker`` (planning workers on their own, on any machine).

On SQLite everything runs in one process (the API, and planning jobs on its threads): a second
API process would keep its own rate-limit buckets and its own job threads, so ``--workers``
above 1 is refused there. On PostgreSQL nothing that matters lives in a process: tokens, rate
limits, job queue, leases and idempotency keys are rows, so API processes and workers can be
started, killed and moved between machines freely (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import typer

from relief.platform import logs
from relief.platform.db import Database, is_sqlite
from relief.platform.settings import Settings

# Prometheus's multi-process mode: every API process writes its samples here and /metrics
# adds them up (prometheus-client reads the variable when it is first imported).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def serve(settings: Settings, *, host: str | None, port: int | None, workers: int,
          plan_workers: int | None, reload: bool) -> None:
    """Serve the API with ``workers`` processes and start ``plan_workers`` worker processes."""
    import uvicorn

    sqlite = is_sqlite(settings.database_url)
    if sqlite and workers > 1:
        raise typer.BadParameter("SQLite serves from one process (its rate limits and planning "
                                 "jobs live in that process); use PostgreSQL for --workers > 1",
                                 param_hint="--workers")
    if sqlite and plan_workers:
        raise typer.BadParameter("on SQLite planning jobs run inside the API process",
                                 param_hint="--plan-workers")
    n_plan = 0 if sqlite else (1 if plan_workers is None else plan_workers)
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="relief-metrics-")
    if os.environ.get(MULTIPROC_ENV):
        _clear_multiproc_dir(Path(os.environ[MULTIPROC_ENV]))
    children = [subprocess.Popen([sys.executable, "-m", "relief.app.cli", "worker"])
                for _ in range(n_plan)]
    try:
        uvicorn.run("relief.app.main:create_app", factory=True, host=host or settings.host,
                    port=port or settings.port, workers=workers if not reload else None,
                    reload=reload, log_config=logs.uvicorn_config(settings), access_log=False,
                    timeout_graceful_shutdown=10)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=settings.plan_heartbeat_s + 40)
            except subprocess.TimeoutExpired:
                child.kill()


def _clear_multiproc_dir(path: Path) -> None:
    """Samples of processes from an earlier run would be added to this run's."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def run_worker(settings: Settings, *, metrics_port: int | None) -> None:
    """Run planning workers (and a lane of background jobs: readiness runs, advice, import
    batches) in this process until SIGTERM or SIGINT; a running planning job is handed back
    to the queue at once (another worker takes it over)."""
    from relief.app.wiring import background_jobs, plan_executor, uses_job_queue
    from relief.platform import jobqueue
    from relief.platform.metrics import start_worker_metrics

    if not uses_job_queue(settings):
        raise typer.BadParameter("planning workers need the PostgreSQL job queue; on SQLite "
                                 "`relief serve` runs planning jobs itself")
    logs.configure(settings)
    if metrics_port is not None:
        start_worker_metrics(metrics_port)
    from dispatch.jobs import run_plan_workers

    db = Database.from_settings(settings)
    stopping = threading.Event()
    executor = plan_executor(db, settings, role="worker", stopping=stopping)
    jobs = background_jobs(db, settings, role="worker")
    jobs.stopping = stopping

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            stopping.set()
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        await run_plan_workers(jobqueue.queue_app(settings.database_url), executor, settings,
                               stop=stop, jobs=jobs)

    try:
        asyncio.run(main())
    finally:
        db.dispose()
