"""The console's route class and write helper.

:class:`ConsoleRoute` wraps every console endpoint: it enforces CSRF on unsafe methods, sends
requests without a session to the login page, and renders domain errors (403, 404, 409...) as
friendly HTML pages instead of the API's JSON envelope. :func:`write` runs one use case in one
transaction, honouring the form's idempotency key like the API's ``Idempotency-Key`` header.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from relief.platform import idempotency
from relief.platform.api import settings_of
from relief.platform.auth import get_database
from relief.platform.errors import ReliefError
from relief.platform.principal import Principal
from supplies.ledger import MoveContext
from web.i18n import pydantic_message
from web.render import page, translator
from web.session import LoginRequired, check_csrf, resolve, session_secret

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Posts that need no session token: the login form (covered by SameSite and the Origin check).
NO_TOKEN_PATHS = frozenset({"/console/login"})


def is_htmx(request: Request) -> bool:
    """True for requests htmx makes (they want fragments and HX-* headers, not redirects)."""
    return request.headers.get("hx-request") == "true"


def login_redirect(request: Request) -> Response:
    """Send the user to the login page, coming back here afterwards (GET pages only)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = "/console/login"
    if request.method in SAFE_METHODS and target.startswith("/console/") \
            and not target.startswith("/console/login"):
        url += f"?next={quote(target, safe='')}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _viewer(request: Request) -> Principal | None:
    secret = session_secret(request)
    return resolve(request, secret) if secret else None


def error_page(request: Request, status: int, code: str, message: str,
               details: dict[str, Any] | None = None) -> Response:
    """The friendly page for a refused or failed request."""
    user = _viewer(request)
    return page(request, user, "error.html", status=status, status_code=status, code=code,
                message=message, details=details or {})


class ConsoleRoute(APIRoute):
    """An API route with the console's CSRF check and HTML error pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler."""
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                if request.method not in SAFE_METHODS:
                    await check_csrf(request,
                                     needs_token=request.url.path not in NO_TOKEN_PATHS)
                return await handler(request)
            except LoginRequired:
                return login_redirect(request)
            except ReliefError as exc:
                return await run_in_threadpool(error_page, request, exc.status, exc.code,
                                               exc.text(translator(request).lang), exc.details)
            except RequestValidationError as exc:
                tr = translator(request)
                message = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()))}: {pydantic_message(e, tr)}"
                    for e in exc.errors())
                return await run_in_threadpool(error_page, request, 422, "invalid_input",
                                               message)

        return run


def move_context(request: Request, user: Principal, key: str | None,
                 body: BaseModel | None = None) -> MoveContext:
    """The ledger context of a console write (as the API builds it)."""
    return MoveContext(actor=user.actor, today=settings_of(request).today(),
                       reference=getattr(body, "reference", None),
                       reason=getattr(body, "reason", None), idempotency_key=key)


def write(request: Request, user: Principal, *, key: str | None, payload: Any,
          use_case: Callable[[Session], BaseModel]) -> dict[str, Any]:
    """Run ``use_case`` in one transaction, once per idempotency key; returns its JSON."""
    _, body = idempotency.run(get_database(request), principal=user, key=key or None,
                              method="POST", path=request.url.path, payload=payload,
                              status_code=200, use_case=use_case)
    return body  # type: ignore[no-any-return]


def redirect(url: str) -> RedirectResponse:
    """See-other redirect after a successful post."""
    return RedirectResponse(url, status_code=303)
