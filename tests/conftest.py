"""Shared fixtures. Database tests run twice: on SQLite and on PostgreSQL.

PostgreSQL comes from ``RELIEF_TEST_DATABASE_URL`` (a server URL; each run creates and drops
its own fresh database on it). ``make test`` points it at the local server; an unreachable
server is an error, never a skip. Set it to ``none`` to run on SQLite only (a developer
machine without PostgreSQL); CI never does.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from relief.app import migrations
from relief.app.tables import metadata
from relief.platform.db import Database, make_engine
from relief.platform.settings import DEFAULT_RATE_LIMITS, RateLimit, Settings
from supplies import ledger

pytest_plugins = ["tests.world"]

PG_SERVER_URL = os.environ.get("RELIEF_TEST_DATABASE_URL", "none")
BACKENDS = ["sqlite"] + ([] if PG_SERVER_URL.lower() in {"", "none"} else ["postgresql"])


def _create_pg_database(server_url: str) -> tuple[str, str]:
    name = f"relief_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    return name, url


def _drop_pg_database(server_url: str, name: str) -> None:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def backend_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One fresh, migrated database per backend for the whole run."""
    urls = {"sqlite": f"sqlite:///{tmp_path_factory.mktemp('db') / 'relief.db'}"}
    created: str | None = None
    if "postgresql" in BACKENDS:
        created, urls["postgresql"] = _create_pg_database(PG_SERVER_URL)
    try:
        for url in urls.values():
            migrations.upgrade(url)
        yield urls
    finally:
        if created:
            _drop_pg_database(PG_SERVER_URL, created)


_engines: dict[str, Database] = {}


def _truncate(database: Database) -> None:
    # The database epoch row is part of the schema (migration 0009), not of a test's data.
    tables = [t.name for t in reversed(metadata.sorted_tables) if t.name != "db_epoch"]
    with database.engine.begin() as conn:
        if database.is_sqlite:
            for name in tables:
                conn.execute(text(f'DELETE FROM "{name}"'))
            # Deleting exported rows leaves tombstones (their triggers, migration 0008).
            conn.execute(text('DELETE FROM "exchange_tombstone"'))
        else:
            # The job queue's own tables are not SQLModel tables (migration 0009).
            queue = ["procrastinate_jobs", "procrastinate_workers"]
            joined = ", ".join(f'"{n}"' for n in [*tables, *queue])
            conn.execute(text(f"TRUNCATE {joined} RESTART IDENTITY CASCADE"))
    database.write(ledger.ensure_virtual_locations)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend this test runs on."""
    return str(request.param)


@pytest.fixture
def db(backend: str, backend_urls: dict[str, str]) -> Database:
    """A clean, migrated database of the current backend."""
    if backend not in _engines:
        _engines[backend] = Database(engine=make_engine(backend_urls[backend]), write_retries=8)
    database = _engines[backend]
    _truncate(database)
    return database


@pytest.fixture
def db_url(backend: str, backend_urls: dict[str, str]) -> str:
    """URL of the current backend's test database."""
    return backend_urls[backend]


@pytest.fixture(scope="session", autouse=True)
def _dispose_engines() -> Iterator[None]:
    yield
    for database in _engines.values():
        database.dispose()


# Tests fire requests far faster than people do: limits no test reaches unless it means to.
UNLIMITED = {role: RateLimit(per_s=100_000, burst=1_000_000) for role in DEFAULT_RATE_LIMITS}


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Settings aimed at the test database (no scheduled readiness runs in the background;
    tests that need the schedule tick it themselves; PostgreSQL: planning workers in the
    process)."""
    return Settings(database_url=db_url, readiness_interval_hours=0, rate_limits=UNLIMITED,
                    embedded_plan_workers=1)


@dataclass
class SharedPaths:
    """Where the shared reference files live."""

    shared: Path


@pytest.fixture(scope="session")
def shared_paths() -> SharedPaths:
    """The ../shared folder beside the repository (benchmark instances, source data)."""
    return SharedPaths(shared=Path(__file__).resolve().parents[2] / "shared")
