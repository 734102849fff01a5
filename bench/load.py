"""Load test: several API processes and planning workers on one PostgreSQL, people and a
provincial mirror using them at once, and two processes killed mid-run.

    python -m bench.load [--seconds 300] [--users 50] [--jobs 10] [--runs 1]

On a fresh database (the Nantong seed): two "machines" of 2 API processes each (`relief serve
--workers 2 --plan-workers 0` on two loopback ports, each with its own metrics directory) and
2 `relief worker` processes. Clients reach the two machines alternately, as a load balancer
would, and retry a request whose connection dropped on the other machine (POSTs carry an
Idempotency-Key, so a retry writes nothing twice). For ``--seconds``:

* ``--users`` people: viewers reading stock, summaries and reports; console users reading
  pages; depot managers receiving and issuing at their depot; dispatchers watching their
  incidents and planning jobs;
* ``--jobs`` planning jobs on their own incidents (a mix of short and long time limits);
* a provincial mirror paging the stock and moves feeds with cursors.

At ``--kill-at`` of the run, ``kill -9`` the worker holding a running job and one API process.
Then: latency p50/p95/p99 by route, errors by kind (target: 0 5xx), whether every job finished
exactly once, ``relief check``, the planner's coverage for the same incident planned on the
quiet system and under load, and pgbench TPC-B (1 client) in the same run as a reference for
the machine's state. Writes bench/results/load.md and load.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from bench.machine import describe
from bench.pages import write_keeping_notes

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SERVER = os.environ.get("RELIEF_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DBNAME = "relief_load"
PORTS = (18101, 18102)
RELIEF = [sys.executable, "-m", "relief.app.cli"]
# How long API processes may take to answer /readyz (they import the whole code base, four at
# once, on a shared 2-core machine).
READY_TIMEOUT_S = 900


# ---------------------------------------------------------------------------------------------
# Set-up


def _admin_engine() -> Any:
    return create_engine(SERVER, isolation_level="AUTOCOMMIT")


def fresh_database() -> str:
    """A new, migrated and seeded database; its URL."""
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DBNAME} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {DBNAME}"))
    engine.dispose()
    url = SERVER.rsplit("/", 1)[0] + "/" + DBNAME
    env = {**os.environ, "RELIEF_DATABASE_URL": url, "RELIEF_LOG_FORMAT": "text",
           "RELIEF_READINESS_INTERVAL_HOURS": "0"}
    for args in (["db", "upgrade"], ["seed"]):
        subprocess.run([*RELIEF, *args], env=env, check=True, capture_output=True)
    return url


def pgbench_tps(seconds: int = 10) -> float:
    """pgbench TPC-B, one client, on its own scale-10 database (the machine's reference)."""
    engine = _admin_engine()
    with engine.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS relief_pgbench WITH (FORCE)"))
        conn.execute(text("CREATE DATABASE relief_pgbench"))
    engine.dispose()
    base = ["-h", "127.0.0.1", "-U", "postgres"]
    subprocess.run(["pgbench", *base, "-i", "-q", "-s", "10", "relief_pgbench"], check=True,
                   capture_output=True)
    out = subprocess.run(["pgbench", *base, "-c", "1", "-T", str(seconds), "relief_pgbench"],
                         check=True, capture_output=True, text=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("tps"))
    return float(line.split("=")[1].split()[0])


def make_tokens(url: str, users: int) -> dict[str, list[tuple[str, str]]]:
    """Tokens per role: (secret, depot code or '')."""
    sys.path.insert(0, str(ROOT))
    from relief.platform.auth import create_token
    from relief.platform.db import Database, make_engine
    from relief.platform.models import Role

    depots = [row["code"] for row in csv.DictReader(
        (ROOT / "seed" / "data" / "depots.csv").open(encoding="utf-8"))
        if row["kind"] == "government"]
    share = {"viewer": 0.3, "console": 0.2, "depot_manager": 0.3, "dispatcher": 0.2}
    counts = {role: max(1, round(users * part)) for role, part in share.items()}
    counts["viewer"] += users - sum(counts.values())
    db = Database(engine=make_engine(url))
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)

    def create(session: Any) -> None:
        for role, n in counts.items():
            for i in range(n):
                depot = depots[i % len(depots)] if role == "depot_manager" else ""
                kind = {"console": Role.viewer, "viewer": Role.viewer,
                        "depot_manager": Role.depot_manager,
                        "dispatcher": Role.dispatcher}[role]
                _, secret = create_token(session, name=f"load-{role}-{i}", role=kind,
                                         depots=[depot] if depot else [],
                                         scopes=["draw:city", "draw:agreement"]
                                         if role == "dispatcher" else [])
                out[role].append((secret, depot))
        _, mirror = create_token(session, name="load-mirror", role=Role.integration,
                                 scopes=["exchange:read"])
        out["mirror"].append((mirror, ""))
        _, admin = create_token(session, name="load-admin", role=Role.admin)
        out["admin"].append((admin, ""))

    db.write(create)
    db.dispose()
    return out


