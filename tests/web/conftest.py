"""Fixtures of the console tests: a logged-in TestClient per role, and a live server.

The live server is uvicorn in a background thread on a free loopback port, serving an app on
the test database of the current backend (so browser tests run on SQLite and PostgreSQL) with
the planning engine in-process.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from relief.app.main import create_app
from relief.platform.settings import Settings
from tests.world import World

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


@dataclass
class Console:
    """A browser-like client of the console: its own cookie jar, posting forms."""

    client: TestClient
    csrf: str = ""

    def login(self, token: str) -> Any:
        """Log in with an API token; remembers the page's CSRF token. The cookie the server
        sets carries a session id of its own (``rls_...``), never the API token."""
        response = self.client.post("/console/login", data={"token": token},
                                    follow_redirects=False)
        if response.status_code == 303:
            assert self.session_id.startswith("rls_") and token not in self.session_id
            self.refresh_csrf()
        return response

    @property
    def session_id(self) -> str:
        """The session id in the cookie jar ('' when logged out)."""
        return str(self.client.cookies.get("relief_session") or "")

    def refresh_csrf(self) -> None:
        """Read the CSRF token from a page, as a form would carry it."""
        page = self.client.get("/console/readiness")
        match = CSRF_META.search(page.text)
        assert match, page.text[:500]
        self.csrf = match.group(1)

    def get(self, path: str, **kwargs: Any) -> Any:
        """GET a console page."""
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True,
             **kwargs: Any) -> Any:
        """POST a form (with the session's CSRF token unless ``csrf`` is False)."""
        body = dict(data or {})
        if csrf:
            body.setdefault("csrf_token", self.csrf)
        kwargs.setdefault("follow_redirects", False)
        return self.client.post(path, data=body, **kwargs)


@pytest.fixture
def console(world: World) -> Callable[[str | None], Console]:
    """Make a console client, logged in with ``token`` (or anonymous with None)."""

    def make(token: str | None) -> Console:
        c = Console(TestClient(world.client.app, base_url="http://testserver"))
        if token is not None:
            assert c.login(token).status_code == 303
        return c

    return make


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(world: World, settings: Settings) -> Iterator[str]:
    """The app on the test database, served by uvicorn in a thread; yields its base URL."""
    app = create_app(settings=settings.model_copy(update={"planner": "inline"}),
                     database=world.db)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="console-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
