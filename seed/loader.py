"""Idempotent loader of the Nantong seed data in ``seed/data`` (see docs/seed-data.md).

Runs in one transaction: rows are added only where their natural key (code, or depot + item +
contract) is missing, so a second run adds nothing. Opening stock is booked once, through the
stock ledger, as receipts with reference ``SEED-OPENING``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.models import TransportEnterprise, Vehicle
from dispatch.readiness import library
from dispatch.readiness.models import ReadinessScenario, ScenarioIn
from relief.platform.dbtypes import utcnow
from supplies import ledger
from supplies.ledger import MoveContext
from supplies.models import (
    AgreementReserve,
    CapacityReserve,
    Depot,
    Division,
    Item,
    ReserveTarget,
    StockMove,
)

DATA_DIR = Path(__file__).resolve().parent / "data"
OPENING_REFERENCE = "SEED-OPENING"
ACTOR = "system:seed"


def rows(name: str, data_dir: Path = DATA_DIR) -> Iterator[dict[str, str]]:
    """The rows of a seed CSV as dicts of stripped strings."""
    with (data_dir / name).open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            yield {k: (v or "").strip() for k, v in row.items() if k is not None}


def _flag(value: str) -> bool:
    return value.lower() in {"true", "1", "yes", "y"}


def _opt_int(value: str) -> int | None:
    return int(float(value)) if value else None


def _opt_float(value: str) -> float | None:
    return float(value) if value else None


def database_is_empty(session: Session) -> bool:
    """True when no division has been loaded yet."""
    return session.execute(select(func.count()).select_from(Division)).scalar_one() == 0


def _note(*parts: str) -> str | None:
    text = " | ".join(p for p in parts if p)
    return text[:500] if text else None


def load_divisions(session: Session, data_dir: Path = DATA_DIR) -> int:
    """Divisions with coordinates and 2020 census population where known."""
    coords = {r["code"]: r for r in rows("division_coords.csv", data_dir)}
    population = {r["code"]: r for r in rows("population.csv", data_dir)}
    existing = set(session.execute(select(Division.code)).scalars())
    added = 0
    # Parents first: the CSV lists city, counties, then townships.
    for r in rows("divisions.csv", data_dir):
        if r["code"] in existing:
            continue
        c = coords.get(r["code"], {})
        p = population.get(r["code"], {})
        session.add(
            Division(
                code=r["code"],
                name=r["name"],
                level=r["level"],
                parent_code=r["parent_code"] if r["parent_code"] in existing else None,
                lat=_opt_float(c.get("lat", "")),
                lon=_opt_float(c.get("lon", "")),
                coords_approximate=c.get("provenance", "") != "real",
                population=_opt_int(p.get("population", "")),
                population_year=_opt_int(p.get("year", "")),
            )
        )
        existing.add(r["code"])
        session.flush()
        added += 1
    return added


def load_items(session: Session, data_dir: Path = DATA_DIR) -> int:
    """The relief-item catalogue."""
    existing = set(session.execute(select(Item.code)).scalars())
    added = 0
    for r in rows("items.csv", data_dir):
        if r["code"] in existing:
            continue
        session.add(
            Item(
                code=r["code"],
                name_zh=r["name_zh"],
                name_en=r["name_en"],
                category=r["category"],
                unit=r["unit"],
                unit_weight_kg=float(r["unit_weight_kg"]),
                unit_volume_m3=float(r["unit_volume_m3"]),
                shelf_life_days=_opt_int(r["shelf_life_days"]),
                note=_note(r.get("provenance", ""), r.get("note", "")),
            )
        )
        added += 1
    session.flush()
    return added


def load_depots(session: Session, data_dir: Path = DATA_DIR) -> int:
    """Depots, storage points, enterprises and shelters, each with its stock location."""
    existing = set(session.execute(select(Depot.code)).scalars())
    added = 0
    for r in rows("depots.csv", data_dir):
        if r["code"] in existing:
            continue
        depot = Depot(
            code=r["code"],
            name=r["name"],
            tier=r["tier"],
            kind=r["kind"],
            division_code=r["division_code"],
            lat=float(r["lat"]),
            lon=float(r["lon"]),
            coords_approximate=r.get("coords_provenance", "") != "real",
            floor_area_m2=_opt_float(r["floor_area_m2"]),
            fire_protected=_flag(r["fire_protected"]),
            flood_protected=_flag(r["flood_protected"]),
            theft_protected=_flag(r["theft_protected"]),
            contact=r["contact"] or None,
            active=True,
            note=_note(r.get("provenance", ""), r.get("note", "")),
        )
        session.add(depot)
        session.flush()
        ledger.depot_location(session, depot)
        added += 1
    return added


def _ids(session: Session, model: Any) -> dict[str, int]:
    return dict(session.execute(select(model.code, model.id)).all())


def load_reserves(session: Session, data_dir: Path = DATA_DIR) -> dict[str, int]:
    """Agreement reserves, capacity reserves and reserve targets."""
    depots, items = _ids(session, Depot), _ids(session, Item)
    counts = {"agreement reserves": 0, "capacity reserves": 0, "reserve targets": 0}
    have_agreements = set(session.execute(select(
        AgreementReserve.depot_id, AgreementReserve.item_id, AgreementReserve.contract_ref
    )).all())
    for r in rows("agreements.csv", data_dir):
        key = (depots[r["depot_code"]], items[r["item_code"]], r["contract_ref"])
        if key in have_agreements:
            continue
        session.add(AgreementReserve(
            depot_id=key[0], item_id=key[1], contract_ref=key[2],
            committed_quantity=int(r["committed_quantity"]),
            lead_time_hours=float(r["lead_time_hours"]),
            valid_from=date.fromisoformat(r["valid_from"]),
            valid_to=date.fromisoformat(r["valid_to"]),
            note=_note(r.get("provenance", "")),
        ))
        counts["agreement reserves"] += 1
    have_capacity = set(session.execute(select(CapacityReserve.depot_id, CapacityReserve.item_id))
                        .all())
    for r in rows("capacity.csv", data_dir):
        key2 = (depots[r["depot_code"]], items[r["item_code"]])
        if key2 in have_capacity:
            continue
        session.add(CapacityReserve(
            depot_id=key2[0], item_id=key2[1], units_per_day=int(r["units_per_day"]),
            lead_time_hours=float(r["lead_time_hours"]), note=_note(r.get("provenance", "")),
        ))
        counts["capacity reserves"] += 1
    have_targets = set(session.execute(select(
        ReserveTarget.tier, ReserveTarget.depot_id, ReserveTarget.item_id
    )).all())
    for r in rows("targets.csv", data_dir):
        depot_id = depots[r["depot_code"]] if r["depot_code"] else None
        tier = None if depot_id else r["tier"]
        key3 = (tier, depot_id, items[r["item_code"]])
        if key3 in have_targets:
            continue
        session.add(ReserveTarget(tier=tier, depot_id=depot_id, item_id=key3[2],
                                  quantity=int(r["quantity"]), updated_at=utcnow()))
        have_targets.add(key3)
        counts["reserve targets"] += 1
    session.flush()
    return counts


def load_opening_stock(session: Session, *, today: date, data_dir: Path = DATA_DIR) -> int:
    """Book the synthetic opening stock once, as ledger receipts (reference SEED-OPENING)."""
    done = session.execute(
        select(func.count()).select_from(StockMove).where(StockMove.reference == OPENING_REFERENCE)
    ).scalar_one()
    if done:
        return 0
    depots = {d.code: d for d in session.execute(select(Depot)).scalars()}
    items = {i.code: i for i in session.execute(select(Item)).scalars()}
    ctx = MoveContext(actor=ACTOR, today=today, reference=OPENING_REFERENCE,
                      reason="opening stock (synthetic, see docs/seed-data.md)")
    count = 0
    for r in rows("opening_stock.csv", data_dir):
        depot, item = depots[r["depot_code"]], items[r["item_code"]]
        expiry = date.fromisoformat(r["expiry"]) if r["expiry"] else None
        location = ledger.depot_location(session, depot)
        lot = ledger.ensure_lot(session, item=item, lot_number=r["lot_number"] or None,
                                expiry=expiry, location=location)
        ledger.receive(session, destination=location, item=item, lot=lot,
                       quantity=int(r["quantity"]), ctx=ctx)
        count += 1
    return count


def load_fleet(session: Session, data_dir: Path = DATA_DIR) -> dict[str, int]:
    """Depot vehicles and transport enterprises with their vehicles (all synthetic)."""
    depots = _ids(session, Depot)
    plates = set(session.execute(select(Vehicle.plate)).scalars())
    counts = {"vehicles": 0, "transport enterprises": 0}
    for r in rows("vehicles.csv", data_dir):
        if r["plate"] in plates:
            continue
        session.add(Vehicle(depot_id=depots[r["depot_code"]], plate=r["plate"],
                            capacity_kg=float(r["capacity_kg"]),
                            capacity_m3=float(r["capacity_m3"]), kind=r["kind"],
                            note=_note(r.get("provenance", ""))))
        plates.add(r["plate"])
        counts["vehicles"] += 1
    enterprises = _ids(session, TransportEnterprise)
    for r in rows("transport_enterprises.csv", data_dir):
        if r["code"] not in enterprises:
            enterprise = TransportEnterprise(
                code=r["code"], name=r["name"], division_code=r["division_code"],
                lat=float(r["lat"]), lon=float(r["lon"]),
                lead_time_hours=float(r["lead_time_hours"]), note=_note(r.get("provenance", "")))
            session.add(enterprise)
            session.flush()
            enterprises[r["code"]] = enterprise.id or 0
            counts["transport enterprises"] += 1
        for n in range(1, int(r["vehicles"]) + 1):
            plate = f"{r['code']}-{n:02d}"
            if plate in plates:
                continue
            session.add(Vehicle(enterprise_id=enterprises[r["code"]], plate=plate,
                                capacity_kg=float(r["capacity_kg"]),
                                capacity_m3=float(r["capacity_m3"]), kind="contracted_truck",
                                note=_note(r.get("provenance", ""))))
            plates.add(plate)
            counts["vehicles"] += 1
    session.flush()
    return counts


def load_readiness_library(session: Session, data_dir: Path = DATA_DIR) -> int:
    """The readiness scenario library (docs/readiness.md): each scenario once, as version 1;
    a scenario already in the database (perhaps edited since) is left as it is."""
    existing = set(session.execute(select(ReadinessScenario.code)).scalars())
    added = 0
    for r in rows("readiness_library.csv", data_dir):
        if r["code"] in existing:
            continue
        library.create_scenario(session, actor=ACTOR, data=ScenarioIn(
            code=r["code"], county=r["county_code"], hazard=r["hazard"], name=r["name"],
            townships=r["townships"].split(";"), displaced_share=float(r["displaced_share"]),
            displaced_basis=r["displaced_basis"], displaced_source=r["displaced_source"],
            sheltered_share=float(r["sheltered_share"]), sheltered_basis=r["sheltered_basis"],
            sheltered_source=r["sheltered_source"], townships_source=r["townships_source"],
            note=f"seed: seed/data/readiness_library.csv ({r['provenance']})"))
        added += 1
    return added


def load(session: Session, *, today: date, data_dir: Path = DATA_DIR) -> dict[str, int]:
    """Load everything that is missing; returns how many rows of each kind were added."""
    ledger.ensure_virtual_locations(session)
    report = {
        "divisions": load_divisions(session, data_dir),
        "items": load_items(session, data_dir),
        "depots": load_depots(session, data_dir),
    }
    report.update(load_reserves(session, data_dir))
    report.update(load_fleet(session, data_dir))
    report["opening stock lots"] = load_opening_stock(session, today=today, data_dir=data_dir)
    report["readiness scenarios"] = load_readiness_library(session, data_dir)
    return report
