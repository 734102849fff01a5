"""Advice end to end on the small world: tents idle at a township point without a vehicle are
advised to a depot with trucks; the engine confirms the gain; the sending depot's manager
accepts the draft transfer through the ledger exactly once, however often it is accepted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from supplies.models import Depot, Transfer
from tests.dispatch.readiness.conftest import Ready
from tests.world import TENT


def _advice(ready: Ready, **body: Any) -> dict[str, Any]:
    r = ready.world.dispatcher.post("/readiness/advice", {
        "budget_t": 2.0, "horizon_days": 0, "time_limit_s": 2, "optimise_s": 20, **body})
    assert r.status_code == 202, r.text
    ready.world.client.app.state.readiness.wait("advice", r.json()["id"], timeout=300)
    done = ready.world.viewer.get(f"/readiness/advice/{r.json()['id']}").json()
    assert done["status"] == "succeeded", done
    return done


def _transfers(ready: Ready) -> int:
    with ready.world.db.read_session() as s:
        return s.execute(select(func.count()).select_from(Transfer)).scalar_one()


def test_idle_tents_move_to_the_trucks_and_accepting_twice_sends_once(ready: Ready) -> None:
    """The advice moves tents from the township point (no vehicle) to a depot with trucks
    within its room; the engine covers more people after than before; accepting the order
    twice (and retrying with the same key) creates one set of transfers; declining it then
    is a 409; another depot's manager may not accept it."""
    world = ready.world
    world.db.write(lambda s: s.execute(update(Depot).where(Depot.code.in_(["CTY", "CITY"]))
                                       .values(floor_area_m2=500.0)))
    world.receive("TWN", TENT, 30, lot="T-TWN")
    world.dispatcher.post("/readiness/scenarios", ready.scenario())
    advice = _advice(ready)
    [check] = advice["checks"]
    assert check["after_covered"] > check["before_covered"], check
    assert check["after_covered"] == check["people"] == 300
    orders = [o for o in advice["orders"] if o["kind"] == "transfer"]
    assert orders and all(o["from_depot"] == "TWN" and o["item"] == TENT for o in orders)
    assert sum(o["quantity"] for o in orders) <= 30
    assert advice["objective"]["tonnes_moved"] <= 2.0
    order = orders[0]
    path = f"/readiness/advice/{advice['id']}/orders/{order['seq']}"

    assert world.manager2.post(f"{path}/accept", {}).status_code == 403
    assert world.dispatcher.post(f"{path}/accept", {}).status_code == 403
    first = world.manager.post(f"{path}/accept", {}, key="acc-1")
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "accepted" and first.json()["transfer_ids"]
    count = _transfers(ready)
    again = world.manager.post(f"{path}/accept", {})
    retry = world.manager.post(f"{path}/accept", {}, key="acc-1")
    assert again.status_code == retry.status_code == 200
    assert again.json()["transfer_ids"] == first.json()["transfer_ids"] == retry.json()[
        "transfer_ids"]
    assert _transfers(ready) == count == len(first.json()["transfer_ids"])
    sent = world.viewer.get(f"/stock/transfers/{first.json()['transfer_ids'][0]}").json()
    assert sent["to_depot"] == order["to_depot"] and sent["reference"].startswith("ADV-")
    assert world.available("TWN", TENT) == 30 - order["quantity"]
    declined = world.manager.post(f"{path}/decline", {"note": "too late"})
    assert declined.status_code == 409
    assert world.ledger_ok()


def test_an_order_whose_stock_moved_is_refused_and_a_declined_one_stays_declined(
        ready: Ready) -> None:
    """When the sending depot no longer holds the stock, accepting is a 409 naming the
    quantity and nothing is sent; a declined order cannot be accepted."""
    world = ready.world
    world.db.write(lambda s: s.execute(update(Depot).where(Depot.code.in_(["CTY", "CITY"]))
                                       .values(floor_area_m2=500.0)))
    world.receive("TWN", TENT, 30, lot="T-TWN")
    world.dispatcher.post("/readiness/scenarios", ready.scenario())
    advice = _advice(ready)
    order = next(o for o in advice["orders"] if o["kind"] == "transfer")
    path = f"/readiness/advice/{advice['id']}/orders/{order['seq']}"
    issued = world.manager.post("/stock/issues", {"depot": "TWN", "item": TENT,
                                                  "quantity": 25, "reference": "used"})
    assert issued.status_code == 201, issued.text
    before = _transfers(ready)
    refused = world.manager.post(f"{path}/accept", {})
    assert refused.status_code == 409
    assert refused.json()["error"]["fields"][0]["field"] == "quantity"
    assert _transfers(ready) == before
    assert world.manager.post(f"{path}/decline", {}).json()["state"] == "declined"
    assert world.manager.post(f"{path}/decline", {}).status_code == 200
    assert world.manager.post(f"{path}/accept", {}).status_code == 409
    assert world.ledger_ok()


def test_new_stock_goes_where_a_budget_allows_and_the_engine_checks_it(ready: Ready) -> None:
    """With no room to buy at any depot (floor areas unknown), new volume can only come from
    the agreement already in force: the advice asks the enterprise for the missing tents,
    within the tonnes of new stock, and the engine's after covers everyone; the order only
    records a decision (no ledger move)."""
    from datetime import timedelta

    from supplies.models import AgreementReserve, Item
    from tests.world import TODAY

    world = ready.world

    def contract(s: Any) -> None:
        agr = s.execute(select(Depot).where(Depot.code == "AGR")).scalar_one()
        tent = s.execute(select(Item).where(Item.code == TENT)).scalar_one()
        s.add(AgreementReserve(depot_id=agr.id, item_id=tent.id, committed_quantity=5,
                               lead_time_hours=1.0, valid_from=TODAY - timedelta(days=1),
                               valid_to=TODAY + timedelta(days=365), contract_ref="T-1"))

    world.db.write(contract)
    r = world.admin.post("/vehicles", {"plate": "苏F-AG1", "depot": "AGR", "capacity_kg": 5000,
                                       "capacity_m3": 30})
    assert r.status_code == 201, r.text
    world.dispatcher.post("/readiness/scenarios", ready.scenario())
    advice = _advice(ready, budget_t=0.0, purchase_t=1.0)
    [check] = advice["checks"]
    assert check["before_covered"] < check["after_covered"] == 300, check
    [order] = advice["orders"]
    assert order["kind"] == "agreement" and order["to_depot"] == "AGR"
    assert order["item"] == TENT and 6 <= order["quantity"] <= 26  # 51 - 40 - 5, within 1 t
    assert advice["objective"]["new_stock_tonnes"] <= 1.0
    before = _transfers(ready)
    path = f"/readiness/advice/{advice['id']}/orders/{order['seq']}"
    accepted = world.admin.post(f"{path}/accept", {})
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    assert accepted.json()["transfer_ids"] == [] and _transfers(ready) == before
