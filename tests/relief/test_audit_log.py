"""The audit log (issue 16 item 6): reservation releases attributed; the log readable in the API
(admins everything, depot managers their depots' events only, by any filter), with filters,
paging and CSV/xlsx export whose formula-looking texts stay text. Both databases."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from openpyxl import load_workbook

from relief.platform.audit import record
from relief.platform.dbtypes import utcnow
from tests.world import QUILT, TENT, World


def _reserve_and_release(world: World, depot: str, reference: str) -> int:
    world.receive(depot, TENT, 10, lot=f"{depot}-{reference}")
    r = world.dispatcher.post("/stock/reservations", {"depot": depot, "item": TENT,
                                                      "quantity": 4, "reference": reference})
    assert r.status_code == 201, r.text
    reservation_id = int(r.json()["id"])
    done = world.dispatcher.post(f"/stock/reservations/{reservation_id}/release", {})
    assert done.status_code == 200, done.text
    return reservation_id


def _events(world: World, api: Any = None, **params: Any) -> Any:
    r = (api or world.admin).get("/audit", **params)
    assert r.status_code == 200, r.text
    return r.json()


def _quality(world: World, depot: str, lot: str, manager: Any) -> None:
    body = world.receive(depot, QUILT, 5, lot=lot)
    lot_id = body["moves"][0]["lot_id"]
    r = manager.post(f"/stock/lots/{lot_id}/quality", {"status": "quarantine",
                                                       "reason": "mould"})
    assert r.status_code == 200, r.text


def test_reservation_release_is_attributed_to_its_actor_and_depot(world: World) -> None:
    """Releasing a reservation leaves a reservation.release event naming the dispatcher, the
    depot and the quantity given back."""
    reservation_id = _reserve_and_release(world, "CTY", "PLAN-7")
    items = _events(world, action="reservation.release")["items"]
    assert len(items) == 1
    event = items[0]
    assert event["actor"] == "dispatcher:test-dispatcher" and event["depot"] == "CTY"
    assert event["entity"] == "reservation" and event["entity_id"] == str(reservation_id)
    assert event["details"]["quantity"] == 4 and event["details"]["state"] == "released"


def _scenario(world: World) -> dict[str, int]:
    """Events at CTY (the manager's), at CTY2 (not theirs) and network-wide."""
    _reserve_and_release(world, "CTY", "A")
    _reserve_and_release(world, "CTY2", "B")
    _quality(world, "CTY", "QA", world.manager)
    _quality(world, "CTY2", "QB", world.manager2)
    world.admin.post("/tokens", {"name": "extra", "role": "viewer"})
    foreign = {e["id"] for e in _events(world, depot="CTY2")["items"]}
    assert len(foreign) == 2
    return {"foreign": len(foreign)}


def test_admin_reads_everything_and_filters(world: World) -> None:
    """Admins see every event; filters by actor, action (or family), depot and entity narrow
    it; total counts the matches; limit/offset page through them newest first."""
    _scenario(world)
    everything = _events(world, limit=1000)
    assert everything["total"] == len(everything["items"]) >= 5
    ats = [(e["at"], e["id"]) for e in everything["items"]]
    assert ats == sorted(ats, reverse=True)
    assert {e["depot"] for e in everything["items"]} >= {"CTY", "CTY2", None}
    by_actor = _events(world, actor="depot_manager:m2")["items"]
    assert by_actor and {e["actor"] for e in by_actor} == {"depot_manager:m2"}
    family = _events(world, action="token")["items"]
    assert family and {e["action"] for e in family} <= {"token.create", "token.revoke",
                                                        "token.rotate"}
    assert _events(world, action="lot.quality", depot="CTY")["total"] == 1
    first, second = _events(world, limit=2, offset=0), _events(world, limit=2, offset=2)
    assert first["total"] == second["total"] == everything["total"]
    assert [e["id"] for e in first["items"] + second["items"]] == \
        [e["id"] for e in everything["items"][:4]]


def test_time_range_filters_and_their_validation(world: World) -> None:
    """since is inclusive, until exclusive; both need a time zone and a year within
    2000-2100 (422 at the field, never an overflow), and until must follow since."""
    _reserve_and_release(world, "CTY", "T")
    now = utcnow()
    assert _events(world, since=(now - timedelta(minutes=5)).isoformat())["total"] >= 1
    assert _events(world, since=(now + timedelta(minutes=5)).isoformat())["total"] == 0
    assert _events(world, until=(now - timedelta(minutes=5)).isoformat())["total"] == 0
    naive = world.admin.get("/audit", since="2026-01-01T00:00:00")
    assert naive.status_code == 422
    assert naive.json()["error"]["fields"][0]["field"] == "since"
    for far in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):
        for name in ("since", "until"):
            r = world.admin.get("/audit", **{name: far})
            assert r.status_code == 422, (name, far, r.text)
            assert r.json()["error"]["fields"][0]["field"] == name
    order = world.admin.get("/audit", since=now.isoformat(),
                            until=(now - timedelta(hours=1)).isoformat())
    assert order.status_code == 422 and order.json()["error"]["message_zh"]


