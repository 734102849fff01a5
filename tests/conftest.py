"""Shared fixtures. Database tests run twice: on SQLite and on PostgreSQL.

PostgreSQL comes from ``RELIEF_TEST_DATABASE_URL`` (a server URL; each run creates and drops
its own fresh database on it). ``make test`` points it at the local server; an unreachable
server is an error, never a skip. Set it to ``none`` to run on SQLite only (a developer
machine without PostgreSQL); CI never does.
"""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.dependencies import models as fastapi_dependencies
from sqlalchemy import Connection, create_engine, text
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

# Tables a test may fill: every SQLModel table but the database epoch row (part of the schema,
# migration 0009), and the job queue's own tables, which are not SQLModel tables.
DATA_TABLES = [t.name for t in reversed(metadata.sorted_tables) if t.name != "db_epoch"]
QUEUE_TABLES = ["procrastinate_jobs", "procrastinate_workers"]
# All the cleared tables together may grow this much (indexes included) past their empty size
# before they are truncated rather than deleted from: the test server runs without autovacuum,
# so deleted rows stay in the files until a TRUNCATE.
BLOAT_LIMIT_BYTES = 16 * 1024 * 1024


@dataclass
class PgCleaner:
    """How one PostgreSQL test database is emptied between tests.

    ``TRUNCATE ... RESTART IDENTITY CASCADE`` of the ~55 tables costs 0.5-2 s a test (it
    replaces ~280 files). The same end state, far cheaper: delete the rows of the tables that
    have any (the truncated tables plus every table a foreign key cascades to, found once in
    the catalogue), with triggers and foreign-key checks off for the transaction (as TRUNCATE
    fires no row trigger), and restart the sequences those tables own. Needs a superuser (the
    test server's ``postgres``); otherwise, or once deleted rows have piled up, TRUNCATE.
    """

    tables: list[str]  # the truncated tables and every table referencing them, recursively
    oids: list[int]  # their pg_class oids
    sequences: list[int]  # oids of the sequences they own (serial and identity columns)
    superuser: bool
    empty_bytes: int = 0  # their size right after a TRUNCATE

    @classmethod
    def inspect(cls, database: Database) -> PgCleaner:
        """Read the tables, their cascade and their sequences from the catalogue."""
        with database.engine.connect() as conn:
            rows = conn.execute(text("""
                WITH RECURSIVE closure(oid) AS (
                    SELECT c.oid FROM pg_class c
                    WHERE c.relnamespace = current_schema()::regnamespace
                      AND c.relname = ANY(:names)
                    UNION
                    SELECT con.conrelid FROM pg_constraint con
                    JOIN closure ON con.confrelid = closure.oid WHERE con.contype = 'f')
                SELECT c.oid, c.relname FROM closure JOIN pg_class c ON c.oid = closure.oid
                ORDER BY c.relname"""), {"names": [*DATA_TABLES, *QUEUE_TABLES]}).all()
            oids = [int(oid) for oid, _ in rows]
            sequences = conn.execute(text("""
                SELECT d.objid FROM pg_depend d JOIN pg_class s ON s.oid = d.objid
                WHERE s.relkind = 'S' AND d.classid = 'pg_class'::regclass
                  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                  AND d.refobjid = ANY(CAST(:oids AS oid[]))"""), {"oids": oids}).scalars()
            superuser = conn.execute(text(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar_one()
        return cls(tables=[str(name) for _, name in rows], oids=oids,
                   sequences=[int(s) for s in sequences], superuser=bool(superuser))

    def _size(self, conn: Connection) -> tuple[int, int]:
        """How many of the tables still exist (a migration test re-creates them), and their
        size in bytes."""
        found, size = conn.execute(text(
            "SELECT count(*), coalesce(sum(pg_total_relation_size(oid)), 0) FROM pg_class "
            "WHERE oid = ANY(CAST(:oids AS oid[]))"), {"oids": self.oids}).one()
        return int(found), int(size)

    def clear(self, database: Database) -> bool:
        """Empty the tables and restart their sequences; False (nothing done) when the tables
        were re-created since :meth:`inspect`."""
        with database.engine.begin() as conn:
            found, size = self._size(conn)
            if found != len(self.oids):
                return False
            if (not self.superuser or not self.empty_bytes
                    or size > self.empty_bytes + BLOAT_LIMIT_BYTES):
                joined = ", ".join(f'"{n}"' for n in [*DATA_TABLES, *QUEUE_TABLES])
                conn.execute(text(f"TRUNCATE {joined} RESTART IDENTITY CASCADE"))
                self.empty_bytes = self._size(conn)[1]
                return True
            probe = " UNION ALL ".join(
                f"SELECT '{n}' WHERE EXISTS (SELECT 1 FROM \"{n}\")" for n in self.tables)
            filled = conn.execute(text(probe)).scalars().all()
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for name in filled:
                conn.execute(text(f'DELETE FROM "{name}"'))
            conn.execute(text(
                "SELECT setval(seqrelid, seqstart, false) FROM pg_sequence "
                "WHERE seqrelid = ANY(CAST(:oids AS oid[]))"), {"oids": self.sequences})
        return True


_cleaners: dict[str, PgCleaner] = {}


def _truncate(database: Database, backend: str = "sqlite") -> None:
    if database.is_sqlite:
        with database.engine.begin() as conn:
            for name in DATA_TABLES:
                conn.execute(text(f'DELETE FROM "{name}"'))
            # Deleting exported rows leaves tombstones (their triggers, migration 0008).
            conn.execute(text('DELETE FROM "exchange_tombstone"'))
    else:
        cleaner = _cleaners.get(backend)
        if cleaner is None or not cleaner.clear(database):
            _cleaners[backend] = cleaner = PgCleaner.inspect(database)
            cleaner.clear(database)
    database.write(ledger.ensure_virtual_locations)


# FastAPI remembers the dependency callables it classified (lru_caches of 4,096 callables in
# fastapi.dependencies.models). The app's dependencies are closures over its app, so every app
# a test built stayed alive through them: ~600 apps and millions of objects by the end of the
# suite, ever longer garbage collections during the run and about a minute of collection
# while the interpreter exited after the summary line.
_FASTAPI_CALLABLE_CACHES = [f for f in vars(fastapi_dependencies).values()
                            if callable(getattr(f, "cache_clear", None))]
if not _FASTAPI_CALLABLE_CACHES:  # a FastAPI upgrade renamed them: say so, never leak silently
    raise RuntimeError("fastapi.dependencies.models has no lru_caches to clear any more: "
                       "update tests/conftest.py _forget_apps for this FastAPI version")


@pytest.fixture(autouse=True)
def _forget_apps() -> Iterator[None]:
    """Let the apps a test built be freed once it is over."""
    yield
    for cache in _FASTAPI_CALLABLE_CACHES:
        cache.cache_clear()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what imports and collection made (modules, models, schemas: ~500,000 objects
    that live as long as the process) out of the garbage collector's sight, so each full
    collection during the run, and the last one at exit, walks only what tests made."""
    gc.collect()
    gc.freeze()


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
    _truncate(database, backend)
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
    process; the engine run in the test's process: a worker process per plan would import
    it again, about 1.5 s each. The process planner has its own tests,
    tests/dispatch/test_subprocess_planner.py, and the worker processes of the killed-worker
    tests use it)."""
    return Settings(database_url=db_url, readiness_interval_hours=0, rate_limits=UNLIMITED,
                    embedded_plan_workers=1, planner="inline")


@dataclass
class SharedPaths:
    """Where the shared reference files live."""

    shared: Path


@pytest.fixture(scope="session")
def shared_paths() -> SharedPaths:
    """The ../shared folder beside the repository (benchmark instances, source data)."""
    return SharedPaths(shared=Path(__file__).resolve().parents[2] / "shared")
