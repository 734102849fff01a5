"""Platform tables: API tokens, console sessions, idempotency records and the audit trail.
No domain rules."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, text
from sqlmodel import Field, SQLModel

from relief.platform.dbtypes import UTCDateTime, str_enum, utcnow


class Role(StrEnum):
    """What a token may do; see docs/access.md."""

    admin = "admin"
    depot_manager = "depot_manager"
    dispatcher = "dispatcher"
    viewer = "viewer"
    integration = "integration"


class ApiToken(SQLModel, table=True):
    """A bearer token. Only its SHA-256 is stored; the secret is shown once at creation.
    Names are unique among unrevoked tokens; a rotated token points at the one it replaced."""

    __tablename__ = "api_token"
    __table_args__ = (
        Index("uq_api_token_active_name", "name", unique=True,
              sqlite_where=text("revoked_at IS NULL"),
              postgresql_where=text("revoked_at IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    role: Role = Field(sa_type=str_enum(Role))
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=12)
    depots: list[str] = Field(default_factory=list, sa_type=JSON)
    scopes: list[str] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    rotated_from: int | None = None  # the id of the token this one replaced


class ConsoleSession(SQLModel, table=True):
    """A console login: the browser's cookie holds a random session id whose SHA-256 is stored
    here (never the API token). It ends at logout, when an admin revokes it, after
    ``session_idle_minutes`` without a request, at ``expires_at`` (``session_absolute_hours``
    after login), or when its token is revoked or expires (relief.platform.sessions)."""

    __tablename__ = "console_session"

    id: int | None = Field(default=None, primary_key=True)
    session_hash: str = Field(max_length=64, unique=True)
    token_id: int = Field(foreign_key="api_token.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: str | None = Field(default=None, max_length=120)
    user_agent: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=64)


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a POST made with an Idempotency-Key, replayed on retries.

    The row is inserted at the start of the write transaction (a claim) and completed with the
    response before commit, so a concurrent retry blocks on the primary key and then replays.
    """

    __tablename__ = "idempotency_record"

    token_id: int = Field(foreign_key="api_token.id", primary_key=True)
    key: str = Field(max_length=200, primary_key=True)
    fingerprint: str = Field(max_length=64)
    status_code: int | None = None
    response: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditEvent(SQLModel, table=True):
    """Who did what to which record, for every write outside the stock ledger's own moves."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_entity", "entity", "entity_id"),
                      Index("ix_audit_event_depot_at", "depot", "at"))

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=120)
    action: str = Field(max_length=60)
    entity: str = Field(max_length=60)
    entity_id: str = Field(max_length=120)
    # The depot the event concerns (its managers may read it); None for network-wide events.
    depot: str | None = Field(default=None, max_length=32)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class RateLimitBucket(SQLModel, table=True):
    """One API token's rate-limit bucket as GCRA's theoretical arrival time (PostgreSQL; an
    UNLOGGED table there, see relief.platform.ratelimit). Unused on SQLite."""

    __tablename__ = "rate_limit"

    key: str = Field(max_length=80, primary_key=True)
    tat: datetime = Field(sa_type=UTCDateTime)


class DatabaseEpoch(SQLModel, table=True):
    """Which life of the database this is: one row, given a new random epoch by every
    ``relief restore``. Exchange cursors carry it, so a mirror notices that the database it
    pages went back in time (docs/integration.md)."""

    __tablename__ = "db_epoch"

    id: int = Field(default=1, primary_key=True)
    epoch: str = Field(max_length=32)
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reason: str = Field(max_length=200)
