"""A small named reserve network and API clients for every role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from relief.app.main import create_app
from relief.platform.auth import create_token
from relief.platform.db import Database
from relief.platform.models import Role
from relief.platform.settings import Settings
from supplies import ledger
from supplies.models import Depot, Division, Item, Quant, StockMove

TODAY = Settings().today()

# A township (TWN), its county (CTY) and the city depot (CITY), plus a second county (CTY2).
DIVISIONS = [
    ("320600", "南通市", "city", None),
    ("320612", "通州区", "county", "320600"),
    ("320612101", "西亭镇", "township", "320612"),
    ("320682", "如皋市", "county", "320600"),
]
DEPOTS = [
    ("CITY", "市级储备库", "city", "government", "320600", 32.0, 120.9),
    ("CTY", "通州区储备库", "county", "government", "320612", 32.06, 121.07),
    ("TWN", "西亭镇储备点", "township", "government", "320612101", 32.1, 121.0),
    ("CTY2", "如皋市储备库", "county", "government", "320682", 32.25, 120.59),
    ("AGR", "协议企业(测试)", "county", "agreement", "320682", 32.2, 120.6),
]
WATER, TENT, QUILT = "1040101", "1010101", "1020101"
ITEMS = [
    (WATER, "瓶装水", "bottled water", "water", "箱", 13.6, 0.025, 540),
    (TENT, "救灾帐篷", "relief tent", "shelter", "顶", 38.0, 0.2, None),
    (QUILT, "棉被", "quilt", "bedding", "床", 2.5, 0.03, None),
]


@dataclass
class Api:
    """A TestClient acting with one token."""

    client: TestClient
    token: str

    def _headers(self, key: str | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def post(self, path: str, body: dict[str, Any] | None = None, *, key: str | None = None
             ) -> Any:
        """POST JSON to /api/v1<path>."""
        return self.client.post(f"/api/v1{path}", json=body or {}, headers=self._headers(key))

    def get(self, path: str, **params: Any) -> Any:
        """GET /api/v1<path>."""
        return self.client.get(f"/api/v1{path}", params=params, headers=self._headers(None))

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        """PATCH /api/v1<path>."""
        return self.client.patch(f"/api/v1{path}", json=body, headers=self._headers(None))


@dataclass
class World:
    """The seeded test network and a client per role."""

    db: Database
    client: TestClient
    admin: Api
    manager: Api  # manages CTY and TWN
    manager2: Api  # manages CTY2
    dispatcher: Api
    viewer: Api

    def moves(self) -> int:
        """Number of ledger rows."""
        with self.db.read_session() as s:
            return s.execute(select(func.count()).select_from(StockMove)).scalar_one()

    def quants(self) -> list[tuple[int, int, int, int, int]]:
        """Every quant as (location, item, lot, on hand, reserved)."""
        with self.db.read_session() as s:
            return [
                (q.location_id, q.item_id, q.lot_id, q.on_hand, q.reserved)
                for q in s.execute(select(Quant).order_by(Quant.id)).scalars()
            ]

    def ledger_ok(self) -> bool:
        """The ledger check passes."""
        with self.db.read_session() as s:
            result = ledger.verify(s)
        assert result.ok, result.problems
        return True

    def receive(self, depot: str, item: str, qty: int, lot: str | None = None,
                expiry: date | None = None) -> Any:
        """Admin receipt that must succeed."""
        body: dict[str, Any] = {"depot": depot, "item": item, "quantity": qty}
        if lot:
            body["lot"] = lot
        if expiry is None and item == WATER:
            expiry = TODAY + timedelta(days=200)
        if expiry:
            body["expiry"] = expiry.isoformat()
            if expiry < TODAY:  # goods received already expired, on purpose
                body["accept_expired"] = True
        response = self.admin.post("/stock/receipts", body)
        assert response.status_code == 201, response.text
        return response.json()

    def available(self, depot: str, item: str) -> int:
        """Available quantity of an item at a depot, via the API."""
        rows = self.viewer.get("/stock", depot=depot, item=item).json()["items"]
        return sum(r["available"] for r in rows)


def build_network(db: Database) -> None:
    """Insert the named divisions, depots and items."""

    def insert(session: Any) -> None:
        for code, name, level, parent in DIVISIONS:
            session.add(Division(code=code, name=name, level=level, parent_code=parent))
        session.flush()
        for code, name, tier, kind, division, lat, lon in DEPOTS:
            depot = Depot(code=code, name=name, tier=tier, kind=kind, division_code=division,
                          lat=lat, lon=lon)
            session.add(depot)
            session.flush()
            ledger.depot_location(session, depot)
        for code, zh, en, category, unit, kg, m3, shelf in ITEMS:
            session.add(Item(code=code, name_zh=zh, name_en=en, category=category, unit=unit,
                             unit_weight_kg=kg, unit_volume_m3=m3, shelf_life_days=shelf))

    db.write(insert)


def make_token(db: Database, role: Role, depots: list[str] | None = None,
               scopes: list[str] | None = None, name: str | None = None) -> str:
    """Create a token and return its secret."""
    return db.write(lambda s: _token(s, role, depots, scopes, name))


def _token(session: Session, role: Role, depots: list[str] | None = None,
           scopes: list[str] | None = None, name: str | None = None) -> str:
    """Create a token in ``session`` and return its secret (named ``test-<role>`` unless
    ``name`` is given)."""
    return create_token(session, name=name or f"test-{role.value}", role=role,
                        depots=depots or [], scopes=scopes or [])[1]


@pytest.fixture
def world(db: Database, settings: Settings) -> Iterator[World]:
    """The named network, an app on the test database and one client per role."""
    build_network(db)
    # the five users' tokens in one transaction
    admin, manager, manager2, dispatcher, viewer = db.write(lambda s: [
        _token(s, Role.admin), _token(s, Role.depot_manager, ["CTY", "TWN"]),
        _token(s, Role.depot_manager, ["CTY2"], name="m2"),
        _token(s, Role.dispatcher, scopes=["draw:city", "draw:agreement"]),
        _token(s, Role.viewer)])
    app = create_app(settings=settings, database=db)
    with TestClient(app) as client:
        yield World(db=db, client=client, admin=Api(client, admin),
                    manager=Api(client, manager), manager2=Api(client, manager2),
                    dispatcher=Api(client, dispatcher), viewer=Api(client, viewer))