def townships() -> list[str]:
    """Township division codes of the seed."""
    return [row["code"] for row in csv.DictReader(
        (ROOT / "seed" / "data" / "divisions.csv").open(encoding="utf-8"))
        if row["level"] == "township"]


# ---------------------------------------------------------------------------------------------
# Processes


@dataclass
class Cluster:
    """The API machines and the planning workers."""

    url: str
    machines: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="relief-load-")))

    def env(self, **extra: str) -> dict[str, str]:
        # No scheduled readiness runs: they are another workload, measured in bench.readiness.
        return {**os.environ, "RELIEF_DATABASE_URL": self.url, "RELIEF_LOG_LEVEL": "WARNING",
                "RELIEF_READINESS_INTERVAL_HOURS": "0", **extra}

    def start(self) -> None:
        for i, port in enumerate(PORTS):
            metrics = tempfile.mkdtemp(prefix=f"relief-metrics-{i}-")
            log = (self.logs / f"api-{i}.log").open("wb")
            self.machines.append(subprocess.Popen(
                [*RELIEF, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
                 "--plan-workers", "0"], env=self.env(PROMETHEUS_MULTIPROC_DIR=metrics),
                stdout=log, stderr=log, start_new_session=True))
        for i in range(2):
            self.start_worker(i)
        for machine, port in zip(self.machines, PORTS, strict=True):
            self.wait_ready(machine, port)

    def wait_ready(self, machine: subprocess.Popen[bytes], port: int) -> None:
        """Poll ``/readyz`` until it answers 200: generously (on a machine with a load average
        of 15 four API processes importing the code base took minutes), each probe with a
        long timeout, and failing at once if the machine's processes exited."""
        started = time.monotonic()
        last_note = started
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30).status_code == 200:
                    print(f"API on {port} ready after {time.monotonic() - started:.0f} s",
                          flush=True)
                    return
            except httpx.HTTPError:
                pass
            if machine.poll() is not None:
                raise RuntimeError(f"API on {port} exited with {machine.returncode}; see "
                                   f"{self.logs}")
            if time.monotonic() - started > READY_TIMEOUT_S:
                raise RuntimeError(f"API on {port} not ready after {READY_TIMEOUT_S} s; see "
                                   f"{self.logs}")
            if time.monotonic() - last_note > 30:
                last_note = time.monotonic()
                print(f"waiting for API on {port}: {last_note - started:.0f} s, load "
                      f"{os.getloadavg()[0]:.1f}", flush=True)
            time.sleep(1.0)

    def start_worker(self, i: int) -> None:
        log = (self.logs / f"worker-{i}.log").open("ab")
        self.workers.append(subprocess.Popen([*RELIEF, "worker"], env=self.env(), stdout=log,
                                             stderr=log, start_new_session=True))

    def api_children(self, machine: int) -> list[int]:
        """PIDs of the uvicorn worker processes of one machine."""
        parent = self.machines[machine].pid
        found = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
        return [int(p) for p in found.stdout.split()]

    def stop(self) -> None:
        for proc in [*self.workers, *self.machines]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*self.workers, *self.machines]:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------
# Clients


@dataclass
class Tally:
    """Every request's route, status and latency; errors by kind."""

    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    conn_errors: int = 0
    retried: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, route: str, status: int, seconds: float) -> None:
        with self.lock:
            self.samples[route].append(seconds)
            self.statuses[status] += 1


