"""Ad-hoc points are checked against the real map, through the API, on both databases: a point
in the Yangtze, in the sea or outside Nantong is a 422 naming lat and lon that writes nothing;
a point on land is accepted."""

from __future__ import annotations

import pytest

from tests.world import World

POINTS_REFUSED = [
    (31.90, 120.90, "water"),  # the Yangtze off the city centre
    (32.55, 121.00, "water"),  # the Yellow Sea off 洋口港
    (31.23, 121.47, "outside"),  # Shanghai
]


def _incident(world: World) -> int:
    r = world.dispatcher.post("/incidents", {"kind": "flood", "name": "测试",
                                             "onset": "2026-08-01T06:00:00+08:00"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


@pytest.mark.parametrize(("lat", "lon", "where"), POINTS_REFUSED)
def test_a_point_off_land_or_outside_the_city_is_refused(world: World, lat: float, lon: float,
                                                         where: str) -> None:
    """422 with code point_not_in_nantong, both coordinates named, and no site written."""
    incident = _incident(world)
    r = world.dispatcher.post(f"/incidents/{incident}/sites", {
        "code": "P-X", "name": "江心", "lat": lat, "lon": lon, "people": 10,
        "reported_by": "王"})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "point_not_in_nantong"
    assert {f["field"] for f in error["fields"]} == {"lat", "lon"}
    assert error["details"]["where"] == where
    assert world.viewer.get(f"/incidents/{incident}").json()["sites"] == []


def test_a_point_on_land_in_nantong_is_accepted(world: World) -> None:
    """A point in Tongzhou is added as a site."""
    incident = _incident(world)
    r = world.dispatcher.post(f"/incidents/{incident}/sites", {
        "code": "P-1", "name": "西亭安置点", "lat": 32.10, "lon": 121.00, "people": 10,
        "reported_by": "王"})
    assert r.status_code == 201, r.text
    assert [s["code"] for s in world.viewer.get(f"/incidents/{incident}").json()["sites"]] \
        == ["P-1"]
