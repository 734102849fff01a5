"""One error envelope for the whole API and the domain exceptions that map onto it.

Every error response has the shape::

    {"error": {"code": "insufficient_stock", "message": "...",
               "fields": [{"field": "quantity", "message": "..."}], "details": {...}}}

This module is free of web imports so domain code can raise these exceptions; ``relief.app.main``
turns them into HTTP responses using ``status``.
"""

from __future__ import annotations

import math
from typing import Any


class ReliefError(Exception):
    """Base class: an error the API reports to the client with an HTTP status."""

    status: int = 400
    code: str = "bad_request"
    headers: dict[str, str] | None = None  # extra response headers, e.g. Retry-After

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        fields: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.fields = fields or []

    def envelope(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return error_envelope(self.code, self.message, fields=self.fields, details=self.details)


class NotFound(ReliefError):
    """A referenced code or id does not exist (404)."""

    status = 404
    code = "not_found"


class Unauthorized(ReliefError):
    """Missing or bad credentials (401)."""

    status = 401
    code = "unauthorized"


class Forbidden(ReliefError):
    """Authenticated but outside one's role or depots (403)."""

    status = 403
    code = "forbidden"


class Conflict(ReliefError):
    """The request is valid but conflicts with the current state (409)."""

    status = 409
    code = "conflict"


class InsufficientStock(Conflict):
    """Too little available stock; ``details`` carries the available quantity."""

    code = "insufficient_stock"


class IdempotencyMismatch(Conflict):
    """An Idempotency-Key was reused with a different request."""

    code = "idempotency_key_reused"


class InvalidInput(ReliefError):
    """Input that parses but breaks a rule; names the offending field (422)."""

    status = 422
    code = "invalid_input"

    def __init__(self, field: str, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(
            f"{field}: {message}", details=details, fields=[{"field": field, "message": message}]
        )
        self.field = field


class RateLimited(ReliefError):
    """Too many requests from one client (429); ``Retry-After`` says when to try again."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        seconds = max(1, math.ceil(retry_after_s))
        super().__init__(message, details={"retry_after_s": seconds})
        self.headers = {"Retry-After": str(seconds)}


def error_envelope(
    code: str,
    message: str,
    *,
    fields: list[dict[str, str]] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the shared error body."""
    return {
        "error": {
            "code": code,
            "message": message,
            "fields": fields or [],
            "details": details or {},
        }
    }
