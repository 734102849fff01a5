"""API tokens (issue 16 item 6): optional expiry (401 with the envelope and a Chinese message),
rotation (new secret, same identity, old one revoked, atomically; API and CLI), unique names
(database constraint and a 409 naming the field), every change audited with its actor. Both
databases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from relief.app.cli import app as cli_app
from relief.platform.db import Database
from relief.platform.dbtypes import utcnow
from relief.platform.models import ApiToken, AuditEvent, Role
from relief.platform.settings import get_settings
from relief.platform.tokens import hash_secret
from tests.world import TENT, Api, World


def _audit(world: World, action: str) -> list[AuditEvent]:
    with world.db.read_session() as s:
        return list(s.execute(select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)).scalars())


def _create(world: World, **body: Any) -> Any:
    return world.admin.post("/tokens", {"role": "viewer", **body})


def test_expired_tokens_get_401_with_the_envelope_in_chinese(world: World) -> None:
    """A token past expires_at is refused with 401, code unauthorized, key auth.token_expired
    and a Chinese message naming the token; before that it works."""
    made = _create(world, name="short", expires_at=(utcnow() + timedelta(hours=1)).isoformat())
    assert made.status_code == 201, made.text
    api = Api(world.client, made.json()["secret"])
    assert api.get("/me").status_code == 200
    world.db.write(lambda s: s.execute(update(ApiToken).where(ApiToken.name == "short")
                                       .values(expires_at=utcnow() - timedelta(seconds=1))))
    r = api.get("/me")
    assert r.status_code == 401
    error = r.json()["error"]
    assert error["code"] == "unauthorized" and error["key"] == "auth.token_expired"
    assert "short" in error["message_zh"] and "过期" in error["message_zh"]
    listed = world.admin.get("/tokens", name="short").json()["items"]
    assert listed[0]["active"] is False and listed[0]["revoked_at"] is None


def test_expiry_must_be_in_the_future_and_carry_a_time_zone(world: World) -> None:
    """A past, naive or far-off (over 10 years) expires_at is a 422 at the field; nothing is
    created."""
    past = _create(world, name="p", expires_at="2020-01-01T00:00:00+08:00")
    naive = _create(world, name="n", expires_at="2099-01-01T00:00:00")
    far = _create(world, name="f", expires_at="9999-12-31T23:59:59-14:00")
    for r in (past, naive, far):
        assert r.status_code == 422, r.text
        assert r.json()["error"]["fields"][0]["field"] == "expires_at"
        assert r.json()["error"]["message_zh"]
    assert world.admin.get("/tokens", name="p").json()["total"] == 0


def test_token_names_are_unique_409_naming_the_field(world: World) -> None:
    """A second unrevoked token with a name is refused (409 at `name`) by the API; the
    database refuses it too (partial unique index); a revoked token's name is free again."""
    assert _create(world, name="desk").status_code == 201
    dup = _create(world, name="desk")
    assert dup.status_code == 409
    assert dup.json()["error"]["fields"][0]["field"] == "name"
    assert "desk" in dup.json()["error"]["message_zh"]

    def sneak(session: Any) -> None:
        session.add(ApiToken(name="desk", role=Role.viewer, token_hash=hash_secret("x"),
                             prefix="rlf_x"))
        session.flush()

    with pytest.raises(IntegrityError):
        world.db.write(sneak)
    token_id = world.admin.get("/tokens", name="desk").json()["items"][0]["id"]
    assert world.admin.post(f"/tokens/{token_id}/revoke").status_code == 200
    assert _create(world, name="desk").status_code == 201


def test_create_and_revoke_are_audited_with_the_admin_as_actor(world: World) -> None:
    """POST /tokens and /tokens/{id}/revoke leave token.create and token.revoke rows naming
    the admin; the secret stops working at once; the secret appears in no audit row."""
    made = _create(world, name="ops", role="depot_manager", depots=["CTY"]).json()
    secret, token_id = made["secret"], made["token"]["id"]
    assert made["token"]["depots"] == ["CTY"] and secret.startswith("rlf_")
    assert Api(world.client, secret).get("/me").status_code == 200
    assert world.manager.post(f"/tokens/{token_id}/revoke").status_code == 403
    assert world.admin.post(f"/tokens/{token_id}/revoke").status_code == 200
    assert Api(world.client, secret).get("/me").status_code == 401
    assert world.admin.post(f"/tokens/{token_id}/revoke").status_code == 409
    created, revoked = _audit(world, "token.create")[-1], _audit(world, "token.revoke")[-1]
    assert created.actor == revoked.actor == "admin:test-admin"
    assert created.entity_id == revoked.entity_id == str(token_id)
    assert created.details["name"] == "ops" and secret not in str(created.details)


