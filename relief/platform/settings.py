"""Typed settings read from RELIEF_* environment variables; nothing is read at import time."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    # Provincial exchange: a token bucket per integration token, per API process.
    exchange_rate_per_s: float = Field(default=10.0, gt=0, description="Sustained requests/s")
    exchange_rate_burst: int = Field(default=60, ge=1, description="Requests allowed at once")
    # Imports: records per transaction, and the largest batch answered while the client waits
    # (larger ones get 202 and a job to poll).
    exchange_import_chunk: int = Field(default=250, ge=1, le=5000)
    exchange_import_sync_max: int = Field(default=1000, ge=0, le=10_000)
    # Planning jobs: how many run at once, and whether the engine runs in a worker process
    # ("subprocess", keeps the API responsive) or in the API process ("inline").
    plan_workers: int = Field(default=1, ge=1, le=8)
    planner: str = Field(default="subprocess", pattern="^(subprocess|inline)$")
    # Readiness (dispatch.readiness): a run over the scenario library every N hours (0: never),
    # the engine's time limit per scenario, and how many scenarios are solved at once.
    readiness_interval_hours: float = Field(default=24.0, ge=0)
    readiness_time_limit_s: float = Field(default=8.0, gt=0, le=600)
    readiness_parallel: int = Field(default=2, ge=1, le=8)

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
