"""Access control: 401 without a valid token, 403 outside one's role or depots."""

from __future__ import annotations

from sqlalchemy import update

from relief.platform.dbtypes import utcnow
from relief.platform.models import ApiToken
from tests.world import TENT, Api, World

RECEIPT = {"depot": "CTY", "item": TENT, "quantity": 1}


def test_missing_or_bad_token_is_401(world: World) -> None:
    """No token, a malformed header or an unknown token are all 401s."""
    assert world.client.get("/api/v1/stock").status_code == 401
    assert world.client.get("/api/v1/stock",
                            headers={"Authorization": "Basic abc"}).status_code == 401
    assert Api(world.client, "rlf_not-a-token").get("/stock").status_code == 401


def test_revoked_token_is_401(world: World) -> None:
    """A revoked token stops working at once."""
    world.db.write(lambda s: s.execute(update(ApiToken).where(ApiToken.role == "viewer")
                                       .values(revoked_at=utcnow())))
    assert world.viewer.get("/stock").status_code == 401


def test_viewer_reads_but_never_writes(world: World) -> None:
    """Viewers can read every list but any write is 403 and writes nothing."""
    for path in ("/stock", "/stock/summary", "/depots", "/items", "/reports/shortfall"):
        assert world.viewer.get(path).status_code == 200, path
    assert world.viewer.post("/stock/receipts", RECEIPT).status_code == 403
    assert world.viewer.post("/stock/reservations", {"depot": "CTY", "item": TENT,
                                                     "quantity": 1, "reference": "x"}
                             ).status_code == 403
    assert world.moves() == 0


def test_depot_manager_writes_only_at_own_depots(world: World) -> None:
    """A depot manager changes stock at the depots on the token and nowhere else."""
    assert world.manager.post("/stock/receipts", RECEIPT).status_code == 201
    r = world.manager.post("/stock/receipts", {**RECEIPT, "depot": "CTY2"})
    assert r.status_code == 403 and r.json()["error"]["details"] == {"depot": "CTY2"}
    assert world.manager2.post("/stock/issues", {"depot": "CTY", "item": TENT, "quantity": 1,
                                                 "reference": "x"}).status_code == 403
    assert world.available("CTY", TENT) == 1


def test_transfer_sent_by_source_manager_received_by_destination_manager(world: World) -> None:
    """Only the sending depot's manager may send; only the receiving depot's may book it in."""
    world.receive("CTY", TENT, 5)
    assert world.manager2.post("/stock/transfers", {"from_depot": "CTY", "to_depot": "CTY2",
                                                    "item": TENT, "quantity": 1}
                               ).status_code == 403
    sent = world.manager.post("/stock/transfers", {"from_depot": "CTY", "to_depot": "CTY2",
                                                   "item": TENT, "quantity": 2}).json()
    assert world.manager.post(f"/stock/transfers/{sent['id']}/receive", {}).status_code == 403
    assert world.manager2.post(f"/stock/transfers/{sent['id']}/receive", {}).status_code == 200


def test_dispatcher_reserves_but_does_not_move_stock(world: World) -> None:
    """Dispatchers may reserve anywhere but may not receive or issue stock."""
    world.receive("CTY2", TENT, 5)
    assert world.dispatcher.post("/stock/reservations", {"depot": "CTY2", "item": TENT,
                                                         "quantity": 2, "reference": "P"}
                                 ).status_code == 201
    assert world.dispatcher.post("/stock/receipts", RECEIPT).status_code == 403
    assert world.manager.post("/stock/reservations", {"depot": "CTY2", "item": TENT,
                                                      "quantity": 1, "reference": "P"}
                              ).status_code == 403


def test_master_data_writes_are_admin_only(world: World) -> None:
    """Only admins create or change depots, items and targets."""
    depot = {"code": "NEW", "name": "新库", "tier": "township", "kind": "government",
             "division_code": "320612101", "lat": 32.1, "lon": 121.0}
    assert world.manager.post("/depots", depot).status_code == 403
    assert world.dispatcher.patch("/items/" + TENT, {"name_en": "x"}).status_code == 403
    assert world.admin.post("/depots", depot).status_code == 201


def test_quality_change_needs_a_depot_holding_the_lot(world: World) -> None:
    """A manager may quarantine a lot only if one of their depots holds it."""
    lot_id = world.receive("CTY2", TENT, 3, lot="X")["moves"][0]["lot_id"]
    assert world.manager.post(f"/stock/lots/{lot_id}/quality",
                              {"status": "quarantine"}).status_code == 403
    assert world.manager2.post(f"/stock/lots/{lot_id}/quality",
                               {"status": "quarantine"}).status_code == 200


def test_me_reports_the_token(world: World) -> None:
    """GET /me tells the caller their role and depots."""
    me = world.manager.get("/me").json()
    assert me["role"] == "depot_manager" and me["depots"] == ["CTY", "TWN"]