def test_create_checks_role_and_depots(world: World) -> None:
    """Depot managers need a depot; depots must exist; only admins create tokens."""
    r = _create(world, name="m", role="depot_manager")
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "depots"
    assert _create(world, name="m", role="depot_manager", depots=["NOPE"]).status_code == 404
    assert world.manager.post("/tokens", {"name": "x", "role": "admin"}).status_code == 403
    nul = _create(world, name="a\x00b")
    assert nul.status_code == 422 and nul.json()["error"]["fields"][0]["field"] == "name"
    assert world.admin.get("/audit", actor="a\x00").status_code == 422


def test_create_replays_without_the_secret(world: World) -> None:
    """A retry with the same Idempotency-Key creates nothing and answers without the secret
    (secrets are never stored, not even for replays)."""
    body = {"name": "retry", "role": "viewer"}
    first = world.admin.post("/tokens", body, key="k-1")
    again = world.admin.post("/tokens", body, key="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json()["secret"] and again.json()["secret"] is None
    assert again.json()["token"] == first.json()["token"]
    assert world.admin.get("/tokens", name="retry").json()["total"] == 1


def test_rotation_gives_a_new_secret_to_the_same_identity(world: World) -> None:
    """POST /tokens/{id}/rotate: the new secret acts as the same name, role and depots; the
    old secret gets 401; the old row is revoked and the new one points at it; audited."""
    old_id = world.admin.get("/tokens", name="test-depot_manager").json()["items"][0]["id"]
    r = world.admin.post(f"/tokens/{old_id}/rotate")
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["replaces"] == old_id and out["token"]["rotated_from"] == old_id
    assert out["token"]["name"] == "test-depot_manager"
    new = Api(world.client, out["secret"])
    me = new.get("/me").json()
    assert me == {"name": "test-depot_manager", "role": "depot_manager",
                  "depots": ["CTY", "TWN"], "scopes": []}
    assert new.post("/stock/receipts", {"depot": "CTY", "item": TENT, "quantity": 1}
                    ).status_code == 201
    assert world.manager.get("/me").status_code == 401
    assert world.admin.post(f"/tokens/{old_id}/rotate").status_code == 409
    event = _audit(world, "token.rotate")[-1]
    assert event.actor == "admin:test-admin" and event.details["replaces"] == old_id


def test_rotation_keeps_or_sets_the_expiry(world: World) -> None:
    """Without a body the old expiry is kept; an expired token must be given a new one."""
    until = (utcnow() + timedelta(days=3)).replace(microsecond=0)
    made = _create(world, name="e", expires_at=until.isoformat()).json()
    kept = world.admin.post(f"/tokens/{made['token']['id']}/rotate").json()
    assert datetime.fromisoformat(kept["token"]["expires_at"]).astimezone(UTC) == until
    token_id = kept["token"]["id"]
    world.db.write(lambda s: s.execute(update(ApiToken).where(ApiToken.id == token_id)
                                       .values(expires_at=utcnow() - timedelta(seconds=1))))
    refused = world.admin.post(f"/tokens/{token_id}/rotate")
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "expires_at"
    renewed = world.admin.post(f"/tokens/{token_id}/rotate", {"expires_at": None})
    assert renewed.status_code == 201 and renewed.json()["token"]["expires_at"] is None
    assert Api(world.client, renewed.json()["secret"]).get("/me").status_code == 200


def test_concurrent_rotations_of_one_token_leave_exactly_one_successor(world: World) -> None:
    """Eight admins rotate the same token at once: one 201, the rest 409; exactly one
    unrevoked token keeps the name and it is the one the winner got."""
    old_id = world.admin.get("/tokens", name="test-viewer").json()["items"][0]["id"]
    results: list[Any] = []
    barrier = threading.Barrier(8)

    def rotate() -> None:
        barrier.wait()
        results.append(world.admin.post(f"/tokens/{old_id}/rotate"))

    threads = [threading.Thread(target=rotate) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [201] + [409] * 7, [r.text for r in results]
    with world.db.read_session() as s:
        alive = list(s.execute(select(ApiToken).where(ApiToken.name == "test-viewer",
                                                      ApiToken.revoked_at.is_(None))).scalars())
    winner = next(r for r in results if r.status_code == 201).json()
    assert [t.id for t in alive] == [winner["token"]["id"]]


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A CLI runner aimed at the world's database."""
    monkeypatch.setenv("RELIEF_DATABASE_URL",
                       world.db.engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_create_rotate_revoke(world: World, cli: CliRunner) -> None:
    """`relief token create|rotate|revoke`: a taken name exits 1 with the Chinese message;
    rotate prints a working secret and kills the old; revoke names exactly one token; each
    step audited as the CLI user given by --actor."""
    made = cli.invoke(cli_app, ["token", "create", "--role", "viewer", "--name", "kiosk",
                                "--expires-in-days", "30", "--actor", "ops"])
    assert made.exit_code == 0, made.output
    first = made.output.strip().splitlines()[-1]
    dup = cli.invoke(cli_app, ["token", "create", "--role", "viewer", "--name", "kiosk"])
    assert dup.exit_code == 1 and "kiosk" in dup.output
    rotated = cli.invoke(cli_app, ["token", "rotate", "--name", "kiosk", "--actor", "ops"])
    assert rotated.exit_code == 0, rotated.output
    second = rotated.output.strip().splitlines()[-1]
    assert Api(world.client, first).get("/me").status_code == 401
    assert Api(world.client, second).get("/me").status_code == 200
    revoked = cli.invoke(cli_app, ["token", "revoke", "--name", "kiosk", "--actor", "ops"])
    assert revoked.exit_code == 0, revoked.output
    assert Api(world.client, second).get("/me").status_code == 401
    assert cli.invoke(cli_app, ["token", "revoke", "--name", "kiosk"]).exit_code == 1
    actors = {(e.action, e.actor) for action in ("token.create", "token.rotate", "token.revoke")
              for e in _audit(world, action) if e.details.get("name") == "kiosk"}
    assert actors == {("token.create", "cli:ops"), ("token.rotate", "cli:ops"),
                      ("token.revoke", "cli:ops")}


def test_migration_renames_duplicate_names_and_fills_audit_depots(db: Database,
                                                                  db_url: str) -> None:
    """Upgrading a database where two unrevoked tokens share a name keeps the oldest name and
    renames the other `<name> #<id>` (both still work); earlier audit events get their depot
    (depot rows by code, lot quality changes by details.depot)."""
    from sqlalchemy import text

    from relief.app import migrations
    from relief.platform.db import make_engine

    migrations.downgrade(db_url, "0013")
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            for name in ("dup", "dup", "other"):
                conn.execute(text(
                    "INSERT INTO api_token (name, role, token_hash, prefix, depots, scopes, "
                    "created_at) VALUES (:n, 'viewer', :h, 'rlf_', '[]', '[]', "
                    "CURRENT_TIMESTAMP)"), {"n": name, "h": hash_secret(f"{name}{utcnow()}")})
            for entity, entity_id, details in (("depot", "CTY", "{}"),
                                               ("lot", "7", '{"depot": "CTY2"}'),
                                               ("item", "1", "{}")):
                conn.execute(text(
                    "INSERT INTO audit_event (at, actor, action, entity, entity_id, details) "
                    "VALUES (CURRENT_TIMESTAMP, 'a', 'x', :e, :i, :d)"),
                    {"e": entity, "i": entity_id, "d": details})
        migrations.upgrade(db_url)
        with engine.begin() as conn:
            names = [r[0] for r in conn.execute(text(
                "SELECT name FROM api_token ORDER BY id"))]
            depots = [r[0] for r in conn.execute(text(
                "SELECT depot FROM audit_event ORDER BY id"))]
            ids = [r[0] for r in conn.execute(text("SELECT id FROM api_token ORDER BY id"))]
            conn.execute(text("DELETE FROM audit_event"))
            conn.execute(text("DELETE FROM api_token"))
    finally:
        engine.dispose()
    assert names == ["dup", f"dup #{ids[1]}", "other"]
    assert depots == ["CTY", "CTY2", None]
