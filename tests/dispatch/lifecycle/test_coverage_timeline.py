"""The coverage timeline tells what happened: the approval, each confirmed delivery and each
trip actually cancelled (a confirmed stop is not a cancellation), in words from the catalogue."""

from __future__ import annotations

from relief.platform.messages import render
from tests.dispatch.lifecycle.helpers import approve, incident, plan
from tests.world import World


def test_timeline_shows_only_events_that_happened(desk: World) -> None:
    """One trip delivered in full, one cancelled before leaving: the timeline has the
    approval, the deliveries, and exactly one cancellation naming the cancelled trip."""
    world, api = desk, desk.dispatcher
    inc = incident(api)
    job = plan(world, api, inc)
    trips = approve(api, inc, job["id"])
    assert len(trips) >= 2, trips
    done, dropped = trips[0], trips[1]
    assert api.post(f"/shipments/{done['id']}/depart").status_code == 200
    for stop in done["stops"]:
        assert api.post(f"/shipments/{done['id']}/stops/{stop['seq']}/confirm",
                        {}).status_code == 200
    assert api.post(f"/shipments/{dropped['id']}/cancel",
                    {"reason": "桥梁封闭"}).status_code == 200
    timeline = api.get(f"/incidents/{inc}/coverage").json()["timeline"]
    events = [p["event"] for p in timeline]
    assert events[0] == "plan_approved" and timeline[0]["plan"] == job["id"]
    assert events.count("delivery_confirmed") >= 1
    cancelled = [p for p in timeline if p["event"] == "trip_cancelled"]
    assert [p["shipment"] for p in cancelled] == [dropped["id"]]
    assert cancelled[0]["label_zh"] == render("coverage.trip_cancelled", "zh",
                                              {"shipment": dropped["id"]})
    assert all(p["label_zh"] and p["label"] for p in timeline)
    times = [p["at"] for p in timeline]
    assert times == sorted(times)
