"""HTTP routes of access control under /api/v1: API tokens (list, create, revoke, rotate) and
console sessions (list, revoke), admin only, every change audited with the admin as actor; and
the audit log (admins: every event; depot managers: their depots'), with filters and export.

Token secrets are shown once: the responses of create and rotate carry ``secret``, and a retry
with the same ``Idempotency-Key`` replays the response without it (the secret is never stored).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from relief.platform import auditlog, idempotency, sessions, tokens
from relief.platform.api import IdempotencyKey, Limit, Offset, Page, settings_of
from relief.platform.auditlog import AuditFilter
from relief.platform.auth import Admin, CurrentUser, DatabaseDep
from relief.platform.dbtypes import utcnow
from relief.platform.errors import InvalidInput
from relief.platform.models import ApiToken, AuditEvent, ConsoleSession, Role
from relief.platform.principal import Principal
from relief.platform.sessions import SessionPolicy
from supplies.masterdata import depots_by_codes
from web import audit as audit_web
from web.i18n import Translator

router = APIRouter(prefix="/api/v1", tags=["access"])

# No control characters (PostgreSQL refuses NUL in text; none belongs in a name or a code).
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120,
                                        pattern=PRINTABLE)]
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                        pattern=PRINTABLE)]


class TokenPublic(BaseModel):
    """A token as admins see it (never its secret or hash)."""

    id: int
    name: str
    role: Role
    depots: list[str]
    scopes: list[str]
    prefix: str = Field(description="The secret's first 12 characters, to tell tokens apart")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    rotated_from: int | None = Field(description="The token this one replaced by rotation")
    active: bool = Field(description="Neither revoked nor expired")


class TokenIssued(BaseModel):
    """A new token and its secret (shown once; null when a retry replays the response)."""

    token: TokenPublic
    secret: str | None
    replaces: int | None = None


class TokenCreate(BaseModel):
    """Body of POST /tokens."""

    name: Name = Field(description="Who or what holds the token; unique among unrevoked tokens")
    role: Role
    depots: list[Code] = Field(default_factory=list, max_length=200,
                               description="Depot codes (depot managers write only there)")
    scopes: list[Code] = Field(default_factory=list, max_length=50)
    expires_at: datetime | None = Field(default=None, description="When the token stops "
                                        "working (with a time zone); null = until revoked")


class TokenRotate(BaseModel):
    """Body of POST /tokens/{id}/rotate; without ``expires_at`` the old expiry is kept."""

    expires_at: datetime | None = Field(default=None, description="The new token's expiry "
                                        "(null = none); omit to keep the old one's")


class SessionPublic(BaseModel):
    """A console session as admins see it (never its id secret)."""

    id: int
    token_id: int
    token_name: str
    role: Role
    created_at: datetime
    last_seen_at: datetime
    idle_expires_at: datetime = Field(description="When it ends unless used before")
    expires_at: datetime = Field(description="When it ends in any case")
    revoked_at: datetime | None
    revoked_by: str | None
    user_agent: str | None
    address: str | None
    active: bool


def token_public(token: ApiToken) -> TokenPublic:
    """A token as the API shows it."""
    assert token.id is not None
    return TokenPublic(id=token.id, name=token.name, role=Role(token.role),
                       depots=list(token.depots or []), scopes=list(token.scopes or []),
                       prefix=token.prefix, created_at=token.created_at,
                       expires_at=token.expires_at, revoked_at=token.revoked_at,
                       rotated_from=token.rotated_from,
                       active=tokens.token_valid(token, utcnow()))


def _secret_post(request: Request, user: Principal, key: str | None, body: BaseModel | None,
                 use_case: Any, status_code: int) -> JSONResponse:
    status, content = idempotency.run(
        request.app.state.db, principal=user, key=key, method=request.method,
        path=request.url.path, payload=body.model_dump(mode="json") if body else None,
        status_code=status_code, use_case=use_case,
        stored=lambda out: {**out, "secret": None})
    return JSONResponse(content=content, status_code=status)


@router.get("/tokens", response_model=Page[TokenPublic])
def list_tokens(db: DatabaseDep, _admin: Admin, limit: Limit = 100, offset: Offset = 0,
                active: Annotated[bool | None, Query(description="Only valid (true) or only "
                                                     "revoked or expired (false) tokens")]
                = None,
                name: Annotated[str | None, Query(max_length=120, pattern=PRINTABLE)] = None,
                ) -> Page[TokenPublic]:
    """Every token, newest first (admin)."""
    query = select(ApiToken)
    if name is not None:
        query = query.where(ApiToken.name == name)
    now = utcnow()
    valid = (ApiToken.revoked_at.is_(None)
             & (ApiToken.expires_at.is_(None) | (ApiToken.expires_at > now)))
    if active is not None:
        query = query.where(valid if active else ~valid)
    with db.read_session() as session:
        total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = session.execute(query.order_by(ApiToken.id.desc()).limit(limit).offset(offset)
                               ).scalars()
        items = [token_public(t) for t in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("/tokens", response_model=TokenIssued, status_code=201,
             responses={409: {"description": "An unrevoked token has this name"}})
def post_token(body: TokenCreate, request: Request, user: Admin,
               key: IdempotencyKey = None) -> JSONResponse:
    """Create a token (admin); its secret is in this response only."""
    if body.role == Role.depot_manager and not body.depots:
        raise InvalidInput.of("token.depot_manager_depots", field="depots")

    def use_case(session: Session) -> TokenIssued:
        depots_by_codes(session, body.depots)
        token, secret = tokens.create_token(
            session, name=body.name, role=body.role, depots=body.depots, scopes=body.scopes,
            expires_at=body.expires_at, actor=user.actor)
        return TokenIssued(token=token_public(token), secret=secret)

    return _secret_post(request, user, key, body, use_case, 201)


@router.post("/tokens/{token_id}/revoke", response_model=TokenPublic,
             responses={409: {"description": "Already revoked"}})
def post_revoke_token(token_id: RowId, db: DatabaseDep, user: Admin) -> TokenPublic:
    """Revoke a token (admin): it and its console sessions stop working at once."""
    return db.write(lambda s: token_public(tokens.revoke_token(
        s, tokens.get_token(s, token_id, lock=True), actor=user.actor)))


@router.post("/tokens/{token_id}/rotate", response_model=TokenIssued, status_code=201,
             responses={409: {"description": "The token is already revoked"}})
def post_rotate_token(token_id: RowId, request: Request, user: Admin,
                      body: TokenRotate | None = None, key: IdempotencyKey = None
                      ) -> JSONResponse:
    """Give a token a new secret (admin): a new token with the same name, role, depots and
    scopes, and the old one revoked, in one transaction (the old secret and its console
    sessions stop working)."""
    rotate = body or TokenRotate()
    keep = "expires_at" not in rotate.model_fields_set

    def use_case(session: Session) -> TokenIssued:
        old = tokens.get_token(session, token_id, lock=True)
        done = tokens.rotate_token(session, old, actor=user.actor,
                                   expires_at=rotate.expires_at, keep_expiry=keep)
        return TokenIssued(token=token_public(done.new), secret=done.secret,
                           replaces=done.old.id)

    return _secret_post(request, user, key, body, use_case, 201)


# ---------------------------------------------------------------------------------------------
# Console sessions


def session_policy(request: Request) -> SessionPolicy:
    """The configured session lifetimes."""
    return SessionPolicy.from_settings(settings_of(request))


def session_public(row: ConsoleSession, token: ApiToken, policy: SessionPolicy
                   ) -> SessionPublic:
    """A console session as the API shows it."""
    assert row.id is not None
    now = utcnow()
    return SessionPublic(
        id=row.id, token_id=row.token_id, token_name=token.name, role=Role(token.role),
        created_at=row.created_at, last_seen_at=row.last_seen_at,
        idle_expires_at=sessions.idle_deadline(row, policy), expires_at=row.expires_at,
        revoked_at=row.revoked_at, revoked_by=row.revoked_by, user_agent=row.user_agent,
        address=row.address,
        active=sessions.is_active(row, policy, now) and tokens.token_valid(token, now))


@router.get("/sessions", response_model=Page[SessionPublic])
def list_sessions(request: Request, db: DatabaseDep, _admin: Admin, limit: Limit = 100,
                  offset: Offset = 0,
                  active: Annotated[bool, Query(description="Only sessions still valid")]
                  = True,
                  token_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
                  ) -> Page[SessionPublic]:
    """Console sessions, newest first (admin); by default only those still valid."""
    policy = session_policy(request)
    with db.read_session() as session:
        rows, total = sessions.listing(session, policy, active=active, token_id=token_id,
                                       limit=limit, offset=offset)
        items = [session_public(row, token, policy) for row, token in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("/sessions/{session_id}/revoke", response_model=SessionPublic,
             responses={409: {"description": "Already ended"}})
def post_revoke_session(session_id: RowId, request: Request, db: DatabaseDep, user: Admin
                        ) -> SessionPublic:
    """End a console session (admin): its cookie stops working at the next request."""
    policy = session_policy(request)

    def use_case(session: Session) -> SessionPublic:
        row = sessions.revoke(session, session_id, actor=user.actor)
        return session_public(row, tokens.get_token(session, row.token_id), policy)

    return db.write(use_case)


# ---------------------------------------------------------------------------------------------
# The audit log


class AuditEventPublic(BaseModel):
    """One audit event: who did what to which record, when, at which depot."""

    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    depot: str | None
    details: dict[str, Any]
    note: str | None


def audit_filter(
    actor: Annotated[str | None, Query(min_length=1, max_length=120, pattern=PRINTABLE,
                                       description="Exactly this actor (`role:name`)")] = None,
    action: Annotated[str | None, Query(min_length=1, max_length=60, pattern=PRINTABLE,
                                        description="An action (`token.create`) or a "
                                        "family (`token`)")] = None,
    depot: Annotated[str | None, Query(min_length=1, max_length=32, pattern=PRINTABLE)] = None,
    entity: Annotated[str | None, Query(min_length=1, max_length=60, pattern=PRINTABLE)] = None,
    entity_id: Annotated[str | None, Query(min_length=1, max_length=120, pattern=PRINTABLE)] = None,
    since: Annotated[datetime | None, Query(description="From (inclusive), with a time "
                                            "zone")] = None,
    until: Annotated[datetime | None, Query(description="To (exclusive), with a time "
                                            "zone")] = None,
) -> AuditFilter:
    """The audit log's query filters."""
    return AuditFilter(actor=actor, action=action, depot=depot, entity=entity,
                       entity_id=entity_id, since=since, until=until)


