"""Inventory benchmark on PostgreSQL, beside pgbench's TPC-B-like figure from the same run.

1. Ledger writes: stock issues (one move, one quant update, each its own transaction through
   the real use case) per second at 1, 2, 4 and 8 concurrent clients, all on the SAME stock (one
   quant, worst-case lock contention) and on DIFFERENT stock (a quant per client). Clients
   are separate processes, like separate API workers.
2. pgbench TPC-B-like tps at the same client counts on the same server, interleaved with 1.
3. Reads: GET /stock over real HTTP (uvicorn) with 1,000,000 ledger rows: p50/p95/p99.

Usage: python -m bench.inventory [--seconds 10] [--runs 3] [--clients 1,2,4,8]
       [--ledger-rows 1000000] [--out bench/results/inventory.md]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.machine import describe
from bench.pages import write_keeping_notes

SERVER = os.environ.get("RELIEF_BENCH_DATABASE_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ROOT = Path(__file__).resolve().parent.parent
CLIENT_DEPOTS = 32
BIG = 50_000_000


def _admin(sql: str) -> None:
    engine = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def _url(name: str) -> str:
    return make_url(SERVER).set(database=name).render_as_string(hide_password=False)


def _fresh_database(name: str) -> str:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    return _url(name)


# ---------------------------------------------------------------------------------------------
# Setup


def prepare(url: str) -> None:
    """Migrate, add a bench network (synthetic) and a large lot per client depot."""
    from relief.app import migrations
    from relief.platform.db import Database, make_engine
    from supplies import ledger
    from supplies.ledger import MoveContext
    from supplies.models import Depot, Division, Item

    migrations.upgrade(url)
    db = Database(engine=make_engine(url))

    def build(session: Any) -> None:
        session.add(Division(code="320600", name="南通市", level="city"))
        session.flush()
        item = Item(code="1990001", name_zh="基准物资", name_en="bench item", category="bench",
                    unit="件", unit_weight_kg=1, unit_volume_m3=0.01)
        session.add(item)
        session.flush()
        ctx = MoveContext(actor="bench", today=date.today(), reference="BENCH-OPENING")
        for i in range(CLIENT_DEPOTS):
            depot = Depot(code=f"B{i:02d}", name=f"bench depot {i} (synthetic)", tier="county",
                          kind="government", division_code="320600", lat=32.0, lon=120.9)
            session.add(depot)
            session.flush()
            location = ledger.depot_location(session, depot)
            lot = ledger.ensure_lot(session, item=item, lot_number="BENCH", expiry=None,
                                    location=location)
            ledger.receive(session, destination=location, item=item, lot=lot, quantity=BIG,
                           ctx=ctx)

    db.write(build)
    db.dispose()


# ---------------------------------------------------------------------------------------------
# Ledger write throughput


def _client(url: str, depot: str, seconds: float, ready: Any, go: Any, out: Any) -> None:
    from relief.platform.db import Database, make_engine
    from relief.platform.models import Role
    from relief.platform.principal import Principal
    from supplies import service
    from supplies.ledger import MoveContext
    from supplies.models.operations import IssueIn

    db = Database(engine=make_engine(url), write_retries=50)
    principal = Principal(token_id=0, name="bench", role=Role.admin)
    body = IssueIn(depot=depot, item="1990001", quantity=1, reference="bench")
    today = date.today()
    db.write(lambda s: service.issue_stock(  # warm the connection and caches
        s, principal=principal, data=body, ctx=MoveContext(actor="bench", today=today)))
    ready.put(1)
    go.wait()
    done = 0
    cpu = time.process_time()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        db.write(lambda s: service.issue_stock(
            s, principal=principal, data=body, ctx=MoveContext(actor="bench", today=today)))
        done += 1
    out.put((done, time.process_time() - cpu))
    db.dispose()


@dataclass(frozen=True)
class Writes:
    """One measurement of ledger writes: moves per second, and the clients' CPU per move."""

    per_s: float
    cpu_ms_per_move: float
    load: float  # 1-minute load average when it ended


