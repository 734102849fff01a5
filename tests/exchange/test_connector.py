"""The pull connector against a stand-in provincial server on loopback that fails on purpose.

Each test compares the database with the server's ground truth (the latest valid version of
every record), so "survived" means: exactly the right data, nothing duplicated, nothing lost.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from dispatch.models import TransportEnterprise, Vehicle
from exchange import connector, service
from exchange.models import (
    Entity,
    ExchangeRecord,
    ExchangeSourceUpdate,
    RunKind,
    RunStatus,
    SyncRun,
    SyncRunPublic,
)
from relief.app.cli import app as cli_app
from relief.platform.settings import get_settings
from supplies.models import CapacityReserve, Depot, Item, Location, Lot, Quant, StockMove
from tests.exchange.conftest import SOURCE
from tests.exchange.province import (
    P_QUILT,
    P_TENT,
    P_WATER,
    Province,
    stock,
    warehouse,
)
from tests.world import QUILT, TENT, TODAY, WATER, World

OURS = {P_TENT: TENT, P_QUILT: QUILT, P_WATER: WATER}
# Records the province publishes that we must reject (by feed and key).
BAD = {("warehouses", "CK6"), ("stock", "CK1/Z0000/L1"), ("stock", "CK4/A0101/L1")}


def _pull(world: World, **kwargs: Any) -> SyncRunPublic:
    return connector.pull(world.db, source=SOURCE, today=lambda: TODAY, **kwargs)


def _converted(record: dict[str, Any]) -> int:
    return int(record["KCSL"]) // 24 if record["JLDW"] == "瓶" else int(record["KCSL"])


def expected_moves(p: Province) -> int:
    """Ledger moves a correct importer writes for the stock change log, however it is paged:
    one whenever a newer version changes a lot's quantity."""
    applied: dict[str, tuple[int, int]] = {}
    moves = 0
    for record in p.log["stock"]:
        key = f"{record['CKBM']}/{record['WZBM']}/{record.get('PCH', '-')}"
        if ("stock", key) in BAD:
            continue
        version, qty = int(record["BBH"]), _converted(record)
        before = applied.get(key)
        if before is None or version > before[0]:
            if qty != (before[1] if before else 0):
                moves += 1
            applied[key] = (version, qty)
    return moves


def assert_matches_truth(world: World, p: Province) -> None:
    """The database holds exactly the province's latest valid data."""
    with world.db.read_session() as s:
        local = {(r.entity, r.external_id): r.local_id
                 for r in s.execute(select(ExchangeRecord)).scalars()}
        depots = {d.code: d for d in s.execute(select(Depot).where(Depot.tier == "province"))
                  .scalars()}
        truth_wh = {k: r for k, r in p.truth(Entity.warehouses, "CKBM").items()
                    if ("warehouses", k) not in BAD}
        assert {k for e, k in local if e == Entity.warehouses} == set(truth_wh)
        for key, record in truth_wh.items():
            depot = depots[local[(Entity.warehouses, key)]]
            assert depot.name == record["CKMC"]
        truth_stock = {k: r for k, r in p.truth(Entity.stock, "stock").items()
                       if ("stock", k) not in BAD}
        held = {
            (depot, item, lot): on_hand
            for depot, item, lot, on_hand in s.execute(
                select(Depot.code, Item.code, Lot.lot_number, Quant.on_hand)
                .join(Location, Location.id == Quant.location_id)
                .join(Depot, Depot.id == Location.depot_id)
                .join(Item, Item.id == Quant.item_id).join(Lot, Lot.id == Quant.lot_id)
                .where(Depot.tier == "province", Quant.on_hand > 0))
        }
        wanted = {(local[(Entity.warehouses, r["CKBM"])], OURS[r["WZBM"]],
                   f"{SOURCE}:{r.get('PCH', 'AUTO-NOEXP')}"): _converted(r)
                  for r in truth_stock.values() if _converted(r) > 0}
        assert held == wanted
        assert s.execute(select(StockMove.id)).scalars().all().__len__() == expected_moves(p)
        vehicles = dict(s.execute(select(Vehicle.plate, Vehicle.status)).all())
        assert vehicles == {"苏A10001": "in_service", "苏A10002": "retired",
                            "苏AWL21": "available"}
        assert len(s.execute(select(TransportEnterprise)).all()) == 2
        capacity = {(d, i, u) for d, i, u in s.execute(
            select(Depot.code, Item.code, CapacityReserve.units_per_day)
            .join(Depot, Depot.id == CapacityReserve.depot_id)
            .join(Item, Item.id == CapacityReserve.item_id))}
        assert capacity == {(local[(Entity.producers, "SC1")], QUILT, 3000),
                            (local[(Entity.producers, "SC2")], WATER, 500)}
    world.ledger_ok()


