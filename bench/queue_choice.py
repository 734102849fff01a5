"""Measure procrastinate and pgqueuer on the properties the planning queue needs.

Not part of ``make bench`` (pgqueuer is not a dependency of the project): run it in a
scratch venv holding both libraries, from the repository root:
    python3.11 -m venv /tmp/q && /tmp/q/bin/pip install procrastinate==3.10.0 pgqueuer==1.6.0
    /tmp/q/bin/python bench/queue_choice.py --runs 3
It writes bench/results/queue_choice.md (medians of the runs).

Per library, on a fresh PostgreSQL database:
  A. enqueue inside the caller's transaction (a row INSERT + the enqueue, then COMMIT; and a
     ROLLBACK that must leave no job): median microseconds per transaction over 300;
  B. pickup latency: commit -> task start with one idle worker, 40 jobs 0.1 s apart;
  C. throughput: 400 no-op jobs queued first, one worker, one at a time;
  D. dead worker: a worker takes a 60 s job and is killed with SIGKILL; a second worker was
     running all along; seconds until the job starts again (both set to a 15 s staleness
     threshold);
  E. idle load: transactions per second one idle worker causes (pg_stat_database).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

SERVER = os.environ.get("QC_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres")
DBNAME = "queue_choice"
DSN = SERVER.rsplit("/", 1)[0] + "/" + DBNAME
STALE_S = 15


def fresh_db() -> None:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DBNAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DBNAME}")
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("CREATE TABLE probe_row (id serial primary key, note text)")
        conn.execute("CREATE TABLE probe_seen (key text, pid int, at double precision)")


# ---------------------------------------------------------------- procrastinate
def procrastinate_app():
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=DSN))

    @app.task(name="probe", queue="probe")
    def probe(key: str, sleep_s: float = 0.0) -> None:
        started = time.time()
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute("INSERT INTO probe_seen VALUES (%s, %s, %s)",
                         (key, os.getpid(), started))
        if sleep_s:
            time.sleep(sleep_s)

    return app, probe


def p_install() -> None:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(conninfo=DSN))
    with app.open():
        app.schema_manager.apply_schema()


def p_enqueue_in_tx(conn: psycopg.Connection, key: str, sleep_s: float = 0.0) -> None:
    _app, probe = P_APP
    probe.configure(connection=conn).defer(key=key, sleep_s=sleep_s)


def p_worker() -> None:
    app, _ = procrastinate_app()

    async def run() -> None:
        async with app.open_async():
            async def retry_stalled() -> None:
                while True:
                    await asyncio.sleep(1)
                    for job in await app.job_manager.get_stalled_jobs(
                            seconds_since_heartbeat=STALE_S):
                        with contextlib.suppress(Exception):
                            await app.job_manager.retry_job(job)
            task = asyncio.create_task(retry_stalled())
            await app.run_worker_async(queues=["probe"], concurrency=1,
                                       update_heartbeat_interval=STALE_S / 3,
                                       stalled_worker_timeout=STALE_S,
                                       install_signal_handlers=True)
            task.cancel()

    asyncio.run(run())


def p_queued() -> int:
    with psycopg.connect(DSN) as conn:
        return conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE status='todo'"
                            ).fetchone()[0]


# ---------------------------------------------------------------- pgqueuer
class TxDriver:
    """pgqueuer's public SyncDriver protocol over a connection inside a transaction."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def fetch(self, query: str, *args: object) -> list[dict[str, object]]:
        from psycopg import RawCursor
        from psycopg.rows import dict_row

        cur = RawCursor(self.conn, row_factory=dict_row)
        cur.execute(query, args or None)
        return cur.fetchall()


def q_install() -> None:
    from pgqueuer.db import PsycopgDriver
    from pgqueuer.queries import Queries

    async def run() -> None:
        conn = await psycopg.AsyncConnection.connect(DSN, autocommit=True)
        await Queries(PsycopgDriver(conn)).install()
        await conn.close()

    asyncio.run(run())


def q_enqueue_in_tx(conn: psycopg.Connection, key: str, sleep_s: float = 0.0) -> None:
    from pgqueuer.queries import SyncQueries

    SyncQueries(TxDriver(conn)).enqueue(
        "probe", json.dumps({"key": key, "sleep_s": sleep_s}).encode())


def q_worker() -> None:
    from pgqueuer import PgQueuer
    from pgqueuer.db import PsycopgDriver

    async def run() -> None:
        conn = await psycopg.AsyncConnection.connect(DSN, autocommit=True)
        pgq = PgQueuer(PsycopgDriver(conn))

        @pgq.entrypoint("probe")
        async def probe(job) -> None:
            started = time.time()
            args = json.loads(job.payload)
            side = await psycopg.AsyncConnection.connect(DSN, autocommit=True)
            await side.execute("INSERT INTO probe_seen VALUES (%s, %s, %s)",
                               (args["key"], os.getpid(), started))
            await side.close()
            if args["sleep_s"]:
                await asyncio.to_thread(time.sleep, args["sleep_s"])

        from datetime import timedelta

        await pgq.run(batch_size=1, heartbeat_timeout=timedelta(seconds=STALE_S))

    asyncio.run(run())


def q_queued() -> int:
    with psycopg.connect(DSN) as conn:
        return conn.execute("SELECT count(*) FROM pgqueuer WHERE status='queued'"
                            ).fetchone()[0]


# ---------------------------------------------------------------- harness
def seen(key: str) -> list[tuple[int, float]]:
    with psycopg.connect(DSN) as conn:
        return conn.execute("SELECT pid, at FROM probe_seen WHERE key=%s ORDER BY at",
                            (key,)).fetchall()


