"""Console sessions of their own (issue 16 item 6): the cookie carries a random session id, not
the API token; a session ends at logout, after the idle timeout, at its absolute expiry, when an
admin revokes it, or with its token; CSRF tokens are bound to the session. Both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from relief.platform.dbtypes import utcnow
from relief.platform.models import ApiToken, AuditEvent, ConsoleSession
from relief.platform.tokens import hash_secret
from tests.web.conftest import Console
from tests.world import World

MakeConsole = Callable[[str | None], Console]


def _row(world: World, c: Console) -> ConsoleSession:
    with world.db.read_session() as s:
        return s.execute(select(ConsoleSession).where(
            ConsoleSession.session_hash == hash_secret(c.session_id))).scalar_one()


def _logged_in(c: Console) -> bool:
    r = c.get("/console/readiness", follow_redirects=False)
    assert r.status_code in (200, 303), r.status_code
    return r.status_code == 200


def test_the_cookie_holds_a_session_id_never_the_token(world: World,
                                                       console: MakeConsole) -> None:
    """The cookie is an opaque rls_ id (HttpOnly, SameSite=Strict, Secure over HTTPS, max-age
    = the absolute lifetime); the database keeps only its hash; the API refuses it as a
    bearer token."""
    c = Console(TestClient(world.client.app, base_url="https://testserver"))
    response = c.login(world.manager.token)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie
    assert f"max-age={12 * 3600}" in cookie
    assert world.manager.token not in response.headers["set-cookie"]
    row = _row(world, c)
    assert row.session_hash != c.session_id and row.revoked_at is None
    assert row.expires_at - row.created_at == timedelta(hours=12)
    api = world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {c.session_id}"})
    assert api.status_code == 401 and api.json()["error"]["code"] == "unauthorized"
    plain = console(world.manager.token)  # over http: no Secure flag, the cookie still works
    assert _logged_in(plain)


def test_logout_revokes_the_session_server_side(world: World, console: MakeConsole) -> None:
    """After logout the old cookie, replayed, no longer opens any page (the row is revoked),
    and the login and logout are in the audit trail under the user."""
    c = console(world.manager.token)
    stolen = c.session_id
    assert c.post("/console/logout").status_code == 303
    thief = Console(TestClient(world.client.app, base_url="http://testserver"))
    thief.client.cookies.set("relief_session", stolen)
    assert not _logged_in(thief)
    with world.db.read_session() as s:
        row = s.execute(select(ConsoleSession).where(
            ConsoleSession.session_hash == hash_secret(stolen))).scalar_one()
        actions = [(e.action, e.actor) for e in s.execute(
            select(AuditEvent).where(AuditEvent.entity == "console_session",
                                     AuditEvent.entity_id == str(row.id))
            .order_by(AuditEvent.id)).scalars()]
    assert row.revoked_at is not None and row.revoked_by == "depot_manager:test-depot_manager"
    assert actions == [("session.start", "depot_manager:test-depot_manager"),
                       ("session.logout", "depot_manager:test-depot_manager")]


def test_a_new_login_ends_the_browser_s_previous_session(world: World,
                                                         console: MakeConsole) -> None:
    """Logging in again (even as someone else) issues a new id and revokes the old one."""
    c = console(world.manager.token)
    first = c.session_id
    assert c.login(world.viewer.token).status_code == 303
    assert c.session_id != first
    old = Console(TestClient(world.client.app))
    old.client.cookies.set("relief_session", first)
    assert not _logged_in(old) and _logged_in(c)


def test_idle_sessions_end_and_use_keeps_them_alive(world: World, console: MakeConsole) -> None:
    """A session unused for longer than RELIEF_SESSION_IDLE_MINUTES ends; a request notes the
    use (at most once a minute), which moves the idle deadline on."""
    app = world.client.app
    app.state.settings = app.state.settings.model_copy(update={"session_idle_minutes": 5})
    c = console(world.viewer.token)
    row = _row(world, c)
    world.db.write(lambda s: s.execute(update(ConsoleSession).where(
        ConsoleSession.id == row.id).values(last_seen_at=utcnow() - timedelta(minutes=4))))
    assert _logged_in(c)  # 4 minutes idle: still alive, and touched now
    assert utcnow() - _row(world, c).last_seen_at < timedelta(seconds=30)
    world.db.write(lambda s: s.execute(update(ConsoleSession).where(
        ConsoleSession.id == row.id).values(last_seen_at=utcnow() - timedelta(minutes=6))))
    assert not _logged_in(c)


def test_sessions_end_at_their_absolute_expiry(world: World, console: MakeConsole) -> None:
    """However busy, a session ends at expires_at (login + RELIEF_SESSION_ABSOLUTE_HOURS)."""
    c = console(world.viewer.token)
    row = _row(world, c)
    world.db.write(lambda s: s.execute(update(ConsoleSession).where(
        ConsoleSession.id == row.id).values(expires_at=utcnow() - timedelta(seconds=1))))
    assert not _logged_in(c)


def test_an_expired_token_ends_its_sessions_and_cannot_log_in(world: World,
                                                              console: MakeConsole) -> None:
    """A token past its expiry logs its console sessions out and is refused at the login
    form with the catalogue's Chinese message at the token field."""
    c = console(world.viewer.token)
    world.db.write(lambda s: s.execute(update(ApiToken).where(ApiToken.role == "viewer")
                                       .values(expires_at=utcnow() - timedelta(seconds=1))))
    assert not _logged_in(c)
    again = console(None).login(world.viewer.token)
    assert again.status_code == 401 and 'id="login-token-error"' in again.text
    assert "已于" in again.text and "过期" in again.text


