"""The outermost layer of every HTTP request: its id, its log line and its metrics.

* the request id (``X-Request-ID``: the client's when sane, else a new one) is bound for the
  request's whole run, so every log line it causes carries it, and is returned in the
  response's ``X-Request-ID`` header;
* one ``relief.access`` log line per request: method, path, route template, status, duration;
* ``relief_http_request_duration_seconds`` and ``relief_http_requests_total`` by route template;
* an exception no handler turned into a response is answered here, as a 500 in the error
  envelope, and not re-raised: the server keeps the connection open and sound for the client's
  next request (only a response already under way when it fails is cut off).

The request's edge checks (body size, control characters) are :class:`relief.platform.edge.
EdgeGuard`, the next layer in.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relief.platform import logs, metrics
from relief.platform.errors import ReliefError

access = logging.getLogger("relief.access")
log = logging.getLogger(__name__)


class InternalError(ReliefError):
    """An unexpected failure (500); the text says nothing of the internals, the request id
    finds them in the log."""

    status = 500
    code = "internal_error"
UNMATCHED = "<unmatched>"


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/v1/depots/{code}``), or ``<unmatched>``."""
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if scope.get("path", "").startswith("/static/"):
        return "/static/{path}"
    return UNMATCHED


class RequestContext:
    """ASGI middleware: request id, access log line and latency metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request with its id bound, then log and count it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                offered = value.decode("latin-1")
                break
        request_id = logs.new_request_id(offered)
        token = logs.bind_request_id(request_id)
        started = time.perf_counter()
        status = [500]
        started_response = [False]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                started_response[0] = True
                status[0] = int(message["status"])
                MutableHeaders(scope=message).append(logs.REQUEST_ID_HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method", ""),
                          scope.get("path", ""))
            if started_response[0]:
                raise  # half a response is out: the server must cut the connection
            error = InternalError.of("internal", request_id=request_id)
            await JSONResponse(error.envelope(), status_code=500)(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope.get("method", "")
            metrics.observe_request(method, route, status[0], elapsed)
            access.info("%s %s %s", method, scope.get("path", ""), status[0], extra={
                "method": method, "path": scope.get("path", ""), "route": route,
                "status": status[0], "duration_ms": round(elapsed * 1000, 2)})
            logs.reset_request_id(token)
