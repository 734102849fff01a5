"""Fixtures of the exchange tests: a configured source and integration clients."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from exchange import service
from exchange.models import Entity, ExchangeSourceCreate
from relief.app.tables import metadata
from relief.platform.db import Database
from relief.platform.models import Role
from tests.exchange.province import (
    P_QUILT,
    P_TENT,
    P_WATER,
    Province,
    logistics,
    producer,
    serve,
    stock,
    vehicle,
    warehouse,
)
from tests.world import TODAY, Api, World, make_token

SOURCE = "jiangsu"
EXPIRY = TODAY + timedelta(days=400)
# The connector tests' source options: small pages, fast timeouts and backoff.
OPTIONS = {"page_size": 3, "timeout_s": 0.3, "retries": 3, "backoff_s": 0.01,
           "backoff_max_s": 0.05}


@dataclass
class Exchange:
    """The test network with a provincial source and its integration clients."""

    world: World
    reader: Api  # integration, exchange:read
    writer: Api  # integration, exchange:write

    def push(self, entity: Entity, records: list[Any], batch: str = "B1", *,
             key: str | None = None, api: Api | None = None) -> dict[str, Any]:
        """Import a batch; it must be accepted (200) and is returned as the report."""
        response = (api or self.writer).post(f"/exchange/import/{entity.value}",
                                             {"source": SOURCE, "batch_id": batch,
                                              "records": records}, key=key)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def statuses(self, report: dict[str, Any]) -> list[str]:
        """The per-record statuses of a report, in record order."""
        return [r["status"] for r in report["records"]]


@pytest.fixture
def exchange(world: World) -> Exchange:
    """A source ``jiangsu`` and integration tokens to read and write."""
    world.db.write(lambda s: service.create_source(
        s, data=ExchangeSourceCreate(name=SOURCE, base_url=None), actor="test"))
    return Exchange(
        world=world,
        reader=Api(world.client, make_token(world.db, Role.integration, scopes=["exchange:read"],
                                            name="prov-reader")),
        writer=Api(world.client, make_token(world.db, Role.integration,
                                            scopes=["exchange:write"], name="prov-writer")),
    )


@pytest.fixture
def db(db: Database) -> Iterator[Database]:
    """The clean test database, emptied again afterwards: provincial depots and the province
    division would make a later downgrade past migration 0005 refuse (by design), and the
    migration test, which does not empty the database, runs on what is left."""
    yield db
    with db.read_session() as session:
        provincial = session.execute(text(
            "SELECT 1 FROM depot WHERE tier = 'province' UNION ALL "
            "SELECT 1 FROM division WHERE level = 'province'")).first()
    if provincial:  # DELETE, not TRUNCATE: on PostgreSQL it is much faster for a few rows
        with db.engine.begin() as conn:
            for table in reversed(metadata.sorted_tables):
                if table.name != "db_epoch":  # schema, not data (migration 0006)
                    conn.execute(table.delete())


@pytest.fixture
def province() -> Iterator[tuple[Province, str]]:
    """A stand-in provincial server on a free loopback port, with a typical change log."""
    p = Province()
    p.slow_s = 0.8
    p.publish(Entity.warehouses,
              warehouse("CK1"), warehouse("CK2"), warehouse("CK3", 2, CKMC="三号库(新)"),
              warehouse("CK4", XYSJ=8), warehouse("CK3", 1), warehouse("CK2", 2, XYSJ=2),
              warehouse("CK6", JD="东经120"), warehouse("CK5", XZQHDM="320682"))
    p.publish(Entity.logistics,
              logistics("WL1", vehicles=[vehicle("苏A10001"), vehicle("苏A10002", CLLX="H21")]),
              logistics("WL2"),
              logistics("WL1", 2, vehicles=[vehicle("苏A10001", ZT="2")]))
    p.publish(Entity.producers, producer("SC1"), producer("SC2", lines=[
        {"WZBM": P_WATER, "JLDW": "箱", "RCN": 500, "ZBSJ": 6}]))
    p.publish(Entity.stock,
              stock("CK1", P_TENT, 40), stock("CK1", P_QUILT, 100),
              stock("CK1", P_WATER, 240, unit="瓶", expiry=EXPIRY),
              stock("CK2", P_TENT, 15), stock("CK2", P_QUILT, 30, lot="Q9"),
              stock("CK1", "Z0000", 5, unit="个"),
              stock("CK3", P_TENT, 8), stock("CK1", P_TENT, 35, version=2),
              stock("CK3", P_TENT, 12, version=3), stock("CK3", P_TENT, 9, version=2),
              stock("CK4", P_TENT, 2, lot="L1", KCSL="两"), stock("CK5", P_QUILT, 60),
              stock("CK2", P_TENT, 0, version=2), stock("CK5", P_QUILT, 66, version=2))
    with serve(p) as url:
        yield p, url


@pytest.fixture
def configured(world: World, province: tuple[Province, str]) -> Province:
    """The source ``jiangsu`` pointing at the stand-in server, with fast timeouts."""
    p, url = province
    world.db.write(lambda s: service.create_source(
        s, data=ExchangeSourceCreate(name=SOURCE, base_url=url, options=OPTIONS), actor="test"))
    return p
