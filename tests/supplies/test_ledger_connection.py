"""A dead PostgreSQL connection never half-writes or double-writes a stock move.

The write path has no ``pool_pre_ping`` round trip (relief/platform/db.py): the pool checks an
idle connection's socket on checkout, and a connection lost inside a write is retried on a
fresh one only when the loss came before COMMIT. Each test ends a backend with
``pg_terminate_backend`` at one moment of a move (between moves, inside one, at its COMMIT)
and checks that the move then happened exactly once or failed loudly, and the ledger check
passes. PostgreSQL only: SQLite has no connection to lose.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from relief.platform import db as db_module
from relief.platform.db import Database, make_engine
from relief.platform.models import Role
from relief.platform.principal import Principal
from supplies import service
from supplies.ledger import MoveContext
from supplies.models import StockMove
from supplies.models.operations import IssueIn
from tests.world import QUILT, TODAY, World

ADMIN = Principal(token_id=0, name="connection", role=Role.admin)


@pytest.fixture
def own(world: World, backend: str) -> Iterator[Database]:
    """A Database on the test database with its own pool (so this test knows every connection
    in it), with quilts in stock at CTY."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no server connection to lose")
    world.receive("CTY", QUILT, 100, lot="Q1")
    database = Database(engine=make_engine(world.db.engine.url.render_as_string(
        hide_password=False)), write_retries=3)
    yield database
    database.dispose()


def _terminate(url: Any, pid: int) -> None:
    """End backend ``pid`` from another connection and wait until it is gone."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        for _ in range(500):
            if not conn.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"),
                                {"pid": pid}).first():
                break
            time.sleep(0.01)
    admin.dispose()


def _pid(session: Session) -> int:
    return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _issue(session: Session, reference: str) -> Any:
    return service.issue_stock(session, principal=ADMIN,
                               data=IssueIn(depot="CTY", item=QUILT, quantity=1,
                                            reference=reference),
                               ctx=MoveContext(actor="connection", today=TODAY,
                                               reference=reference))


def _moves(world: World, reference: str) -> int:
    with world.db.read_session() as s:
        return int(s.execute(select(func.count()).select_from(StockMove)
                             .where(StockMove.reference == reference)).scalar_one())


def test_a_backend_ended_between_moves_is_replaced_on_checkout(
        own: Database, world: World, caplog: pytest.LogCaptureFixture) -> None:
    """The pooled connection's backend is terminated while idle: the next move checks it out,
    sees the server's goodbye on the socket, takes a fresh connection and runs once, with no
    error and no retry of the use case."""
    before = own.write(_pid)
    _terminate(own.engine.url, before)
    reference = f"between-{uuid.uuid4().hex[:8]}"
    runs: list[int] = []

    def move(session: Session) -> Any:
        runs.append(_pid(session))
        return _issue(session, reference)

    with caplog.at_level(logging.INFO, logger="relief.platform.db"):
        result = own.write(move)
    assert len(runs) == 1 and runs[0] != before
    assert "retrying write" not in caplog.text
    assert [m.quantity for m in result.moves] == [1]
    assert _moves(world, reference) == 1
    assert world.ledger_ok()


def test_a_connection_lost_inside_a_move_is_retried_once_on_a_fresh_one(
        own: Database, world: World) -> None:
    """The backend dies after the move's statements ran but before COMMIT: the server rolled
    the transaction back, so the use case runs again on a new connection and the move exists
    exactly once."""
    own.write(_pid)  # a pooled connection
    reference = f"inside-{uuid.uuid4().hex[:8]}"
    runs: list[int] = []

    def move(session: Session) -> Any:
        pid = _pid(session)
        runs.append(pid)
        result = _issue(session, reference)
        if len(runs) == 1:
            _terminate(own.engine.url, pid)
            session.execute(text("SELECT 1"))  # fails: the connection is gone
        return result

    result = own.write(move)
    assert len(runs) == 2 and runs[0] != runs[1]
    assert [m.quantity for m in result.moves] == [1]
    assert _moves(world, reference) == 1
    assert world.ledger_ok()


def test_a_connection_lost_at_commit_fails_loudly_and_is_not_retried(
        own: Database, world: World) -> None:
    """The backend dies as COMMIT is sent: whether it committed is unknown to the client, so
    the write raises instead of running again (a retry could apply it twice). Here COMMIT
    never reached the server: nothing of the move exists, and the next write works."""
    own.write(_pid)
    reference = f"commit-{uuid.uuid4().hex[:8]}"
    runs: list[int] = []

    def kill_at_commit(conn: Any) -> None:
        _terminate(own.engine.url, runs[-1])

    def move(session: Session) -> Any:
        runs.append(_pid(session))
        return _issue(session, reference)

    event.listen(own.engine, "commit", kill_at_commit)
    try:
        with pytest.raises(DBAPIError) as raised:
            own.write(move)
    finally:
        event.remove(own.engine, "commit", kill_at_commit)
    assert raised.value.connection_invalidated
    assert len(runs) == 1
    assert _moves(world, reference) == 0
    assert world.ledger_ok()
    own.write(lambda s: _issue(s, reference))
    assert _moves(world, reference) == 1
    assert world.ledger_ok()


def test_a_busy_connection_is_not_pinged_and_an_idle_one_is(
        own: Database, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """No liveness round trip per move on a connection in steady use (the socket check costs
    none); one idle longer than IDLE_PING_S is pinged on checkout, as pool_pre_ping did."""
    pings: list[int] = []
    ping = own.engine.dialect.do_ping

    def counted_ping(dbapi_connection: Any) -> bool:
        pings.append(1)
        return bool(ping(dbapi_connection))

    monkeypatch.setattr(own.engine.dialect, "do_ping", counted_ping)
    own.write(_pid)
    for n in range(3):
        own.write(lambda s, n=n: _issue(s, f"busy-{n}"))
    assert pings == []
    monkeypatch.setattr(db_module, "IDLE_PING_S", 0.0)
    own.write(lambda s: _issue(s, "idle"))
    assert pings == [1]
    assert world.ledger_ok()
