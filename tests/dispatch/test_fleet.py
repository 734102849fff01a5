"""The fleet API: vehicles at depots and transport enterprises with theirs."""

from __future__ import annotations

from tests.world import World


def test_register_and_update_vehicles(world: World) -> None:
    """Admins register vehicles at a depot or enterprise; status changes are visible to all."""
    ent = world.admin.post("/transport-enterprises", {
        "code": "TE-X", "name": "物流(测试)", "division_code": "320612", "lat": 32.0,
        "lon": 121.0, "lead_time_hours": 3})
    assert ent.status_code == 201, ent.text
    truck = world.admin.post("/vehicles", {"plate": "苏F-T1", "depot": "CTY",
                                           "capacity_kg": 8000, "capacity_m3": 40})
    assert truck.status_code == 201 and truck.json()["depot"] == "CTY"
    hired = world.admin.post("/vehicles", {"plate": "TE-X-01", "enterprise": "TE-X",
                                           "capacity_kg": 10000, "capacity_m3": 45})
    assert hired.json()["enterprise"] == "TE-X"
    both = world.admin.post("/vehicles", {"plate": "Z", "depot": "CTY", "enterprise": "TE-X",
                                          "capacity_kg": 1, "capacity_m3": 1})
    assert both.status_code == 422
    dup = world.admin.post("/vehicles", {"plate": "苏F-T1", "depot": "CTY",
                                         "capacity_kg": 1, "capacity_m3": 1})
    assert dup.status_code == 409
    assert world.admin.patch("/vehicles/苏F-T1", {"status": "maintenance"}).status_code == 200
    listed = world.viewer.get("/vehicles", status="available").json()
    assert [v["plate"] for v in listed["items"]] == ["TE-X-01"]
    assert world.dispatcher.post("/vehicles", {"plate": "Q", "depot": "CTY",
                                               "capacity_kg": 1, "capacity_m3": 1}
                                 ).status_code == 403
