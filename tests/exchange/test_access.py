"""Who may use the exchange: integration scopes, 401/403, the per-token rate limit, and the
OpenAPI description of every exchange endpoint."""

from __future__ import annotations

from fastapi.testclient import TestClient

from exchange.models import Entity
from relief.app.main import create_app
from relief.platform.models import Role
from relief.platform.ratelimit import MemoryBuckets
from relief.platform.settings import RateLimit, Settings
from tests.exchange.conftest import SOURCE, Exchange
from tests.exchange.province import warehouse
from tests.world import Api, make_token

IMPORT = {"source": SOURCE, "batch_id": "B1", "records": [warehouse("CK1")]}
FEEDS = ["depots", "items", "stock", "agreements", "capacity-reserves", "moves"]


def test_scopes_decide_reads_and_writes(exchange: Exchange) -> None:
    """exchange:read reads every feed and the sync log but cannot import; exchange:write
    imports but cannot read the feeds; admins do both."""
    for feed in FEEDS:
        assert exchange.reader.get(f"/exchange/{feed}").status_code == 200, feed
        response = exchange.writer.get(f"/exchange/{feed}")
        assert response.status_code == 403
        assert response.json()["error"]["details"] == {"scope": "exchange:read"}
    assert exchange.reader.get("/exchange/sync-runs").status_code == 200
    assert exchange.reader.get("/exchange/sources").json()[0]["name"] == SOURCE
    denied = exchange.reader.post("/exchange/import/warehouses", IMPORT)
    assert denied.status_code == 403
    assert denied.json()["error"]["details"] == {"scope": "exchange:write"}
    assert exchange.writer.post("/exchange/import/warehouses", IMPORT).status_code == 200
    assert exchange.world.admin.get("/exchange/moves").status_code == 200
    assert exchange.world.admin.post("/exchange/import/warehouses",
                                     {**IMPORT, "batch_id": "B2"}).status_code == 200


def test_other_roles_and_missing_tokens_are_refused(exchange: Exchange) -> None:
    """Without a token: 401. Viewers, dispatchers and depot managers: 403 on every exchange
    feed and import (even with the scope written on their token); they may read the
    provincial depots."""
    world = exchange.world
    assert world.client.get("/api/v1/exchange/stock").status_code == 401
    assert Api(world.client, "rlf_nope").get("/exchange/stock").status_code == 401
    scoped_viewer = Api(world.client, make_token(world.db, Role.viewer,
                                                 scopes=["exchange:read"], name="v2"))
    for api in (world.viewer, world.dispatcher, world.manager, scoped_viewer):
        assert api.get("/exchange/stock").status_code == 403
        assert api.post("/exchange/import/stock", IMPORT).status_code == 403
        assert api.get("/exchange/provincial-depots").status_code == 200
    assert exchange.reader.get("/exchange/provincial-depots").status_code == 403
    assert world.admin.get("/depots", tier="province").json()["total"] == 0


def test_source_scopes_restrict_which_source_a_token_writes(exchange: Exchange) -> None:
    """A token carrying exchange:source:NAME scopes imports only for those sources."""
    world = exchange.world
    other = Api(world.client, make_token(world.db, Role.integration, name="shanghai-gw",
                                         scopes=["exchange:write", "exchange:source:shanghai"]))
    refused = other.post("/exchange/import/warehouses", IMPORT)
    assert refused.status_code == 403 and refused.json()["error"]["details"] == {
        "source": SOURCE}
    own = Api(world.client, make_token(world.db, Role.integration, name="js-gw",
                                       scopes=["exchange:write", f"exchange:source:{SOURCE}"]))
    assert own.post("/exchange/import/warehouses", IMPORT).status_code == 200


def test_rate_limit_is_per_token_with_retry_after(exchange: Exchange, db_url: str) -> None:
    """Past its burst an integration token gets 429 in the shared envelope with Retry-After;
    another integration token and admins are not affected."""
    world = exchange.world
    settings = Settings(database_url=db_url,
                        rate_limits={"integration": RateLimit(per_s=0.01, burst=2)})
    with TestClient(create_app(settings=settings, database=world.db)) as client:
        reader = Api(client, exchange.reader.token)
        writer = Api(client, exchange.writer.token)
        admin = Api(client, world.admin.token)
        assert [reader.get("/exchange/items").status_code for _ in range(2)] == [200, 200]
        limited = reader.get("/exchange/items")
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        body = limited.json()["error"]
        assert body["code"] == "rate_limited" and body["details"]["retry_after_s"] >= 1
        assert writer.post("/exchange/import/warehouses", IMPORT).status_code == 200
        assert all(admin.get("/exchange/items").status_code == 200 for _ in range(5))


def test_token_bucket_refills_at_its_rate() -> None:
    """The bucket admits its burst, then one request per 1/rate seconds (fake clock)."""
    now = [0.0]
    bucket = MemoryBuckets(clock=lambda: now[0])
    limit = RateLimit(per_s=2, burst=3)
    assert [bucket.take("a", limit) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a", limit) == 0.5 and bucket.take("b", limit) == 0.0
    now[0] = 0.5
    assert bucket.take("a", limit) == 0.0 and bucket.take("a", limit) == 0.5
    now[0] = 100.0
    assert [bucket.take("a", limit) for _ in range(4)][-1] > 0


def test_openapi_documents_every_exchange_endpoint_with_examples(exchange: Exchange) -> None:
    """Every /exchange endpoint is in the OpenAPI document with an example of its response
    (and the import, examples of each entity's request body)."""
    spec = exchange.world.client.get("/openapi.json").json()
    paths = {p: ops for p, ops in spec["paths"].items() if p.startswith("/api/v1/exchange")}
    assert len(paths) == 16
    schemas = spec["components"]["schemas"]

    def has_example(node: object) -> bool:
        if isinstance(node, dict):
            if "example" in node or "examples" in node:
                return True
            ref = node.get("$ref")
            if isinstance(ref, str) and has_example(schemas[ref.split("/")[-1]]):
                return True
            return any(has_example(v) for k, v in node.items() if k != "$ref")
        if isinstance(node, list):
            return any(has_example(v) for v in node)
        return False

    for path, ops in paths.items():
        for method, op in ops.items():
            assert op.get("description") or op.get("summary"), (path, method)
            assert has_example(op["responses"]["200"]), (path, method)
            for code in ("401", "403", "429"):
                assert code in op["responses"], (path, method, code)
    for entity in Entity:
        body = paths[f"/api/v1/exchange/import/{entity.value}"]["post"]["requestBody"]
        assert set(body["content"]["application/json"]["examples"]) == {entity.value}
