"""Where to keep rate-limit buckets that every API process shares: PostgreSQL or Redis.

Not part of ``make bench`` (the redis client is not a dependency of the project): run it from
the repository root with the project's venv plus redis-py, against the local PostgreSQL and a
local Redis (``redis-server`` on 127.0.0.1:6379):
    .venv/bin/pip install redis==8.1.0   # in a scratch copy of the venv, or a scratch venv
    python bench/ratelimit_store.py --runs 3
It writes bench/results/ratelimit_store.md.

Both stores run the same GCRA bucket (a theoretical arrival time per key): PostgreSQL with the
project's own ``SharedBuckets`` (one INSERT .. ON CONFLICT .. WHERE in autocommit on an
UNLOGGED table), Redis with a Lua script doing the same arithmetic. Measured: the latency of
one take from one thread, and takes per second from 8 threads on 8 keys and on 1 key (every
thread on one token: the row or key everybody waits for).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import redis
from sqlalchemy import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from relief.platform.ratelimit import SharedBuckets
from relief.platform.settings import RateLimit

SERVER = os.environ.get("RL_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres")
DBNAME = "ratelimit_bench"
LIMIT = RateLimit(per_s=100_000, burst=1_000_000)  # never refuses: we time the store
LUA = """
local now = tonumber(redis.call('TIME')[1]) + tonumber(redis.call('TIME')[2]) / 1e6
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
local step, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local new = math.max(tat, now) + step
if new - now > window then return 0 end
redis.call('SET', KEYS[1], new, 'PX', math.ceil(window * 1000) + 1000)
return 1
"""


def fresh() -> str:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DBNAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DBNAME}")
    url = SERVER.rsplit("/", 1)[0] + "/" + DBNAME
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE UNLOGGED TABLE rate_limit (key varchar(80) PRIMARY KEY, "
                     "tat timestamptz NOT NULL)")
    return url.replace("postgresql://", "postgresql+psycopg://")


def timed(take, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        take(f"k{i % 8}")
    return (time.perf_counter() - started) / n


def threaded(take, threads: int, keys: int, seconds: float) -> float:
    count = [0] * threads
    stop = time.monotonic() + seconds

    def run(t: int) -> None:
        while time.monotonic() < stop:
            take(f"k{t % keys}")
            count[t] += 1

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(count) / seconds


def measure() -> dict[str, dict[str, float]]:
    engine = create_engine(fresh(), pool_size=10)
    pg = SharedBuckets(engine)
    client = redis.Redis(host="127.0.0.1", port=6379)
    script = client.register_script(LUA)
    step, window = 1 / LIMIT.per_s, LIMIT.burst / LIMIT.per_s

    def pg_take(key: str) -> float:
        return pg.take(key, LIMIT)

    def redis_take(key: str) -> float:
        return 0.0 if script(keys=[key], args=[step, window]) else 1.0

    out = {}
    for name, take in (("postgresql", pg_take), ("redis", redis_take)):
        timed(take, 200)  # warm up
        out[name] = {"take_ms": timed(take, 2000) * 1000,
                     "threads8_keys8": threaded(take, 8, 8, 5),
                     "threads8_key1": threaded(take, 8, 1, 5)}
    engine.dispose()
    return out


def main() -> None:
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 1
    results = [measure() for _ in range(runs)]
    for r in results:
        print(r, flush=True)

    def med(store: str, key: str) -> float:
        return statistics.median(r[store][key] for r in results)

    lines = [
        "### Rate-limit store: PostgreSQL beside Redis",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, PostgreSQL 15 and Redis on this machine (loopback).",
        f"Command: `python bench/ratelimit_store.py --runs {runs}`; medians of the runs.",
        "",
        "| measure | PostgreSQL (SharedBuckets) | Redis (Lua GCRA) |",
        "|---|---:|---:|",
        f"| one take, one thread (ms) | {med('postgresql', 'take_ms'):.3f} | "
        f"{med('redis', 'take_ms'):.3f} |",
        f"| takes/s, 8 threads on 8 tokens | {med('postgresql', 'threads8_keys8'):,.0f} | "
        f"{med('redis', 'threads8_keys8'):,.0f} |",
        f"| takes/s, 8 threads on 1 token | {med('postgresql', 'threads8_key1'):,.0f} | "
        f"{med('redis', 'threads8_key1'):,.0f} |",
    ]
    from bench.pages import write_keeping_notes

    write_keeping_notes(Path(__file__).resolve().parent / "results" / "ratelimit_store.md",
                        "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
