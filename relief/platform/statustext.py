"""Status texts stored with a record (why a planning, readiness or advice job failed) as a
catalogue key and its parameters, so the API and the console render them in Chinese first
(English second) from the one catalogue, like the error envelope does.

A record keeps the English text in its ``error`` column as well (for logs and the CLI); rows
written before the key was stored have the English text only and carry ``status.unkeyed``
(set by migration 0013).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict

from relief.platform.errors import ReliefError
from relief.platform.messages import render

MAX_PARAM_CHARS = 1500  # a parameter's text is cut here (the error column holds 2000)


def _plain(value: Any) -> Any:
    """A JSON-storable form of a parameter: enums by value, dates in ISO form, a status text
    (a text inside a text) as its key and parameters, the rest as text unless already a
    number, a string, a bool or None."""
    if isinstance(value, StatusText):
        return {"key": value.key, "params": value.params}
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)[:MAX_PARAM_CHARS]


class StatusText(BaseModel):
    """A catalogue key and the parameters its texts are filled from."""

    model_config = ConfigDict(frozen=True)

    key: str
    params: dict[str, Any] = {}

    @classmethod
    def of(cls, key: str, /, **params: Any) -> StatusText:
        """The text ``key`` with ``params`` made storable as JSON."""
        return cls(key=key, params={k: _plain(v) for k, v in params.items()})

    @classmethod
    def failure(cls, exc: BaseException) -> StatusText:
        """Why a job failed: a keyed error's own key and parameters (``err.<key>``), else
        the exception's kind and message under ``status.crashed``."""
        if isinstance(exc, ReliefError) and exc.key is not None:
            return cls.of(f"err.{exc.key}", **exc.params)
        return cls.of("status.crashed", kind=type(exc).__name__, detail=str(exc))

    def text(self, lang: str) -> str:
        """The text in ``lang`` (zh or en)."""
        return render(self.key, lang, self.params)

    def columns(self) -> dict[str, Any]:
        """The values of a job row's ``error``, ``error_key`` and ``error_params`` columns."""
        return {"error": self.text("en")[:2000], "error_key": self.key,
                "error_params": self.params}


def stored(key: str | None, params: Mapping[str, Any] | None, english: str | None,
           lang: str) -> str | None:
    """The stored status text of a row in ``lang``: from its key when it has one, else its
    English text marked as such (a row written before keys were stored)."""
    if key is None:
        return None if english is None else render("status.unkeyed", lang, {"text": english})
    return render(key, lang, params or {})


def public_fields(row: Any) -> dict[str, Any]:
    """The ``error_zh``, ``error``, ``error_key`` and ``error_params`` of a job row's public
    model (its Chinese text first, from the stored key)."""
    key, params, english = row.error_key, row.error_params, row.error
    return {"error_zh": stored(key, params, english, "zh"),
            "error": stored(key, params, english, "en"),
            "error_key": key, "error_params": params}
