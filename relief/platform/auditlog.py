"""Reading the audit trail: filters, the reader's scope, paging. No web imports.

Who reads what: admins every event; depot managers only the events of the depots on their
token (``audit_event.depot``); nobody else. The scope is a WHERE clause added before any
filter, so no filter (actor, action, entity, time, paging) can widen it, and naming a depot
outside one's own is a 403 rather than an empty page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from relief.platform.errors import Forbidden, InvalidInput
from relief.platform.models import AuditEvent, Role
from relief.platform.principal import Principal

# Most rows one export writes (a narrower filter gets the rest).
EXPORT_MAX_ROWS = 50_000
# The window a time filter must fall in (the trail starts with the system; far dates would
# overflow when converted to UTC).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class AuditFilter:
    """What to show. ``action`` matches the action or a family of them (``token`` matches
    ``token.create``, ``token.revoke``...); ``since`` is inclusive, ``until`` exclusive."""

    actor: str | None = None
    action: str | None = None
    depot: str | None = None
    entity: str | None = None
    entity_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def require_reader(principal: Principal) -> None:
    """Raise 403 unless the principal may read the audit log (admins, depot managers)."""
    principal.require_role(Role.depot_manager)


def _check(principal: Principal, filters: AuditFilter) -> None:
    require_reader(principal)
    if (filters.depot is not None and principal.role != Role.admin
            and filters.depot not in principal.depots):
        raise Forbidden.of("audit.depot", actor=principal.actor, depot=filters.depot,
                           details={"depot": filters.depot})
    for name in ("since", "until"):
        value = getattr(filters, name)
        if value is not None and value.tzinfo is None:
            raise InvalidInput.of("audit.naive_time", field=name)
        if value is not None and not EARLIEST <= value <= LATEST:
            raise InvalidInput.of("audit.time_window", field=name,
                                  earliest=EARLIEST.date().isoformat(),
                                  latest=LATEST.date().isoformat())
    if filters.since and filters.until and filters.until <= filters.since:
        raise InvalidInput.of("audit.time_order", field="until",
                              since=filters.since.isoformat(), until=filters.until.isoformat())


def scoped_query(principal: Principal, filters: AuditFilter) -> Select[Any]:
    """The events ``principal`` may read that match ``filters``, newest first (403 when the
    principal may not read the log or names a depot outside their scope)."""
    _check(principal, filters)
    query = select(AuditEvent)
    if principal.role != Role.admin:
        query = query.where(AuditEvent.depot.in_(sorted(principal.depots)))
    if filters.depot is not None:
        query = query.where(AuditEvent.depot == filters.depot)
    if filters.actor is not None:
        query = query.where(AuditEvent.actor == filters.actor)
    if filters.action is not None:
        family = filters.action.rstrip(".")
        query = query.where(or_(AuditEvent.action == family,
                                AuditEvent.action.startswith(family + ".", autoescape=True)))
    if filters.entity is not None:
        query = query.where(AuditEvent.entity == filters.entity)
    if filters.entity_id is not None:
        query = query.where(AuditEvent.entity_id == filters.entity_id)
    if filters.since is not None:
        query = query.where(AuditEvent.at >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.at < filters.until)
    return query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


def page(session: Session, principal: Principal, filters: AuditFilter, *, limit: int,
         offset: int) -> tuple[list[AuditEvent], int]:
    """One page of the events ``principal`` may read, and how many match in all."""
    query = scoped_query(principal, filters)
    total = session.execute(select(func.count()).select_from(
        query.order_by(None).subquery())).scalar_one()
    rows = list(session.execute(query.limit(limit).offset(offset)).scalars())
    return rows, total


def export_rows(session: Session, principal: Principal, filters: AuditFilter
                ) -> tuple[list[AuditEvent], bool]:
    """Every matching event (newest first) up to :data:`EXPORT_MAX_ROWS`, and whether more
    matched than were written."""
    query = scoped_query(principal, filters)
    rows = list(session.execute(query.limit(EXPORT_MAX_ROWS + 1)).scalars())
    return rows[:EXPORT_MAX_ROWS], len(rows) > EXPORT_MAX_ROWS


def depot_choices(principal: Principal, every: list[str]) -> list[str]:
    """The depots whose events ``principal`` may filter on."""
    if principal.role == Role.admin:
        return every
    return sorted(principal.depots)
