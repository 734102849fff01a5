"""Who is calling and what they may do. Pure: no web or database imports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from relief.platform.errors import Forbidden
from relief.platform.models import Role

# Roles that may read everything.
READ_ROLES = frozenset({Role.admin, Role.depot_manager, Role.dispatcher, Role.viewer})


@dataclass(frozen=True)
class Principal:
    """An authenticated API client: its token's name, role, depot scope and extra scopes."""

    token_id: int
    name: str
    role: Role
    depots: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def actor(self) -> str:
        """How this principal is named in the ledger and the audit trail."""
        return f"{self.role.value}:{self.name}"

    def has_role(self, *roles: Role) -> bool:
        """True when the principal has one of ``roles`` (admin has every role)."""
        return self.role == Role.admin or self.role in roles

    def require_role(self, *roles: Role) -> None:
        """Raise 403 unless the principal has one of ``roles``."""
        if not self.has_role(*roles):
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden.of("access.role", role=self.role.value, allowed=allowed)

    def can_write_depot(self, depot_code: str) -> bool:
        """Admins write anywhere; depot managers only at the depots named on their token."""
        if self.role == Role.admin:
            return True
        return self.role == Role.depot_manager and depot_code in self.depots

    def require_depot(self, depot_code: str) -> None:
        """Raise 403 unless the principal may change stock at ``depot_code``."""
        if not self.can_write_depot(depot_code):
            raise Forbidden.of("access.depot", actor=self.actor, depot=depot_code,
                               details={"depot": depot_code})

    def has_scope(self, scope: str) -> bool:
        """Admins hold every scope; others only those named on their token."""
        return self.role == Role.admin or scope in self.scopes

    def require_scope(self, scope: str) -> None:
        """Raise 403 unless the principal holds ``scope``."""
        if not self.has_scope(scope):
            raise Forbidden.of("access.scope", actor=self.actor, scope=scope,
                               details={"scope": scope})

    def require_any_depot(self, depot_codes: Iterable[str]) -> None:
        """Raise 403 unless the principal may write at one of ``depot_codes``."""
        codes = list(depot_codes)
        if not any(self.can_write_depot(code) for code in codes):
            raise Forbidden.of("access.depots", actor=self.actor, depots=", ".join(codes))
