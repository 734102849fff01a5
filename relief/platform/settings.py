"""Typed settings read from RELIEF_* environment variables; nothing is read at import time."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class RateLimit(BaseModel):
    """A token bucket's size: ``burst`` requests at once, refilled at ``per_s`` a second."""

    model_config = ConfigDict(frozen=True)

    per_s: float = Field(gt=0, le=100_000)
    burst: int = Field(ge=1, le=1_000_000)


# Per role: people at a console make a few requests a second at most; a dispatcher's desk
# polls plan progress; the provincial mirror pages feeds; an admin scripts bulk loads.
DEFAULT_RATE_LIMITS: dict[str, RateLimit] = {
    "admin": RateLimit(per_s=50.0, burst=200),
    "dispatcher": RateLimit(per_s=20.0, burst=120),
    "depot_manager": RateLimit(per_s=20.0, burst=120),
    "viewer": RateLimit(per_s=10.0, burst=60),
    "integration": RateLimit(per_s=10.0, burst=60),
}


class Settings(BaseSettings):
    """Runtime configuration. Every field maps to an environment variable RELIEF_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="RELIEF_", env_file=None, extra="ignore")

    database_url: str = Field(
        default="sqlite:///./relief.db",
        description="SQLAlchemy URL; e.g. postgresql+psycopg://postgres@127.0.0.1:5432/relief",
    )
    timezone: str = Field(default="Asia/Shanghai", description="Local time zone for dates")
    host: str = "127.0.0.1"
    port: int = 8000
    sql_echo: bool = False
    # A write that loses a lock race (PostgreSQL deadlock or serialization failure) is retried.
    write_retries: int = Field(default=5, ge=0, le=50)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    page_size_max: int = Field(default=1000, ge=1)
    # Request bodies (relief.platform.edge): JSON and forms, and multipart uploads (the count
    # sheet is at most 5 MiB, web.stockio); a longer body is refused with 413 before parsing.
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=6 * 1024 * 1024, ge=1024)
    # Imports: records per transaction, and the largest batch answered while the client waits
    # (larger ones get 202 and a job to poll).
    exchange_import_chunk: int = Field(default=250, ge=1, le=5000)
    exchange_import_sync_max: int = Field(default=1000, ge=0, le=10_000)
    # Feeds: how long a reader should wait when a page is held back by an open transaction.
    exchange_feed_retry_after_ms: int = Field(default=500, ge=10, le=60_000)
    # Rate limits: a token bucket per API token, its size by the token's role (JSON object
    # role -> [requests per second, burst]); kept in PostgreSQL so every API process and
    # machine shares it (SQLite, one process: in memory). See docs/operations.md.
    # Roles left out keep their default (DEFAULT_RATE_LIMITS).
    rate_limits: dict[str, RateLimit] = Field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS))
    # Planning jobs. Queue: "auto" = in this process on SQLite, procrastinate on PostgreSQL.
    plan_queue: str = Field(default="auto", pattern="^(auto|local|procrastinate)$")
    # Jobs whose time limit is at most this many seconds go to the urgent lane.
    plan_urgent_limit_s: float = Field(default=60.0, gt=0)
    # Slots per worker (or per API process on SQLite): jobs of each lane run at once.
    plan_urgent_slots: int = Field(default=1, ge=0, le=8)
    plan_long_slots: int = Field(default=1, ge=0, le=8)
    # Readiness runs, advice jobs and import batches one worker process runs at once.
    background_slots: int = Field(default=1, ge=0, le=8)
    # Queued + running jobs allowed at once per incident and per requesting user.
    plan_cap_per_incident: int = Field(default=3, ge=1, le=100)
    plan_cap_per_user: int = Field(default=5, ge=1, le=100)
    # A running job's lease: renewed every heartbeat; a job whose lease lapsed is taken over.
    plan_lease_s: float = Field(default=30.0, ge=2)
    plan_heartbeat_s: float = Field(default=2.0, gt=0)
    # PostgreSQL: planning workers inside each API process (0 = run `relief worker` apart).
    embedded_plan_workers: int = Field(default=0, ge=0, le=1)
    # Whether the engine runs in a worker process ("subprocess", cancellable, a solver crash
    # fails the job not the worker) or in the calling process ("inline").
    planner: str = Field(default="subprocess", pattern="^(subprocess|inline)$")
    # Readiness (dispatch.readiness): a run over the scenario library every N hours (0: never),
    # the engine's time limit per scenario, and how many scenarios are solved at once.
    readiness_interval_hours: float = Field(default=24.0, ge=0)
    readiness_time_limit_s: float = Field(default=8.0, gt=0, le=600)
    readiness_parallel: int = Field(default=2, ge=1, le=8)
    # Console sessions (docs/access.md): a session ends after this long without a request, and
    # this long after login whatever happens (the cookie's max-age).
    session_idle_minutes: int = Field(default=120, ge=1, le=7 * 24 * 60)
    session_absolute_hours: float = Field(default=12.0, gt=0, le=30 * 24)
    # Logs: "json" (one object a line, with the request id) or "text".
    log_format: str = Field(default="json", pattern="^(json|text)$")
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")

    @field_validator("rate_limits")
    @classmethod
    def _every_role_limited(cls, value: dict[str, RateLimit]) -> dict[str, RateLimit]:
        unknown = sorted(set(value) - set(DEFAULT_RATE_LIMITS))
        if unknown:
            raise ValueError(f"rate_limits: unknown roles {unknown} (roles: "
                             f"{', '.join(DEFAULT_RATE_LIMITS)})")
        return {**DEFAULT_RATE_LIMITS, **value}

    @property
    def tz(self) -> ZoneInfo:
        """The configured local time zone."""
        return ZoneInfo(self.timezone)

    def today(self) -> date:
        """Today's date in the local time zone (expiry dates are local dates)."""
        return datetime.now(self.tz).date()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings built once on first use (never at import)."""
    return Settings()
