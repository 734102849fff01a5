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
