"""The audit trail: one helper that records who changed what, inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from relief.platform.models import AuditEvent


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    details: dict[str, Any] | None = None,
    note: str | None = None,
    depot: str | None = None,
) -> AuditEvent:
    """Append an audit event; it commits or rolls back with the change it describes.
    ``depot``: the depot the event concerns (its managers may read it in the audit log);
    None for network-wide events (admins only)."""
    event = AuditEvent(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        depot=depot,
        details=_jsonable(details or {}),
        note=note,
    )
    session.add(event)
    return event


def _jsonable(value: Any) -> Any:
    """Make dates, enums and other simple values JSON-safe for the details column."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
