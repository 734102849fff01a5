"""The ledger invariant under random sequences of every stock operation.

A reference model tracks, per depot and item, what must be on hand, reserved and in transit;
after every operation the database must agree with it, and ``ledger.verify`` must find every
quant equal to the sum of its moves.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from relief.platform.db import Database
from relief.platform.errors import ReliefError
from relief.platform.models import Role
from relief.platform.principal import Principal
from supplies import ledger, service
from supplies.ledger import MoveContext
from supplies.models import Location, LocationKind, Lot, Quant
from supplies.models.operations import (
    AdjustmentIn,
    IssueIn,
    QualityIn,
    ReceiptIn,
    ReleaseIn,
    ReservationIn,
    TransferIn,
    TransferReceiveIn,
)
from tests.world import QUILT, TENT, TODAY, WATER, World

ADMIN = Principal(token_id=0, name="fuzz", role=Role.admin)
DEPOTS = ["CITY", "CTY", "TWN", "CTY2"]
ITEMS = [WATER, TENT, QUILT]


def _ctx() -> MoveContext:
    return MoveContext(actor=ADMIN.actor, today=TODAY)


def _totals(db: Database) -> dict[tuple[str, str], tuple[int, int]]:
    """(on hand, reserved) per depot location code and item id, plus transit."""
    with db.read_session() as s:
        rows = s.execute(
            select(Location.code, Quant.item_id, func.sum(Quant.on_hand), func.sum(Quant.reserved))
            .join(Location, Location.id == Quant.location_id)
            .group_by(Location.code, Quant.item_id)
        ).all()
    return {(loc, str(item)): (int(h), int(r)) for loc, item, h, r in rows if h or r}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_operations_keep_the_ledger_whole(world: World, seed: int) -> None:
    """Whatever mix of operations runs (and fails), quants equal their moves and the model."""
    rng = random.Random(seed)
    db = world.db
    on_hand: dict[tuple[str, str], int] = defaultdict(int)
    reserved: dict[tuple[str, str], int] = defaultdict(int)
    in_transit: dict[int, tuple[str, str, int]] = {}
    reservations: dict[int, tuple[str, str, int]] = {}
    lots: dict[str, list[str]] = defaultdict(list)
    quarantined: set[tuple[str, str, str]] = set()  # (depot, item, lot): quality is per depot
    item_ids: dict[str, str] = {}

    def run(use_case: object) -> object | None:
        try:
            return db.write(use_case)  # type: ignore[arg-type]
        except ReliefError:
            return None

    for step in range(70):
        op = rng.choice(["receive", "receive", "issue", "transfer", "receive_transfer",
                         "adjust", "reserve", "release", "quality"])
        depot, item = rng.choice(DEPOTS), rng.choice(ITEMS)
        qty = rng.randint(1, 30)
        if op == "receive":
            lot = f"L{rng.randint(1, 4)}"
            expiry = TODAY + timedelta(days=10 * int(lot[1:])) if item == WATER else None
            result = run(lambda s, d=depot, i=item, q=qty, lt=lot, e=expiry: service.receive_stock(
                s, principal=ADMIN, ctx=_ctx(),
                data=ReceiptIn(depot=d, item=i, quantity=q, lot=lt, expiry=e)))
            assert result is not None
            item_ids[item] = str(result.moves[0].item)  # type: ignore[attr-defined]
            on_hand[(depot, item)] += qty
            if lot not in lots[item]:
                lots[item].append(lot)
        elif op == "issue":
            result = run(lambda s, d=depot, i=item, q=qty, n=step: service.issue_stock(
                s, principal=ADMIN, ctx=_ctx(),
                data=IssueIn(depot=d, item=i, quantity=q, reference=f"step-{n}")))
            if result is not None:
                on_hand[(depot, item)] -= qty
        elif op == "transfer":
            target = rng.choice([d for d in DEPOTS if d != depot])
            result = run(lambda s, d=depot, t=target, i=item, q=qty: service.send_transfer(
                s, principal=ADMIN, ctx=_ctx(),
                data=TransferIn(from_depot=d, to_depot=t, item=i, quantity=q)))
            if result is not None:
                on_hand[(depot, item)] -= qty
                in_transit[result.id] = (target, item, qty)  # type: ignore[attr-defined]
        elif op == "receive_transfer" and in_transit:
            tid = rng.choice(sorted(in_transit))
            target, titem, tqty = in_transit.pop(tid)
            got = rng.randint(0, tqty)
            result = run(lambda s, t=tid, g=got: service.receive_transfer(
                s, principal=ADMIN, transfer_id=t, ctx=_ctx(),
                data=TransferReceiveIn(quantity=g)))
            assert result is not None
            on_hand[(target, titem)] += got
        elif op == "adjust" and lots[item]:
            lot = rng.choice(lots[item])
            counted = rng.randint(0, 40)
            before = _lot_on_hand(db, depot, item, lot)
            result = run(lambda s, d=depot, i=item, lt=lot, c=counted: service.adjust_stock(
                s, principal=ADMIN, ctx=_ctx(),
                data=AdjustmentIn(depot=d, item=i, lot=lt, counted_quantity=c, reason="fuzz")))
            if result is not None:
                on_hand[(depot, item)] += counted - before
        elif op == "reserve":
            result = run(lambda s, d=depot, i=item, q=qty, n=step: service.create_reservation(
                s, principal=ADMIN, ctx=_ctx(),
                data=ReservationIn(depot=d, item=i, quantity=q, reference=f"P{n}")))
            if result is not None:
                reserved[(depot, item)] += qty
                reservations[result.id] = (depot, item, qty)  # type: ignore[attr-defined]
        elif op == "release" and reservations:
            rid = rng.choice(sorted(reservations))
            rdepot, ritem, rqty = reservations[rid]
            part = rng.randint(1, rqty)
            run(lambda s, r=rid, p=part: service.release_reservation(
                s, principal=ADMIN, reservation_id=r, data=ReleaseIn(quantity=p)))
            reserved[(rdepot, ritem)] -= part
            if part == rqty:
                del reservations[rid]
            else:
                reservations[rid] = (rdepot, ritem, rqty - part)
        elif op == "quality" and lots[item]:
            lot = rng.choice(lots[item])
            status = "good" if (depot, item, lot) in quarantined else "quarantine"
            lot_id = _lot_id(db, item, lot)
            verdict = run(lambda s, lid=lot_id, st=status, d=depot: service.set_lot_quality(
                s, principal=ADMIN, lot_id=lid, ctx=_ctx(), data=QualityIn(status=st, depot=d)))
            if verdict is not None:
                quarantined.symmetric_difference_update({(depot, item, lot)})

        with db.read_session() as s:
            check = ledger.verify(s)
        assert check.ok, (step, op, check.problems)
        totals = _totals(db)
        for (d, i), expected in on_hand.items():
            have = totals.get((f"DEPOT/{d}", _item_id(db, i)), (0, 0))
            assert have[0] == expected, (step, op, d, i)
            assert have[1] == reserved[(d, i)], (step, op, d, i)
        transit = sum(h for (loc, _), (h, _) in totals.items() if loc == "VIRTUAL/TRANSIT")
        assert transit == sum(q for _, _, q in in_transit.values())


def _item_id(db: Database, code: str) -> str:
    with db.read_session() as s:
        return str(service.get_item(s, code).id)


def _lot_id(db: Database, item: str, lot: str) -> int:
    # Each lot number of this test has one expiry (a function of the number), so one lot.
    with db.read_session() as s:
        return s.execute(select(Lot.id).where(Lot.item_id == service.get_item(s, item).id,
                                              Lot.lot_number == lot)).scalar_one()


def _lot_on_hand(db: Database, depot: str, item: str, lot: str) -> int:
    with db.read_session() as s:
        loc = ledger.depot_location(s, service.get_depot(s, depot))
        quant = s.execute(select(Quant).where(
            Quant.location_id == loc.id, Quant.lot_id == _lot_id(db, item, lot))
        ).scalar_one_or_none()
        return quant.on_hand if quant else 0


def test_verify_detects_a_tampered_quant(world: World) -> None:
    """The check is not vacuous: a quant edited behind the ledger's back is reported."""
    world.receive("CTY", TENT, 5)
    world.db.write(lambda s: s.execute(
        Quant.__table__.update().where(Quant.on_hand == 5).values(on_hand=6)))
    with world.db.read_session() as s:
        result = ledger.verify(s)
    assert not result.ok and "moves sum to 5" in result.problems[0]


def test_transit_is_a_stocked_location(world: World) -> None:
    """Transit holds a quant like a depot, so in-transit stock is counted, never lost."""
    with world.db.read_session() as s:
        transit = ledger.virtual_location(s, LocationKind.transit)
    assert transit.kind == LocationKind.transit
    world.receive("CTY", TENT, 5)
    world.manager.post("/stock/transfers", {"from_depot": "CTY", "to_depot": "CTY2",
                                            "item": TENT, "quantity": 5})
    assert sum(h for (loc, _), (h, _) in _totals(world.db).items()
               if loc == "VIRTUAL/TRANSIT") == 5
