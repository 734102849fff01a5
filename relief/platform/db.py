"""Database engine factory, sessions and the one-transaction-per-use-case runner.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout; write
transactions start with ``BEGIN IMMEDIATE`` so two writers never deadlock on a lock upgrade.
PostgreSQL (through psycopg 3) runs at READ COMMITTED; the ledger takes row locks itself and a
write that loses a deadlock or serialization race is retried from the start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, Select, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from relief.platform.settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)

# PostgreSQL SQLSTATEs worth retrying: serialization failure and deadlock detected.
_RETRYABLE_SQLSTATES = {"40001", "40P01"}


def one_or_none(session: Session, stmt: Select[Any], *, lock: bool = False) -> Any:
    """The single entity ``stmt`` selects, or None. ``lock`` takes its row lock
    (``FOR UPDATE``; SQLite's write transactions are serial anyway) and refreshes an instance
    the session already holds, so the caller sees the row as committed by whoever held the
    lock before."""
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return session.execute(stmt).scalar_one_or_none()


def is_sqlite(url: str) -> bool:
    """True when the SQLAlchemy URL names a SQLite database."""
    return url.startswith("sqlite")


def make_engine(url: str, *, echo: bool = False, busy_timeout_ms: int = 30_000) -> Engine:
    """Build an engine for ``url`` with the project's connection settings applied."""
    if is_sqlite(url):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        )
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=40)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit BEGIN is
        # always DEFERRED, which can deadlock two writers that both read first).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("relief_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@dataclass
class Database:
    """An engine plus the way the project opens read and write sessions on it."""

    engine: Engine
    write_retries: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """Build the database handle from settings."""
        return cls(
            engine=make_engine(
                settings.database_url,
                echo=settings.sql_echo,
                busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            ),
            write_retries=settings.write_retries,
        )

    @property
    def is_sqlite(self) -> bool:
        """True when this database is SQLite."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reads; anything left uncommitted is rolled back on exit."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def write(self, use_case: Callable[[Session], T]) -> T:
        """Run ``use_case`` in one write transaction and commit it.

        The use case must not commit. On any exception everything is rolled back; a lost lock
        race (deadlock, serialization failure, SQLite busy) is retried from the start up to
        ``write_retries`` times, so a use case must be safe to re-run (it is: nothing it did
        survives the rollback).
        """
        write_engine = self.engine.execution_options(relief_write=True)
        attempt = 0
        while True:
            attempt += 1
            with Session(write_engine, expire_on_commit=False) as session:
                try:
                    result = use_case(session)
                    session.commit()
                    return result
                except DBAPIError as exc:
                    session.rollback()
                    if attempt > self.write_retries or not _is_retryable(exc):
                        raise
                    log.info("retrying write after %s (attempt %d)", type(exc.orig).__name__,
                             attempt)
                    time.sleep(0.01 * attempt)
                except BaseException:
                    session.rollback()
                    raise

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _is_retryable(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in _RETRYABLE_SQLSTATES:
        return True
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)