def test_admin_lists_and_revokes_sessions(world: World, console: MakeConsole) -> None:
    """GET /sessions lists the live sessions (admin only); POST /sessions/{id}/revoke ends one
    at once; listing with active=false shows it ended, by whom."""
    m, v = console(world.manager.token), console(world.viewer.token)
    listed = world.admin.get("/sessions").json()
    assert listed["total"] == 2
    by_name = {s["token_name"]: s for s in listed["items"]}
    assert set(by_name) == {"test-depot_manager", "test-viewer"}
    target = by_name["test-viewer"]
    assert target["active"] and target["role"] == "viewer" and target["user_agent"]
    assert world.manager.get("/sessions").status_code == 403
    assert world.viewer.post(f"/sessions/{target['id']}/revoke").status_code == 403
    done = world.admin.post(f"/sessions/{target['id']}/revoke")
    assert done.status_code == 200, done.text
    assert done.json()["revoked_by"] == "admin:test-admin" and not done.json()["active"]
    assert not _logged_in(v) and _logged_in(m)
    again = world.admin.post(f"/sessions/{target['id']}/revoke")
    assert again.status_code == 409 and again.json()["error"]["message_zh"]
    assert world.admin.post("/sessions/999999/revoke").status_code == 404
    assert world.admin.get("/sessions").json()["total"] == 1
    everything = world.admin.get("/sessions", active="false").json()
    assert everything["total"] == 2


def test_csrf_tokens_are_bound_to_the_session(world: World, console: MakeConsole) -> None:
    """A form post carrying another session's (or an ended session's) CSRF token is refused;
    the session's own token is accepted."""
    a, b = console(world.manager.token), console(world.manager.token)
    assert a.csrf != b.csrf
    refused = a.post("/console/logout", csrf=False, data={"csrf_token": b.csrf})
    assert refused.status_code == 403
    assert a.post("/console/logout").status_code == 303


def test_admins_see_and_end_sessions_in_the_console(world: World, console: MakeConsole) -> None:
    """The 控制台会话 page (admins only) lists the live sessions, marks the admin's own, and
    ending one (a form post with the CSRF token) logs that user out at once, audited."""
    from relief.platform.models import Role
    from tests.world import make_token

    v = console(world.viewer.token)
    admin = console(make_token(world.db, Role.admin, name="console-admin"))
    page = admin.get("/console/sessions")
    assert page.status_code == 200 and "控制台会话" in page.text and "当前会话" in page.text
    assert 'id="nav-sessions"' in page.text
    viewer_row = _row(world, v)
    assert f'<tr data-id="{viewer_row.id}">' in page.text
    assert admin.post(f"/console/sessions/{viewer_row.id}/revoke", csrf=False
                      ).status_code == 403  # no CSRF token: refused
    assert _logged_in(v)
    done = admin.post(f"/console/sessions/{viewer_row.id}/revoke")
    assert done.status_code == 303 and done.headers["location"] == "/console/sessions?done=1"
    assert not _logged_in(v)
    after = admin.get("/console/sessions?done=1").text
    assert 'id="sessions-done"' in after and f'<tr data-id="{viewer_row.id}">' not in after
    with world.db.read_session() as s:
        event = s.execute(select(AuditEvent).where(AuditEvent.action == "session.revoke")
                          ).scalar_one()
    assert event.actor == "admin:console-admin" and event.entity_id == str(viewer_row.id)
    m = console(world.manager.token)
    assert 'id="nav-sessions"' not in m.get("/console/readiness").text
    assert m.get("/console/sessions").status_code == 403
    assert m.post(f"/console/sessions/{_row(world, m).id}/revoke").status_code == 403
