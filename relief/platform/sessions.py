"""Console sessions: server-side rows behind an opaque random id in the browser's cookie.

Logging in with an API token starts a session: a 256-bit random id goes into the cookie and
only its SHA-256 is stored (``console_session``), with the token it was opened with. A session
is valid while it is not revoked (logout, an admin), has seen a request within the idle
timeout, is before its absolute expiry, and its token is still valid (not revoked, not
expired). The principal is read from the token on every request, so role and depot changes
apply at once. No web imports: the console (``web.session``) and the admin API call these.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from relief.platform.audit import record
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict, NotFound
from relief.platform.models import ApiToken, ConsoleSession
from relief.platform.principal import Principal
from relief.platform.settings import Settings
from relief.platform.tokens import hash_secret, token_principal, token_valid

SESSION_PREFIX = "rls_"
# last_seen_at is written at most this often (a console polls; one write a minute is enough
# for an idle timeout counted in minutes).
TOUCH_EVERY = timedelta(seconds=60)
# Rows of sessions that expired longer ago than this are deleted at the next login.
KEEP_ENDED = timedelta(days=30)


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives: ``idle`` without a request, ``absolute`` after login."""

    idle: timedelta
    absolute: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionPolicy:
        """``RELIEF_SESSION_IDLE_MINUTES`` and ``RELIEF_SESSION_ABSOLUTE_HOURS``."""
        return cls(idle=timedelta(minutes=settings.session_idle_minutes),
                   absolute=timedelta(hours=settings.session_absolute_hours))


@dataclass(frozen=True)
class LiveSession:
    """A valid session and the principal of its token."""

    id: int
    principal: Principal
    last_seen_at: datetime


def start(session: Session, *, token: ApiToken, principal: Principal, policy: SessionPolicy,
          user_agent: str | None = None, address: str | None = None) -> tuple[ConsoleSession,
                                                                              str]:
    """Open a session for ``token`` (already checked) and return it with its secret id (for
    the cookie; only its hash is stored). Audited as ``session.start``."""
    secret = SESSION_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    # Sessions long over are of no more use (their start and end stay in the audit trail).
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now - KEEP_ENDED))
    assert token.id is not None
    row = ConsoleSession(session_hash=hash_secret(secret), token_id=token.id, created_at=now,
                         last_seen_at=now, expires_at=now + policy.absolute,
                         user_agent=(user_agent or "")[:200] or None,
                         address=(address or "")[:64] or None)
    session.add(row)
    session.flush()
    record(session, actor=principal.actor, action="session.start", entity="console_session",
           entity_id=str(row.id), details={"token_id": token.id, "address": row.address})
    return row, secret


def idle_deadline(row: ConsoleSession, policy: SessionPolicy) -> datetime:
    """When the session ends unless a request comes first."""
    return min(row.last_seen_at + policy.idle, row.expires_at)


def is_active(row: ConsoleSession, policy: SessionPolicy, now: datetime) -> bool:
    """Not revoked, not idle too long and not past its absolute expiry."""
    return row.revoked_at is None and now < idle_deadline(row, policy)


def resolve(session: Session, secret: str, policy: SessionPolicy) -> LiveSession | None:
    """The live session behind the cookie's ``secret``, or None when it is unknown, revoked,
    idle too long, past its expiry, or its token is no longer valid."""
    found = session.execute(
        select(ConsoleSession, ApiToken)
        .join(ApiToken, ApiToken.id == ConsoleSession.token_id)
        .where(ConsoleSession.session_hash == hash_secret(secret))
    ).first()
    if found is None:
        return None
    row, token = found
    now = utcnow()
    if not is_active(row, policy, now) or not token_valid(token, now) or row.id is None:
        return None
    return LiveSession(id=row.id, principal=token_principal(token),
                       last_seen_at=row.last_seen_at)


def touch(session: Session, live: LiveSession) -> None:
    """Note that the session was used now (at most once a minute), keeping it from idling out."""
    now = utcnow()
    if now - live.last_seen_at < TOUCH_EVERY:
        return
    session.execute(update(ConsoleSession).where(ConsoleSession.id == live.id,
                                                 ConsoleSession.revoked_at.is_(None))
                    .values(last_seen_at=now))


def end(session: Session, secret: str) -> bool:
    """Revoke the session behind ``secret`` (logout, by the session's own user); False when
    there was none to end."""
    found = session.execute(
        select(ConsoleSession, ApiToken)
        .join(ApiToken, ApiToken.id == ConsoleSession.token_id)
        .where(ConsoleSession.session_hash == hash_secret(secret))
        .with_for_update(of=ConsoleSession)
    ).first()
    if found is None or found[0].revoked_at is not None:
        return False
    row, token = found
    _revoke(session, row, actor=token_principal(token).actor, action="session.logout")
    return True


def revoke(session: Session, session_id: int, *, actor: str) -> ConsoleSession:
    """An admin ends a session (404 unknown, 409 already ended by revocation)."""
    row = session.get(ConsoleSession, session_id, with_for_update=True)
    if row is None:
        raise NotFound.of("session.unknown", id=session_id)
    if row.revoked_at is not None:
        raise Conflict.of("session.revoked", id=session_id)
    _revoke(session, row, actor=actor, action="session.revoke")
    return row


def _revoke(session: Session, row: ConsoleSession, *, actor: str, action: str) -> None:
    row.revoked_at = utcnow()
    row.revoked_by = actor[:120]
    session.add(row)
    session.flush()
    record(session, actor=actor, action=action, entity="console_session",
           entity_id=str(row.id), details={"token_id": row.token_id})


def listing(session: Session, policy: SessionPolicy, *, active: bool, token_id: int | None,
            limit: int, offset: int) -> tuple[list[tuple[ConsoleSession, ApiToken]], int]:
    """Sessions with their tokens, newest first (``active``: only those still valid), and
    how many match."""
    now = utcnow()
    query = select(ConsoleSession, ApiToken).join(ApiToken,
                                                  ApiToken.id == ConsoleSession.token_id)
    if token_id is not None:
        query = query.where(ConsoleSession.token_id == token_id)
    if active:
        query = query.where(
            ConsoleSession.revoked_at.is_(None), ConsoleSession.expires_at > now,
            ConsoleSession.last_seen_at > now - policy.idle, ApiToken.revoked_at.is_(None),
            ApiToken.expires_at.is_(None) | (ApiToken.expires_at > now))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(query.order_by(ConsoleSession.id.desc()).limit(limit)
                           .offset(offset)).all()
    return [(row, token) for row, token in rows], total


def hash_of(secret: str) -> str:
    """The stored hash of a session id (to tell the caller's own session in a list)."""
    return hash_secret(secret)
