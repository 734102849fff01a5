"""Provincial import benchmark: 10,000 stock records through the real HTTP import API.

Per run, on a fresh database of each backend: a real uvicorn server (one process, as `make
run` serves it), 20 provincial warehouses imported, then three batches of the same 10,000
stock records (SYNTHETIC: 20 warehouses x 5 materials x 100 lots, quantities made up), each
POSTed to ``/api/v1/exchange/import/stock`` (202) and polled until the job has succeeded:

1. first load: every record creates a lot and books a receipt;
2. update: a newer version of every record with another quantity (count gains and losses);
3. replay: the update batch again (every record ``unchanged``, nothing written).

The figure is the wall time from the POST to the job's ``succeeded`` (target: under 60 s
for the first load). The machine is shared, so each run also measures pgbench TPC-B tps (one
client, 10 s) on the same PostgreSQL server as the reference of the load at that moment, and
the load average. After each run ``relief check`` proves the ledger whole.

Usage: python -m bench.exchange [--runs 3] [--records 10000] [--backends postgresql,sqlite]
       [--out bench/results/exchange.md]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.inventory import _fresh_database, machine, pgbench_tps
from bench.pages import write_keeping_notes

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 60.0
WAREHOUSES = 20
# Provincial material codes (exchange.mapping.ITEMS) and the unit each record uses.
MATERIALS = {"A0101": "顶", "B0101": "床", "C0101": "件", "D0101": "箱", "E0101": "个"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _prepare(url: str) -> str:
    """Migrate, add the catalogue items the materials map to, a source and a token."""
    from exchange import service
    from exchange.models import ExchangeSourceCreate
    from relief.app import migrations
    from relief.platform.auth import create_token
    from relief.platform.db import Database, make_engine
    from relief.platform.models import Role
    from seed.loader import load_divisions, load_items

    migrations.upgrade(url)
    db = Database(engine=make_engine(url))

    def build(session: Any) -> str:
        load_divisions(session)
        load_items(session)
        service.create_source(session, data=ExchangeSourceCreate(name="bench"), actor="bench")
        return create_token(session, name="bench-import", role=Role.integration,
                            scopes=["exchange:write"])[1]

    token = db.write(build)
    db.dispose()
    return token


def _records(version: int) -> list[dict[str, Any]]:
    """10,000 stock records: 20 warehouses x 5 materials x 100 lots (synthetic)."""
    expiry = (date.today() + timedelta(days=400)).isoformat()
    out = []
    for w in range(WAREHOUSES):
        for m, (code, unit) in enumerate(MATERIALS.items()):
            for lot in range(100):
                record = {"CKBM": f"BENCH-CK-{w:02d}", "WZBM": code, "JLDW": unit,
                          "PCH": f"2026-{lot:03d}", "KCSL": 100 + (w * 7 + m * 13 + lot) % 900
                          + (version - 1) * ((lot % 3) - 1) * 5, "ZLZT": "01", "BBH": version}
                if code == "D0101":
                    record["YXQZ"] = expiry
                out.append(record)
    return out


def _serve(url: str) -> tuple[subprocess.Popen[bytes], httpx.Client, str]:
    port = _free_port()
    env = {**os.environ, "RELIEF_DATABASE_URL": url, "RELIEF_EXCHANGE_RATE_BURST": "100000"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "relief.app.main:create_app", "--factory", "--port",
         str(port), "--log-level", "warning"], env=env, cwd=ROOT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
    for _ in range(300):
        try:
            if client.get("/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return server, client, f"http://127.0.0.1:{port}"


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _import(client: httpx.Client, token: str, batch: str, records: list[Any],
            pid: int) -> tuple[float, dict, float]:
    """POST a batch and poll its job: (seconds from POST to succeeded, the job's counts, CPU
    seconds the API process used meanwhile)."""
    headers = {"Authorization": f"Bearer {token}", "Prefer": "respond-async"}
    cpu = _cpu_s(pid)
    started = time.perf_counter()
    response = client.post("/api/v1/exchange/import/stock", headers=headers,
                           json={"source": "bench", "batch_id": batch, "records": records})
    response.raise_for_status()
    job = response.json()
    while job["status"] in ("queued", "running"):
        time.sleep(0.2)
        job = client.get(f"/api/v1/exchange/import-jobs/{job['id']}", headers=headers).json()
    elapsed = time.perf_counter() - started
    used = _cpu_s(pid) - cpu
    if job["status"] != "succeeded":
        raise RuntimeError(f"import job failed: {job.get('error')}")
    return elapsed, job["counts"], used


def one_run(backend: str, records: int) -> dict[str, Any]:
    """One run on a fresh database of ``backend``: seconds per batch, counts, check."""
    if backend == "postgresql":
        url = _fresh_database("relief_bench_exchange")
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='relief-bench-')}/relief.db"
    token = _prepare(url)
    server, client, _ = _serve(url)
    load = os.getloadavg()[0]
    try:
        headers = {"Authorization": f"Bearer {token}"}
        client.post("/api/v1/exchange/import/warehouses", headers=headers, json={
            "source": "bench", "batch_id": "CK", "records": [
                {"CKBM": f"BENCH-CK-{w:02d}", "CKMC": f"基准仓库 {w} (synthetic)",
                 "XZQHDM": "320682", "JD": 120.57, "WD": 32.39, "XYSJ": 4, "BBH": 1}
                for w in range(WAREHOUSES)]}).raise_for_status()
        first = _records(1)[:records]
        update = _records(2)[:records]
        load_s, load_counts, load_cpu = _import(client, token, "KC-1", first, server.pid)
        update_s, update_counts, _ = _import(client, token, "KC-2", update, server.pid)
        replay_s, replay_counts, _ = _import(client, token, "KC-3", update, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    check = subprocess.run([sys.executable, "-m", "relief.app.cli", "check"], cwd=ROOT,
                           env={**os.environ, "RELIEF_DATABASE_URL": url},
                           capture_output=True, text=True)
    return {"backend": backend, "load_avg": load, "first_s": load_s, "first_cpu_s": load_cpu,
            "update_s": update_s,
            "replay_s": replay_s, "first": load_counts, "update": update_counts,
            "replay": replay_counts, "check_ok": check.returncode == 0}


def main(argv: list[str] | None = None) -> None:
    """Run the import benchmark and write its page and summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--out", default="bench/results/exchange.md")
    args = parser.parse_args(argv)
    backends = args.backends.split(",")
    runs: list[dict[str, Any]] = []
    for i in range(args.runs):
        for backend in backends:
            run = one_run(backend, args.records)
            run["pgbench_tps"] = pgbench_tps(1, 10)
            runs.append(run)
            print(f"run {i + 1} {backend}: first {run['first_s']:.1f} s (API CPU "
                  f"{run['first_cpu_s']:.1f} s), update "
                  f"{run['update_s']:.1f} s, replay {run['replay_s']:.1f} s, pgbench "
                  f"{run['pgbench_tps']:.0f} tps, load {run['load_avg']:.1f}, check "
                  f"{'ok' if run['check_ok'] else 'FAILED'}", flush=True)
    command = "python -m bench.exchange " + " ".join(argv if argv is not None else sys.argv[1:])
    write_page(Path(args.out), runs, args.records, command.strip())


