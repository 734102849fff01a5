"""API tokens (stored hashed), roles, depot scopes and the ``CurrentUser`` dependency."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from relief.platform.db import Database
from relief.platform.errors import RateLimited, Unauthorized
from relief.platform.models import ApiToken, Role
from relief.platform.principal import Principal
from relief.platform.ratelimit import RateLimiter

TOKEN_PREFIX = "rlf_"

_bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer rlf_...`")


def hash_token(secret: str) -> str:
    """SHA-256 of a token. Tokens are 256-bit random, so a fast hash is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    session: Session,
    *,
    name: str,
    role: Role,
    depots: Iterable[str] = (),
    scopes: Iterable[str] = (),
) -> tuple[ApiToken, str]:
    """Store a new token and return it with its secret (shown once, never stored)."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        role=role,
        token_hash=hash_token(secret),
        prefix=secret[:12],
        depots=sorted(set(depots)),
        scopes=sorted(set(scopes)),
    )
    session.add(token)
    session.flush()
    return token, secret


def principal_for(session: Session, secret: str) -> Principal | None:
    """The principal behind a token secret, or None when it is unknown or revoked."""
    token = session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_token(secret))
    ).scalar_one_or_none()
    if token is None or token.revoked_at is not None or token.id is None:
        return None
    return Principal(
        token_id=token.id,
        name=token.name,
        role=Role(token.role),
        depots=frozenset(token.depots or []),
        scopes=frozenset(token.scopes or []),
    )


def get_database(request: Request) -> Database:
    """The application's database handle."""
    return request.app.state.db  # type: ignore[no-any-return]


DatabaseDep = Annotated[Database, Depends(get_database)]


def enforce_rate_limit(request: Request, principal: Principal) -> None:
    """Take one request from the token's bucket (sized by its role); 429 when it is empty."""
    limiter: RateLimiter = request.app.state.limiter
    limit = request.app.state.settings.rate_limits[principal.role.value]
    wait = limiter.take(f"token:{principal.token_id}", limit)
    if wait > 0:
        raise RateLimited.of("rate.limited_at", actor=principal.actor,
                             per_s=f"{limit.per_s:g}", burst=limit.burst, retry_after_s=wait)


def current_principal(
    request: Request,
    db: DatabaseDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Authenticate the request's bearer token (401 when missing, unknown or revoked) and take
    the request from its rate limit (429)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized.of("auth.token_missing")
    with db.read_session() as session:
        principal = principal_for(session, credentials.credentials)
    if principal is None:
        raise Unauthorized.of("auth.token_unknown")
    enforce_rate_limit(request, principal)
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that admits only ``roles`` (admin always): ``Depends(require(Role.viewer))``."""

    def dependency(user: CurrentUser) -> Principal:
        user.require_role(*roles)
        return user

    return dependency


Reader = Annotated[
    Principal, Depends(require(Role.depot_manager, Role.dispatcher, Role.viewer))
]
Admin = Annotated[Principal, Depends(require())]
