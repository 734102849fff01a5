"""Console sessions: a server-side session behind a random id in a cookie, the principal
behind it, and CSRF protection.

Login takes an API token, checks it (:func:`relief.platform.tokens.authenticate`) and opens a
server-side session (:mod:`relief.platform.sessions`); the cookie carries only the session's
random id (``rls_...``, ``HttpOnly; SameSite=Strict``, ``Secure`` over HTTPS), never the API
token. Every console request resolves the session and reads the principal from its token, so
roles, depot scopes, token revocation and expiry work exactly as in the API. A session ends at
logout (revoked server-side: the old cookie no longer works), when an admin revokes it, after
``RELIEF_SESSION_IDLE_MINUTES`` without a request, and ``RELIEF_SESSION_ABSOLUTE_HOURS`` after
login.

CSRF, in three layers (any one would stop a classic cross-site form post):

1. the session cookie is ``SameSite=Strict``, so browsers do not send it on cross-site requests;
2. every unsafe request (POST) must carry the session's CSRF token, in the ``csrf_token`` form
   field or the ``X-CSRF-Token`` header (htmx). The token is an HMAC of a fixed label keyed
   with the session id: it is bound to the session, dies with it, and cannot be computed
   without the (HttpOnly) cookie;
3. an ``Origin`` header, when present, must name this host (``null`` is refused).

The login form itself has no session yet; it is covered by layers 1 and 3.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from relief.platform import sessions, tokens
from relief.platform.api import settings_of
from relief.platform.auth import enforce_rate_limit, get_database
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Forbidden
from relief.platform.models import Role
from relief.platform.principal import Principal
from relief.platform.sessions import SessionPolicy

SESSION_COOKIE = "relief_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
# Roles that may use the console (integration tokens are for machines, not people).
CONSOLE_ROLES = (Role.depot_manager, Role.dispatcher, Role.viewer)


class LoginRequired(Exception):
    """The request carries no valid session; the console sends the user to the login page."""


class CsrfRejected(Forbidden):
    """A form post without the session's CSRF token, or from another origin (403)."""

    code = "csrf_rejected"


def csrf_token(secret: str) -> str:
    """The CSRF token of the session whose cookie holds ``secret``."""
    return hmac.new(secret.encode(), b"relief-console-csrf-v1", hashlib.sha256).hexdigest()


def session_secret(request: Request) -> str | None:
    """The session id in the session cookie, if any."""
    value = request.cookies.get(SESSION_COOKIE)
    return value or None


def policy(request: Request) -> SessionPolicy:
    """The configured idle and absolute session lifetimes."""
    return SessionPolicy.from_settings(settings_of(request))


def resolve(request: Request, secret: str) -> Principal | None:
    """The principal of the live session behind ``secret`` (None when there is none)."""
    with get_database(request).read_session() as session:
        live = sessions.resolve(session, secret, policy(request))
    return live.principal if live is not None else None


def console_principal(request: Request) -> Principal:
    """The logged-in principal; raises :class:`LoginRequired` without a live session and 403
    for roles that may not use the console. Marks the session as used (idle timeout)."""
    secret = session_secret(request)
    if secret is None:
        raise LoginRequired
    database = get_database(request)
    with database.read_session() as session:
        live = sessions.resolve(session, secret, policy(request))
    if live is None:
        raise LoginRequired
    principal = live.principal
    principal.require_role(*CONSOLE_ROLES)
    enforce_rate_limit(request, principal)
    if utcnow() - live.last_seen_at >= sessions.TOUCH_EVERY:
        database.write(lambda s: sessions.touch(s, live))
    return principal


ConsoleUser = Annotated[Principal, Depends(console_principal)]


async def form_data(request: Request) -> FormData:
    """The request's form (parsed once and cached by Starlette)."""
    return await request.form()


Form = Annotated[FormData, Depends(form_data)]


def open_session(request: Request, token_secret: str) -> tuple[Principal, str | None]:
    """Log in with an API token: the token's principal and the new session's id for the cookie
    (None when the role may not use the console: no session is opened). 401 (Unauthorized)
    for an unknown, revoked or expired token. A session the browser already had is ended, so
    a login never reuses a session id."""
    old = session_secret(request)
    client = request.client.host if request.client else None

    def use_case(session: Session) -> tuple[Principal, str | None]:
        token, principal = tokens.authenticate(session, token_secret)
        if not principal.has_role(*CONSOLE_ROLES):
            return principal, None
        if old:
            sessions.end(session, old)
        _, secret = sessions.start(session, token=token, principal=principal,
                                   policy=policy(request),
                                   user_agent=request.headers.get("user-agent"),
                                   address=client)
        return principal, secret

    return get_database(request).write(use_case)


def close_session(request: Request) -> None:
    """Log out: revoke the browser's session server-side (its cookie stops working)."""
    secret = session_secret(request)
    if secret:
        get_database(request).write(lambda s: sessions.end(s, secret))


def set_session(response: Response, request: Request, secret: str) -> None:
    """Store the session id in the cookie: HttpOnly, SameSite=Strict, Secure over HTTPS, kept
    by the browser no longer than the session's absolute lifetime."""
    max_age = int(policy(request).absolute.total_seconds())
    response.set_cookie(SESSION_COOKIE, secret, max_age=max_age, path="/",
                        httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def clear_session(response: Response) -> None:
    """Forget the session cookie."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


def _same_origin(request: Request, origin: str) -> bool:
    if origin == "null":
        return False
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return bool(parts.netloc) and parts.netloc.lower() == host.lower()


async def check_csrf(request: Request, *, needs_token: bool) -> None:
    """Refuse a cross-origin post, and (``needs_token``) one without the session's token."""
    origin = request.headers.get("origin")
    if origin is not None and not _same_origin(request, origin):
        raise CsrfRejected.of("csrf.cross_origin", origin=origin)
    if not needs_token:
        return
    secret = session_secret(request)
    if secret is None:
        raise LoginRequired
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, csrf_token(secret)):
        raise CsrfRejected.of("csrf.token")


def safe_next(target: str | None, default: str = "/console/") -> str:
    """A local path to go to after login or a language switch (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
