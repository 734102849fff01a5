"""Export feeds: stable keys, change cursors, consistent pages while writes go on, snapshot
totals for reconciliation."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.models import Entity
from relief.platform.errors import InsufficientStock
from relief.platform.models import Role
from relief.platform.principal import Principal
from supplies import service
from supplies.ledger import MoveContext
from supplies.models import Depot, Item, Location, Lot, Quant, StockMove
from supplies.models.operations import IssueIn, ReceiptIn, TransferIn, TransferReceiveIn
from tests.exchange.conftest import Exchange
from tests.exchange.province import P_TENT, stock, warehouse
from tests.world import QUILT, TENT, TODAY, WATER, Api, World

ADMIN = Principal(token_id=0, name="writer", role=Role.admin)
EXPIRY = TODAY + timedelta(days=200)


def drain(api: Api, feed: str, after: str | None = None, *, limit: int = 100,
          **params: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Read a feed until it is complete; returns every item and the last page.

    Rows held back behind a transaction still open elsewhere on the server (``pending``) are
    waited for: that is the feed's guarantee at work, not an error.
    """
    items: list[dict[str, Any]] = []
    for _ in range(2000):
        query = {"limit": limit, **params}
        if after is not None:
            query["after"] = after
        response = api.get(f"/exchange/{feed}", **query)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        after = page["next_cursor"]
        if not page["has_more"]:
            return items, page
        if not page["items"]:
            time.sleep(0.02)
    raise AssertionError(f"{feed} never completed")


def _ctx() -> MoveContext:
    return MoveContext(actor=ADMIN.actor, today=TODAY)


def test_feeds_carry_stable_keys_and_snapshot_totals(world: World) -> None:
    """Every feed pages by cursor with stable identifiers, and the last page's snapshot totals
    equal what the pages delivered."""
    world.receive("CTY", TENT, 30, lot="T1")
    world.receive("CTY", WATER, 12, lot="W1", expiry=EXPIRY)
    world.receive("CTY2", QUILT, 7)
    world.admin.post("/stock/issues", {"depot": "CTY", "item": TENT, "quantity": 4,
                                       "reference": "INC-1"})
    moves, last = drain(world.admin, "moves", limit=2)
    assert [m["id"] for m in moves] == sorted(m["id"] for m in moves)
    assert last["snapshot"]["totals"] == {"count": 4, "sums": {"quantity": 53}}
    assert last["through_cursor"] == last["snapshot"]["totals"] and last["snapshot"]["complete"]
    rows, last = drain(world.admin, "stock", limit=2)
    assert {(r["depot"], r["item"], r["lot"]): r["on_hand"] for r in rows} == {
        ("CTY", TENT, "T1"): 26, ("CTY", WATER, "W1"): 12, ("CTY2", QUILT, "AUTO-NOEXP"): 7}
    assert last["snapshot"]["totals"] == {"count": 3, "sums": {"on_hand": 45, "reserved": 0}}
    depots, last = drain(world.admin, "depots", limit=2)
    assert sorted(d["code"] for d in depots) == ["AGR", "CITY", "CTY", "CTY2", "TWN"]
    assert last["snapshot"]["totals"]["count"] == 5
    items, _ = drain(world.admin, "items")
    assert sorted(i["code"] for i in items) == sorted([TENT, QUILT, WATER])
    for feed in ("agreements", "capacity-reserves"):
        rows, last = drain(world.admin, feed)
        assert rows == [] and last["snapshot"]["totals"]["count"] == 0


def test_cursor_returns_only_what_changed(world: World) -> None:
    """After catching up, a reader gets only the rows changed since its cursor; an update
    re-sends the row in its new state."""
    world.receive("CTY", TENT, 10, lot="T1")
    world.receive("CTY2", TENT, 10, lot="T2")
    _, last = drain(world.admin, "stock")
    cursor = last["next_cursor"]
    again, _ = drain(world.admin, "stock", cursor)
    assert again == []
    world.admin.post("/stock/issues", {"depot": "CTY2", "item": TENT, "quantity": 3,
                                       "reference": "x"})
    changed, _ = drain(world.admin, "stock", cursor)
    assert [(r["depot"], r["on_hand"]) for r in changed] == [("CTY2", 7)]
    world.admin.patch("/depots/TWN", {"name": "西亭镇新储备点"})
    _, last_depots = drain(world.admin, "depots")
    depots, _ = drain(world.admin, "depots")
    assert depots[-1]["code"] == "TWN" and depots[-1]["name"] == "西亭镇新储备点"
    assert drain(world.admin, "depots", last_depots["next_cursor"])[0] == []


