"""Tables of the provincial exchange, and the source schema family.

Configured sources and their per-feed cursors, the mapping of the province's records to ours
(with the last applied version and a content hash), provincial depot details (the lead time the
province reports), the sync log and the rejected records. The export feeds need no table of
their own: they page on the ``change_stamp`` column that database triggers keep on the
inventory tables (see ``relief.platform.dbtypes.change_stamp_column`` and docs/integration.md).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from exchange.models.enums import Entity, ImportJobStatus, RunKind, RunStatus
from exchange.models.schemas import SourceOptions
from relief.platform.dbtypes import UTCDateTime, str_enum, utcnow
from relief.platform.leasedjob import LeasedJob

SOURCE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"


class ExchangeClock(SQLModel, table=True):
    """SQLite only: the global counter the change-stamp triggers draw from.

    PostgreSQL stamps rows with the writing transaction's id instead and never uses this table.
    """

    __tablename__ = "exchange_clock"

    id: int = Field(primary_key=True)
    value: int = Field(default=0, sa_type=BigInteger)


class ExchangeSourceBase(SQLModel):
    """Fields shared by source schemas."""

    name: str = Field(max_length=40, schema_extra={"pattern": SOURCE_NAME_PATTERN})
    base_url: str | None = Field(default=None, max_length=300,
                                 description="Root of the provincial endpoint (pull only)")
    options: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    active: bool = True


class ExchangeSource(ExchangeSourceBase, table=True):
    """A provincial system we exchange with: its endpoint and options."""

    __tablename__ = "exchange_source"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=40, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    def parsed_options(self) -> SourceOptions:
        """The options as a validated object."""
        return SourceOptions.model_validate(self.options or {})


class ExchangeSourceCreate(ExchangeSourceBase):
    """A new source (``relief sync source add``)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.fullmatch(SOURCE_NAME_PATTERN, value):
            raise PydanticCustomError(
                "source_name", "lower-case letters, digits, - and _ (at most 40)")
        return value

    @field_validator("options")
    @classmethod
    def _options(cls, value: dict[str, Any]) -> dict[str, Any]:
        return SourceOptions.model_validate(value).model_dump(mode="json", exclude_unset=True)


class ExchangeSourceUpdate(SQLModel):
    """Changes to a source; ``options`` are merged into the stored ones."""

    base_url: str | None = Field(default=None, max_length=300)
    options: dict[str, Any] | None = None
    active: bool | None = None


