"""Master data use cases: divisions, depots, items, agreement and capacity reserves, targets.

Every change is audited. Codes in bodies are resolved to rows here; unknown codes are 404s
naming the field, duplicates are 409s.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from relief.platform.crud import apply, created
from relief.platform.errors import Conflict, InvalidInput, NotFound
from supplies import ledger
from supplies.models import (
    AgreementReserve,
    CapacityReserve,
    Depot,
    Division,
    Item,
    ReserveTarget,
)
from supplies.models.catalogue import ItemCreate, ItemUpdate
from supplies.models.network import DepotCreate, DepotUpdate, DivisionCreate, DivisionUpdate
from supplies.models.reserves import (
    AgreementReserveCreate,
    AgreementReservePublic,
    AgreementReserveUpdate,
    CapacityReserveCreate,
    CapacityReservePublic,
    CapacityReserveUpdate,
    ReserveTargetCreate,
    ReserveTargetPublic,
    ReserveTargetUpdate,
)
from supplies.service import get_depot, get_item

# ---------------------------------------------------------------------------------------------
# Divisions


def get_division(session: Session, code: str, *, field: str = "division_code") -> Division:
    """The division ``code`` or a 404 naming ``field``."""
    division = session.get(Division, code)
    if division is None:
        raise NotFound.of("division.unknown", field=field, code=code)
    return division


def create_division(session: Session, *, data: DivisionCreate, actor: str) -> Division:
    """Add a division under an existing parent."""
    if session.get(Division, data.code) is not None:
        raise Conflict.of("division.exists", field="code", code=data.code)
    if data.parent_code is not None:
        get_division(session, data.parent_code, field="parent_code")
    return created(session, Division.model_validate(data), actor=actor, entity="division",
                    entity_id=data.code)


def update_division(session: Session, *, code: str, data: DivisionUpdate, actor: str) -> Division:
    """Change a division's name, coordinates or population."""
    division = get_division(session, code, field="code")
    return apply(session, division, data, actor=actor, entity="division", entity_id=code)


def division_descendants(session: Session, code: str) -> list[str]:
    """``code`` and the codes of every division below it."""
    children: dict[str | None, list[str]] = {}
    for child, parent in session.execute(select(Division.code, Division.parent_code)):
        children.setdefault(parent, []).append(child)
    out, stack = [], [code]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(children.get(current, []))
    return out


# ---------------------------------------------------------------------------------------------
# Depots


def create_depot(session: Session, *, data: DepotCreate, actor: str) -> Depot:
    """Register a depot and its internal stock location."""
    if session.execute(select(Depot.id).where(Depot.code == data.code)).first():
        raise Conflict.of("depot.exists", field="code", code=data.code)
    get_division(session, data.division_code)
    depot = created(session, Depot.model_validate(data), actor=actor, entity="depot",
                    entity_id=data.code, depot=data.code)
    ledger.depot_location(session, depot)
    return depot


def update_depot(session: Session, *, code: str, data: DepotUpdate, actor: str) -> Depot:
    """Change a depot's details (its code never changes)."""
    depot = get_depot(session, code, field="code")
    if data.division_code is not None:
        get_division(session, data.division_code)
    return apply(session, depot, data, actor=actor, entity="depot", entity_id=code, depot=code)


# ---------------------------------------------------------------------------------------------
# Items


def create_item(session: Session, *, data: ItemCreate, actor: str) -> Item:
    """Add a catalogue item."""
    if session.execute(select(Item.id).where(Item.code == data.code)).first():
        raise Conflict.of("item.exists", field="code", code=data.code)
    return created(session, Item.model_validate(data), actor=actor, entity="item",
                    entity_id=data.code)


def update_item(session: Session, *, code: str, data: ItemUpdate, actor: str) -> Item:
    """Change an item's names, unit, size or shelf life (its code never changes)."""
    item = get_item(session, code, field="code")
    return apply(session, item, data, actor=actor, entity="item", entity_id=code)


# ---------------------------------------------------------------------------------------------
# Agreement and capacity reserves


def agreement_public(session: Session, row: AgreementReserve) -> AgreementReservePublic:
    """An agreement reserve with depot and item codes."""
    return AgreementReservePublic(
        **row.model_dump(exclude={"depot_id", "item_id"}),
        depot=session.get_one(Depot, row.depot_id).code,
        item=session.get_one(Item, row.item_id).code,
    )


def create_agreement(
    session: Session, *, data: AgreementReserveCreate, actor: str
) -> AgreementReserve:
    """Record an agreement reserve contract of an enterprise depot."""
    depot = get_depot(session, data.depot)
    item = get_item(session, data.item)
    if session.execute(select(AgreementReserve.id).where(
            AgreementReserve.depot_id == depot.id, AgreementReserve.item_id == item.id,
            AgreementReserve.contract_ref == data.contract_ref)).first():
        raise Conflict.of("agreement.exists", field="contract_ref", depot=depot.code,
                          item=item.code, contract_ref=data.contract_ref)
    row = AgreementReserve(**data.model_dump(exclude={"depot", "item"}), depot_id=depot.id or 0,
                           item_id=item.id or 0)
    return created(session, row, actor=actor, entity="agreement",
                    entity_id=f"{depot.code}/{item.code}/{data.contract_ref}", depot=depot.code)