def test_quality_change_resends_only_that_depots_stock_row(world: World) -> None:
    """Quarantining a lot at one depot re-sends that depot's stock row with the new quality and
    nothing available; the same lot at another depot is untouched and not re-sent."""
    world.receive("CTY", TENT, 10, lot="T1")
    world.receive("CTY2", TENT, 5, lot="T1")
    world.receive("CTY", QUILT, 5)
    _, last = drain(world.admin, "stock")
    with world.db.read_session() as s:
        lot_id = s.execute(select(Lot.id).where(Lot.lot_number == "T1")).scalar_one()
    assert world.admin.post(f"/stock/lots/{lot_id}/quality",
                            {"status": "quarantine", "depot": "CTY"}).status_code == 200
    changed, _ = drain(world.admin, "stock", last["next_cursor"])
    assert [(r["depot"], r["quality"], r["available"]) for r in changed] == [
        ("CTY", "quarantine", 0)]
    assert world.available("CTY2", TENT) == 5


def test_bad_cursors_are_422(world: World) -> None:
    """A cursor that is not one, or comes from another feed or filter, is refused by name."""
    _, last = drain(world.admin, "moves")
    for feed, params in (("stock", {}), ("moves", {"local_only": True})):
        response = world.admin.get(f"/exchange/{feed}", after=last["next_cursor"], **params)
        assert response.status_code == 422
        assert response.json()["error"]["fields"][0]["field"] == "after"
    assert world.admin.get("/exchange/moves", after="%%%").status_code == 422


def test_local_only_leaves_out_provincial_depots(exchange: Exchange) -> None:
    """With local_only, depots imported from the province and their stock and moves are left
    out; without it, they are flagged provincial."""
    world = exchange.world
    world.receive("CTY", TENT, 3)
    exchange.push(Entity.warehouses, [warehouse("CK1")])
    exchange.push(Entity.stock, [stock("CK1", P_TENT, 9)])
    everything, _ = drain(world.admin, "depots")
    assert sum(d["provincial"] for d in everything) == 1
    local, _ = drain(world.admin, "depots", local_only=True)
    assert len(local) == len(everything) - 1 and not any(d["provincial"] for d in local)
    assert [r["on_hand"] for r in drain(world.admin, "stock", local_only=True)[0]] == [3]
    assert len(drain(world.admin, "moves", local_only=True)[0]) == 1
    assert len(drain(exchange.reader, "moves")[0]) == 2


