"""Provincial sources in planning: an imported provincial depot is a source of tier province,
ready after the lead time the province reports, and a plan escalates to it when the city's own
stock cannot cover the need."""

from __future__ import annotations

from datetime import timedelta

from exchange.models import Entity
from relief.platform.dbtypes import utcnow
from relief.platform.models import Role
from relief.platform.settings import Settings
from tests.exchange.conftest import Exchange
from tests.exchange.province import P_QUILT, stock, warehouse
from tests.world import QUILT, Api, make_token

NEEDS = {"days": 1, "household_size": 3, "per_person": {QUILT: 1}}


def test_plan_draws_on_an_imported_provincial_depot(exchange: Exchange, settings: Settings
                                                    ) -> None:
    """Local stock covers 20 quilts of a 150-person need; the plan loads the rest at the
    provincial depot no earlier than its reported 2-hour lead time, the summary still passes
    the checker, and approving it needs the draw:province scope."""
    world = exchange.world
    exchange.push(Entity.warehouses, [warehouse("CK9", XZQHDM="320682", JD=120.62, WD=32.24,
                                                XYSJ=2)])
    exchange.push(Entity.stock, [stock("CK9", P_QUILT, 400)], batch="KC-9")
    provincial = world.admin.get("/exchange/provincial-depots").json()[0]["code"]
    world.receive("CTY", QUILT, 20, lot="LOCAL")
    for plate, depot in (("苏F-L1", "CTY"), ("苏-省1", provincial)):
        assert world.admin.post("/vehicles", {"plate": plate, "depot": depot,
                                              "capacity_kg": 8000, "capacity_m3": 40}
                                ).status_code == 201
    assert settings.planner == "inline"  # the world's app plans in the test's process
    client = world.client
    api = world.dispatcher
    onset = (utcnow() - timedelta(minutes=10)).isoformat()
    incident = api.post("/incidents", {"kind": "flood", "name": "江堤险情", "onset": onset,
                                       "needs": NEEDS}).json()["id"]
    assert api.post(f"/incidents/{incident}/sites", {
        "code": "P-1", "name": "安置点", "lat": 32.12, "lon": 121.0, "people": 150,
        "reported_by": "王"}).status_code == 201
    job = api.post(f"/incidents/{incident}/plans", {"time_limit_s": 3}).json()
    client.app.state.runner.wait(job["id"], timeout=120)
    plan = api.get(f"/incidents/{incident}/plans/{job['id']}").json()
    assert plan["status"] == "succeeded" and plan["verdict"]["ok"], plan
    source = next(s for s in plan["scenario"]["sources"] if s["id"] == provincial)
    assert source["tier"] == "province"
    assert source["ready_min"] == plan["as_of_min"] + 120
    trips = [t for r in plan["plan"]["routes"] for t in r["trips"]]
    from_province = [t for t in trips if t["source"] == provincial]
    assert from_province, trips
    assert sum(t["load"].get(QUILT, 0) for t in trips) == 150
    assert all(t["depart_min"] >= source["ready_min"] + source["load_min"]
               for t in from_province)
    # Lower tier first: all local quilts are used before the province's.
    assert sum(t["load"].get(QUILT, 0) for t in trips if t["source"] == "CTY") == 20
    no_scope = Api(client, make_token(world.db, Role.dispatcher, scopes=["draw:city"],
                                      name="no-province"))
    denied = no_scope.post(f"/incidents/{incident}/plans/{job['id']}/approve")
    assert denied.status_code == 403
    scoped = Api(client, make_token(world.db, Role.dispatcher, scopes=["draw:province"],
                                    name="province"))
    assert scoped.post(f"/incidents/{incident}/plans/{job['id']}/approve").status_code == 200
    world.ledger_ok()
