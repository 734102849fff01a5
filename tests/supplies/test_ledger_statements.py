"""The lean write path: how many SQL statements one stock move costs, counted, so a regression
(an extra lookup, an ORM refresh, a read-back of what the transaction just wrote) fails here.

Counted on the database connection (every statement the driver is asked to run, reads and
writes), for the use cases exactly as the routes run them, inside ``Database.write``; BEGIN and
COMMIT are not statements the use case sends and are not counted (psycopg sends them
itself; SQLite's ``BEGIN IMMEDIATE`` is filtered out), and neither is a liveness check (there
is none per transaction any more: tests/supplies/test_ledger_connection.py). The ceilings are
today's counts (issue 15 item 4: an issue took 9 statements with the ORM, then 4 with the
Core path, now 2 on PostgreSQL and 3 on SQLite).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from relief.platform.models import Role
from relief.platform.principal import Principal
from supplies import service
from supplies.ledger import MoveContext
from supplies.models.operations import IssueIn, ReceiptIn, TransferIn, TransferReceiveIn
from tests.world import QUILT, TODAY, World

ADMIN = Principal(token_id=0, name="counter", role=Role.admin)


@contextmanager
def counted(world: World) -> Iterator[list[str]]:
    """Every statement this thread sends to the database while the block runs (the app's
    background threads - plan sweeps, schedules - share the engine and are left out)."""
    statements: list[str] = []
    me = threading.get_ident()

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        verb = statement.split(None, 1)[0].upper()
        if threading.get_ident() == me and verb not in {"BEGIN", "COMMIT"}:  # SQLite's
            statements.append(verb)

    engine = world.db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _write(world: World, use_case: Callable[..., Any], data: Any) -> Any:
    return world.db.write(lambda s: use_case(s, principal=ADMIN, data=data,
                                             ctx=MoveContext(actor="counter", today=TODAY)))


@pytest.fixture
def stocked(world: World) -> World:
    """Quilts at CTY in two lots, and one write already done (warm caches, like a server)."""
    world.receive("CTY", QUILT, 100, lot="Q1")
    world.receive("CTY", QUILT, 100, lot="Q2")
    _write(world, service.issue_stock,
           IssueIn(depot="CTY", item=QUILT, quantity=1, reference="count"))
    return world


def test_an_issue_is_two_statements(stocked: World) -> None:
    """FEFO issue of one lot: one read of depot + its location + item + the distribution
    location + the item's quants there, locked; then the quant's UPDATE and the move's INSERT
    in one statement (a data-modifying CTE) on PostgreSQL, two statements on SQLite (no such
    CTEs there); the answer's balance comes from the locked rows, not a read."""
    with counted(stocked) as statements:
        result = _write(stocked, service.issue_stock,
                        IssueIn(depot="CTY", item=QUILT, quantity=3, reference="count"))
    move = ["UPDATE", "INSERT"] if stocked.db.is_sqlite else ["WITH"]
    assert statements == ["SELECT", *move], statements
    assert [m.quantity for m in result.moves] == [3]
    assert result.balances[0].on_hand == 196 and result.balances[0].available == 196
    assert stocked.ledger_ok()


def test_an_issue_over_two_lots_adds_one_move_statement_per_lot(stocked: World) -> None:
    """Crossing into the second lot costs the statements of one more move, nothing else."""
    with counted(stocked) as statements:
        result = _write(stocked, service.issue_stock,
                        IssueIn(depot="CTY", item=QUILT, quantity=120, reference="count"))
    assert sorted(m.lot for m in result.moves) == ["Q1", "Q2"]
    move = ["UPDATE", "INSERT"] if stocked.db.is_sqlite else ["WITH"]
    assert statements == ["SELECT", *move, *move], statements
    assert stocked.ledger_ok()


def test_an_issue_of_a_named_lot_is_two_statements(stocked: World) -> None:
    """A named lot is found among the locked quants the first statement read: no look-up."""
    with counted(stocked) as statements:
        result = _write(stocked, service.issue_stock,
                        IssueIn(depot="CTY", item=QUILT, quantity=3, lot="Q2", reference="count"))
    assert [m.lot for m in result.moves] == ["Q2"]
    move = ["UPDATE", "INSERT"] if stocked.db.is_sqlite else ["WITH"]
    assert statements == ["SELECT", *move], statements
    assert stocked.ledger_ok()


def test_a_receipt_into_a_held_lot_is_five_statements(stocked: World) -> None:
    """Receipt into a lot the depot holds: depot + item read, the depot's lot look-up, one
    upsert of the quant (PostgreSQL; SQLite updates), the move, and the balance read."""
    with counted(stocked) as statements:
        _write(stocked, service.receive_stock,
               ReceiptIn(depot="CTY", item=QUILT, quantity=5, lot="Q1"))
    assert len(statements) <= 5, statements
    assert statements.count("INSERT") + statements.count("UPDATE") == 2, statements
    assert stocked.ledger_ok()


def test_a_transfer_send_and_receipt_stay_lean(stocked: World) -> None:
    """Sending: the move into transit credits the transit quant with one upsert. Receiving
    locks the destination before transit (the global order) and moves each lot once."""
    with counted(stocked) as sent:
        transfer = _write(stocked, service.send_transfer,
                          TransferIn(from_depot="CTY", to_depot="CTY2", item=QUILT,
                                     quantity=10))
    # depot+item+transit, target depot, transfer row, lock, debit and move (PostgreSQL: one
    # statement; SQLite: two), transit credit (SQLite: an UPDATE, then an INSERT for a new
    # transit quant), transfer line, and the answer's transfer lines: 8 (SQLite 10).
    assert len(sent) <= (10 if stocked.db.is_sqlite else 8), sent
    assert sent.count("UPDATE") + sent.count("INSERT") + sent.count("WITH") <= 6, sent
    with counted(stocked) as received:
        stocked.db.write(lambda s: service.receive_transfer(
            s, principal=ADMIN, transfer_id=transfer.id, data=TransferReceiveIn(),
            ctx=MoveContext(actor="counter", today=TODAY)))
    # transfer (locked), target depot, item, lines, location, destination quants created and
    # locked, the virtual locations, transit quant locked, debit and move (one statement on
    # PostgreSQL), credit, the line and the transfer updated, the answer's lines: 15 (SQLite
    # 16; 19 before the lean path).
    assert len(received) <= (16 if stocked.db.is_sqlite else 15), received
    assert stocked.ledger_ok()
