"""Generic create / patch / page helpers every domain's use cases share (audited, no commit)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

from relief.platform.audit import record
from relief.platform.dbtypes import utcnow

Row = TypeVar("Row", bound=SQLModel)


def apply(session: Session, row: Row, patch: SQLModel, *, actor: str, entity: str,
          entity_id: str, depot: str | None = None) -> Row:
    """Apply the fields set in ``patch`` to ``row`` and audit what changed (under ``depot``
    when the row belongs to one)."""
    changes: dict[str, Any] = {}
    for name, value in patch.model_dump(exclude_unset=True).items():
        if getattr(row, name) != value:
            changes[name] = {"from": getattr(row, name), "to": value}
            setattr(row, name, value)
    if changes:
        if hasattr(row, "updated_at"):
            row.updated_at = utcnow()  # type: ignore[attr-defined]
        session.add(row)
        session.flush()
        record(session, actor=actor, action=f"{entity}.update", entity=entity,
               entity_id=entity_id, details=changes, depot=depot)
    return row


def created(session: Session, row: Row, *, actor: str, entity: str, entity_id: str,
            depot: str | None = None) -> Row:
    """Insert ``row`` and audit its creation (under ``depot`` when it belongs to one)."""
    session.add(row)
    session.flush()
    record(session, actor=actor, action=f"{entity}.create", entity=entity, entity_id=entity_id,
           details=row.model_dump(mode="json", exclude={"id", "updated_at", "created_at"}),
           depot=depot)
    return row


def page(session: Session, stmt: Any, *, limit: int, offset: int) -> tuple[list[Any], int]:
    """One page of ``stmt`` and the total number of rows it selects."""
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = list(session.execute(stmt.limit(limit).offset(offset)).scalars())
    return rows, total
