"""API tokens: issue, check, revoke and rotate; every change audited. No web imports.

A token is a 256-bit random secret (``rlf_...``); only its SHA-256 is stored. A token may carry
an expiry (``expires_at``; none = until revoked). Names are unique among tokens that are not
revoked (a partial unique index, migration 0014), so ``revoke --name`` names one token, and a
name is free again once its token is revoked (rotation and ``demo-tokens`` rely on that).
Rotation gives the same name, role, depots and scopes a new secret and revokes the old one, in
one transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relief.platform.audit import record
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict, InvalidInput, NotFound, Unauthorized
from relief.platform.models import ApiToken, Role
from relief.platform.principal import Principal

TOKEN_PREFIX = "rlf_"
# Who issues tokens when no person does (test fixtures, benchmarks): named in the audit row.
SYSTEM_ACTOR = "system"
# The furthest expiry a token may be given (none at all is allowed: until revoked).
MAX_LIFETIME = timedelta(days=10 * 365)


def hash_secret(secret: str) -> str:
    """SHA-256 of a token or session secret (256-bit random, so a fast hash is enough)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def token_valid(token: ApiToken, now: datetime) -> bool:
    """Not revoked and not past its expiry."""
    return token.revoked_at is None and (token.expires_at is None or now < token.expires_at)


def token_principal(token: ApiToken) -> Principal:
    """The principal a token stands for."""
    assert token.id is not None
    return Principal(token_id=token.id, name=token.name, role=Role(token.role),
                     depots=frozenset(token.depots or []), scopes=frozenset(token.scopes or []))


def authenticate(session: Session, secret: str) -> tuple[ApiToken, Principal]:
    """The token behind ``secret`` and its principal; 401 (with the reason in the envelope)
    when it is unknown or revoked, or when it has expired."""
    token = session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_secret(secret))
    ).scalar_one_or_none()
    if token is None or token.revoked_at is not None:
        raise Unauthorized.of("auth.token_unknown")
    if token.expires_at is not None and utcnow() >= token.expires_at:
        raise Unauthorized.of("auth.token_expired", name=token.name,
                              expired_at=token.expires_at.isoformat(timespec="seconds"))
    return token, token_principal(token)


def _check_expiry(expires_at: datetime | None) -> None:
    if expires_at is None:
        return
    if expires_at.tzinfo is None:
        raise InvalidInput.of("token.expiry_naive", field="expires_at")
    if expires_at <= utcnow():
        raise InvalidInput.of("token.expiry_past", field="expires_at",
                              expires_at=expires_at.isoformat(timespec="seconds"))
    if expires_at - utcnow() > MAX_LIFETIME:
        raise InvalidInput.of("token.expiry_far", field="expires_at",
                              years=MAX_LIFETIME.days // 365)


def _name_free(session: Session, name: str) -> None:
    taken = session.execute(select(ApiToken.id).where(
        ApiToken.name == name, ApiToken.revoked_at.is_(None))).first()
    if taken is not None:
        raise Conflict.of("token.name_taken", field="name", name=name)


def _flush_named(session: Session, name: str) -> None:
    """Flush; a concurrent token of the same name (the unique index) is the same 409."""
    try:
        session.flush()
    except IntegrityError as exc:
        if "name" not in str(exc.orig).lower():
            raise
        raise Conflict.of("token.name_taken", field="name", name=name) from None


def create_token(
    session: Session,
    *,
    name: str,
    role: Role,
    depots: Iterable[str] = (),
    scopes: Iterable[str] = (),
    expires_at: datetime | None = None,
    actor: str = SYSTEM_ACTOR,
) -> tuple[ApiToken, str]:
    """Store a new token and return it with its secret (shown once, never stored); 409 when
    an unrevoked token already has ``name``. Audited as ``token.create`` by ``actor``."""
    _check_expiry(expires_at)
    _name_free(session, name)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, role=role, token_hash=hash_secret(secret), prefix=secret[:12],
                     depots=sorted(set(depots)), scopes=sorted(set(scopes)),
                     expires_at=expires_at)
    session.add(token)
    _flush_named(session, name)
    record(session, actor=actor, action="token.create", entity="api_token",
           entity_id=str(token.id), details=_summary(token))
    return token, secret


def _summary(token: ApiToken) -> dict[str, object]:
    return {"name": token.name, "role": token.role, "depots": token.depots,
            "scopes": token.scopes, "prefix": token.prefix, "expires_at": token.expires_at}


def get_token(session: Session, token_id: int, *, lock: bool = False) -> ApiToken:
    """A token by id (404 when unknown)."""
    token = session.get(ApiToken, token_id, with_for_update=lock)
    if token is None:
        raise NotFound.of("token.unknown", id=token_id)
    return token


def active_by_name(session: Session, name: str) -> ApiToken:
    """The unrevoked token called ``name`` (404 when there is none)."""
    token = session.execute(select(ApiToken).where(
        ApiToken.name == name, ApiToken.revoked_at.is_(None))).scalar_one_or_none()
    if token is None:
        raise NotFound.of("token.unknown_name", field="name", name=name)
    return token


def _mark_revoked(session: Session, token: ApiToken) -> None:
    """Revoke in one conditional UPDATE, so of two concurrent revocations or rotations exactly
    one wins (the other waits for the row lock, then sees it revoked: 409)."""
    done = session.execute(update(ApiToken).where(
        ApiToken.id == token.id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
    ).rowcount
    if done != 1:
        raise Conflict.of("token.revoked", id=token.id, name=token.name)
    session.refresh(token)


def revoke_token(session: Session, token: ApiToken, *, actor: str) -> ApiToken:
    """Revoke ``token`` (409 when it already is); its console sessions end with it. Audited
    as ``token.revoke``."""
    _mark_revoked(session, token)
    record(session, actor=actor, action="token.revoke", entity="api_token",
           entity_id=str(token.id), details={"name": token.name, "prefix": token.prefix})
    return token


@dataclass(frozen=True)
class Rotation:
    """The token that replaces a rotated one, its secret, and the revoked original."""

    new: ApiToken
    secret: str
    old: ApiToken


def rotate_token(session: Session, token: ApiToken, *, actor: str,
                 expires_at: datetime | None = None, keep_expiry: bool = True) -> Rotation:
    """Give ``token``'s name, role, depots and scopes a new secret and revoke the old one, in
    the caller's transaction (both or neither). The new token keeps the old expiry unless
    ``keep_expiry`` is False (then ``expires_at``, None = none). Audited as ``token.rotate``."""
    new_expiry = token.expires_at if keep_expiry else expires_at
    if keep_expiry and new_expiry is not None and new_expiry <= utcnow():
        raise InvalidInput.of("token.rotate_expired", field="expires_at", name=token.name)
    _check_expiry(new_expiry)
    _mark_revoked(session, token)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    new = ApiToken(name=token.name, role=token.role, token_hash=hash_secret(secret),
                   prefix=secret[:12], depots=list(token.depots or []),
                   scopes=list(token.scopes or []), expires_at=new_expiry,
                   rotated_from=token.id)
    session.add(new)
    _flush_named(session, token.name)
    record(session, actor=actor, action="token.rotate", entity="api_token",
           entity_id=str(new.id), details={**_summary(new), "replaces": token.id,
                                           "replaced_prefix": token.prefix})
    return Rotation(new=new, secret=secret, old=token)
