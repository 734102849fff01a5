"""The admins' console sessions page (/console/sessions): who is logged in, since when, last
seen, when each session ends; any of them can be ended at once (the user's next request goes to
the login page). Same rules as GET /api/v1/sessions and POST /api/v1/sessions/{id}/revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from relief.platform import sessions, tokens
from relief.platform.auth import get_database
from relief.platform.dbtypes import utcnow
from relief.platform.models import Role
from web.render import page
from web.routing import ConsoleRoute, redirect
from web.session import ConsoleUser, policy, session_secret

router = APIRouter(route_class=ConsoleRoute)

MAX_LISTED = 500


@router.get("/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, user: ConsoleUser) -> Response:
    """控制台会话: the live console sessions, newest first (admins)."""
    user.require_role(Role.admin)
    rules = policy(request)
    now = utcnow()
    mine = sessions.hash_of(session_secret(request) or "")
    with get_database(request).read_session() as session:
        rows, total = sessions.listing(session, rules, active=True, token_id=None,
                                       limit=MAX_LISTED, offset=0)
    listed = [{"row": row, "token": token, "mine": row.session_hash == mine,
               "idle_until": sessions.idle_deadline(row, rules),
               "valid": sessions.is_active(row, rules, now) and tokens.token_valid(token, now)}
              for row, token in rows]
    return page(request, user, "sessions.html", listed=listed, total=total,
                done=request.query_params.get("done") == "1")


@router.post("/sessions/{session_id}/revoke")
def revoke_session(request: Request, user: ConsoleUser,
                   session_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> Response:
    """End a console session at once (admins)."""
    user.require_role(Role.admin)
    get_database(request).write(lambda s: sessions.revoke(s, session_id, actor=user.actor))
    return redirect("/console/sessions?done=1")