def test_pull_ends_with_exactly_the_provinces_data(world: World, configured: Province) -> None:
    """A clean pull imports every feed page by page, rejects the malformed records (logged with
    reasons, not written), ignores stale versions and ends with the province's data."""
    run = _pull(world)
    assert run.status == RunStatus.succeeded and run.retries == 0
    assert run.rejected == 3 and run.stale == 2  # CK3 v1 after v2; CK3 tents v2 after v3
    assert run.per_feed["warehouses"] == {"pages": 3, "created": 5, "updated": 1,
                                          "unchanged": 0, "stale": 1, "rejected": 1}
    assert run.per_feed["stock"]["rejected"] == 2 and run.per_feed["stock"]["pages"] == 5
    assert_matches_truth(world, configured)
    logged = world.admin.get(f"/exchange/sync-runs/{run.id}").json()
    assert {(r["entity"], r["external_id"]) for r in logged["rejections"]} == BAD
    assert all(r["reason"] for r in logged["rejections"])
    assert world.admin.get("/exchange/sync-runs", source=SOURCE).json()["items"][0]["id"] == run.id


def test_pull_survives_timeouts_500s_garbage_and_a_repeated_page(world: World,
                                                                 configured: Province) -> None:
    """Slow answers past the client timeout, 500/503s and a non-JSON 200 are retried with
    backoff; a page served twice is applied twice harmlessly. The data is exactly right."""
    configured.fail(Entity.warehouses, "3", "slow")
    configured.fail(Entity.logistics, None, "500", "slow")
    configured.fail(Entity.stock, "3", "503", "garbage")
    configured.fail(Entity.stock, "6", "repeat")
    configured.fail(Entity.stock, "9", "500")
    run = _pull(world)
    assert run.status == RunStatus.succeeded, run.errors
    assert run.retries == 6
    assert any("ReadTimeout" in e["message"] for e in run.errors)
    assert any("HTTP 503" in e["message"] for e in run.errors)
    assert any("not JSON" in e["message"] for e in run.errors)
    assert configured.cursors_asked(Entity.stock).count("6") == 2  # the repeat, then onwards
    assert_matches_truth(world, configured)


def test_crash_mid_run_resumes_from_the_committed_cursor(world: World,
                                                         configured: Province) -> None:
    """A crash after the second stock page leaves those pages committed with their cursor; the
    next pull asks for the committed cursor first, not the start, and ends with exactly the
    province's data: nothing applied twice, nothing missed."""

    class Crash(Exception):
        pass

    def crash(feed: Entity, page: int, _counts: dict[str, int]) -> None:
        if feed == Entity.stock and page == 2:
            raise Crash("power cut")

    with pytest.raises(Crash):
        _pull(world, on_page=crash)
    with world.db.read_session() as s:
        runs = s.execute(select(SyncRun).order_by(SyncRun.id)).scalars().all()
        assert [r.status for r in runs] == [RunStatus.failed]
        assert "power cut" in runs[0].errors[-1]["message"]
        cursor = service.committed_cursor(s, source_id=runs[0].source_id, feed=Entity.stock)
    assert cursor == "6"
    configured.requests.clear()
    run = _pull(world)
    assert run.status == RunStatus.succeeded
    assert configured.cursors_asked(Entity.stock)[0] == "6"
    assert configured.cursors_asked(Entity.warehouses) == ["8"]  # finished before the crash
    assert_matches_truth(world, configured)


def test_changes_published_later_are_pulled_from_the_cursor(world: World,
                                                           configured: Province) -> None:
    """A second pull reads only what the province published since, applies newer versions and
    ignores a late older one."""
    assert _pull(world).status == RunStatus.succeeded
    configured.publish(Entity.stock, stock("CK1", P_QUILT, 80, version=3),
                       stock("CK1", P_QUILT, 999, version=2))
    configured.publish(Entity.warehouses, warehouse("CK4", 2, CKMC="四号库", ZT="0"))
    configured.requests.clear()
    run = _pull(world)
    assert run.status == RunStatus.succeeded and run.updated == 2 and run.stale == 1
    assert configured.cursors_asked(Entity.stock) == ["14"]
    assert_matches_truth(world, configured)
    listed = world.viewer.get("/exchange/provincial-depots", include_inactive=True).json()
    assert {d["name"]: d["active"] for d in listed}["四号库"] is False


