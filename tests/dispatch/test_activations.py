"""Reserve activations through the API and the CLI, on both databases: an activation is an
event whose time starts the reserve's lead time, plans of the incident draw on what was
activated and nothing more, and activations are listed and withdrawn
(tests/world.py network: the agreement enterprise AGR near 如皋)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from dispatch import live
from dispatch.models import Incident, IncidentKind, SiteKind
from dispatch.models.incidents import AffectedSite
from relief.app.cli import app as cli_app
from relief.platform.dbtypes import utcnow
from relief.platform.models import Role
from relief.platform.settings import Settings, get_settings
from tests.dispatch.lifecycle import helpers
from tests.world import QUILT, TENT, TODAY, WATER, Api, World, make_token

# Two ad-hoc sites near 如皋 (the AGR enterprise is at 32.2, 120.6).
SITES = [("R-1", "如城安置点", 32.23, 120.57, 80), ("R-2", "东陈安置点", 32.27, 120.63, 60)]


@pytest.fixture
def desk(world: World, settings: Settings) -> Iterator[World]:
    """Quilts and tents at the county depot CTY2, water only under the AGR contract (600 cases,
    lead time 2 h), a truck at each; the planner runs in-process."""
    world.receive("CTY2", QUILT, 300, lot="Q-R")
    world.receive("CTY2", TENT, 80, lot="T-R")
    contract = world.admin.post("/agreements", {
        "depot": "AGR", "item": WATER, "committed_quantity": 600, "lead_time_hours": 2,
        "valid_from": (TODAY - timedelta(days=30)).isoformat(),
        "valid_to": (TODAY + timedelta(days=300)).isoformat(), "contract_ref": "协议-水-01"})
    assert contract.status_code == 201, contract.text
    world.contract = contract.json()["id"]  # type: ignore[attr-defined]
    producer = world.admin.post("/capacity-reserves", {
        "depot": "AGR", "item": TENT, "units_per_day": 240, "lead_time_hours": 4})
    assert producer.status_code == 201, producer.text
    world.producer = producer.json()["id"]  # type: ignore[attr-defined]
    trucks = [("苏F-R1", "CTY2", 8000, 40), ("苏F-G1", "AGR", 8000, 40)]
    yield from helpers.stocked_desk(world, settings, trucks=trucks, stock=[], drivers=False)


def _incident(api: Api, onset: datetime) -> int:
    return helpers.incident(api, sites=SITES, onset=onset, name="如皋内涝")


def _build(world: World, incident: int, now: datetime | None = None) -> live.LiveScenario:
    with world.db.read_session() as session:
        return live.build(session, session.get_one(Incident, incident), now=now or utcnow(),
                          today=TODAY, time_limit_s=3)


def _contract_sources(built: live.LiveScenario) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in built.scenario["sources"] if s["tier"] in ("agreement",
                                                                          "capacity")}


def test_lead_time_counts_from_the_activation_not_from_each_plan(desk: World) -> None:
    """Without an activation the contract offers plans nothing; activated at onset with a 2 h
    lead time, its water is ready at +120 min, and a plan built at +180 min finds it ready
    now (the lead time does not restart); the quantity offered is the quantity activated."""
    world, api = desk, desk.dispatcher
    onset = utcnow() - timedelta(minutes=180)
    incident = _incident(api, onset)
    assert _contract_sources(_build(world, incident)) == {}
    r = api.post(f"/incidents/{incident}/activations", {
        "agreement": world.contract, "quantity": 250,  # type: ignore[attr-defined]
        "activated_at": onset.isoformat(), "note": "电话通知"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["activated_min"] == 0 and body["kind"] == "agreement"
    assert body["quantity"] == 250 and body["drawn"] == 0 and body["depot"] == "AGR"
    built = _build(world, incident)
    source = _contract_sources(built)["AGR:AGR"]
    assert source["stock"] == {WATER: 250}
    assert source["ready_min"] == built.as_of_min  # ready since +120: ready now
    # A second call made now is ready two hours from now: a separate source.
    later = api.post(f"/incidents/{incident}/activations", {
        "agreement": world.contract, "quantity": 100})  # type: ignore[attr-defined]
    assert later.status_code == 201, later.text
    sources = _contract_sources(_build(world, incident))
    assert sorted(s["stock"][WATER] for s in sources.values()) == [100, 250]
    assert max(s["ready_min"] for s in sources.values()) >= built.as_of_min + 119


def test_an_incident_with_a_future_onset_activates_before_it(desk: World) -> None:
    """Activated 3 hours before landfall with a 2 h lead time, the water is ready at onset;
    a capacity reserve activated then (4 h lead) offers what it makes from +60 min to the
    deadline, at most the quantity called."""
    world, api = desk, desk.dispatcher
    onset = utcnow() + timedelta(hours=3)
    incident = _incident(api, onset)
    assert api.post(f"/incidents/{incident}/activations", {
        "agreement": world.contract, "quantity": 600}).status_code == 201  # type: ignore
    assert api.post(f"/incidents/{incident}/activations", {
        "capacity": world.producer, "quantity": 500}).status_code == 201  # type: ignore
    built = _build(world, incident)
    assert built.as_of_min == 0
    sources = _contract_sources(built)
    assert sources["AGR:AGR"]["ready_min"] == 0 and sources["AGR:AGR"]["stock"] == {WATER: 600}
    cap = sources["CAP:AGR"]
    assert 59 <= cap["ready_min"] <= 61
    # 240 a day from about +60 to +600 min: 90 tents, fewer than the 500 called.
    assert cap["stock"] == {TENT: 90}
    listed = api.get(f"/incidents/{incident}/activations").json()
    assert [a["activated_min"] < -170 for a in listed] == [True, True]


def test_plans_draw_only_what_was_activated_and_cancel_follows_the_draws(desk: World) -> None:
    """A plan takes at most the 40 cases activated; approval records the draw on the
    activation; the contract cannot be activated past its committed quantity; an activation
    drawn on cannot be withdrawn until the trips drawing on it are cancelled."""
    world, api = desk, desk.dispatcher
    incident = _incident(api, utcnow() - timedelta(minutes=150))
    act = api.post(f"/incidents/{incident}/activations", {
        "agreement": world.contract, "quantity": 40,  # type: ignore[attr-defined]
        "activated_at": (utcnow() - timedelta(minutes=150)).isoformat()}).json()
    job = api.post(f"/incidents/{incident}/plans", {"time_limit_s": 3}).json()
    world.client.app.state.runner.wait(job["id"], timeout=120)
    plan = api.get(f"/incidents/{incident}/plans/{job['id']}").json()
    assert plan["status"] == "succeeded" and plan["verdict"]["ok"], plan
    water = sum(t["load"].get(WATER, 0) for r in plan["plan"]["routes"] for t in r["trips"]
                if t["source"].startswith("AGR:"))
    assert 0 < water <= 40
    assert api.post(f"/incidents/{incident}/plans/{job['id']}/approve").status_code == 200
    listed = api.get(f"/incidents/{incident}/activations").json()
    assert listed[0]["drawn"] == water
    # 600 committed, 40 activated: at most 560 more.
    too_many = api.post(f"/incidents/{incident}/activations", {
        "agreement": world.contract, "quantity": 561})  # type: ignore[attr-defined]
    assert too_many.status_code == 409, too_many.text
    error = too_many.json()["error"]
    assert error["fields"][0]["field"] == "quantity" and error["details"]["open"] == 560
    refused = api.post(f"/incidents/{incident}/activations/{act['id']}/cancel",
                       {"reason": "企业无法供货"})
    assert refused.status_code == 409 and refused.json()["error"]["details"]["drawn"] == water
    for trip in api.get(f"/incidents/{incident}/shipments").json():
        if trip["source"] == "AGR":
            assert api.post(f"/shipments/{trip['id']}/cancel",
                            {"reason": "改派"}).status_code == 200
    done = api.post(f"/incidents/{incident}/activations/{act['id']}/cancel",
                    {"reason": "企业无法供货"})
    assert done.status_code == 200, done.text
    assert done.json()["cancelled_by"] and done.json()["cancel_reason"] == "企业无法供货"
    assert _contract_sources(_build(world, incident)) == {}
    again = api.post(f"/incidents/{incident}/activations/{act['id']}/cancel", {"reason": "x"})
    assert again.status_code == 409
    world.ledger_ok()


def test_activation_input_scope_and_idempotency(desk: World) -> None:
    """Bad input is a 4xx naming the field; activating needs draw:agreement; a repeated
    Idempotency-Key returns the first activation and writes nothing more."""
    world, api = desk, desk.dispatcher
    incident = _incident(api, utcnow() - timedelta(minutes=30))
    path = f"/incidents/{incident}/activations"
    contract = world.contract  # type: ignore[attr-defined]
    cases = [
        ({"agreement": contract, "capacity": world.producer, "quantity": 1}, 422,  # type: ignore
         None),
        ({"agreement": contract, "quantity": 0}, 422, "quantity"),
        ({"agreement": 999_999, "quantity": 5}, 404, "agreement"),
        ({"agreement": contract, "quantity": 5,
          "activated_at": (utcnow() + timedelta(hours=1)).isoformat()}, 422, "activated_at"),
        ({"agreement": contract, "quantity": 5,
          "activated_at": (utcnow() - timedelta(days=3)).isoformat()}, 422, "activated_at"),
        ({"agreement": contract, "quantity": 5, "activated_at": "2026-08-01T06:00:00"}, 422,
         None),
    ]
    for body, status, field in cases:
        r = api.post(path, body)
        assert r.status_code == status, (body, r.text)
        error = r.json()["error"]
        assert error["message_zh"]
        if field:
            assert field in {f["field"].split(".")[-1] for f in error["fields"]}, error
    bare = Api(world.client, make_token(world.db, Role.dispatcher, name="no-scope"))
    denied = bare.post(path, {"agreement": contract, "quantity": 5})
    assert denied.status_code == 403 and denied.json()["error"]["details"] == {
        "scope": "draw:agreement"}
    assert world.viewer.post(path, {"agreement": contract, "quantity": 5}).status_code == 403
    first = api.post(path, {"agreement": contract, "quantity": 5}, key="act-1")
    second = api.post(path, {"agreement": contract, "quantity": 5}, key="act-1")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert len(api.get(path).json()) == 1
    assert world.viewer.get(path).status_code == 200


def test_readiness_counts_open_volume_as_activated_at_onset(desk: World) -> None:
    """A hypothetical incident (readiness' what-if) counts each reserve's volume that no
    incident has activated as activated at its onset: the contract less what a real incident
    called, ready after the lead time; the producer's output from its lead time on."""
    world, api = desk, desk.dispatcher
    incident = _incident(api, utcnow() - timedelta(minutes=10))
    assert api.post(f"/incidents/{incident}/activations", {
        "agreement": world.contract, "quantity": 150}).status_code == 201  # type: ignore
    now = utcnow()
    with world.db.read_session() as session:
        draft = Incident(kind=IncidentKind.typhoon, name="what if", onset=now, created_by="t",
                         needs=helpers.NEEDS)
        sites = [AffectedSite(incident_id=0, code=code, name=name, kind=SiteKind.point, lat=lat,
                              lon=lon, people=people) for code, name, lat, lon, people in SITES]
        built = live.build(session, draft, now=now, today=TODAY, time_limit_s=3, sites=sites)
    sources = _contract_sources(built)
    assert sources["AGR:AGR"]["stock"] == {WATER: 450} and sources["AGR:AGR"]["ready_min"] == 120
    assert sources["CAP:AGR"]["stock"] == {TENT: 60} and sources["CAP:AGR"]["ready_min"] == 240


def test_cli_activates_lists_and_cancels(desk: World, db_url: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`relief incident activate / activations / cancel-activation` do what the API does."""
    world = desk
    incident = _incident(world.dispatcher, utcnow() - timedelta(minutes=20))
    monkeypatch.setenv("RELIEF_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        made = runner.invoke(cli_app, ["incident", "activate", str(incident), "--agreement",
                                       str(world.contract), "--quantity", "70"])  # type: ignore
        assert made.exit_code == 0, made.output
        activation = int(made.output.split()[1].rstrip(":"))
        shown = runner.invoke(cli_app, ["incident", "activations", str(incident)])
        assert shown.exit_code == 0 and "AGR" in shown.output and "70" in shown.output
        gone = runner.invoke(cli_app, ["incident", "cancel-activation", str(incident),
                                       str(activation), "--reason", "误操作"])
        assert gone.exit_code == 0, gone.output
    finally:
        get_settings.cache_clear()
    listed = world.viewer.get(f"/incidents/{incident}/activations").json()
    assert listed[0]["cancelled_at"] and listed[0]["activated_by"] == "cli:cli"
