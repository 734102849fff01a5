"""One error envelope for the whole API and the domain exceptions that map onto it.

Every error response has the shape::

    {"error": {"code": "insufficient_stock", "key": "stock.short",
               "message": "only 12 available, 50 requested", "message_zh": "可用 12,申请 50",
               "fields": [{"field": "quantity", "message": "...", "message_zh": "..."}],
               "details": {"available": 12, "requested": 50}}}

Errors are raised with a message key of the one catalogue (``relief.platform.messages``) and
their parameters: ``InsufficientStock.of("stock.short", field="quantity", available=12,
requested=50)``. Both texts come from the catalogue; the parameters are also the ``details``.

This module is free of web imports so domain code can raise these exceptions; ``relief.app.main``
turns them into HTTP responses using ``status``.
"""

from __future__ import annotations

import math
from typing import Any, Self

from relief.platform.messages import render


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
        self.key: str | None = None
        self.params: dict[str, Any] = {}

    @classmethod
    def of(cls, key: str, /, *, field: str | None = None, also: tuple[str, ...] = (),
           details: dict[str, Any] | None = None, **params: Any) -> Self:
        """The error whose texts are catalogue entry ``err.<key>`` filled with ``params``,
        reported at ``field`` (and ``also``) when given; the details are ``details`` when
        given, else the parameters."""
        error = cls.__new__(cls)
        ReliefError.__init__(error, render(f"err.{key}", "en", params),
                             details=dict(params) if details is None else details)
        Exception.__init__(error, error.message)
        error.key, error.params = key, params
        for name in (field, *also) if field else ():
            error.fields.append({"field": name, "message": error.message})
        return error

    def text(self, lang: str) -> str:
        """The message in ``lang`` (zh or en): the catalogue's text for a keyed error, else
        the generic text of the error's code."""
        if self.key is not None:
            return render(f"err.{self.key}", lang, self.params)
        return self.message if lang == "en" else render(f"code.{self.code}", lang, {})

    def envelope(self) -> dict[str, Any]:
        """The JSON body of the error response (English and Chinese texts)."""
        zh = self.text("zh")
        fields = [{**f, "message_zh": zh if self.key is not None else f.get("message", "")}
                  for f in self.fields]
        return error_envelope(self.code, self.message, fields=fields, details=self.details,
                              key=self.key, message_zh=zh)


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
    field: str

    def __init__(self, field: str, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(
            f"{field}: {message}", details=details, fields=[{"field": field, "message": message}]
        )
        self.field = field

    @classmethod
    def of(cls, key: str, /, *, field: str | None = None, also: tuple[str, ...] = (),
           details: dict[str, Any] | None = None, **params: Any) -> Self:
        """As :meth:`ReliefError.of`; the field is required and prefixes the message."""
        if field is None:
            raise TypeError("InvalidInput.of needs the field it is about")
        error = super().of(key, field=field, also=also, details=details, **params)
        error.field = field
        error.message = f"{field}: {error.message}"
        error.args = (error.message,)
        return error


class JobFailed(ReliefError):
    """A background job (planning, readiness, advice) could not finish; stored with the job
    as its catalogue key and parameters (``relief.platform.statustext``), never answered."""

    status = 500
    code = "job_failed"


class RateLimited(ReliefError):
    """Too many requests from one client (429); ``Retry-After`` says when to try again."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        seconds = max(1, math.ceil(retry_after_s))
        super().__init__(message, details={"retry_after_s": seconds})
        self.headers = {"Retry-After": str(seconds)}

    @classmethod
    def of(cls, key: str, /, *, field: str | None = None, also: tuple[str, ...] = (),
           details: dict[str, Any] | None = None, **params: Any) -> Self:
        """As :meth:`ReliefError.of`; ``retry_after_s`` (whole seconds, at least 1) also
        becomes the ``Retry-After`` header."""
        seconds = max(1, math.ceil(float(params.pop("retry_after_s"))))
        error = super().of(key, field=field, also=also, details=details,
                           retry_after_s=seconds, **params)
        error.headers = {"Retry-After": str(seconds)}
        return error


def error_envelope(
    code: str,
    message: str,
    *,
    fields: list[dict[str, str]] | None = None,
    details: dict[str, Any] | None = None,
    key: str | None = None,
    message_zh: str | None = None,
) -> dict[str, Any]:
    """Build the shared error body (the Chinese text defaults to the code's generic text)."""
    return {
        "error": {
            "code": code,
            "key": key,
            "message": message,
            "message_zh": message_zh if message_zh is not None else render(
                f"code.{code}", "zh", {}),
            "fields": fields or [],
            "details": details or {},
        }
    }