def get_agreement(session: Session, agreement_id: int) -> AgreementReserve:
    """One agreement reserve or 404."""
    row = session.get(AgreementReserve, agreement_id)
    if row is None:
        raise NotFound.of("agreement.unknown", id=agreement_id)
    return row


def update_agreement(
    session: Session, *, agreement_id: int, data: AgreementReserveUpdate, actor: str
) -> AgreementReserve:
    """Change an agreement reserve; the validity period must stay ordered."""
    row = get_agreement(session, agreement_id)
    if data.contract_ref is not None and data.contract_ref != row.contract_ref:
        raise InvalidInput.of("agreement.key_immutable", field="contract_ref",
                              contract_ref=row.contract_ref)
    valid_from = data.valid_from or row.valid_from
    valid_to = data.valid_to or row.valid_to
    if valid_to < valid_from:
        raise InvalidInput.of("agreement.dates", field="valid_to", valid_from=str(valid_from),
                              valid_to=str(valid_to))
    return apply(session, row, data, actor=actor, entity="agreement",
                  entity_id=str(agreement_id), depot=session.get_one(Depot, row.depot_id).code)


def capacity_public(session: Session, row: CapacityReserve) -> CapacityReservePublic:
    """A capacity reserve with depot and item codes."""
    return CapacityReservePublic(
        **row.model_dump(exclude={"depot_id", "item_id"}),
        depot=session.get_one(Depot, row.depot_id).code,
        item=session.get_one(Item, row.item_id).code,
    )


def create_capacity(session: Session, *, data: CapacityReserveCreate, actor: str
                    ) -> CapacityReserve:
    """Record a producer's capacity reserve for an item (one per producer and item)."""
    depot = get_depot(session, data.depot)
    item = get_item(session, data.item)
    exists = session.execute(
        select(CapacityReserve.id).where(
            CapacityReserve.depot_id == depot.id, CapacityReserve.item_id == item.id
        )
    ).first()
    if exists:
        raise Conflict.of("capacity.exists", depot=depot.code, item=item.code)
    row = CapacityReserve(**data.model_dump(exclude={"depot", "item"}), depot_id=depot.id or 0,
                          item_id=item.id or 0)
    return created(session, row, actor=actor, entity="capacity",
                    entity_id=f"{depot.code}/{item.code}", depot=depot.code)


def get_capacity(session: Session, capacity_id: int) -> CapacityReserve:
    """One capacity reserve or 404."""
    row = session.get(CapacityReserve, capacity_id)
    if row is None:
        raise NotFound.of("capacity.unknown", id=capacity_id)
    return row


def update_capacity(
    session: Session, *, capacity_id: int, data: CapacityReserveUpdate, actor: str
) -> CapacityReserve:
    """Change a capacity reserve's rate, lead time or note."""
    row = get_capacity(session, capacity_id)
    return apply(session, row, data, actor=actor, entity="capacity", entity_id=str(capacity_id),
                 depot=session.get_one(Depot, row.depot_id).code)


# ---------------------------------------------------------------------------------------------
# Reserve targets


def target_public(session: Session, row: ReserveTarget) -> ReserveTargetPublic:
    """A reserve target with depot and item codes."""
    assert row.id is not None
    return ReserveTargetPublic(
        id=row.id,
        tier=row.tier,
        depot=session.get_one(Depot, row.depot_id).code if row.depot_id else None,
        item=session.get_one(Item, row.item_id).code,
        quantity=row.quantity,
        updated_at=row.updated_at,
    )


def create_target(session: Session, *, data: ReserveTargetCreate, actor: str) -> ReserveTarget:
    """Set the quota of an item for one depot or for every depot of a tier."""
    item = get_item(session, data.item)
    depot = get_depot(session, data.depot) if data.depot else None
    clash = select(ReserveTarget.id).where(ReserveTarget.item_id == item.id)
    clash = (clash.where(ReserveTarget.depot_id == depot.id) if depot
             else clash.where(ReserveTarget.tier == data.tier))
    if session.execute(clash).first():
        raise Conflict.of("target.exists", item=item.code,
                          scope=depot.code if depot else str(data.tier))
    row = ReserveTarget(tier=data.tier, depot_id=depot.id if depot else None,
                        item_id=item.id or 0, quantity=data.quantity)
    scope = depot.code if depot else f"tier:{data.tier}"
    return created(session, row, actor=actor, entity="target", entity_id=f"{scope}/{item.code}",
                   depot=depot.code if depot else None)


def update_target(session: Session, *, target_id: int, data: ReserveTargetUpdate, actor: str
                  ) -> ReserveTarget:
    """Change a target's quantity."""
    row = session.get(ReserveTarget, target_id)
    if row is None:
        raise NotFound.of("target.unknown", id=target_id)
    depot = session.get_one(Depot, row.depot_id).code if row.depot_id else None
    return apply(session, row, data, actor=actor, entity="target", entity_id=str(target_id),
                 depot=depot)


def depots_by_codes(session: Session, codes: Sequence[str]) -> list[Depot]:
    """The depots named by ``codes``; 404 for the first unknown one."""
    return [get_depot(session, code) for code in codes]
