"""Database engine factory, sessions and the one-transaction-per-use-case runner.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout; write
transactions start with ``BEGIN IMMEDIATE`` so two writers never deadlock on a lock upgrade.
PostgreSQL (through psycopg 3) runs at READ COMMITTED; the ledger takes row locks itself and a
write that loses a deadlock or serialization race is retried from the start.

Dead PostgreSQL connections (a server restart, ``pg_terminate_backend``) are handled without a
round trip per checkout (the pool's ``pool_pre_ping`` cost one per transaction):

* on checkout the pool checks the idle connection's socket without waiting: a server that
  ended the connection has sent its goodbye (or closed the socket), so the socket is readable
  and the connection is replaced; a connection idle longer than ``IDLE_PING_S`` is pinged as
  ``pool_pre_ping`` would (a silent network may have dropped it);
* a connection that dies anyway inside a write is invalidated by SQLAlchemy, and
  :meth:`Database.write` runs the use case again on a fresh connection when the failure came
  before COMMIT (the server rolls back a transaction whose connection ended, so nothing of
  it exists). A failure during COMMIT is raised, never retried: whether it committed is then
  unknown, and a retry could apply it twice. A client retrying with the same
  ``Idempotency-Key`` gets the stored answer if it did commit (the key's record commits with
  the writes) and a fresh run if it did not.
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, Select, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
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
    engine = create_engine(url, echo=echo, pool_size=10, max_overflow=40,
                           pool_recycle=POOL_RECYCLE_S)
    _configure_postgresql(engine)
    return engine


# A pooled PostgreSQL connection idle this long is pinged on checkout (one round trip); one in
# use more often than that is only checked for a goodbye from the server (no round trip).
IDLE_PING_S = 10.0
# ... and none is kept longer than this (firewalls and proxies drop long-lived connections).
POOL_RECYCLE_S = 1800


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["relief_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("relief_idle_since", None)
        if not connection_alive(engine, dbapi_connection, idle_since):
            # The pool throws this connection away and checks out a fresh one.
            raise DisconnectionError("PostgreSQL connection ended while it was idle")


def connection_alive(engine: Engine, dbapi_connection: Any, idle_since: float | None) -> bool:
    """False when a pooled psycopg connection is known dead: closed, or its socket readable
    while idle (the server sent its termination notice or closed the connection), or, when it
    has been idle longer than ``IDLE_PING_S``, a ping fails."""
    if dbapi_connection.closed:
        return False
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        ended = bool(poller.poll(0))
    except (OSError, ValueError, TypeError):
        return False
    if not ended and (idle_since is None or time.monotonic() - idle_since < IDLE_PING_S):
        return True
    # Readable (a notice, or the end) or idle long: ask the server.
    try:
        engine.dialect.do_ping(dbapi_connection)
    except Exception:  # any failure means: do not use this connection
        return False
    return True


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

        A connection that dies before COMMIT (it is invalidated: the server rolled the
        transaction back) is retried the same way on a fresh connection; one that dies during
        COMMIT is raised, since the outcome is unknown and a retry could apply it twice.
        """
        write_engine = self.engine.execution_options(relief_write=True)
        attempt = 0
        while True:
            attempt += 1
            with Session(write_engine, expire_on_commit=False) as session:
                committing = False
                try:
                    result = use_case(session)
                    committing = True
                    session.commit()
                    return result
                except DBAPIError as exc:
                    session.rollback()
                    lost = exc.connection_invalidated
                    if (attempt > self.write_retries or (lost and committing)
                            or not (lost or _is_retryable(exc))):
                        raise
                    log.info("retrying write after %s (attempt %d)",
                             "a lost connection" if lost else type(exc.orig).__name__, attempt)
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
