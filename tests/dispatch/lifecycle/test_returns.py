"""What a stop confirmation refuses, and what comes back: arrival times neither in the future
nor before departure; every item delivered short carries a reason; damaged units return to a
damaged lot at the depot, never to good stock, and are not counted as restocked."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from relief.platform.dbtypes import utcnow
from supplies.models import Lot, Quant
from tests.dispatch.lifecycle.helpers import approve, incident, plan
from tests.world import World


def _departed_trip(world: World) -> tuple[int, dict]:
    api = world.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    trip = approve(api, inc, job["id"])[0]
    assert api.post(f"/shipments/{trip['id']}/depart").status_code == 200
    return inc, api.get(f"/shipments/{trip['id']}").json()


def _fields(r) -> list[str]:  # type: ignore[no-untyped-def]
    return [f["field"] for f in r.json()["error"]["fields"]]


def test_arrival_in_the_future_or_before_departure_is_refused(desk: World) -> None:
    """422 naming arrived_at, nothing moves, the stop stays pending; a time zone is needed."""
    world, api = desk, desk.dispatcher
    _, trip = _departed_trip(world)
    url = f"/shipments/{trip['id']}/stops/1/confirm"
    moves = world.moves()
    for when in (utcnow() + timedelta(hours=5, minutes=30),
                 utcnow() - timedelta(days=1)):
        r = api.post(url, {"arrived_at": when.isoformat()})
        assert r.status_code == 422, r.text
        assert _fields(r) == ["arrived_at"], r.text
        assert r.json()["error"]["message_zh"]
    naive = api.post(url, {"arrived_at": "2026-08-01T10:00:00"})
    assert naive.status_code == 422 and "arrived_at" in naive.text
    assert world.moves() == moves
    ok = api.post(url, {"arrived_at": utcnow().isoformat()})
    assert ok.status_code == 200, ok.text
    world.ledger_ok()


def test_short_goods_need_a_reason(desk: World) -> None:
    """An item delivered short without a reason is a 422 naming short_reasons.<item>; a
    reason for an item that is not short, or a damaged count without damage, too."""
    world, api = desk, desk.dispatcher
    _, trip = _departed_trip(world)
    stop = trip["stops"][0]
    item = stop["lines"][0]["item"]
    url = f"/shipments/{trip['id']}/stops/{stop['seq']}/confirm"
    delivered = {x["item"]: x["planned"] for x in stop["lines"]}
    delivered[item] -= 1
    r = api.post(url, {"delivered": delivered})
    assert r.status_code == 422 and _fields(r) == [f"short_reasons.{item}"], r.text
    full = {x["item"]: x["planned"] for x in stop["lines"]}
    r = api.post(url, {"delivered": full, "short_reasons": {item: "refused"}})
    assert r.status_code == 422 and _fields(r) == [f"short_reasons.{item}"], r.text
    r = api.post(url, {"delivered": delivered, "short_reasons": {item: "refused"},
                       "damaged": {item: 1}})
    assert r.status_code == 422 and _fields(r) == [f"damaged.{item}"], r.text
    r = api.post(url, {"delivered": delivered, "short_reasons": {item: "refused"}})
    assert r.status_code == 200, r.text
    line = next(x for x in r.json()["stops"][0]["lines"] if x["item"] == item)
    assert line["short_reason"] == "refused" and line["shortfall"] == 1 and line["damaged"] == 0
    world.ledger_ok()


def test_damaged_goods_return_to_a_damaged_lot_never_to_good_stock(desk: World) -> None:
    """Two units crushed at the first stop: when the trip ends they are at the depot in lot
    <lot>-DMG, quality damaged; the depot's good available stock does not grow by them; the
    replenishment counts them as to restock."""
    world, api = desk, desk.dispatcher
    inc, trip = _departed_trip(world)
    stop = trip["stops"][0]
    line = max(stop["lines"], key=lambda x: x["planned"])
    item = line["item"]
    assert line["planned"] >= 2
    lot = next(x["lot"] for x in trip["load"] if x["item"] == item)
    before = world.available(trip["source"], item)
    delivered = {x["item"]: x["planned"] for x in stop["lines"]}
    delivered[item] -= 2
    r = api.post(f"/shipments/{trip['id']}/stops/{stop['seq']}/confirm",
                 {"delivered": delivered, "short_reasons": {item: "damaged"}})
    assert r.status_code == 200, r.text
    for other in trip["stops"][1:]:
        assert api.post(f"/shipments/{trip['id']}/stops/{other['seq']}/confirm",
                        {}).status_code == 200
    done = api.get(f"/shipments/{trip['id']}").json()
    assert done["status"] == "completed"
    assert world.available(trip["source"], item) == before
    with world.db.read_session() as s:
        rows = s.execute(select(Quant, Lot).join(Lot, Lot.id == Quant.lot_id).where(
            Lot.lot_number == f"{lot}-DMG")).all()
    assert [(q.on_hand, q.quality) for q, _ in rows] == [(2, "damaged")]
    replenish = api.get(f"/incidents/{inc}/replenishment").json()
    row = next(x for d in replenish for x in d["lines"] if x["item"] == item)
    assert row["damaged"] == 2
    assert row["restock"] == row["dispatched"] - (row["returned"] - row["damaged"])
    world.ledger_ok()