def moves_per_second(url: str, clients: int, same_stock: bool, seconds: float) -> Writes:
    """Issues per second with ``clients`` processes on one quant or one quant each."""
    ctx = mp.get_context("spawn")
    ready, go, queue = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_client,
                    args=(url, "B00" if same_stock else f"B{i % CLIENT_DEPOTS:02d}", seconds,
                          ready, go, queue))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    for _ in procs:  # every client connected and warmed up before the clock starts
        ready.get(timeout=300)
    go.set()
    results = [queue.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join()
    total = sum(n for n, _ in results)
    cpu = sum(c for _, c in results)
    return Writes(per_s=total / seconds, cpu_ms_per_move=cpu / max(1, total) * 1000,
                  load=os.getloadavg()[0])


# Its own name: other benchmarks (and other checkouts) make and drop "relief_bench_pgbench".
PGBENCH_DB = f"relief_bench_pgbench_{os.getpid()}"


def _pgbench_args() -> list[str]:
    u = make_url(SERVER)
    return ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U",
            u.username or "postgres"]


def pgbench_init(scale: int = 10) -> None:
    """A fresh scale-``scale`` pgbench database (once per benchmark run)."""
    _fresh_database(PGBENCH_DB)
    subprocess.run(["pgbench", "-i", "-q", "-s", str(scale), *_pgbench_args(), PGBENCH_DB],
                   check=True, capture_output=True)


def pgbench_tps(clients: int, seconds: float) -> float:
    """pgbench TPC-B-like tps (excluding connection time) on the database of
    :func:`pgbench_init` (made first when it does not exist)."""
    engine = create_engine(SERVER)
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                              {"n": PGBENCH_DB}).first()
    engine.dispose()
    if not exists:
        pgbench_init()
    out = subprocess.run(["pgbench", "-c", str(clients), "-j", str(min(clients, 2)), "-T",
                          str(int(seconds)), *_pgbench_args(), PGBENCH_DB], check=True,
                         capture_output=True, text=True).stdout
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    return float(match.group(1)) if match else float("nan")


# ---------------------------------------------------------------------------------------------
# A million ledger rows, then GET /stock latency


