"""Conditional GET: an ETag on JSON answers and 304 Not Modified for a matching If-None-Match.

The validator is a weak ETag over the answer's canonical JSON, leaving out fields that change
on every request without changing the content (e.g. a feed page's ``snapshot.as_of``), so a
reader polling an unchanged page gets 304 and no body. Weak because the bytes may differ
(gzip, key order); the content does not (RFC 9110, section 8.8.3).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

ETAG_RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the ETag sent in If-None-Match still matches (no body)"},
}


def etag_of(body: Any, volatile: Callable[[Any], object] | None = None) -> str:
    """The weak ETag of a JSON-able ``body``; ``volatile`` removes fields from a copy first."""
    content = copy.deepcopy(body) if volatile is not None else body
    if volatile is not None:
        volatile(content)
    raw = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f'W/"{hashlib.sha256(raw.encode()).hexdigest()[:32]}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (weak comparison, or ``*``)."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


def conditional_json(request: Request, body: Any, *, headers: Mapping[str, str] | None = None,
                     volatile: Callable[[Any], object] | None = None,
                     status_code: int = 200) -> Response:
    """``body`` as JSON with its ETag, or 304 without a body when the client has it."""
    etag = etag_of(body, volatile)
    out = {**(headers or {}), "ETag": etag}
    if matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=out)
    return JSONResponse(body, status_code=status_code, headers=out)