def test_a_manager_reads_only_their_depots_by_any_filter(world: World) -> None:
    """The manager of CTY and TWN never gets a CTY2 event (nor a network-wide one), whatever
    the filters, paging or export; naming CTY2 is a 403 in Chinese."""
    _scenario(world)
    admin_all = _events(world, limit=1000)["items"]
    foreign = {e["id"] for e in admin_all if e["depot"] not in ("CTY", "TWN")}
    cty2 = next(e for e in admin_all if e["depot"] == "CTY2")
    assert foreign
    now = utcnow()
    attempts: list[dict[str, Any]] = [
        {}, {"limit": 1000}, {"offset": 1}, {"actor": cty2["actor"]},
        {"actor": "depot_manager:m2"}, {"action": cty2["action"]}, {"action": "token"},
        {"action": "lot"}, {"entity": cty2["entity"], "entity_id": cty2["entity_id"]},
        {"since": (now - timedelta(days=1)).isoformat(),
         "until": (now + timedelta(days=1)).isoformat()},
        {"action": "lot.quality%"}, {"actor": "%"}, {"depot": "CTY"}, {"depot": "TWN"},
    ]
    seen_own = set()
    for params in attempts:
        page = _events(world, world.manager, **params)
        ids = {e["id"] for e in page["items"]}
        assert not ids & foreign, params
        assert {e["depot"] for e in page["items"]} <= {"CTY", "TWN"}, params
        assert page["total"] == len(ids) or params.get("offset"), params
        seen_own |= ids
    assert seen_own  # the manager does see their own depot's events
    for depot in ("CTY2", "AGR", "NOPE"):
        refused = world.manager.get("/audit", depot=depot)
        assert refused.status_code == 403, depot
        assert "无权查看" in refused.json()["error"]["message_zh"]
    export = world.manager.client.get("/api/v1/audit/export", params={"format": "csv"},
                                      headers={"Authorization": f"Bearer {world.manager.token}"})
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.text.lstrip("\ufeff"))))
    assert rows[0][0] == "时间" and len(rows) - 1 == len(seen_own)
    assert {r[5] for r in rows[1:]} <= {"CTY", "TWN"}
    assert world.manager.client.get(
        "/api/v1/audit/export", params={"depot": "CTY2"},
        headers={"Authorization": f"Bearer {world.manager.token}"}).status_code == 403


def test_other_roles_cannot_read_the_log(world: World) -> None:
    """Viewers and dispatchers get 403 from the log and its export."""
    for api in (world.viewer, world.dispatcher):
        assert api.get("/audit").status_code == 403
        assert api.get("/audit/export").status_code == 403


def test_export_csv_and_xlsx_keep_formulas_as_text(world: World) -> None:
    """Both exports carry every matching event with Chinese headers; a text starting with =,
    +, - or @ is written as text (CSV: a leading '; xlsx: a quote-prefixed string cell),
    never as a formula."""
    world.db.write(lambda s: record(s, actor="admin:x", action="depot.update", entity="depot",
                                    entity_id="CTY", depot="CTY",
                                    note='=HYPERLINK("http://evil.example","x")'))
    _reserve_and_release(world, "CTY", "@SUM(1)")
    headers = {"Authorization": f"Bearer {world.admin.token}"}
    text = world.admin.client.get("/api/v1/audit/export", params={"format": "csv"},
                                  headers=headers)
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(text.text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["时间", "操作人", "操作"]
    notes = [r[7] for r in rows[1:] if r[7]]
    assert notes == ["'=HYPERLINK(\"http://evil.example\",\"x\")"]
    book = world.admin.client.get("/api/v1/audit/export", params={"format": "xlsx",
                                                                  "lang": "en"},
                                  headers=headers)
    assert book.status_code == 200
    sheet = load_workbook(io.BytesIO(book.content)).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "Time" and len(values) == len(rows)
    cells = [c for row in sheet.iter_rows(min_row=2) for c in row]
    assert not [c for c in cells if c.data_type == "f"]
    evil = [c for c in cells if c.value == '=HYPERLINK("http://evil.example","x")']
    assert len(evil) == 1 and evil[0].data_type == "s" and evil[0].quotePrefix
    assert world.admin.get("/audit/export", format="pdf").status_code == 422
