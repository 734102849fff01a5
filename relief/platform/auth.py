"""The API's authentication: the bearer token of a request (relief.platform.tokens), its
rate limit, roles and the ``CurrentUser`` dependency."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from relief.platform import tokens
from relief.platform.db import Database
from relief.platform.errors import RateLimited, Unauthorized
from relief.platform.models import Role
from relief.platform.principal import Principal
from relief.platform.ratelimit import RateLimiter
from relief.platform.tokens import hash_secret

_bearer = HTTPBearer(auto_error=False, description="API token: `Authorization: Bearer rlf_...`")

# Kept here for the callers that issue tokens directly (tests, benches, the CLI).
hash_token = hash_secret
create_token = tokens.create_token


def principal_for(session: Session, secret: str) -> Principal | None:
    """The principal behind a token secret, or None when it is unknown, revoked or expired."""
    try:
        return tokens.authenticate(session, secret)[1]
    except Unauthorized:
        return None


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
    """Authenticate the request's bearer token (401 when missing, unknown, revoked or
    expired) and take the request from its rate limit (429)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized.of("auth.token_missing")
    with db.read_session() as session:
        _, principal = tokens.authenticate(session, credentials.credentials)
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
