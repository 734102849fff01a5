"""Structured logs: one JSON object a line (python-json-logger), each carrying the id of the
request being served, so every line a request caused can be found with one filter.

The request id comes from the client's ``X-Request-ID`` header when it is a sane token (a
load balancer's or a client's own trace id), else a new random one; the API returns it in the
same header (``relief.platform.middleware``). Lines outside a request (start-up, workers) have
``request_id: null``; planning workers log ``plan_id`` and ``attempt`` instead.
"""

from __future__ import annotations

import logging
import logging.config
import re
import uuid
from contextvars import ContextVar
from typing import Any

from relief.platform.settings import Settings

REQUEST_ID_HEADER = "X-Request-ID"
_current: ContextVar[str | None] = ContextVar("relief_request_id", default=None)
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"
RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}


def new_request_id(offered: str | None) -> str:
    """The client's request id when it is a sane token, else a fresh random one."""
    if offered and _SANE.match(offered):
        return offered
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request this code runs for (None outside a request)."""
    return _current.get()


def bind_request_id(request_id: str | None) -> Any:
    """Make ``request_id`` the current one; returns the token to reset it with."""
    return _current.set(request_id)


def reset_request_id(token: Any) -> None:
    """Restore the request id that was current before :func:`bind_request_id`."""
    _current.reset(token)


class RequestIdFilter(logging.Filter):
    """Stamps every record with the current request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``request_id`` to the record; never drops it."""
        record.request_id = _current.get()
        return True


def _formatter_spec(settings: Settings) -> dict[str, Any]:
    if settings.log_format == "json":
        return {"()": "pythonjsonlogger.json.JsonFormatter", "fmt": FIELDS,
                "rename_fields": RENAMED}
    return {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}


def dict_config(settings: Settings) -> dict[str, Any]:
    """The logging configuration: one stderr handler, the chosen format, request ids."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "relief.platform.logs.RequestIdFilter"}},
        "formatters": {"default": _formatter_spec(settings)},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "default", "filters": ["request_id"]}},
        "root": {"handlers": ["stderr"], "level": settings.log_level},
        "loggers": {
            # uvicorn's own loggers go through the same handler; its access log is replaced by
            # the API's one line per request (relief.access).
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False},
            "procrastinate": {"level": "WARNING"},
        },
    }


def configure(settings: Settings) -> None:
    """Apply :func:`dict_config` to this process."""
    logging.config.dictConfig(dict_config(settings))


def uvicorn_config(settings: Settings) -> dict[str, Any]:
    """The same configuration in the form uvicorn applies in each of its worker processes."""
    return dict_config(settings)