def write_page(out: Path, runs: list[dict[str, Any]], records: int, command: str) -> None:
    """The markdown page and ``exchange.json`` beside it."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    summary = []
    lines = [
        "### Provincial import (HTTP, import jobs)", "",
        f"Run {now} on {machine()}.", f"Command: `.venv/bin/{command}`", "",
        f"{records:,} synthetic stock records per batch, POSTed to "
        "`/api/v1/exchange/import/stock` and polled until the job succeeded (one uvicorn "
        "process, chunks of 250 records, each its own transaction). Medians of "
        f"{len(runs) // max(1, len({r['backend'] for r in runs}))} runs, each on a fresh "
        "database; pgbench TPC-B (1 client, 10 s, same server) and the load average are the "
        "reference of how busy the shared machine was. API CPU is the user + system time the "
        "API process used during the first load (PostgreSQL's own backend time is not in it).",
        "",
        "| backend | first load (s) | API CPU, first load (s) | update (s) | replay (s) | "
        "target < 60 s | pgbench tps | load avg | runs: first / update / replay | ledger check |",
        "|---|---:|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for backend in dict.fromkeys(r["backend"] for r in runs):
        mine = [r for r in runs if r["backend"] == backend]
        med = {k: statistics.median(r[k] for r in mine)
               for k in ("first_s", "first_cpu_s", "update_s", "replay_s", "pgbench_tps",
                         "load_avg")}
        per_run = " / ".join(", ".join(f"{r[k]:.1f}" for r in mine)
                             for k in ("first_s", "update_s", "replay_s"))
        ok = all(r["check_ok"] for r in mine)
        lines.append(
            f"| {backend} | {med['first_s']:.1f} | {med['first_cpu_s']:.1f} | "
            f"{med['update_s']:.1f} | "
            f"{med['replay_s']:.1f} | {'yes' if med['first_s'] < TARGET_S else '**no**'} | "
            f"{med['pgbench_tps']:.0f} | {med['load_avg']:.1f} | {per_run} | "
            f"{'passed' if ok else '**failed**'} |")
        summary.append({"backend": backend, "records": records, **med, "check_ok": ok,
                        "runs": len(mine)})
    lines += ["", "Counts of the last run: " + "; ".join(
        f"{r['backend']} first {r['first']}, update {r['update']}, replay {r['replay']}"
        for r in runs[-len(summary):]), ""]
    write_keeping_notes(out, "\n".join(lines))
    (out.parent / "exchange.json").write_text(json.dumps(
        {"date": now, "command": command, "target_s": TARGET_S, "backends": summary},
        indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