def grow_ledger(url: str, rows: int) -> dict[str, float]:
    """Append synthetic history (receipts and issues over many lots) up to ``rows`` moves, keep
    quants equal to the moves, and time the ledger check on the result."""
    from relief.platform.db import Database, make_engine
    from supplies import ledger

    engine = create_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        have = conn.execute(text("SELECT count(*) FROM stock_move")).scalar_one()
        missing = max(0, rows - have)
        # 200 lots of the bench item, spread over the 32 depots: receipts then partial issues.
        conn.execute(text("""
            INSERT INTO lot (item_id, lot_number, expiry, created_at, updated_at)
            SELECT i.id, 'HIST-' || g, CURRENT_DATE + (g % 400) - 30, now(), now()
            FROM item i, generate_series(1, 200) g WHERE i.code = '1990001'
            ON CONFLICT DO NOTHING"""))
        conn.execute(text("""
            INSERT INTO stock_move (at, item_id, lot_id, quantity, from_location_id,
                                    to_location_id, kind, state, operation, reference, actor)
            SELECT now() - (g || ' seconds')::interval, l.item_id, l.id,
                   CASE WHEN g % 2 = 0 THEN 10 ELSE 3 END,
                   CASE WHEN g % 2 = 0 THEN sup.id ELSE d.id END,
                   CASE WHEN g % 2 = 0 THEN d.id ELSE dist.id END,
                   CASE WHEN g % 2 = 0 THEN 'receipt' ELSE 'issue' END,
                   'done', md5(g::text), 'BENCH-HISTORY', 'bench'
            FROM generate_series(1, :n) g
            JOIN lot l ON l.lot_number = 'HIST-' || (1 + (g / 2) % 200)
            JOIN location d ON d.code = 'DEPOT/B' || lpad(((g / 400) % 32)::text, 2, '0')
            CROSS JOIN (SELECT id FROM location WHERE code = 'VIRTUAL/SUPPLIER') sup
            CROSS JOIN (SELECT id FROM location WHERE code = 'VIRTUAL/DISTRIBUTION') dist
            """), {"n": missing})
        conn.execute(text("""
            INSERT INTO quant (location_id, item_id, lot_id, on_hand, reserved, updated_at)
            SELECT loc, item_id, lot_id, sum(q), 0, now() FROM (
                SELECT to_location_id AS loc, item_id, lot_id, quantity AS q FROM stock_move
                UNION ALL
                SELECT from_location_id, item_id, lot_id, -quantity FROM stock_move) m
            JOIN location l ON l.id = m.loc AND l.kind IN ('internal', 'transit')
            GROUP BY loc, item_id, lot_id
            ON CONFLICT (location_id, item_id, lot_id) DO UPDATE SET on_hand = excluded.on_hand
            """))
        conn.execute(text("ANALYZE"))
        total = conn.execute(text("SELECT count(*) FROM stock_move")).scalar_one()
        quants = conn.execute(text("SELECT count(*) FROM quant")).scalar_one()
    engine.dispose()
    grown = time.perf_counter() - started
    db = Database(engine=make_engine(url))
    started = time.perf_counter()
    with db.read_session() as session:
        result = ledger.verify(session)
    check_s = time.perf_counter() - started
    db.dispose()
    assert result.ok, result.problems[:5]
    return {"moves": total, "quants": quants, "grow_s": grown, "check_s": check_s}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_latency(url: str, requests: int) -> dict[str, float]:
    """Percentiles (ms) of GET /stock over HTTP against a real uvicorn server."""
    from relief.platform.auth import create_token
    from relief.platform.db import Database, make_engine
    from relief.platform.models import Role

    db = Database(engine=make_engine(url))
    name = f"bench-reads-{os.getpid()}-{time.monotonic_ns()}"  # token names are unique
    secret = db.write(lambda s: create_token(s, name=name, role=Role.viewer)[1])
    db.dispose()
    port = _free_port()
    # The reads measure the server, not the viewer's rate limit (10/s, burst 60).
    env = {**os.environ, "RELIEF_DATABASE_URL": url,
           "RELIEF_RATE_LIMITS": json.dumps({"viewer": {"per_s": 100_000, "burst": 100_000}})}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "relief.app.main:create_app", "--factory", "--port",
         str(port), "--log-level", "warning"], env=env, cwd=ROOT)
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}",
                              headers={"Authorization": f"Bearer {secret}"}, timeout=30)
        for _ in range(200):
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        queries = [{}, {"depot": "B07"}, {"item": "1990001", "limit": 200},
                   {"tier": "county", "offset": 500}, {"division": "320600"}]
        for q in queries:
            client.get("/api/v1/stock", params=q).raise_for_status()
        stock, moves = [], []
        for i in range(requests):
            t = time.perf_counter()
            client.get("/api/v1/stock", params=queries[i % len(queries)]).raise_for_status()
            stock.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            client.get("/api/v1/stock/moves", params={"depot": f"B{i % 32:02d}", "limit": 100,
                                                      "after": 500_000}).raise_for_status()
            moves.append((time.perf_counter() - t) * 1000)
    finally:
        server.terminate()
        server.wait(timeout=10)

    def pct(values: list[float], p: float) -> float:
        return statistics.quantiles(values, n=100)[int(p) - 1]

    return {"stock_p50": pct(stock, 50), "stock_p95": pct(stock, 95), "stock_p99": pct(stock, 99),
            "moves_p50": pct(moves, 50), "moves_p95": pct(moves, 95)}


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteRow:
    """The medians of one client count."""

    clients: int
    same: float
    different: float
    pgbench: float
    cpu_ms: float
    load: float
    runs: str


def machine() -> str:
    """One line describing this machine and its PostgreSQL."""
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return describe(pg)


