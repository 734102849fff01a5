"""Rendering: one Jinja2 environment (autoescape on for every template), the context every page
shares, and the security headers every console response carries."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from relief.platform.api import settings_of
from relief.platform.models import Role
from relief.platform.principal import Principal
from web.i18n import Translator, lang_of
from web.session import CSRF_FIELD, csrf_token, session_secret

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"


def _asset_version() -> str:
    """A digest of the console's own static files, so browsers never keep stale copies."""
    digest = hashlib.sha256()
    for name in ("console.css", "console.js"):
        digest.update((STATIC_DIR / name).read_bytes())
    return digest.hexdigest()[:10]


ASSET_VERSION = _asset_version()

# Scripts only from this origin (no inline script anywhere); no framing; forms post home only.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _num(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    if digits:
        return f"{value:,.{digits}f}"
    return f"{round(value):,}"


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["num"] = _num
environment.filters["pct"] = _pct


@dataclass(frozen=True)
class Can:
    """What the logged-in user may do, to decide which forms to show (the use cases decide
    what is allowed; this only hides what would be refused)."""

    user: Principal | None

    def stock(self, depot_code: str) -> bool:
        """Change stock at ``depot_code``."""
        return self.user is not None and self.user.can_write_depot(depot_code)

    @property
    def dispatch(self) -> bool:
        """Open incidents, report sites and closures, plan and approve."""
        return self.user is not None and self.user.has_role(Role.dispatcher)

    @property
    def activate(self) -> bool:
        """Activate agreement and capacity reserves for an incident, or withdraw them."""
        return self.dispatch and self.user is not None and self.user.has_scope(
            "draw:agreement")

    def trip(self, depot_code: str) -> bool:
        """Act on a trip leaving ``depot_code`` (depart, confirm, cancel)."""
        return self.user is not None and (self.user.has_role(Role.dispatcher)
                                          or self.user.can_write_depot(depot_code))

    def trip_any(self) -> bool:
        """Act on some trips (a dispatcher, or a depot manager on their depots' trips)."""
        return self.user is not None and self.user.has_role(Role.dispatcher,
                                                            Role.depot_manager)


class Clock:
    """Formats instants in the configured local time zone."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz

    def __call__(self, value: datetime | date | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """``value`` as local clock time ('' for None)."""
        if value is None:
            return ""
        if isinstance(value, datetime):
            return value.astimezone(self.tz).strftime(fmt)
        return value.isoformat()


def translator(request: Request) -> Translator:
    """The translator for the request's language."""
    return Translator(lang_of(request))


def context(request: Request, user: Principal | None) -> dict[str, Any]:
    """What every page template receives."""
    tr = translator(request)
    secret = session_secret(request)
    query = f"?{request.url.query}" if request.url.query else ""
    return {
        "t": tr,
        "lang": tr.lang,
        "user": user,
        "can": Can(user),
        "csrf": csrf_token(secret) if (user is not None and secret) else "",
        "csrf_field": CSRF_FIELD,
        "here": request.url.path + query,
        "path": request.url.path,
        "clock": Clock(settings_of(request).tz),
        "asset": ASSET_VERSION,
    }


def page(request: Request, user: Principal | None, template: str, *, status: int = 200,
         headers: dict[str, str] | None = None, canonical: str = "", **values: Any
         ) -> HTMLResponse:
    """Render ``template`` with the shared context and ``values``.

    ``canonical``: the address of the page shown when it differs from the request's (a form
    re-shown with its errors after a failed post); the browser's address bar is set to it, so
    a reload or a language switch asks for the page, never the post.
    """
    shared = context(request, user)
    if canonical:
        shared["here"] = canonical
    html = environment.get_template(template).render(**shared, canonical=canonical, **values)
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})
