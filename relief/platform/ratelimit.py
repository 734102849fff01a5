"""Rate limits: a token bucket per API token, sized by the token's role.

Two stores, one behaviour (``burst`` requests at once, refilled at ``per_s`` a second):

* :class:`SharedBuckets` (PostgreSQL): one row per token in the ``rate_limit`` table, updated by
  a single ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` in autocommit, so every API process
  on every machine draws from the same bucket. The bucket is kept as GCRA's *theoretical
  arrival time* (``tat``): a request is admitted when ``max(tat, now) + 1/rate`` is at most
  ``burst/rate`` ahead of now. The table is UNLOGGED (no write-ahead log: after a database
  crash it is empty, which only refills the buckets). The database's clock is the only clock.
* :class:`MemoryBuckets` (SQLite, which serves from one process): the same arithmetic in
  process memory.

Why PostgreSQL and not Redis: measured in ``bench/ratelimit_store.py`` (bench/RESULTS.md), a
take costs well under a millisecond either way next to several milliseconds per request, and
PostgreSQL is already there; Redis would be one more service to run, secure and back up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Engine, text

from relief.platform.settings import RateLimit


class RateLimiter(Protocol):
    """Takes one request from a key's bucket."""

    def take(self, key: str, limit: RateLimit) -> float:
        """0.0 when admitted, else the seconds until a request would be."""


@dataclass
class _Bucket:
    tokens: float
    at: float


class MemoryBuckets:
    """Token buckets in this process's memory (one process: SQLite); thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str, limit: RateLimit) -> float:
        """0.0 when admitted, else the seconds until a request would be."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(tokens=float(limit.burst), at=now)
            bucket.tokens = min(float(limit.burst),
                                bucket.tokens + (now - bucket.at) * limit.per_s)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / limit.per_s


_TAKE = text("""
INSERT INTO rate_limit AS r (key, tat) VALUES (:key, now() + :step)
ON CONFLICT (key) DO UPDATE SET tat = greatest(r.tat, now()) + :step
WHERE greatest(r.tat, now()) + :step - now() <= :window
RETURNING tat
""")
_WAIT = text("SELECT extract(epoch FROM (tat - now())) FROM rate_limit WHERE key = :key")


class SharedBuckets:
    """Token buckets in PostgreSQL's ``rate_limit`` table, shared by every API process."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    def take(self, key: str, limit: RateLimit) -> float:
        """0.0 when admitted, else the seconds until a request would be."""
        step = timedelta(seconds=1.0 / limit.per_s)
        window = timedelta(seconds=limit.burst / limit.per_s)
        with self._engine.connect() as conn:
            admitted = conn.execute(_TAKE, {"key": key, "step": step, "window": window}).first()
            if admitted is not None:
                return 0.0
            ahead = conn.execute(_WAIT, {"key": key}).scalar_one()
        # Admitted again once tat + step - now <= window.
        return max(0.001, float(ahead) + step.total_seconds() - window.total_seconds())


def limiter_for(engine: Engine) -> RateLimiter:
    """Shared buckets on PostgreSQL, this process's on SQLite."""
    if engine.dialect.name == "postgresql":
        return SharedBuckets(engine)
    return MemoryBuckets()
