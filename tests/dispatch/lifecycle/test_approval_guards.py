"""Approval's 409 guards: a plan that is not a finished draft, that another approval
superseded, that failed the checker, or whose stock moved since planning is refused and
nothing is written; the stock-moved answer lists each source and item once, complete."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from dispatch.models import DispatchPlan, JobStatus, Shipment
from tests.dispatch.lifecycle.helpers import approve, incident, plan
from tests.world import QUILT, TENT, World


def _nothing_written(world: World, incident_id: int) -> None:
    with world.db.read_session() as s:
        assert s.execute(select(func.count()).select_from(Shipment).where(
            Shipment.incident_id == incident_id)).scalar_one() == 0
    held = world.viewer.get("/stock/reservations", state="active").json()["items"]
    assert held == []
    world.ledger_ok()


def _error(r: Any, status: int, key: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["key"] == key, error
    assert error["message_zh"], error
    return dict(error)


def test_a_job_without_a_plan_is_not_approved(desk: World) -> None:
    """A queued (or failed) job has no plan: 409 plan.not_ready."""
    world, api = desk, desk.dispatcher
    inc = incident(api)

    def queued(s: Any) -> int:
        row = DispatchPlan(incident_id=inc, status=JobStatus.queued, requested_by="test")
        s.add(row)
        s.flush()
        return row.id or 0

    job = world.db.write(queued)
    _error(api.post(f"/incidents/{inc}/plans/{job}/approve"), 409, "plan.not_ready")
    _nothing_written(world, inc)


def test_an_approved_or_superseded_plan_is_not_approved_again(desk: World) -> None:
    """Approving a draft supersedes the incident's other drafts; neither the approved plan
    nor a superseded one can be approved (409 plan.state), and nothing more is reserved."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    one = plan(world, api, inc)
    two = plan(world, api, inc)
    trips = approve(api, inc, one["id"])
    assert api.get(f"/incidents/{inc}/plans/{two['id']}").json()["state"] == "superseded"
    held = sum(r["held"] for r in world.viewer.get(
        "/stock/reservations", state="active").json()["items"])
    _error(api.post(f"/incidents/{inc}/plans/{one['id']}/approve"), 409, "plan.state")
    _error(api.post(f"/incidents/{inc}/plans/{two['id']}/approve"), 409, "plan.state")
    assert len(api.get(f"/incidents/{inc}/shipments").json()) == len(trips)
    assert held == sum(r["held"] for r in world.viewer.get(
        "/stock/reservations", state="active").json()["items"])
    world.ledger_ok()


def test_a_plan_the_checker_rejected_is_not_approved(desk: World) -> None:
    """A plan whose verdict is negative is refused with the verdict in the details."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    bad = {"ok": False, "violations": [{"code": "stock", "path": "routes[0]",
                                        "message": "loads more than the source holds"}]}

    def spoil(s: Any) -> None:
        s.get_one(DispatchPlan, job["id"]).verdict = bad

    world.db.write(spoil)
    error = _error(api.post(f"/incidents/{inc}/plans/{job['id']}/approve"), 409,
                   "plan.checker_failed")
    assert error["details"]["verdict"] == bad
    _nothing_written(world, inc)


def test_stock_moved_lists_each_source_and_item_once_and_complete(desk: World) -> None:
    """Stock taken since planning: nothing is reserved, and the 409 names every source and
    item short once, with the plan's whole load there, what it held when planned and what is
    available now."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    loads: dict[tuple[str, str], int] = defaultdict(int)
    for route in job["plan"]["routes"]:
        for trip in route["trips"]:
            for code, qty in trip["load"].items():
                loads[(trip["source"], code)] += qty
    assert loads[("CTY", QUILT)] > 1 and loads[("CTY", TENT)] > 1, loads
    # Leave one quilt and one tent at the county depot.
    for item, lot, on_hand in ((QUILT, "Q-A", 200), (TENT, "T-A", 60)):
        r = world.manager.post("/stock/issues", {"depot": "CTY", "item": item, "lot": lot,
                                                 "quantity": on_hand - 1,
                                                 "reference": "taken for the test"})
        assert r.status_code == 201, r.text
    error = _error(api.post(f"/incidents/{inc}/plans/{job['id']}/approve"), 409,
                   "plan.stock_moved")
    changes = error["details"]["changes"]
    keys = [(c["source"], c["item"]) for c in changes]
    assert len(keys) == len(set(keys)), changes
    assert set(keys) == {("CTY", QUILT), ("CTY", TENT)}, changes
    held_at_planning = {s["id"]: s["stock"] for s in job["scenario"]["sources"]}
    for c in changes:
        assert c["planned"] == loads[(c["source"], c["item"])]
        assert c["at_planning"] == held_at_planning[c["source"]][c["item"]]
        assert c["available_now"] == 1
        assert c["depot"] == "CTY"
    _nothing_written(world, inc)
    assert api.get(f"/incidents/{inc}/plans/{job['id']}").json()["state"] == "draft"
