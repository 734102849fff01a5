"""Checks at the edge, before any route sees a request: body size and characters.

* **Body size.** A body longer than the limit (``Settings.max_body_bytes`` for JSON and forms,
  ``Settings.max_upload_bytes`` for multipart uploads) is refused with 413 in the error envelope,
  from its ``Content-Length`` before anything is read, or as soon as a streamed body passes it;
  nothing bigger is ever parsed.
* **Characters.** NUL and the other control characters (C0 but tab, newline and carriage return;
  DEL; C1) and lone surrogates are refused (422 naming the field) in every string: query
  parameters, the path, JSON keys and values, form fields. Tab and line breaks are refused too
  inside one-line values (around them they are whitespace the models trim, as when a lot number
  is pasted from a spreadsheet), and allowed in free-text fields (``note``, ``reason``...).
  PostgreSQL cannot store NUL, and no code, name or reference of this system has any use for
  the others.
* **Numbers.** JSON ``NaN``, ``Infinity`` and numbers too large for a double (``1e400``) are
  refused: no column holds them and no response could carry them.
* **Depth.** JSON nested deeper than :data:`MAX_DEPTH` is refused.

The checks run over the JSON once (iteratively, so no input can exhaust the stack) before the
framework parses it again for the route; bodies are bounded, so this costs little.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relief.platform.errors import InvalidInput, ReliefError

# Characters no string may hold, and those a one-line string may not hold either.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
CONTROL_OR_BREAK = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Free-text fields, where tab and line breaks are allowed.
MULTILINE = frozenset({"note", "reason", "discrepancy_note", "description", "comment", "text"})
MAX_DEPTH = 32
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class PayloadTooLarge(ReliefError):
    """A request body over the limit (413)."""

    status = 413
    code = "payload_too_large"


class _Refused(Exception):
    def __init__(self, error: ReliefError) -> None:
        super().__init__(error.message)
        self.error = error


def _bad_text(text: str, field: str) -> InvalidInput | None:
    if field.rsplit(".", 1)[-1] in MULTILINE:
        found = CONTROL.search(text)
    else:  # a tab or line break around a one-line value (pasted from a sheet) is trimmed later
        found = CONTROL_OR_BREAK.search(text.strip(" \t\r\n"))
    if found is None:
        return None
    return InvalidInput.of("input.control_character", field=field or "body",
                           code_point=f"U+{ord(found.group()):04X}")


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _check_json(value: Any) -> InvalidInput | None:
    """The first bad string or number in a parsed JSON document (iterative walk)."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return InvalidInput.of("input.too_deep", field=path or "body", max=MAX_DEPTH)
        if isinstance(node, str):
            if (error := _bad_text(node, path)) is not None:
                return error
        elif isinstance(node, float):
            if not math.isfinite(node):
                return InvalidInput.of("input.number_range", field=path or "body")
        elif isinstance(node, dict):
            for key, item in node.items():
                child = f"{path}.{key}" if path else str(key)
                if (error := _bad_text(str(key), child)) is not None:
                    return error
                stack.append((item, child, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, f"{path}.{i}" if path else str(i), depth + 1)
                         for i, item in enumerate(node))
    return None


def check_body(content_type: str, body: bytes) -> InvalidInput | None:
    """The first refused character or number of a JSON or form body, or None."""
    if not body:
        return None
    if "json" in content_type:
        try:
            parsed = json.loads(body, parse_constant=_reject_constant)
        except RecursionError:
            return InvalidInput.of("input.too_deep", field="body", max=MAX_DEPTH)
        except ValueError as exc:
            if str(exc) in {"NaN", "Infinity", "-Infinity"}:
                return InvalidInput.of("input.number_range", field="body")
            return None  # not JSON: the route's own parsing says so (422 json_invalid)
        return _check_json(parsed)
    if "x-www-form-urlencoded" in content_type:
        for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            if (error := _bad_text(name, name) or _bad_text(value, name)) is not None:
                return error
    return None


def check_query(scope: Scope) -> InvalidInput | None:
    """The first refused character in the path or the query string, or None."""
    path = scope.get("path", "")
    if CONTROL_OR_BREAK.search(path):
        return _bad_text(path, "path")
    query = scope.get("query_string", b"").decode("latin-1")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, errors="surrogateescape")
    except ValueError:
        return None
    for name, value in pairs:
        if (error := _bad_text(name, name) or _bad_text(value, name)) is not None:
            return error
    return None


class EdgeGuard:
    """ASGI middleware: the body limit and the character checks (see the module's text)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    def _limit(self, content_type: str) -> int:
        return self.max_upload_bytes if "multipart/" in content_type else self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on with its body replayed."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            if (error := check_query(scope)) is not None:
                raise _Refused(error)
            if scope.get("method") not in BODY_METHODS:
                await self.app(scope, receive, send)
                return
            headers = {k.lower(): v for k, v in scope.get("headers", [])}
            content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
            limit = self._limit(content_type)
            declared = headers.get(b"content-length", b"").decode("latin-1").strip()
            if declared.isdigit() and int(declared) > limit:
                raise _Refused(PayloadTooLarge.of("request.too_large", limit=limit,
                                                  size=int(declared)))
            body = await self._read(receive, limit)
            if (error := check_body(content_type, body)) is not None:
                raise _Refused(error)
        except _Refused as refused:
            response = JSONResponse(refused.error.envelope(), status_code=refused.error.status)
            await response(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    async def _read(receive: Receive, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _Refused(PayloadTooLarge.of("request.too_large", limit=limit, size=size))
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
