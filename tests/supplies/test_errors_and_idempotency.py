"""Idempotent retries and all-or-nothing errors in one envelope."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.world import TENT, TODAY, WATER, World


def _envelope(response: object) -> dict:
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "key", "message", "message_zh", "fields", "details"}
    assert body["error"]["message_zh"]  # every error has its Chinese text
    return body["error"]


def test_retry_with_same_key_returns_first_response_and_writes_nothing(world: World) -> None:
    """A POST retried with the same Idempotency-Key replays the first response, no new moves."""
    body = {"depot": "CTY", "item": TENT, "quantity": 5, "lot": "K1"}
    first = world.admin.post("/stock/receipts", body, key="receipt-abc")
    moves = world.moves()
    second = world.admin.post("/stock/receipts", body, key="receipt-abc")
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert world.moves() == moves
    assert world.available("CTY", TENT) == 5


def test_same_key_different_body_is_conflict(world: World) -> None:
    """Reusing a key for a different request is a 409 and writes nothing."""
    world.admin.post("/stock/receipts", {"depot": "CTY", "item": TENT, "quantity": 5},
                     key="k-1")
    moves = world.moves()
    r = world.admin.post("/stock/receipts", {"depot": "CTY", "item": TENT, "quantity": 6},
                         key="k-1")
    assert r.status_code == 409
    assert _envelope(r)["code"] == "idempotency_key_reused"
    other_path = world.admin.post("/stock/issues", {"depot": "CTY", "item": TENT, "quantity": 5,
                                                    "reference": "x"}, key="k-1")
    assert other_path.status_code == 409
    assert world.moves() == moves


def test_keys_are_scoped_per_token(world: World) -> None:
    """Two clients using the same key string do not collide."""
    world.receive("CTY", TENT, 10)
    a = world.manager.post("/stock/issues", {"depot": "CTY", "item": TENT, "quantity": 2,
                                             "reference": "r"}, key="same")
    b = world.admin.post("/stock/issues", {"depot": "CTY", "item": TENT, "quantity": 2,
                                           "reference": "r"}, key="same")
    assert (a.status_code, b.status_code) == (201, 201)
    assert world.available("CTY", TENT) == 6


def test_failed_request_is_not_remembered(world: World) -> None:
    """An error writes nothing, not even the key: the retry runs again once stock exists."""
    body = {"depot": "CTY", "item": TENT, "quantity": 3, "reference": "r"}
    assert world.manager.post("/stock/issues", body, key="retry-me").status_code == 409
    world.receive("CTY", TENT, 3)
    assert world.manager.post("/stock/issues", body, key="retry-me").status_code == 201
    assert world.manager.post("/stock/issues", body, key="retry-me").status_code == 201
    assert world.available("CTY", TENT) == 0


def test_insufficient_stock_is_409_with_available_and_writes_nothing(world: World) -> None:
    """Too little stock: 409 naming the available quantity; quants and ledger unchanged."""
    world.receive("CTY", TENT, 4)
    before = (world.moves(), world.quants())
    r = world.manager.post("/stock/issues", {"depot": "CTY", "item": TENT, "quantity": 5,
                                             "reference": "r"})
    error = _envelope(r)
    assert r.status_code == 409 and error["code"] == "insufficient_stock"
    assert error["details"] == {"available": 4, "requested": 5}
    assert error["fields"] == [{"field": "quantity", "message": "only 4 available, 5 requested",
                                "message_zh": "可用 4,申请 5"}]
    assert error["key"] == "stock.short" and error["message_zh"] == "可用 4,申请 5"
    assert (world.moves(), world.quants()) == before


def test_transfer_failure_leaves_no_transfer_row(world: World) -> None:
    """A transfer that fails for want of stock leaves no transfer and no move behind."""
    world.receive("CTY", TENT, 2)
    before = (world.moves(), world.quants())
    r = world.manager.post("/stock/transfers", {"from_depot": "CTY", "to_depot": "CTY2",
                                                "item": TENT, "quantity": 3})
    assert r.status_code == 409
    assert (world.moves(), world.quants()) == before
    assert world.viewer.get("/stock/transfers").json()["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"depot": "CTY", "item": TENT, "quantity": 0}, "quantity"),
        ({"depot": "CTY", "item": TENT, "quantity": -3}, "quantity"),
        ({"depot": "CTY", "item": TENT, "quantity": 1.5}, "quantity"),
        ({"depot": "CTY", "item": TENT}, "quantity"),
        ({"depot": "CTY", "item": TENT, "quantity": 1, "expiry": "tomorrow"}, "expiry"),
        ({"depot": "CTY", "item": TENT, "quantity": 1, "colour": "red"}, "colour"),
        ({"depot": "CTY", "item": WATER, "quantity": 1}, "expiry"),
    ],
)
def test_bad_input_is_422_naming_the_field(world: World, body: dict, field: str) -> None:
    """Invalid input is a 422 whose envelope names the offending field; nothing is written."""
    before = world.moves()
    r = world.admin.post("/stock/receipts", body)
    assert r.status_code == 422, r.text
    assert field in [f["field"] for f in _envelope(r)["fields"]]
    assert world.moves() == before


def test_unknown_codes_are_404(world: World) -> None:
    """Unknown depot or item codes are 404s naming the field."""
    r = world.admin.post("/stock/receipts", {"depot": "NOPE", "item": TENT, "quantity": 1})
    assert r.status_code == 404 and _envelope(r)["fields"][0]["field"] == "depot"
    r = world.admin.post("/stock/receipts", {"depot": "CTY", "item": "1999999", "quantity": 1})
    assert r.status_code == 404 and _envelope(r)["fields"][0]["field"] == "item"
    r = world.admin.post("/stock/transfers", {"from_depot": "CTY", "to_depot": "ZZZ",
                                              "item": TENT, "quantity": 1})
    assert r.status_code == 404 and _envelope(r)["fields"][0]["field"] == "to_depot"
    assert world.admin.get("/depots/NOPE").status_code == 404
    assert world.admin.post("/stock/transfers/999/receive", {}).status_code == 404
    assert world.moves() == 0


def test_existing_lot_with_other_expiry_is_rejected(world: World) -> None:
    """Receiving into an existing lot with a different expiry is a 422 on ``expiry``."""
    world.receive("CTY", WATER, 1, lot="W", expiry=TODAY + timedelta(days=10))
    r = world.admin.post("/stock/receipts", {"depot": "CTY", "item": WATER, "quantity": 1,
                                             "lot": "W",
                                             "expiry": (TODAY + timedelta(days=11)).isoformat()})
    assert r.status_code == 422 and _envelope(r)["fields"][0]["field"] == "expiry"
    assert world.moves() == 1


def test_inactive_depot_refuses_stock_operations(world: World) -> None:
    """An inactive depot cannot receive or send stock (409)."""
    assert world.admin.patch("/depots/CTY2", {"active": False}).status_code == 200
    r = world.admin.post("/stock/receipts", {"depot": "CTY2", "item": TENT, "quantity": 1})
    assert r.status_code == 409


def test_unknown_route_uses_envelope(world: World) -> None:
    """Even a missing route answers in the shared error envelope."""
    r = world.admin.get("/no/such/thing")
    assert r.status_code == 404 and _envelope(r)["code"] == "not_found"