class Client:
    """One person or system: its own HTTP connections to both machines, round robin."""

    def __init__(self, tally: Tally, token: str, rng: random.Random) -> None:
        self.tally, self.token, self.rng = tally, token, rng
        self.http = [httpx.Client(base_url=f"http://127.0.0.1:{p}", timeout=60) for p in PORTS]
        self.turn = rng.randrange(len(PORTS))

    def call(self, method: str, route: str, path: str, *, json_body: Any = None,
             form: dict[str, str] | None = None, console: bool = False) -> httpx.Response | None:
        """One request as a load balancer would route it; a dropped connection is retried
        once on the other machine."""
        headers = {} if console else {"Authorization": f"Bearer {self.token}"}
        if method == "POST" and not console:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        for attempt in range(2):
            self.turn = (self.turn + 1) % len(PORTS)
            client = self.http[self.turn]
            started = time.perf_counter()
            try:
                response = client.request(method, path, json=json_body, data=form,
                                          headers=headers)
            except httpx.TransportError:
                with self.tally.lock:
                    self.tally.conn_errors += 1
                    if attempt == 0:
                        self.tally.retried += 1
                continue
            self.tally.add(route, response.status_code, time.perf_counter() - started)
            return response
        return None

    def login(self) -> None:
        """A console session on each machine (kept in each connection's cookie jar)."""
        for i, client in enumerate(self.http):
            r = client.post("/console/login", data={"token": self.token, "next": "/console/"},
                            headers={"Origin": f"http://127.0.0.1:{PORTS[i]}"})
            if r.status_code not in (200, 303):
                raise RuntimeError(f"console login failed: {r.status_code}")

    def close(self) -> None:
        for client in self.http:
            client.close()


def _think(rng: random.Random, stop: threading.Event) -> None:
    stop.wait(rng.uniform(0.3, 1.5))


def viewer(c: Client, depots: list[str], stop: threading.Event) -> None:
    while not stop.is_set():
        depot = c.rng.choice(depots)
        choice = c.rng.randrange(5)
        if choice == 0:
            c.call("GET", "/api/v1/stock", f"/api/v1/stock?depot={depot}&limit=50")
        elif choice == 1:
            c.call("GET", "/api/v1/stock/summary", "/api/v1/stock/summary?group_by=division")
        elif choice == 2:
            c.call("GET", "/api/v1/reports/shortfall", "/api/v1/reports/shortfall?limit=50")
        elif choice == 3:
            c.call("GET", "/api/v1/depots/{code}", f"/api/v1/depots/{depot}")
        else:
            c.call("GET", "/api/v1/stock/moves", f"/api/v1/stock/moves?depot={depot}&limit=50")
        _think(c.rng, stop)


def console_user(c: Client, depots: list[str], stop: threading.Event) -> None:
    c.login()
    while not stop.is_set():
        choice = c.rng.randrange(3)
        if choice == 0:
            c.call("GET", "/console/", "/console/", console=True)
        elif choice == 1:
            depot = c.rng.choice(depots)
            c.call("GET", "/console/depots/{code}", f"/console/depots/{depot}", console=True)
        else:
            c.call("GET", "/console/readiness", "/console/readiness", console=True)
        _think(c.rng, stop)


