"""Console sessions: the API token in a cookie, the principal behind it, and CSRF protection.

Login takes an API token, checks it with :func:`relief.platform.auth.principal_for` and
stores it in an ``HttpOnly; SameSite=Strict`` cookie (``Secure`` over HTTPS). Every console
request resolves the principal from that cookie, so roles, depot scopes and revocation work
exactly as in the API.

CSRF, in three layers (any one would stop a classic cross-site form post):

1. the session cookie is ``SameSite=Strict``, so browsers do not send it on cross-site requests;
2. every unsafe request (POST) must carry the session's CSRF token, in the ``csrf_token`` form
   field or the ``X-CSRF-Token`` header (htmx). The token is an HMAC of a fixed label keyed
   with the session secret: it is bound to the session, needs no server-side state, and
   cannot be computed without the (HttpOnly) cookie;
3. an ``Origin`` header, when present, must name this host (``null`` is refused).

The login form itself has no session yet; it is covered by layers 1 and 3.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from relief.platform.auth import enforce_rate_limit, get_database, principal_for
from relief.platform.errors import Forbidden
from relief.platform.models import Role
from relief.platform.principal import Principal

SESSION_COOKIE = "relief_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_MAX_AGE_S = 12 * 3600
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
    """The API token stored in the session cookie, if any."""
    value = request.cookies.get(SESSION_COOKIE)
    return value or None


def resolve(request: Request, secret: str) -> Principal | None:
    """The principal behind ``secret`` (None when unknown or revoked)."""
    with get_database(request).read_session() as session:
        return principal_for(session, secret)


def console_principal(request: Request) -> Principal:
    """The logged-in principal; raises :class:`LoginRequired` without a valid session and 403
    for roles that may not use the console."""
    secret = session_secret(request)
    if secret is None:
        raise LoginRequired
    principal = resolve(request, secret)
    if principal is None:
        raise LoginRequired
    principal.require_role(*CONSOLE_ROLES)
    enforce_rate_limit(request, principal)
    return principal


ConsoleUser = Annotated[Principal, Depends(console_principal)]


async def form_data(request: Request) -> FormData:
    """The request's form (parsed once and cached by Starlette)."""
    return await request.form()


Form = Annotated[FormData, Depends(form_data)]


def set_session(response: Response, request: Request, secret: str) -> None:
    """Store the session cookie: HttpOnly, SameSite=Strict, Secure over HTTPS."""
    response.set_cookie(SESSION_COOKIE, secret, max_age=SESSION_MAX_AGE_S, path="/",
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