def main(argv: list[str] | None = None) -> None:
    """Run the inventory benchmark and write its markdown report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", default="1,2,4,8")
    parser.add_argument("--ledger-rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--out", default="bench/results/inventory.md")
    args = parser.parse_args(argv)
    clients = [int(c) for c in args.clients.split(",")]
    inventory_db = f"relief_bench_inventory_{os.getpid()}"  # other checkouts use the plain name
    url = _fresh_database(inventory_db)
    prepare(url)
    pgbench_init()
    rows = []
    for n in clients:
        # Interleaved, so each run's three figures share the same minutes of a shared machine.
        same: list[Writes] = []
        diff: list[Writes] = []
        pgb: list[float] = []
        loads: list[float] = []
        for _ in range(args.runs):
            same.append(moves_per_second(url, n, True, args.seconds))
            diff.append(moves_per_second(url, n, False, args.seconds))
            pgb.append(pgbench_tps(n, args.seconds))
            loads.append(os.getloadavg()[0])
        rows.append(WriteRow(
            clients=n, same=statistics.median(w.per_s for w in same),
            different=statistics.median(w.per_s for w in diff), pgbench=statistics.median(pgb),
            cpu_ms=statistics.median(w.cpu_ms_per_move for w in [*same, *diff]),
            load=statistics.median(loads),
            runs=(f"{', '.join(f'{w.per_s:.0f}' for w in same)} / "
                  f"{', '.join(f'{w.per_s:.0f}' for w in diff)} / "
                  f"{', '.join(f'{x:.0f}' for x in pgb)}")))
        r = rows[-1]
        print(f"{n:>3} clients: same {r.same:.0f}/s, different {r.different:.0f}/s, "
              f"pgbench {r.pgbench:.0f} tps, {r.cpu_ms:.2f} ms CPU per move, load {r.load:.1f}",
              flush=True)
    _admin(f'DROP DATABASE IF EXISTS "{PGBENCH_DB}" WITH (FORCE)')
    grown = grow_ledger(url, args.ledger_rows)
    print(f"ledger: {grown}", flush=True)
    reads = [read_latency(url, args.requests) for _ in range(args.runs)]
    read = {k: statistics.median(r[k] for r in reads) for k in reads[0]}
    print(f"reads: {read}", flush=True)
    _admin(f'DROP DATABASE IF EXISTS "{inventory_db}" WITH (FORCE)')

    now = datetime.now(UTC)
    lines = [
        "## Inventory (PostgreSQL)",
        "",
        f"Run {now:%Y-%m-%d %H:%M} UTC on {machine()}.",
        f"Command: `.venv/bin/python -m bench.inventory --seconds {args.seconds:g} "
        f"--runs {args.runs} --clients {args.clients} --ledger-rows {args.ledger_rows} "
        f"--requests {args.requests}`",
        f"Medians of {args.runs} runs of {args.seconds:g} s each, run interleaved (same stock, "
        "different stock, pgbench, then again), so each pgbench figure is the reference "
        "measured in the same minutes of this shared machine; the load column is the 1-minute "
        "load average during them.",
        "",
        "Ledger writes: each is one `POST /stock/issues` use case, run in client processes "
        "without HTTP: one statement reading the depot, its location, the item, the "
        "distribution location and the item's quants there under row locks (`FOR UPDATE`), "
        "the FEFO pick in Python, one statement doing the quant UPDATE and the move INSERT "
        "(a data-modifying CTE), commit: 2 statements (counted by "
        "tests/supplies/test_ledger_statements.py) and 4 round trips with BEGIN and COMMIT "
        "(no pool pre-ping; see docs/inventory.md). CPU per move is the client processes' CPU "
        "time (user + system) over the moves they made.",
        "",
        "| clients | same stock (moves/s) | different stock (moves/s) | pgbench TPC-B (tps) "
        "| different stock / pgbench | client CPU per move (ms) | load average "
        "| runs: same / different / pgbench |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.clients} | {r.same:.0f} | {r.different:.0f} | {r.pgbench:.0f} | "
            f"{r.different / r.pgbench:.0%} | {r.cpu_ms:.2f} | {r.load:.1f} | {r.runs} |"
        )
    lines += [
        "",
        f"Reads with {grown['moves']:,} ledger rows and {grown['quants']:,} quants "
        f"(synthetic history built in {grown['grow_s']:.0f} s; `relief check` over it took "
        f"{grown['check_s']:.1f} s and passed). {args.requests} requests per run over HTTP "
        "to one uvicorn worker, five filter mixes:",
        "",
        "| request | p50 (ms) | p95 (ms) | p99 (ms) |",
        "|---|---:|---:|---:|",
        f"| GET /api/v1/stock | {read['stock_p50']:.1f} | {read['stock_p95']:.1f} | "
        f"{read['stock_p99']:.1f} |",
        f"| GET /api/v1/stock/moves?depot=..&after=.. | {read['moves_p50']:.1f} | "
        f"{read['moves_p95']:.1f} | - |",
        "",
    ]
    out = Path(args.out)
    write_keeping_notes(out, "\n".join(lines))
    figures = {
        "date": f"{now:%Y-%m-%d %H:%M} UTC",
        "runs": args.runs,
        "writes": [{"clients": r.clients, "same_stock": r.same, "different_stock": r.different,
                    "pgbench_tps": r.pgbench, "cpu_ms_per_move": r.cpu_ms, "load_avg": r.load}
                   for r in rows],
        "ledger_rows": grown["moves"],
        "reads_ms": read,
    }
    out.with_suffix(".json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {out} and its .json summary")


if __name__ == "__main__":
    main()
