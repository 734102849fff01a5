"""Fixtures of the exchange tests: a configured source and integration clients."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from exchange import service
from exchange.models import Entity, ExchangeSourceCreate
from relief.app.tables import metadata
from relief.platform.db import Database
from relief.platform.models import Role
from tests.world import Api, World, make_token

SOURCE = "jiangsu"


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