Filters = Annotated[AuditFilter, Depends(audit_filter)]


def event_public(event: AuditEvent) -> AuditEventPublic:
    """An audit event as the API shows it."""
    assert event.id is not None
    return AuditEventPublic(id=event.id, at=event.at, actor=event.actor, action=event.action,
                            entity=event.entity, entity_id=event.entity_id, depot=event.depot,
                            details=dict(event.details or {}), note=event.note)


@router.get("/audit", response_model=Page[AuditEventPublic])
def list_audit(db: DatabaseDep, user: CurrentUser, filters: Filters, limit: Limit = 100,
               offset: Offset = 0) -> Page[AuditEventPublic]:
    """The audit trail, newest first: admins read every event, depot managers the events of
    the depots on their token (naming another depot is a 403); other roles 403."""
    with db.read_session() as session:
        rows, total = auditlog.page(session, user, filters, limit=limit, offset=offset)
        items = [event_public(e) for e in rows]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/audit/export", response_class=Response,
            responses={200: {"content": {"text/csv": {}, audit_web.FORMATS["xlsx"]: {}}}})
def export_audit(request: Request, db: DatabaseDep, user: CurrentUser, filters: Filters,
                 format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
                 lang: Annotated[Literal["zh", "en"], Query()] = "zh") -> Response:
    """The filtered audit trail as CSV or Excel (same scope as GET /audit; at most 50,000
    events, else 422 asking for a narrower filter); texts that would run as spreadsheet
    formulas are written as text."""
    settings = settings_of(request)
    with db.read_session() as session:
        events = audit_web.export_events(session, user, filters)
    return audit_web.download(events, format, Translator(lang), settings.tz, settings.today())