def test_client_errors_fail_at_once_and_server_errors_give_up_after_retries(
        world: World, configured: Province) -> None:
    """A 4xx is not retried; a refusal in the envelope is not retried; 5xx are retried up to
    the limit and then fail the run. Nothing is committed for the failed page, and a later pull
    succeeds from where it stopped."""
    configured.fail(Entity.warehouses, None, "400")
    run = _pull(world)
    assert run.status == RunStatus.failed and run.retries == 0 and run.pages == 0
    assert configured.cursors_asked(Entity.warehouses) == [None]
    configured.fail(Entity.warehouses, None, "refuse")
    assert _pull(world).status == RunStatus.failed
    configured.fail(Entity.logistics, None, "500", "500", "500", "503")
    run = _pull(world)
    assert run.status == RunStatus.failed and run.retries == 3
    assert "giving up after 4 attempts" in run.errors[-1]["message"]
    # Each logged error keeps its catalogue key and parameters: the API shows it in Chinese
    # first, the reason inside it rendered in the same language.
    gave_up, retried = run.errors[-1], run.errors[-2]
    assert gave_up["key"] == "sync.giving_up" and gave_up["params"]["attempts"] == 4
    assert gave_up["params"]["reason"] == {"key": "sync.http_status", "params": {"status": 503}}
    assert gave_up["message_zh"] == "logistics:尝试 4 次后放弃:HTTP 503"
    assert retried["key"] == "sync.retry" and retried["message_zh"].startswith(
        "logistics:HTTP 500;第 3/3 次重试,")
    logged = world.admin.get(f"/exchange/sync-runs/{run.id}").json()["errors"]
    assert [e["message_zh"] for e in logged] == [e["message_zh"] for e in run.errors]
    assert run.pages == 3  # the warehouse pages, committed before the failure
    assert _pull(world).status == RunStatus.succeeded
    assert_matches_truth(world, configured)


def test_a_run_left_running_is_marked_interrupted(world: World, configured: Province) -> None:
    """A pull whose process died leaves its run 'running'; the next pull marks it interrupted."""
    with world.db.read_session() as s:
        source_id = service.get_source(s, SOURCE).id or 0
    world.db.write(lambda s: s.add(SyncRun(source_id=source_id, kind=RunKind.pull,
                                           actor="system:sync:jiangsu")))
    assert _pull(world).status == RunStatus.succeeded
    runs = world.admin.get("/exchange/sync-runs").json()["items"]
    assert [r["status"] for r in runs] == ["succeeded", "interrupted"]


def test_inactive_source_or_missing_token_does_not_pull(world: World,
                                                        configured: Province) -> None:
    """An inactive source refuses to start; a source whose token variable is unset fails the
    run before any request."""
    world.db.write(lambda s: service.update_source(
        s, name=SOURCE, data=ExchangeSourceUpdate(options={"token_env": "RELIEF_TEST_NO_SUCH"}),
        actor="test"))
    run = _pull(world)
    assert run.status == RunStatus.failed and "RELIEF_TEST_NO_SUCH" in run.errors[-1]["message"]
    assert configured.requests == []
    world.db.write(lambda s: service.update_source(
        s, name=SOURCE, data=ExchangeSourceUpdate(active=False), actor="test"))
    with pytest.raises(Exception, match="inactive"):
        _pull(world)


def test_cli_configures_a_source_and_pulls(world: World, province: tuple[Province, str],
                                           db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`relief sync source add`, `sync pull`, `sync runs` and `sync source list` work end to
    end; the bearer token comes from the environment variable the source names."""
    p, url = province
    monkeypatch.setenv("RELIEF_DATABASE_URL", db_url)
    monkeypatch.setenv("RELIEF_SYNC_TEST_TOKEN", "s3cret")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        added = runner.invoke(cli_app, ["sync", "source", "add", "--name", SOURCE, "--base-url",
                                        url, "--option", "page_size=50", "--option",
                                        "token_env=RELIEF_SYNC_TEST_TOKEN"])
        assert added.exit_code == 0, added.output
        bad = runner.invoke(cli_app, ["sync", "source", "add", "--name", "x", "--option",
                                      "page_size=0"])
        assert bad.exit_code == 1
        pulled = runner.invoke(cli_app, ["sync", "pull", "--source", SOURCE])
        assert pulled.exit_code == 0, pulled.output
        assert "succeeded" in pulled.output and "rejected 3" in pulled.output
        runs = runner.invoke(cli_app, ["sync", "runs"])
        assert runs.exit_code == 0 and "succeeded" in runs.output
        listed = runner.invoke(cli_app, ["sync", "source", "list"])
        assert "stock: 14" in listed.output
    finally:
        get_settings.cache_clear()
    assert_matches_truth(world, p)