class ExchangeSourcePublic(ExchangeSourceBase):
    """A source with its committed cursors."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 1, "name": "jiangsu", "base_url": "https://prov.example.cn/api/reserve/v1",
        "options": {"page_size": 200, "token_env": "RELIEF_SYNC_JIANGSU_TOKEN"},
        "active": True, "cursors": {"warehouses": "c-120", "stock": "c-8812"},
        "updated_at": "2026-11-28T02:00:00Z"}]})

    id: int
    cursors: dict[str, str | None] = {}
    updated_at: datetime


class ExchangeCursor(SQLModel, table=True):
    """Where a pull of one feed of one source has got to, committed with the page it follows."""

    __tablename__ = "exchange_cursor"

    source_id: int = Field(foreign_key="exchange_source.id", primary_key=True)
    feed: Entity = Field(sa_type=str_enum(Entity), primary_key=True)
    cursor: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    pages: int = 0
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ExchangeRecord(SQLModel, table=True):
    """The mapping of one provincial record to our row, with what was last applied.

    ``local_id`` is our natural key: a depot or transport-enterprise code, or
    ``depot/item/lot`` for a stock record.
    """

    __tablename__ = "exchange_record"
    __table_args__ = (UniqueConstraint("source_id", "entity", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="exchange_source.id")
    entity: Entity = Field(sa_type=str_enum(Entity))
    external_id: str = Field(max_length=160)
    local_id: str = Field(max_length=160, index=True)
    version: int = Field(sa_type=BigInteger)
    content_hash: str = Field(max_length=64)
    batch_id: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ExchangeDepot(SQLModel, table=True):
    """What we keep about a provincial depot or producer beyond the depot row itself."""

    __tablename__ = "exchange_depot"

    depot_id: int = Field(
        sa_column=Column(ForeignKey("depot.id"), primary_key=True, autoincrement=False)
    )
    source_id: int = Field(foreign_key="exchange_source.id", index=True)
    entity: Entity = Field(sa_type=str_enum(Entity))
    external_id: str = Field(max_length=160)
    lead_time_hours: float | None = Field(
        default=None, description="Hours from a call until goods can leave (响应时间)"
    )
    reported_division_code: str | None = Field(default=None, max_length=12)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SyncRun(SQLModel, table=True):
    """The sync log: one pull by the connector, or one batch pushed to the import API."""

    __tablename__ = "exchange_sync_run"

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="exchange_source.id", index=True)
    kind: RunKind = Field(sa_type=str_enum(RunKind))
    status: RunStatus = Field(default=RunStatus.running, sa_type=str_enum(RunStatus))
    actor: str = Field(max_length=120)
    feeds: list[str] = Field(default_factory=list, sa_type=JSON)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    heartbeat_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    current_feed: str | None = Field(default=None, max_length=40,
                                     description="The feed a running pull is reading")
    pages: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    rejected: int = 0
    retries: int = 0
    per_feed: dict[str, dict[str, int]] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False),
        description="The same counts (and pages) per feed")
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)


class ExchangeRejection(SQLModel, table=True):
    """A record that was rejected: never written, kept here with the reason for follow-up."""

    __tablename__ = "exchange_rejection"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(
        sa_column=Column(ForeignKey("exchange_sync_run.id", ondelete="CASCADE"), nullable=False,
                         index=True)
    )
    entity: Entity = Field(sa_type=str_enum(Entity))
    batch_id: str = Field(max_length=120)
    position: int
    external_id: str | None = Field(default=None, max_length=160)
    reason: str = Field(max_length=500)
    record: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ImportJob(LeasedJob, table=True):
    """One import batch: its records until they are applied, progress, and where the report is.

    Every batch is a job, answered at once (200 with the report) or, when large, with 202 and
    polled at ``/exchange/import-jobs/{id}``. Records are applied in chunks, each its own
    transaction (``done`` advances with each), so a job resumes after a crash where it stopped.
    ``(token_id, idempotency_key)`` makes a retried POST find its job instead of importing again.
    """

    __tablename__ = "exchange_import_job"
    __table_args__ = (UniqueConstraint("token_id", "idempotency_key"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="exchange_source.id", index=True)
    entity: Entity = Field(sa_type=str_enum(Entity))
    batch_id: str = Field(max_length=120)
    actor: str = Field(max_length=120)
    token_id: int | None = Field(default=None)
    idempotency_key: str | None = Field(default=None, max_length=200)
    request_hash: str = Field(max_length=64)
    dry_run: bool = False
    status: ImportJobStatus = Field(default=ImportJobStatus.queued,
                                    sa_type=str_enum(ImportJobStatus, "jobstatus"), index=True)
    total: int = 0
    done: int = 0
    counts: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    records: Any = Field(default=None, sa_column=Column(JSON, nullable=True),
                         description="The batch's records until the job ends")
    run_id: int | None = Field(default=None, foreign_key="exchange_sync_run.id")
    error: str | None = Field(default=None, max_length=500)  # shorter than LeasedJob's
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ImportChunk(SQLModel, table=True):
    """The per-record results of one chunk of an import job (records ``start`` onwards)."""

    __tablename__ = "exchange_import_chunk"

    job_id: int = Field(
        sa_column=Column(ForeignKey("exchange_import_job.id", ondelete="CASCADE"),
                         primary_key=True, autoincrement=False)
    )
    start: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    results: list[dict[str, Any]] = Field(default_factory=list,
                                          sa_column=Column(JSON, nullable=False))


class Tombstone(SQLModel, table=True):
    """A deleted row of an exported table, written by a database trigger on every DELETE
    (migrations 0008, 0011), so the export feeds can announce deletions in stamp order."""

    __tablename__ = "exchange_tombstone"

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    )
    table_name: str = Field(max_length=40)
    row_id: int = Field(sa_type=BigInteger)
    key: str = Field(sa_type=Text, description="The row's key in its feed, a JSON object "
                     "(migration 0011)")
    depot: str | None = Field(default=None, max_length=32,
                              description="The deleted row's depot code (local_only filter)")
    change_stamp: int = Field(default=0, sa_type=BigInteger, index=True)
    deleted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