def depot_manager(c: Client, depot: str, item: str, stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        if c.rng.random() < 0.5:
            c.call("POST", "/api/v1/stock/receipts", "/api/v1/stock/receipts", json_body={
                "depot": depot, "item": item, "quantity": c.rng.randint(1, 20),
                "lot": f"LOAD-{depot}", "reference": f"load-{n}"})
        elif c.rng.random() < 0.7:
            c.call("POST", "/api/v1/stock/issues", "/api/v1/stock/issues", json_body={
                "depot": depot, "item": item, "quantity": 1, "reference": f"load-{n}"})
        else:
            c.call("GET", "/api/v1/stock", f"/api/v1/stock?depot={depot}&limit=50")
        _think(c.rng, stop)


def dispatcher(c: Client, incidents: list[int], jobs: dict[int, int],
               stop: threading.Event) -> None:
    while not stop.is_set():
        incident = c.rng.choice(incidents)
        choice = c.rng.randrange(3)
        if choice == 0:
            c.call("GET", "/api/v1/incidents/{incident_id}", f"/api/v1/incidents/{incident}")
        elif choice == 1 and incident in jobs:
            c.call("GET", "/api/v1/incidents/{incident_id}/plans/{plan_id}",
                   f"/api/v1/incidents/{incident}/plans/{jobs[incident]}")
        else:
            c.call("GET", "/api/v1/incidents/{incident_id}/coverage",
                   f"/api/v1/incidents/{incident}/coverage")
        _think(c.rng, stop)


def mirror(c: Client, pages: list[int], stop: threading.Event) -> None:
    cursors: dict[str, str | None] = {"stock": None, "moves": None}
    while not stop.is_set():
        for feed in cursors:
            after = f"&after={cursors[feed]}" if cursors[feed] else ""
            r = c.call("GET", f"/api/v1/exchange/{feed}",
                       f"/api/v1/exchange/{feed}?limit=200{after}")
            if r is not None and r.status_code == 200:
                body = r.json()
                cursors[feed] = body["next_cursor"]
                pages[0] += 1
            stop.wait(0.2)


# ---------------------------------------------------------------------------------------------
# Planning


def open_incident(c: Client, name: str, sites: list[str], people: int) -> int:
    onset = (datetime.now(UTC) - timedelta(minutes=20)).isoformat()
    r = c.call("POST", "/api/v1/incidents", "/api/v1/incidents", json_body={
        "kind": "typhoon", "name": name, "onset": onset})
    assert r is not None and r.status_code == 201, r.text if r else "no answer"
    incident = int(r.json()["id"])
    for code in sites:
        s = c.call("POST", "/api/v1/incidents/{incident_id}/sites",
                   f"/api/v1/incidents/{incident}/sites", json_body={
                       "township": code, "people": people, "reported_by": "load test"})
        assert s is not None and s.status_code == 201, s.text if s else "no answer"
    return incident


def request_plan(c: Client, incident: int, limit: float) -> int:
    r = c.call("POST", "/api/v1/incidents/{incident_id}/plans",
               f"/api/v1/incidents/{incident}/plans", json_body={"time_limit_s": limit})
    assert r is not None and r.status_code == 202, r.text if r else "no answer"
    return int(r.json()["id"])


def wait_plans(c: Client, plans: dict[int, int], timeout: float) -> dict[int, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    done: dict[int, dict[str, Any]] = {}
    while len(done) < len(plans) and time.monotonic() < deadline:
        for incident, plan in plans.items():
            if incident in done:
                continue
            r = c.call("GET", "/api/v1/incidents/{incident_id}/plans/{plan_id}",
                       f"/api/v1/incidents/{incident}/plans/{plan}")
            if r is not None and r.status_code == 200 and r.json()["status"] in (
                    "succeeded", "failed", "cancelled"):
                done[incident] = r.json()
        time.sleep(1)
    return done


# ---------------------------------------------------------------------------------------------
# One run


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    url = fresh_database()
    tokens = make_tokens(url, args.users)
    depots = [d for _, d in tokens["depot_manager"]]
    all_depots = sorted({*depots})
    towns = townships()
    reference_tps = pgbench_tps()
    cluster = Cluster(url)
    try:
        cluster.start()
        return _loaded(args, rng, url, tokens, all_depots, towns, reference_tps, cluster)
    finally:
        cluster.stop()


def _loaded(args: argparse.Namespace, rng: random.Random, url: str,
            tokens: dict[str, list[tuple[str, str]]], all_depots: list[str], towns: list[str],
            reference_tps: float, cluster: Cluster) -> dict[str, Any]:
    tally = Tally()
    admin = Client(tally, tokens["admin"][0][0], random.Random(rng.random()))
    planner = Client(tally, tokens["dispatcher"][0][0], random.Random(rng.random()))
    # The same incident twice: planned on the quiet system, then under load.
    same = rng.sample(towns, 6)
    quiet_incident = open_incident(planner, "对照(空载)", same, 3000)
    quiet_load = os.getloadavg()[0]
    quiet = wait_plans(planner, {quiet_incident: request_plan(planner, quiet_incident, 20)}, 300)
    loaded_incident = open_incident(planner, "对照(负载)", same, 3000)
    incidents = [loaded_incident]
    for i in range(args.jobs - 1):
        incidents.append(open_incident(planner, f"负载测试 {i + 1}", rng.sample(towns, 4), 2000))
    tally.samples.clear()
    tally.statuses.clear()

    stop = threading.Event()
    jobs: dict[int, int] = {}
    threads: list[threading.Thread] = []
    mirror_pages = [0]
    clients: list[Client] = []

    def spawn(target: Any, *a: Any, token: str) -> None:
        client = Client(tally, token, random.Random(rng.random()))
        clients.append(client)
        threads.append(threading.Thread(target=target, args=(client, *a, stop), daemon=True))

    for secret, _ in tokens["viewer"]:
        spawn(viewer, all_depots, token=secret)
    for secret, _ in tokens["console"]:
        spawn(console_user, all_depots, token=secret)
    item = "1020101"  # quilts: no expiry needed on receipt
    for secret, depot in tokens["depot_manager"]:
        spawn(depot_manager, depot, item, token=secret)
    for secret, _ in tokens["dispatcher"]:
        spawn(dispatcher, incidents, jobs, token=secret)
    spawn(mirror, mirror_pages, token=tokens["mirror"][0][0])
    loads: list[float] = []

    def sample_load() -> None:
        while not stop.is_set():
            loads.append(os.getloadavg()[0])
            stop.wait(10)

    sampler = threading.Thread(target=sample_load, daemon=True)
    started = time.monotonic()
    sampler.start()
    for t in threads:
        t.start()
    # The planning jobs, spread over the first 40% of the run (the first on the twin of the
    # quiet incident); the two long ones just before the kill, so a worker is busy then.
    kill_at = started + args.seconds * args.kill_at
    plan_at = [started + args.seconds * 0.4 * i / max(1, args.jobs - 2)
               for i in range(args.jobs - 2)] + [kill_at - 20, kill_at - 15]
    limits = [20.0] * (args.jobs - 2) + [120.0, 120.0]
    for i, incident in enumerate(incidents):
        time.sleep(max(0.0, plan_at[i] - time.monotonic()))
        client = Client(tally, tokens["dispatcher"][i % len(tokens["dispatcher"])][0],
                        random.Random(i))
        jobs[incident] = request_plan(client, incident, limits[i])
        client.close()
    time.sleep(max(0.0, kill_at - time.monotonic()))
    killed = kill_one_of_each(cluster, url)
    time.sleep(max(0.0, started + args.seconds - time.monotonic()))
    stop.set()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - started
    outcomes = wait_plans(admin, jobs, timeout=900)
    checks = verify(url, jobs)
    for client in [*clients, admin, planner]:
        client.close()
    routes = {route: {"n": len(v), "p50_ms": percentile(v, 0.5) * 1000,
                      "p95_ms": percentile(v, 0.95) * 1000, "p99_ms": percentile(v, 0.99) * 1000}
              for route, v in sorted(tally.samples.items())}
    loaded = outcomes.get(loaded_incident, {}).get("summary") or {}
    return {
        "seconds": elapsed, "users": args.users, "jobs": args.jobs, "pgbench_tps": reference_tps,
        "requests": sum(tally.statuses.values()), "statuses": dict(tally.statuses),
        "http_5xx": sum(n for s, n in tally.statuses.items() if s >= 500),
        "conn_errors": tally.conn_errors, "retried": tally.retried,
        "routes": routes, "killed": killed, "mirror_pages": mirror_pages[0],
        "jobs_status": {str(k): v["status"] for k, v in outcomes.items()},
        "jobs_attempts": {str(k): v["attempts"] for k, v in outcomes.items()},
        "jobs_succeeded": sum(1 for v in outcomes.values() if v["status"] == "succeeded"),
        **checks,
        "coverage_quiet": (quiet.get(quiet_incident, {}).get("summary") or {}).get("coverage"),
        "coverage_loaded": loaded.get("coverage"),
        "bound_quiet": (quiet.get(quiet_incident, {}).get("summary") or {}).get(
            "bound_coverage"),
        "bound_loaded": loaded.get("bound_coverage"),
        "logs": str(cluster.logs),
        "load_quiet": quiet_load,
        "load_during": {"min": min(loads, default=0.0), "median": statistics.median(loads)
                        if loads else 0.0, "max": max(loads, default=0.0)},
    }


def kill_one_of_each(cluster: Cluster, url: str) -> dict[str, Any]:
    """kill -9 the worker holding a running job (waiting up to 60 s for one; else the first)
    and one API process."""
    engine = create_engine(url)
    deadline = time.monotonic() + 60
    while True:
        with engine.connect() as conn:
            owners = [r[0] for r in conn.execute(text(
                "SELECT lease_owner FROM dispatch_plan WHERE status = 'running'"))]
        if owners or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    engine.dispose()
    victim = next((w for w in cluster.workers if any(f":{w.pid}:" in (o or "")
                                                     for o in owners)), cluster.workers[0])
    had_job = any(f":{victim.pid}:" in (o or "") for o in owners)
    os.killpg(victim.pid, signal.SIGKILL)
    children = cluster.api_children(0)
    api_victim = children[0] if children else None
    if api_victim is not None:
        os.kill(api_victim, signal.SIGKILL)
    return {"worker_pid": victim.pid, "worker_had_running_job": had_job,
            "api_pid": api_victim, "at": datetime.now(UTC).isoformat(timespec="seconds")}


def verify(url: str, jobs: dict[int, int]) -> dict[str, Any]:
    """Exactly once: one plan row per request, each finished once; the ledger check."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT incident_id, count(*), sum(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 "
            "END) FROM dispatch_plan WHERE incident_id = ANY(:ids) GROUP BY incident_id"),
            {"ids": list(jobs)}).all()
        queue = dict(conn.execute(text(
            "SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status")).all())
    engine.dispose()
    once = all(n == 1 and ok == 1 for _, n, ok in rows) and len(rows) == len(jobs)
    check = subprocess.run([*RELIEF, "check"], env={**os.environ, "RELIEF_DATABASE_URL": url},
                           capture_output=True, text=True)
    return {"exactly_once": once, "queue_jobs": queue,
            "relief_check_ok": check.returncode == 0,
            "relief_check": check.stdout.strip().splitlines()[-1:] or check.stderr[-300:]}


# ---------------------------------------------------------------------------------------------
# Report


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    first = results[0]
    med = lambda key: statistics.median(r[key] for r in results if r[key] is not None)  # noqa: E731
    lines = [
        "### Load test: 4 API processes, 2 planning workers, one PostgreSQL",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {describe()}.",
        f"Command: `python -m bench.load --seconds {args.seconds} --users {args.users} --jobs "
        f"{args.jobs} --runs {args.runs}`; {len(results)} run(s), medians where several.",
        f"Two API machines of 2 processes (loopback ports {PORTS[0]}, {PORTS[1]}), 2 `relief "
        f"worker`s, {args.users} users (30% API viewers, 20% console users, 30% depot managers "
        "writing receipts and issues, 20% dispatchers) thinking 0.3-1.5 s between requests, a "
        "provincial mirror paging two feeds, and the planning jobs; at "
        f"{args.kill_at:.0%} of the run one worker (holding a running job) and one API process "
        "were killed with SIGKILL. The machine's reference: pgbench TPC-B, 1 client, "
        f"{med('pgbench_tps'):.0f} tps in the same run. **The machine was shared** with other "
        "jobs: 1-minute load average "
        f"{first['load_quiet']:.1f} when the quiet plan started, "
        f"{first['load_during']['min']:.1f}-{first['load_during']['max']:.1f} (median "
        f"{first['load_during']['median']:.1f}) during the run, on 2 cores.",
        "",
        "| route | requests | p50 (ms) | p95 (ms) | p99 (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for route, row in first["routes"].items():
        lines.append(f"| {route} | {row['n']} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} | "
                     f"{row['p99_ms']:.0f} |")
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(first["statuses"].items()))
    mark = {True: "yes", False: "**no**"}
    no_5xx = mark[first["http_5xx"] == 0]
    all_once = mark[bool(first["exactly_once"]) and first["jobs_succeeded"] == first["jobs"]]
    check_ok = mark[bool(first["relief_check_ok"])]
    attempts = sorted(first["jobs_attempts"].values())
    lines += [
        "",
        "| figure | target | measured | met |",
        "|---|---|---|---|",
        f"| requests in {first['seconds']:.0f} s | - | {first['requests']:,} ({statuses}) | - |",
        f"| 5xx answers | 0 | {first['http_5xx']} | {no_5xx} |",
        f"| dropped connections (the killed API process), retried on the other machine | - | "
        f"{first['conn_errors']} ({first['retried']} retried) | - |",
        f"| planning jobs finished exactly once | all {first['jobs']} | "
        f"{first['jobs_succeeded']} succeeded, exactly once: {first['exactly_once']}; "
        f"attempts {attempts} | {all_once} |",
        f"| killed worker had a running job | yes | "
        f"{first['killed']['worker_had_running_job']} | - |",
        f"| `relief check` after the run | green | {first['relief_check']} | {check_ok} |",
        f"| mirror pages read | - | {first['mirror_pages']} | - |",
        f"| coverage, same incident: quiet / under load | report | "
        f"{first['coverage_quiet']} / {first['coverage_loaded']} (bound "
        f"{first['bound_quiet']} / {first['bound_loaded']}) | - |",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the load test ``--runs`` times and write the page."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--kill-at", type=float, default=0.5)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    if args.jobs < 3:
        parser.error("--jobs must be at least 3 (two of them are the long ones)")
    results = [run(args, seed=20261130 + i) for i in range(args.runs)]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(results, indent=1, default=str),
                                       encoding="utf-8")
    page = report(results, args)
    write_keeping_notes(RESULTS / "load.md", page)
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