def start_worker(lib: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "worker", lib],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def xacts() -> int:
    with psycopg.connect(DSN) as conn:
        return conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                            "WHERE datname=%s", (DBNAME,)).fetchone()[0]


def measure(lib: str) -> dict[str, float]:
    fresh_db()
    (p_install if lib == "procrastinate" else q_install)()
    enqueue = p_enqueue_in_tx if lib == "procrastinate" else q_enqueue_in_tx
    queued = p_queued if lib == "procrastinate" else q_queued
    out: dict[str, float] = {}
    # A. in-transaction enqueue, and rollback leaves nothing
    with psycopg.connect(DSN) as conn:
        base, both = [], []
        for i in range(300):
            t = time.perf_counter()
            with conn.transaction():
                conn.execute("INSERT INTO probe_row (note) VALUES ('x')")
            base.append(time.perf_counter() - t)
            t = time.perf_counter()
            with conn.transaction():
                conn.execute("INSERT INTO probe_row (note) VALUES ('x')")
                enqueue(conn, f"a{i}")
            both.append(time.perf_counter() - t)
        before = queued()
        try:
            with conn.transaction():
                enqueue(conn, "rolled-back")
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        out["rollback_leaves_no_job"] = float(queued() == before)
        out["tx_insert_only_us"] = statistics.median(base) * 1e6
        out["tx_insert_and_enqueue_us"] = statistics.median(both) * 1e6
    # C. throughput over the 300 already queued + 100 more
    with psycopg.connect(DSN) as conn:
        for i in range(100):
            with conn.transaction():
                enqueue(conn, f"c{i}")
    worker = start_worker(lib)
    t0 = time.time()
    while queued() > 0 and time.time() - t0 < 120:
        time.sleep(0.2)
    out["throughput_jobs_s"] = 400 / (time.time() - t0)
    time.sleep(2)
    # E. idle load
    x0 = xacts()
    time.sleep(20)
    out["idle_xacts_per_s"] = (xacts() - x0 - 2) / 20
    # B. pickup latency
    lat = []
    with psycopg.connect(DSN) as conn:
        for i in range(40):
            with conn.transaction():
                enqueue(conn, f"b{i}")
            committed = time.time()
            for _ in range(100):
                rows = seen(f"b{i}")
                if rows:
                    lat.append(rows[0][1] - committed)
                    break
                time.sleep(0.01)
            time.sleep(0.1)
    out["pickup_ms_median"] = statistics.median(lat) * 1000
    out["pickup_ms_p95"] = sorted(lat)[int(0.95 * len(lat)) - 1] * 1000
    # D. dead worker
    victim = worker
    with psycopg.connect(DSN) as conn, conn.transaction():
        enqueue(conn, "d", sleep_s=60.0)
    for _ in range(200):
        if seen("d"):
            break
        time.sleep(0.05)
    survivor = start_worker(lib)
    time.sleep(3)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed = time.time()
    restarted = None
    while time.time() - killed < 120:
        rows = seen("d")
        if len(rows) > 1:
            restarted = rows[1][1] - killed
            break
        time.sleep(0.2)
    out["dead_worker_retry_s"] = restarted if restarted is not None else float("nan")
    stop(survivor)
    return out


P_APP = None


ROWS = [
    ("rollback_leaves_no_job", "a rolled-back request leaves no job (1 = yes)", "{:.0f}"),
    ("tx_insert_only_us", "A. one-row transaction alone (us, reference)", "{:.0f}"),
    ("tx_insert_and_enqueue_us", "A. the same transaction with the enqueue (us)", "{:.0f}"),
    ("pickup_ms_median", "B. commit -> task start, median (ms)", "{:.1f}"),
    ("pickup_ms_p95", "B. commit -> task start, p95 (ms)", "{:.1f}"),
    ("throughput_jobs_s", "C. no-op jobs per second, one worker", "{:.1f}"),
    ("dead_worker_retry_s", "D. SIGKILLed worker -> job starts again (s)", "{:.1f}"),
    ("idle_xacts_per_s", "E. transactions per second of one idle worker", "{:.1f}"),
]


def main() -> None:
    global P_APP
    if len(sys.argv) > 2 and sys.argv[1] == "worker":
        (p_worker if sys.argv[2] == "procrastinate" else q_worker)()
        return
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 1
    P_APP = procrastinate_app()
    results: dict[str, list[dict[str, float]]] = {"procrastinate": [], "pgqueuer": []}
    for _ in range(runs):
        for lib in results:
            results[lib].append(measure(lib))
            print(lib, json.dumps(results[lib][-1]), flush=True)
    import importlib.metadata
    import platform
    from datetime import UTC, datetime

    versions = {lib: importlib.metadata.version(lib) for lib in results}
    lines = [
        "### Job queue choice: procrastinate beside pgqueuer",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, PostgreSQL at {SERVER.rsplit('@', 1)[-1]}; "
        f"procrastinate {versions['procrastinate']}, pgqueuer {versions['pgqueuer']}.",
        f"Command: `python bench/queue_choice.py --runs {runs}` (scratch venv, see the "
        "script). Medians of the runs; each library on a fresh database; the machine is "
        "shared, so compare the two columns, measured minutes apart, and read A against its "
        "own reference row. Staleness threshold 15 s for both in D.",
        "",
        "| measure | procrastinate | pgqueuer |",
        "|---|---:|---:|",
    ]
    for key, label, fmt in ROWS:
        cells = [fmt.format(statistics.median(r[key] for r in results[lib]))
                 for lib in results]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, root)
    from bench.pages import write_keeping_notes

    write_keeping_notes(Path(root) / "bench" / "results" / "queue_choice.md",
                        "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