def test_a_transaction_committing_late_is_not_skipped(world: World, backend: str) -> None:
    """PostgreSQL commit-order hazard: a transaction that wrote first (lower id and
    transaction id) but commits after a later one must not be skipped by a reader who already
    saw the later one. The page holds the later row back (pending) until the earlier commits."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: a later write cannot commit first")
    world.receive("CTY", TENT, 5)
    _, last = drain(world.admin, "moves")
    cursor = last["next_cursor"]
    early = Session(world.db.engine)
    try:
        service.receive_stock(early, principal=ADMIN, ctx=_ctx(),
                              data=ReceiptIn(depot="CTY", item=TENT, quantity=2))
        early.flush()  # holds move id N and the lower transaction id, uncommitted
        world.receive("CTY2", QUILT, 3)  # id N+1, committed first
        response = world.admin.get("/exchange/moves", after=cursor)
        page = response.json()
        assert page["items"] == [] and page["pending"] >= 1 and page["has_more"]
        assert page["next_cursor"] == cursor
        # Held back, and it says so: wait instead of asking again at once.
        assert page["held_back"] and page["retry_after_ms"] == 500
        assert response.headers["Retry-After"] == "1"
        stock_page = world.admin.get("/exchange/stock").json()
        assert QUILT not in [r["item"] for r in stock_page["items"]]  # CTY2's quilt held back
        assert stock_page["pending"] >= 1
        early.commit()
    finally:
        early.close()
    moves, last = drain(world.admin, "moves", cursor)
    assert [(m["item"], m["quantity"]) for m in moves] == [(TENT, 2), (QUILT, 3)]
    assert not last["held_back"] and last["retry_after_ms"] is None


def test_etag_gives_304_until_the_page_changes_and_large_pages_are_gzipped(
        world: World) -> None:
    """A feed page carries an ETag; the same request with If-None-Match answers 304 without a
    body while nothing changed (the snapshot time is not content), 200 with a new ETag once it
    did. A large page is sent gzipped to a client that accepts it."""
    for n in range(30):
        world.receive("CTY", TENT, 1 + n, lot=f"T{n:02d}")
    url, auth = "/api/v1/exchange/stock", {"Authorization": f"Bearer {world.admin.token}"}
    drain(world.admin, "stock")  # PostgreSQL: until no open transaction holds rows back
    first = world.client.get(url, headers=auth)
    assert first.json()["pending"] == 0
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    same = world.client.get(url, headers={**auth, "If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["ETag"] == etag
    zipped = world.client.get(url, headers={**auth, "Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip" and zipped.json() == {
        **first.json(), "snapshot": {**first.json()["snapshot"],
                                     "as_of": zipped.json()["snapshot"]["as_of"]}}
    world.receive("CTY", TENT, 1, lot="T00")
    changed = world.client.get(url, headers={**auth, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    planning = "/api/v1/exchange/provincial-depots"
    tag = world.client.get(planning, headers=auth).headers["ETag"]
    assert world.client.get(planning, headers={**auth, "If-None-Match": tag}).status_code == 304


def test_paging_under_concurrent_writes_skips_and_repeats_nothing(world: World) -> None:
    """Writer threads receive, issue and transfer while a reader pages through moves and stock
    with small pages. Every move arrives exactly once; the through-cursor totals match the
    mirror after every page; no stock row version arrives twice; once writers stop and the
    feed completes, the mirrors equal the database and the snapshot totals."""
    depots = ["CTY", "CTY2", "TWN"]
    for depot in depots:
        world.receive(depot, TENT, 200, lot=f"{depot}-A")
        world.receive(depot, QUILT, 200, lot=f"{depot}-B")
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for n in range(25):
                depot, other = rng.sample(depots, 2)
                item, qty = rng.choice([TENT, QUILT]), rng.randint(1, 5)
                op = rng.choice(["receipt", "issue", "transfer"])
                try:
                    if op == "receipt":
                        lot = f"{depot}-R{n % 3}"
                        world.db.write(lambda s, d=depot, i=item, q=qty, lt=lot:
                                       service.receive_stock(
                                           s, principal=ADMIN, ctx=_ctx(),
                                           data=ReceiptIn(depot=d, item=i, quantity=q, lot=lt)))
                    elif op == "issue":
                        world.db.write(lambda s, d=depot, i=item, q=qty: service.issue_stock(
                            s, principal=ADMIN, ctx=_ctx(),
                            data=IssueIn(depot=d, item=i, quantity=q, reference="load")))
                    else:
                        sent = world.db.write(lambda s, d=depot, o=other, i=item, q=qty:
                                              service.send_transfer(
                                                  s, principal=ADMIN, ctx=_ctx(),
                                                  data=TransferIn(from_depot=d, to_depot=o,
                                                                  item=i, quantity=q)))
                        world.db.write(lambda s, t=sent.id: service.receive_transfer(
                            s, principal=ADMIN, transfer_id=t, ctx=_ctx(),
                            data=TransferReceiveIn()))
                except InsufficientStock:
                    continue
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(3)]
    for thread in threads:
        thread.start()
    seen_moves: Counter[int] = Counter()
    mirror_moves: dict[int, int] = {}
    versions: Counter[tuple[Any, ...]] = Counter()
    mirror_stock: dict[tuple[str, str, str], tuple[int, int]] = {}
    cursors: dict[str, str | None] = {"moves": None, "stock": None}
    while True:
        writers_done = all(not t.is_alive() for t in threads)
        complete = True
        for feed in ("moves", "stock"):
            query: dict[str, Any] = {"limit": 7}
            if cursors[feed] is not None:
                query["after"] = cursors[feed]
            page = world.admin.get(f"/exchange/{feed}", **query).json()
            cursors[feed] = page["next_cursor"]
            complete &= page["snapshot"]["complete"]
            if feed == "moves":
                for move in page["items"]:
                    seen_moves[move["id"]] += 1
                    mirror_moves[move["id"]] = move["quantity"]
                assert page["through_cursor"] == {
                    "count": len(mirror_moves), "sums": {"quantity": sum(mirror_moves.values())}}
            else:
                for row in page["items"]:
                    key = (row["depot"], row["item"], row["lot"])
                    versions[(*key, row["updated_at"], row["on_hand"], row["reserved"])] += 1
                    mirror_stock[key] = (row["on_hand"], row["reserved"])
                last_stock = page
        if writers_done and complete:
            break
        if not page["items"]:
            time.sleep(0.005)
    assert not errors, errors
    assert max(seen_moves.values()) == 1, "a move was served twice"
    assert max(versions.values()) == 1, "a stock row version was served twice"
    with world.db.read_session() as s:
        db_moves = dict(s.execute(select(StockMove.id, StockMove.quantity)).all())
        db_stock = {
            (depot, item, lot): (on_hand, reserved)
            for depot, item, lot, on_hand, reserved in s.execute(
                select(Depot.code, Item.code, Lot.lot_number, Quant.on_hand, Quant.reserved)
                .join(Location, Location.id == Quant.location_id)
                .join(Depot, Depot.id == Location.depot_id)
                .join(Item, Item.id == Quant.item_id).join(Lot, Lot.id == Quant.lot_id))
        }
    assert mirror_moves == db_moves, "a move was skipped"
    assert mirror_stock == db_stock
    assert last_stock["snapshot"]["totals"] == {"count": len(mirror_stock), "sums": {
        "on_hand": sum(v[0] for v in mirror_stock.values()),
        "reserved": sum(v[1] for v in mirror_stock.values())}}
    world.ledger_ok()
