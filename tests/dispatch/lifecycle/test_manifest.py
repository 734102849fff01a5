"""The manifest: driver and phone, load with item names and units, the route in stop order,
depot and site contacts, signature lines; every label from the catalogue, Chinese first."""

from __future__ import annotations

from datetime import timedelta

from relief.platform.dbtypes import utcnow
from relief.platform.messages import CATALOGUE
from supplies.models import Item
from tests.dispatch.lifecycle.helpers import approve, incident, plan
from tests.world import TODAY, World

RICE = "1050103"  # 自热米饭, a food of the default needs standard

SITES = [("P-1", "西亭安置点", 32.10, 121.00, 60), ("P-2", "兴仁安置点", 32.12, 120.95, 45)]


def test_manifest_names_driver_route_contacts_and_signatures(desk: World) -> None:
    """Set a driver and phone; the HTML and CSV manifests carry them, the stops in order with
    their site contact, item names and units, and the signature lines in Chinese."""
    world, api = desk, desk.dispatcher
    inc = incident(api, sites=[])
    for code, name, lat, lon, people in SITES:
        r = api.post(f"/incidents/{inc}/sites", {
            "code": code, "name": name, "lat": lat, "lon": lon, "people": people,
            "contact": f"{name}负责人", "contact_phone": "0513-8888 0000",
            "reported_by": "灾害信息员 王"})
        assert r.status_code == 201, r.text
    job = plan(world, api, inc)
    trip = approve(api, inc, job["id"])[0]
    r = api.post(f"/shipments/{trip['id']}/driver", {"driver": "张师傅", "phone": "139 0000 1111"})
    assert r.status_code == 200, r.text
    assert (r.json()["driver"], r.json()["driver_phone"]) == ("张师傅", "139 0000 1111")
    bad = api.post(f"/shipments/{trip['id']}/driver", {"driver": "张师傅", "phone": "call me"})
    assert bad.status_code == 422 and "phone" in bad.text
    headers = {"Authorization": f"Bearer {world.viewer.token}"}
    html = world.client.get(f"/api/v1/shipments/{trip['id']}/manifest.html", headers=headers)
    assert html.status_code == 200
    text = html.text
    for expected in ("张师傅", "139 0000 1111", trip["source_name"]):
        assert expected in text
    for key in ("manifest.title", "manifest.route", "manifest.receiver_sign",
                "manifest.dispatcher_sign", "manifest.driver_sign", "manifest.return_sign",
                "manifest.site_contact", "manifest.depot_contact"):
        assert CATALOGUE[key][0] in text, key
    positions = [text.index(s["site_name"]) for s in trip["stops"]]
    assert positions == sorted(positions)  # the route lists the stops in order
    for stop in trip["stops"]:
        assert f"{stop['site_name']}负责人" in text
        for line in stop["lines"]:
            assert line["item_name"] in text and line["unit"] in text
    csv = world.client.get(f"/api/v1/shipments/{trip['id']}/manifest.csv", headers=headers)
    assert csv.status_code == 200
    assert CATALOGUE["manifest.item_name"][0] in csv.text and "张师傅" in csv.text
    assert all(line["item_name"] in csv.text for s in trip["stops"] for line in s["lines"])


def test_an_ad_hoc_site_can_be_a_shelter(desk: World) -> None:
    """Under the default needs standard, a point marked sheltered needs no tents: the plan's
    demand there has no shelter need, while an unsheltered point's has."""
    world, api = desk, desk.dispatcher
    # The default standard's food need (tests/world.py has water, tents and quilts).
    world.db.write(lambda s: s.add(Item(code=RICE, name_zh="自热米饭", name_en="ready meal",
                                        category="food", unit="箱", unit_weight_kg=6.0,
                                        unit_volume_m3=0.03, shelf_life_days=365)))
    world.receive("CTY", RICE, 50, lot="R-A", expiry=TODAY + timedelta(days=200))
    r = api.post("/incidents", {"kind": "flood", "name": "学校安置", "onset": utcnow().isoformat()})
    assert r.status_code == 201, r.text
    inc = r.json()["id"]
    for code, sheltered in (("S-1", True), ("S-2", False)):
        r = api.post(f"/incidents/{inc}/sites", {
            "code": code, "name": f"学校{code}", "lat": 32.10, "lon": 121.00, "people": 30,
            "sheltered": sheltered, "reported_by": "灾害信息员 王"})
        assert r.status_code == 201, r.text
        assert r.json()["sheltered"] is sheltered
    job = plan(world, api, inc)
    sites = {s["id"]: s for s in job["scenario"]["sites"]}
    assert sites["S-1"]["sheltered"] and not sites["S-2"]["sheltered"]
    assert "shelter" not in sites["S-1"]["demand"] and "shelter" in sites["S-2"]["demand"]
    shelter = api.post(f"/incidents/{inc}/sites", {"shelter": "CTY", "sheltered": False,
                                                   "people": 1, "reported_by": "王"})
    assert shelter.status_code == 422
