"""Provincial imports: upserts keyed by source + external id + version, per-record reports,
stock reconciled through the ledger, the mapping table and the audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from dispatch.models import TransportEnterprise, Vehicle
from exchange.models import Entity, ExchangeDepot, ExchangeRecord, ExchangeRejection
from relief.platform.models import AuditEvent
from supplies.models import (
    CapacityReserve,
    Depot,
    Division,
    Location,
    Lot,
    Quant,
    StockMove,
)
from tests.exchange.conftest import SOURCE, Exchange
from tests.exchange.province import (
    P_QUILT,
    P_TENT,
    P_WATER,
    logistics,
    producer,
    stock,
    vehicle,
    warehouse,
)
from tests.world import QUILT, TENT, TODAY, WATER

EXPIRY = TODAY + timedelta(days=300)


def _depot(exchange: Exchange, code: str) -> Depot:
    with exchange.world.db.read_session() as s:
        local = s.execute(select(ExchangeRecord.local_id).where(
            ExchangeRecord.entity == Entity.warehouses,
            ExchangeRecord.external_id == code)).scalar_one()
        return s.execute(select(Depot).where(Depot.code == local)).scalar_one()


def _snapshot(exchange: Exchange) -> dict[str, Any]:
    """Everything an import may write to the domain, for before/after comparisons."""
    with exchange.world.db.read_session() as s:
        def rows(model: Any, *exclude: str) -> list[Any]:
            return sorted(
                (r.model_dump(exclude={"updated_at", "created_at", *exclude}) for r in
                 s.execute(select(model)).scalars()), key=repr)
        return {"depots": rows(Depot), "quants": rows(Quant), "moves": rows(StockMove),
                "lots": rows(Lot), "enterprises": rows(TransportEnterprise),
                "vehicles": rows(Vehicle), "capacity": rows(CapacityReserve),
                "mapping": rows(ExchangeRecord), "divisions": rows(Division),
                "provincial": rows(ExchangeDepot)}


def _on_hand(exchange: Exchange, depot: Depot) -> dict[tuple[str, str], int]:
    with exchange.world.db.read_session() as s:
        location = s.execute(select(Location).where(Location.depot_id == depot.id)).scalar_one()
        return {(str(item_id), lot): q for item_id, lot, q in s.execute(
            select(Quant.item_id, Lot.lot_number, Quant.on_hand)
            .join(Lot, Lot.id == Quant.lot_id).where(Quant.location_id == location.id))}


def test_warehouse_becomes_a_provincial_depot_with_its_lead_time(exchange: Exchange) -> None:
    """A provincial warehouse is created as a depot of tier province with an internal location,
    its reported lead time is kept and exposed, and an outside-Nantong division maps to the
    Jiangsu division 320000 (created on first need)."""
    report = exchange.push(Entity.warehouses, [warehouse("CK1", XYSJ=6)])
    assert report["counts"]["created"] == 1 and exchange.statuses(report) == ["created"]
    depot = _depot(exchange, "CK1")
    assert depot.tier == "province" and depot.kind == "government"
    assert depot.division_code == "320000" and depot.code == report["records"][0]["local_id"]
    with exchange.world.db.read_session() as s:
        province = s.get(Division, "320000")
        assert province is not None and province.level == "province"
        assert s.execute(select(Location).where(Location.depot_id == depot.id)).first()
    listed = exchange.world.viewer.get("/exchange/provincial-depots").json()
    assert [(d["code"], d["lead_time_hours"], d["reported_division_code"], d["tier"])
            for d in listed] == [(depot.code, 6.0, "320115", "province")]


def test_warehouse_in_nantong_keeps_its_division(exchange: Exchange) -> None:
    """A provincial warehouse located in a known Nantong division keeps that division; a
    township code we do not know falls back to its county."""
    exchange.push(Entity.warehouses, [warehouse("CK1", XZQHDM="320682"),
                                      warehouse("CK2", XZQHDM="320612999")])
    assert _depot(exchange, "CK1").division_code == "320682"
    assert _depot(exchange, "CK2").division_code == "320612"


def test_replayed_batch_changes_nothing(exchange: Exchange) -> None:
    """Replaying every kind of batch reports every record unchanged and writes nothing."""
    batches = [
        (Entity.warehouses, [warehouse("CK1"), warehouse("CK2", CKLX="02")]),
        (Entity.logistics, [logistics("WL1", vehicles=[vehicle("苏A00001"),
                                                        vehicle("苏A00002", CLLX="H32")])]),
        (Entity.producers, [producer("SC1")]),
        (Entity.stock, [stock("CK1", P_TENT, 40), stock("CK1", P_WATER, 10, expiry=EXPIRY),
                        stock("CK2", P_QUILT, 5, lot=None)]),
    ]
    for entity, records in batches:
        assert set(exchange.statuses(exchange.push(entity, records))) == {"created"}
    before = _snapshot(exchange)
    for entity, records in batches:
        report = exchange.push(entity, records)
        assert set(exchange.statuses(report)) == {"unchanged"}, report
    assert _snapshot(exchange) == before
    exchange.world.ledger_ok()


def test_older_version_is_reported_stale_and_ignored(exchange: Exchange) -> None:
    """Out-of-order batches: version 3 applied, then version 2 arrives: it is stale and nothing
    changes; version 4 then applies."""
    exchange.push(Entity.warehouses, [warehouse("CK1", 3, CKMC="新名称")])
    report = exchange.push(Entity.warehouses, [warehouse("CK1", 2, CKMC="旧名称")], batch="B0")
    (result,) = report["records"]
    assert result["status"] == "stale" and "older" in result["reason"]
    assert _depot(exchange, "CK1").name == "新名称"
    exchange.push(Entity.stock, [stock("CK1", P_TENT, 50, version=5)])
    stale = exchange.push(Entity.stock, [stock("CK1", P_TENT, 10, version=4)], batch="B2")
    assert exchange.statuses(stale) == ["stale"]
    assert exchange.statuses(exchange.push(Entity.warehouses, [warehouse("CK1", 4, CKMC="四")],
                                           batch="B3")) == ["updated"]
    assert _depot(exchange, "CK1").name == "四"
    assert sum(_on_hand(exchange, _depot(exchange, "CK1")).values()) == 50


def test_same_version_with_different_content_is_rejected(exchange: Exchange) -> None:
    """A record that changed without a new version is rejected and not written."""
    exchange.push(Entity.warehouses, [warehouse("CK1", 3)])
    report = exchange.push(Entity.warehouses, [warehouse("CK1", 3, CKMC="改了")], batch="B2")
    assert exchange.statuses(report) == ["rejected"] and "new version" in \
        report["records"][0]["reason"]
    assert _depot(exchange, "CK1").name == "江苏省储备库CK1"


def test_newer_version_with_the_same_content_is_unchanged(exchange: Exchange) -> None:
    """A newer version that changes nothing is unchanged, but its version is recorded, so the
    older one is stale afterwards."""
    exchange.push(Entity.warehouses, [warehouse("CK1", 1)])
    assert exchange.statuses(exchange.push(Entity.warehouses, [warehouse("CK1", 2)])) == [
        "unchanged"]
    assert exchange.statuses(exchange.push(Entity.warehouses, [warehouse("CK1", 1)])) == [
        "stale"]


def test_rejected_records_are_reported_and_never_written(exchange: Exchange) -> None:
    """One bad record does not block the good ones; each is all-or-nothing: a logistics
    enterprise whose second vehicle is invalid writes neither the enterprise nor any vehicle."""
    records = [
        warehouse("CK1"),
        warehouse("CK2", JD="东经118"),
        warehouse("CK3", XZQHDM="310000"),
        "not an object",
        warehouse("CK4", BBH=None),
        warehouse("CK5", CKLX="99"),
        warehouse("CK6"),
    ]
    report = exchange.push(Entity.warehouses, records)
    assert exchange.statuses(report) == ["created", "rejected", "rejected", "rejected",
                                         "rejected", "rejected", "created"]
    reasons = [r["reason"] for r in report["records"]]
    assert reasons[1].startswith("JD:") and "outside Jiangsu" in reasons[2]
    assert "object" in reasons[3] and "version" in reasons[4] and "CKLX" in reasons[5]
    with exchange.world.db.read_session() as s:
        assert s.execute(select(func.count()).select_from(ExchangeDepot)).scalar_one() == 2
        rejections = s.execute(select(ExchangeRejection).order_by(ExchangeRejection.position)
                               ).scalars().all()
        assert [r.position for r in rejections] == [1, 2, 3, 4, 5]
        assert rejections[0].record["CKBM"] == "CK2"
    bad_fleet = logistics("WL1", vehicles=[vehicle("苏A00001"), vehicle("苏A00002", HZ="?")])
    report = exchange.push(Entity.logistics, [bad_fleet, logistics("WL2")], batch="B2")
    assert exchange.statuses(report) == ["rejected", "created"]
    assert "CLLB[1].HZ" in report["records"][0]["reason"]
    with exchange.world.db.read_session() as s:
        assert s.execute(select(Vehicle.plate)).scalars().all() == ["苏AWL21"]
        assert s.execute(select(TransportEnterprise.name)).scalars().all() == ["物流企业WL2"]
    run = exchange.reader.get(f"/exchange/sync-runs/{report['run_id']}").json()
    assert run["rejected"] == 1 and run["rejections"][0]["external_id"] == "WL1"


def test_a_record_failing_midway_is_rolled_back_entirely(exchange: Exchange) -> None:
    """A stock record that fails inside the ledger (count below what is reserved) leaves no
    lot quality change and no move behind; the record before it is applied."""
    exchange.push(Entity.warehouses, [warehouse("CK1")])
    exchange.push(Entity.stock, [stock("CK1", P_TENT, 10)])
    depot = _depot(exchange, "CK1")
    assert exchange.world.admin.post("/stock/reservations", {
        "depot": depot.code, "item": TENT, "quantity": 8, "reference": "plan-1"}
    ).status_code == 201
    moves = exchange.world.moves()
    report = exchange.push(Entity.stock, [stock("CK1", P_QUILT, 3),
                                          stock("CK1", P_TENT, 5, version=2, quality="02")],
                           batch="B2")
    assert exchange.statuses(report) == ["created", "rejected"]
    assert "reserved" in report["records"][1]["reason"]
    assert exchange.world.moves() == moves + 1
    with exchange.world.db.read_session() as s:
        qualities = set(s.execute(select(Quant.quality).join(Lot, Lot.id == Quant.lot_id)
                                  .where(Lot.lot_number == f"{SOURCE}:L1")).scalars())
    assert qualities == {"good"}
    exchange.world.ledger_ok()


def test_stock_is_reconciled_through_the_ledger(exchange: Exchange) -> None:
    """Absolute provincial stock becomes a receipt for a new lot, then count gains and losses
    referenced SYNC:<source>:<batch>; units convert (24 bottles = 1 case); quants equal the
    moves (ledger check)."""
    exchange.push(Entity.warehouses, [warehouse("CK1")])
    exchange.push(Entity.stock, [stock("CK1", P_WATER, 240, unit="瓶", expiry=EXPIRY),
                                 stock("CK1", P_TENT, 30)], batch="KC-1")
    depot = _depot(exchange, "CK1")
    exchange.push(Entity.stock, [stock("CK1", P_WATER, 12, version=2, expiry=EXPIRY),
                                 stock("CK1", P_TENT, 45, version=2)], batch="KC-2")
    with exchange.world.db.read_session() as s:
        moves = s.execute(select(StockMove.kind, StockMove.quantity, StockMove.reference)
                          .order_by(StockMove.id)).all()
    # Records apply in (warehouse, material, lot) order: A0101 (tents) before D0101 (water).
    assert [tuple(m) for m in moves] == [
        ("receipt", 30, "SYNC:jiangsu:KC-1"), ("receipt", 10, "SYNC:jiangsu:KC-1"),
        ("adjustment_gain", 15, "SYNC:jiangsu:KC-2"), ("adjustment_gain", 2, "SYNC:jiangsu:KC-2"),
    ]
    exchange.push(Entity.stock, [stock("CK1", P_TENT, 0, version=3)], batch="KC-3")
    stock_rows = {(r["item"], r["lot"]): r for r in exchange.world.viewer.get(
        "/stock", depot=depot.code).json()["items"]}
    assert stock_rows == {(WATER, f"{SOURCE}:L1"): stock_rows[(WATER, f"{SOURCE}:L1")]}
    assert stock_rows[(WATER, f"{SOURCE}:L1")]["on_hand"] == 12
    assert stock_rows[(WATER, f"{SOURCE}:L1")]["expiry"] == EXPIRY.isoformat()
    exchange.world.ledger_ok()


def test_stock_rejections_name_the_provincial_field(exchange: Exchange) -> None:
    """Unknown warehouse, unknown material, wrong unit, a fraction of a case, a perishable
    without expiry: each rejected with the provincial field named, nothing written."""
    exchange.push(Entity.warehouses, [warehouse("CK1")])
    report = exchange.push(Entity.stock, [
        stock("CK9", P_TENT, 1),
        stock("CK1", "Z9999", 1, unit="个"),
        stock("CK1", P_TENT, 1, unit="箱"),
        stock("CK1", P_WATER, 25, unit="瓶", expiry=EXPIRY),
        stock("CK1", P_WATER, 2, lot="W2"),
        stock("CK1", P_TENT, -1, lot="T2"),
    ])
    assert set(exchange.statuses(report)) == {"rejected"}
    reasons = [r["reason"] for r in report["records"]]
    assert reasons[0].startswith("CKBM") and reasons[1].startswith("WZBM")
    assert reasons[2].startswith("JLDW") and reasons[3].startswith("KCSL")
    assert reasons[4].startswith("YXQZ") and reasons[5].startswith("KCSL")
    assert exchange.world.moves() == 0


def test_quality_reported_by_the_province_sets_the_lot_quality(exchange: Exchange) -> None:
    """A lot reported 待检 (02) becomes quarantined and is no longer available."""
    exchange.push(Entity.warehouses, [warehouse("CK1")])
    exchange.push(Entity.stock, [stock("CK1", P_TENT, 20)])
    depot = _depot(exchange, "CK1")
    assert exchange.world.available(depot.code, TENT) == 20
    report = exchange.push(Entity.stock, [stock("CK1", P_TENT, 20, version=2, quality="02")],
                           batch="B2")
    assert exchange.statuses(report) == ["updated"]
    assert exchange.world.available(depot.code, TENT) == 0


def test_two_warehouses_sharing_a_batch_number_keep_their_own_quality_and_expiry(
        exchange: Exchange) -> None:
    """Two provincial warehouses report the same date-like batch number: one with 50 tents in
    quarantine, the other with 700 good ones, and water of that batch with different expiries.
    Each warehouse keeps its own verdict and expiry; a later good report from the first does
    not touch the second, and nothing quarantined is ever offered to planning."""
    exchange.push(Entity.warehouses, [warehouse("CK1"), warehouse("CK2")])
    other = EXPIRY + timedelta(days=30)
    report = exchange.push(Entity.stock, [
        stock("CK1", P_TENT, 50, lot="2026-07", quality="02"),
        stock("CK2", P_TENT, 700, lot="2026-07"),
        stock("CK1", P_WATER, 10, lot="2026-07", expiry=EXPIRY),
        stock("CK2", P_WATER, 20, lot="2026-07", expiry=other)])
    assert exchange.statuses(report) == ["created"] * 4
    ck1, ck2 = _depot(exchange, "CK1"), _depot(exchange, "CK2")
    assert exchange.world.available(ck1.code, TENT) == 0
    assert exchange.world.available(ck2.code, TENT) == 700
    planning = {d["external_id"]: d["stock"]
                for d in exchange.world.viewer.get("/exchange/provincial-depots").json()}
    assert planning == {"CK1": {WATER: 10}, "CK2": {TENT: 700, WATER: 20}}
    rows = exchange.world.viewer.get("/stock", item=WATER, tier="province").json()["items"]
    assert sorted((r["depot"], r["expiry"]) for r in rows) == [
        (ck1.code, EXPIRY.isoformat()), (ck2.code, other.isoformat())]
    # CK2 quarantines its batch; CK1 then reports its batch good again.
    exchange.push(Entity.stock, [stock("CK2", P_TENT, 700, version=2, lot="2026-07",
                                       quality="02")], batch="B2")
    exchange.push(Entity.stock, [stock("CK1", P_TENT, 50, version=3, lot="2026-07")],
                  batch="B3")
    assert exchange.world.available(ck1.code, TENT) == 50
    assert exchange.world.available(ck2.code, TENT) == 0
    exchange.world.ledger_ok()


def test_logistics_enterprise_with_vehicles(exchange: Exchange) -> None:
    """A logistics enterprise becomes a transport enterprise with its vehicles (tonnes to kg,
    GA 802 types, default volume by type); a vehicle dropped from the list is retired; a plate
    owned by someone else rejects the record."""
    exchange.push(Entity.logistics, [logistics("WL1", vehicles=[
        vehicle("苏A00001", HZ=18, RJ=45), vehicle("苏A00002", CLLX="H32", HZ=1.5, RJ=None)])])
    with exchange.world.db.read_session() as s:
        rows = {v.plate: v for v in s.execute(select(Vehicle)).scalars()}
        enterprise = s.execute(select(TransportEnterprise)).scalar_one()
    assert enterprise.lead_time_hours == 3 and enterprise.division_code == "320000"
    assert (rows["苏A00001"].capacity_kg, rows["苏A00001"].capacity_m3,
            rows["苏A00001"].kind) == (18000, 45, "heavy_truck")
    assert (rows["苏A00002"].kind, rows["苏A00002"].capacity_m3) == ("light_truck", 8.0)
    report = exchange.push(Entity.logistics, [logistics("WL1", 2, vehicles=[
        vehicle("苏A00001", HZ=18, RJ=45, ZT="3")])], batch="B2")
    assert exchange.statuses(report) == ["updated"]
    with exchange.world.db.read_session() as s:
        status = dict(s.execute(select(Vehicle.plate, Vehicle.status)).all())
    assert status == {"苏A00001": "maintenance", "苏A00002": "retired"}
    taken = exchange.push(Entity.logistics, [logistics("WL2", vehicles=[vehicle("苏A00001")])],
                          batch="B3")
    assert exchange.statuses(taken) == ["rejected"] and "苏A00001" in \
        taken["records"][0]["reason"]


def test_producer_becomes_capacity_depot_with_capacity_reserves(exchange: Exchange) -> None:
    """A producer becomes a capacity depot of tier province with capacity reserves (rates in
    our units, rounded down); an item dropped from its list is removed."""
    exchange.push(Entity.producers, [producer("SC1", lines=[
        {"WZBM": P_QUILT, "JLDW": "条", "RCN": 3000, "ZBSJ": 24},
        {"WZBM": P_WATER, "JLDW": "瓶", "RCN": 1000, "ZBSJ": 12}])])
    listed = exchange.world.viewer.get("/exchange/provincial-depots").json()
    (producer_row,) = listed
    assert producer_row["kind"] == "capacity" and producer_row["tier"] == "province"
    assert producer_row["lead_time_hours"] == 12
    assert {(c["item"], c["units_per_day"]) for c in producer_row["capacity"]} == {
        (QUILT, 3000), (WATER, 41)}
    exchange.push(Entity.producers, [producer("SC1", 2, lines=[
        {"WZBM": P_QUILT, "JLDW": "床", "RCN": 2500, "ZBSJ": 24}])], batch="B2")
    with exchange.world.db.read_session() as s:
        assert s.execute(select(CapacityReserve.units_per_day)).scalars().all() == [2500]


def test_imports_are_attributed_in_the_audit_trail(exchange: Exchange) -> None:
    """Every batch leaves an exchange.import audit event and every change a create/update
    event, all under the integration token's actor; stock moves carry it too."""
    exchange.push(Entity.warehouses, [warehouse("CK1")], batch="CK-1")
    exchange.push(Entity.stock, [stock("CK1", P_TENT, 3)], batch="KC-1")
    exchange.push(Entity.warehouses, [warehouse("CK1", 2, CKMC="改名")], batch="CK-2")
    with exchange.world.db.read_session() as s:
        events = s.execute(select(AuditEvent.actor, AuditEvent.action, AuditEvent.entity_id)
                           .where(AuditEvent.entity != "exchange_source",
                                  # the fixture's token set-up is audited too (by the system)
                                  AuditEvent.entity != "api_token")
                           .order_by(AuditEvent.id)).all()
        actors = set(s.execute(select(StockMove.actor)).scalars())
    assert {a for a, _, _ in events} == {"integration:prov-writer"}
    actions = [(action, entity_id) for _, action, entity_id in events]
    assert ("exchange.import", "jiangsu/warehouses/CK-1") in actions
    assert ("exchange.import", "jiangsu/stock/KC-1") in actions
    assert [a for a, _ in actions].count("depot.create") == 1
    assert [a for a, _ in actions].count("depot.update") == 1
    assert actors == {"integration:prov-writer"}


def test_idempotency_key_replays_the_first_report(exchange: Exchange) -> None:
    """A retried POST with the same Idempotency-Key returns the first report (created) and
    writes nothing, not even a second sync-log entry."""
    first = exchange.push(Entity.warehouses, [warehouse("CK1")], key="k-1")
    again = exchange.push(Entity.warehouses, [warehouse("CK1")], key="k-1")
    assert again == first and exchange.statuses(again) == ["created"]
    runs = exchange.reader.get("/exchange/sync-runs").json()
    assert runs["total"] == 1 and runs["items"][0]["kind"] == "push"


def test_unknown_or_inactive_source_is_refused(exchange: Exchange) -> None:
    """A batch for a source nobody configured is a 404 naming the field; nothing is written."""
    response = exchange.writer.post("/exchange/import/warehouses", {
        "source": "shanghai", "batch_id": "B1", "records": [warehouse("CK1")]})
    assert response.status_code == 404
    assert [f["field"] for f in response.json()["error"]["fields"]] == ["source"]
    assert "shanghai" in response.json()["error"]["fields"][0]["message_zh"]
    assert exchange.world.admin.get("/depots", tier="province").json()["total"] == 0
