"""End-to-end console tests in a real browser: Debian's Chromium, headless, driven by Playwright
(no browser download), against uvicorn serving the app on the test database (both backends).

Every page load is checked for script errors and for requests leaving the server (the users'
networks have no internet, so the console must not need any).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dispatch.models import Shipment
from relief.platform.dbtypes import utcnow
from tests.web.bigplan import build
from tests.world import QUILT, TENT, TODAY, WATER, World

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("RELIEF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
FOOD = "1050103"


@pytest.fixture(scope="session")
def browser_context() -> Iterator[Any]:
    """One headless Chromium for the session, with a fresh profile directory."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: make test installs it (.ci/browser-deps)")
    profile = tempfile.mkdtemp(prefix="relief-chromium-")
    with playwright_sync.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, locale="zh-CN")
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


class Page:
    """A browser tab on the live server that records script errors and foreign requests."""

    def __init__(self, context: Any, base: str) -> None:
        context.clear_cookies()
        self.base = base
        self.page = context.new_page()
        self.page.set_default_timeout(30_000)
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", self._request)
        self.dialogs: list[str] = []  # every confirmation asked, accepted
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(str(dialog.message))
        dialog.accept()

    def _request(self, request: Any) -> None:
        if not request.url.startswith((self.base, "data:", "about:")):
            self.foreign.append(request.url)

    def login(self, token: str) -> Any:
        """Log in through the login page."""
        self.page.goto(self.base + "/console/login")
        self.page.fill("#login-token", token)
        self.page.click("#login-submit")
        self.page.wait_for_selector("#whoami")
        return self.page

    def clean(self) -> None:
        """No script error happened and nothing was fetched from outside the server."""
        assert self.errors == [], self.errors
        assert self.foreign == [], self.foreign


@pytest.fixture
def tab(browser_context: Any, live_server: str) -> Iterator[Page]:
    """A fresh tab (no cookies) on the live server."""
    page = Page(browser_context, live_server)
    yield page
    page.page.close()


def _cell(page: Any, item: str, lot: str, column: str) -> str:
    row = f'#stock-table tr[data-item="{item}"][data-lot="{lot}"]'
    return str(page.inner_text(f"{row} td.{column}"))


def test_depot_manager_receives_and_issues_and_sees_the_numbers_change(
        world: World, tab: Page) -> None:
    """A depot manager logs in, sees the map drawn offline, receives and issues stock on the
    depot page, and the stock table shows the new numbers after each form."""
    world.receive("CTY", TENT, 20, lot="T-1")
    page = tab.login(world.manager.token)
    page.wait_for_selector("#map[data-ready='1']")
    assert page.locator("#map .leaflet-interactive").count() > 0  # depots drawn
    assert page.locator("#county-table tbody tr").count() >= 3

    page.goto(tab.base + "/console/depots/CTY")
    assert _cell(page, TENT, "T-1", "on-hand") == "20"
    page.click("#op-receive summary")
    page.select_option("#receive-item", QUILT)
    page.fill("#receive-quantity", "150")
    page.fill("#receive-lot", "Q-2026")
    page.fill("#receive-reference", "PO-77")
    page.click("#receive-submit")
    page.wait_for_selector("#done")
    # The success banner is in view even though the page scrolled to the stock table.
    box = page.locator("#done").bounding_box()
    assert box is not None and 0 <= box["y"] < page.viewport_size["height"]
    assert _cell(page, QUILT, "Q-2026", "on-hand") == "150"
    assert _cell(page, QUILT, "Q-2026", "available") == "150"

    page.click("#op-issue summary")
    page.select_option("#issue-item", QUILT)
    page.fill("#issue-quantity", "40")
    page.fill("#issue-reference", "INC-3 发放")
    page.click("#issue-submit")
    page.wait_for_selector("#done")
    assert _cell(page, QUILT, "Q-2026", "on-hand") == "110"
    assert page.locator("#moves tbody tr").count() >= 3  # the receipts and the issue
    assert world.ledger_ok()
    tab.clean()


def test_bad_form_input_shows_its_error_at_the_field(world: World, tab: Page) -> None:
    """Issuing more than is available keeps the form open with the API's message beside the
    quantity field (marked invalid), keeps what was typed, and changes nothing."""
    world.receive("CTY", TENT, 5, lot="T-1")
    page = tab.login(world.manager.token)
    page.goto(tab.base + "/console/depots/CTY")
    page.click("#op-issue summary")
    page.select_option("#issue-item", TENT)
    page.fill("#issue-quantity", "9")
    page.fill("#issue-reference", "INC-1")
    page.click("#issue-submit")
    error = page.wait_for_selector("#issue-quantity-error")
    assert error.inner_text() == "可用 5,申请 9"  # Chinese, with the numbers
    # The form's summary lists it, and the focus is on the bad field (not the top of the page).
    assert page.inner_text("#issue-error li a") == "可用 5,申请 9"
    page.wait_for_function("() => document.activeElement"
                           " && document.activeElement.id === 'issue-quantity'")
    assert "/console/depots/CTY" in page.url and not page.url.endswith("/issue")
    assert page.get_attribute("#issue-quantity", "aria-invalid") == "true"
    assert page.input_value("#issue-quantity") == "9"
    assert page.is_visible("#issue-quantity-error")  # the form is open, the error in view
    page.fill("#issue-quantity", "0")
    page.click("#issue-submit")
    assert "必须大于 0" in page.inner_text("#issue-quantity-error")
    assert _cell(page, TENT, "T-1", "on-hand") == "5"
    tab.clean()


def test_dispatcher_plans_approves_and_confirms_a_delivery(world: World, tab: Page) -> None:
    """A dispatcher opens an incident, adds one site by clicking the map and one by typing,
    plans (the progress box polls until the plan is ready), sees the coverage table and the
    routes on the map, approves, sends a truck and confirms its first stop."""
    world.receive("CTY", QUILT, 200, lot="Q-A")
    world.receive("CTY", TENT, 60, lot="T-A")
    world.receive("CTY", WATER, 80, lot="W-A", expiry=TODAY + timedelta(days=90))
    assert world.admin.post("/items", {"code": FOOD, "name_zh": "自热米饭",
                                       "name_en": "ready meals", "category": "food",
                                       "unit": "箱", "unit_weight_kg": 5.5,
                                       "unit_volume_m3": 0.04, "shelf_life_days": 365}
                            ).status_code == 201
    world.receive("CTY", FOOD, 40, lot="F-A", expiry=TODAY + timedelta(days=200))
    for plate in ("苏F-A1", "苏F-A2"):
        assert world.admin.post("/vehicles", {"plate": plate, "depot": "CTY",
                                              "capacity_kg": 5000, "capacity_m3": 30}
                                ).status_code == 201
    page = tab.login(world.dispatcher.token)
    page.goto(tab.base + "/console/incidents")
    page.fill("#incident-name", "台风登陆(演练)")
    page.select_option("#incident-kind", "typhoon")
    page.click("#incident-submit")
    page.wait_for_selector("#map[data-ready='1']")

    # A site picked on the map: the click fills in its coordinates.
    page.click("#tool-point")
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => document.getElementById('site-lat').value"
                           " && document.getElementById('site-lon').value")
    page.fill("#site-code", "P-1")
    page.fill("#site-name", "地图选点安置点")
    page.fill("#site-people", "30")
    page.fill("#site-reported_by", "灾害信息员 王")
    page.click("#site-submit")
    page.wait_for_selector("#done")
    lat = float(world.viewer.get("/incidents/1").json()["sites"][0]["lat"])
    assert 31.0 < lat < 33.5
    # A site typed in, near the Tongzhou depot.
    page.select_option("#site-mode", "point")
    page.fill("#site-code", "P-2")
    page.fill("#site-name", "金沙安置点")
    page.fill("#site-lat", "32.07")
    page.fill("#site-lon", "121.08")
    page.fill("#site-people", "25")
    page.fill("#site-reported_by", "灾害信息员 李")
    page.click("#site-submit")
    page.wait_for_selector("#site-table tr[data-site='P-2']")

    # A closed road picked on the map: the click fills in the edge's two nodes. The map may
    # still be moving to fit the new site; once it has settled, pick an edge whose middle
    # (an edge is one straight segment: the middle of its box is on it) no marker covers,
    # and click it there (Playwright waits for it to be still and to receive the click).
    page.click("#tool-edge")
    page.wait_for_function("""() => new Promise(done => {
        const pane = document.querySelector("#map .leaflet-map-pane");
        const before = pane.style.transform;
        requestAnimationFrame(() => requestAnimationFrame(() => done(
            pane.style.transform === before
            && !document.querySelector("#map.leaflet-zoom-anim"))));
    })""")
    edge = page.evaluate("""() => {
        const box = document.getElementById("map").getBoundingClientRect();
        return [...document.querySelectorAll("#map path.road-hit")].findIndex(path => {
            const r = path.getBoundingClientRect();
            const x = r.left + r.width / 2, y = r.top + r.height / 2;
            return x > box.left + 60 && x < box.right - 60 && y > box.top + 60
                && y < box.bottom - 60 && r.width + r.height > 40
                && document.elementFromPoint(x, y) === path;
        });
    }""")
    assert edge >= 0
    page.locator("#map path.road-hit").nth(edge).click()
    # The click handler fills the form; wait for it rather than assume it already ran.
    page.wait_for_function("() => document.getElementById('closure-a').value"
                           " && document.getElementById('closure-b').value")
    page.fill("#closure-reason", "桥梁受损")
    page.click("#closure-submit")
    page.wait_for_selector("#closure-list li")
    assert page.locator("#map path.closed-road").count() == 1

    page.fill("#plan-time_limit_s", "2")
    page.click("#plan-submit")
    page.wait_for_selector("#plan-result", timeout=180_000)  # polled, then reloaded
    assert page.locator("#coverage-table tbody tr").count() == 2
    assert page.locator("#coverage-table tr.ok, #coverage-table tr.bad").count() == 2
    assert page.inner_text("#fig-coverage").endswith("%")
    assert page.inner_text("#fig-bound").endswith("%")
    page.wait_for_selector("#map[data-routes-ready='1']")
    assert page.locator("#map path.route-line").count() >= 1  # few trips: all drawn

    page.click("#approve-submit")
    page.wait_for_selector("#trips")
    first = page.locator("#trip-table tbody.trip").first
    trip_id = first.get_attribute("id")
    # A trip's Map button shows that trip's route alone and marks its row.
    page.wait_for_selector("#map[data-routes-ready='1']")
    first.locator(".show-route").click()
    page.wait_for_selector(f"#map[data-shown='{trip_id.removeprefix('trip-')}']")
    assert "highlight" in (first.get_attribute("class") or "")
    assert page.locator("#map path.route-line").count() == 1
    with page.expect_popup() as popup:
        first.locator(".manifest-link").click()
    manifest = popup.value
    manifest.wait_for_load_state()  # the popup opens before its document has loaded
    assert "运输清单" in manifest.title()
    manifest.close()
    # Depart and confirm swap the trip's row in place: the page is never reloaded.
    page.evaluate("() => { window.__notReloaded = true; }")
    first.locator(".depart-button").click()
    page.wait_for_selector(f"#{trip_id}[data-status='departed']")
    assert any("出发" in d for d in tab.dialogs)  # departing asked first
    page.locator(f"#{trip_id} form.confirm-form button").first.click()
    page.wait_for_selector(f"#{trip_id} .trip-done")
    page.wait_for_selector(f"#{trip_id} .stop[data-stop='1'].ok")
    assert page.evaluate("() => window.__notReloaded === true")
    shipment = world.viewer.get(f"/shipments/{trip_id.removeprefix('trip-')}").json()
    assert shipment["stops"][0]["status"] == "delivered"
    assert world.ledger_ok()
    tab.clean()


def test_a_desk_of_300_trips_filters_pages_and_departs_in_place(world: World, tab: Page) -> None:
    """With 300 trips the desk's first byte stays under a generous ceiling, one page of 20 is
    shown, filtering by vehicle and status and paging swap the list in place (the address bar
    follows), and a trip departs without the page reloading."""
    big = build(world, 300)
    page = tab.login(world.dispatcher.token)
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{tab.base}/console/incidents/{big.incident}")  # warms the templates
    page.reload()
    page.wait_for_selector("#map[data-ready='1']")
    ttfb_ms = page.evaluate("""() => { const n = performance.getEntriesByType('navigation')[0];
                                       return n.responseStart - n.requestStart; }""")
    # The target is 500 ms (docs/console.md has the figures); the ceiling is twenty times
    # that, because the test server shares a loaded 2-core machine with the whole suite.
    assert ttfb_ms < 10_000, ttfb_ms
    assert page.locator("#trip-table tbody.trip").count() == 20
    legend = page.locator("#desk-legend").bounding_box()  # on the map, above the fold
    assert legend is not None and legend["y"] + legend["height"] <= 768
    page.evaluate("() => { window.__notReloaded = true; }")
    page.fill("#trip-filter-vehicle", "T042")
    page.click("#trip-filter-submit")
    page.wait_for_function("() => document.querySelectorAll('#trip-table tbody.trip').length"
                           " === 1")
    assert "vehicle=T042" in page.url
    page.locator("#trip-table .depart-button").click()
    page.wait_for_selector("#trip-table tbody.trip[data-status='departed']")
    page.fill("#trip-filter-vehicle", "")
    page.select_option("#trip-filter-status", "planned")  # a change filters at once
    page.wait_for_function("() => document.getElementById('trip-count').textContent"
                           ".includes('299')")
    page.click("#trip-pager a[data-page='2']")
    page.wait_for_selector("#trip-pager span.on:text('2')")
    assert "page=2" in page.url and "status=planned" in page.url
    assert page.evaluate("() => window.__notReloaded === true")


def test_readiness_map_colours_the_counties_without_errors(world: World, tab: Page) -> None:
    """The readiness page draws every county of the base layer in its band (here: not run
    yet) on the map, with no script error and nothing fetched from outside."""
    page = tab.login(world.viewer.token)
    page.goto(tab.base + "/console/readiness")
    page.wait_for_selector("#map[data-ready='1']")
    assert page.locator("path.readiness-county").count() >= 1
    assert "尚未评估" in page.inner_text("#readiness-table")
    tab.clean()


def _stock_row_on_hand(page: Any, item: str, lot: str) -> str | None:
    row = page.locator(f'#stock-table tr.lot[data-item="{item}"][data-lot="{lot}"]')
    return str(row.locator("td.on-hand").inner_text()) if row.count() else None


def test_expired_and_damaged_lots_are_scrapped_with_a_voucher(world: World, tab: Page) -> None:
    """A depot manager sees an expired lot badged 已过期 (not 合格) with a Scrap button that
    fills the scrap form; scrapping asks first and writes it off. A lot marked damaged (which
    asks first) gets the same button; both scraps are listed with a printable 报废单."""
    world.receive("CTY", WATER, 10, lot="W-OLD", expiry=TODAY - timedelta(days=5))
    world.receive("CTY", QUILT, 8, lot="Q-WET")
    page = tab.login(world.manager.token)
    page.goto(tab.base + "/console/depots/CTY")
    old = page.locator('#stock-table tr.lot[data-lot="W-OLD"]')
    assert old.locator(".expired-badge").inner_text() == "已过期"
    assert "合格" not in old.inner_text()
    old.locator(".scrap-prefill").click()
    assert page.is_visible("#scrap-form")  # the form opened, filled from the lot's row
    assert page.input_value("#scrap-lot_key") == f"{WATER}|W-OLD|{TODAY - timedelta(days=5)}"
    assert page.input_value("#scrap-quantity") == "10"
    page.fill("#scrap-reason", "过期")
    page.click("#scrap-submit")
    page.wait_for_selector("#done")
    assert page.inner_text("#done") == "报废已登记,库存已更新。"
    assert any("报废" in d for d in tab.dialogs)  # scrapping asked first
    assert _stock_row_on_hand(page, WATER, "W-OLD") in (None, "0")

    page.click("#op-quality summary")
    value = page.evaluate("""() => [...document.querySelectorAll('#quality-lot_id option')]
                             .find(o => o.textContent.includes('Q-WET')).value""")
    page.select_option("#quality-lot_id", value)
    page.select_option("#quality-status", "damaged")
    page.fill("#quality-reason", "水浸")
    asked = len(tab.dialogs)
    page.click("#quality-submit")
    page.wait_for_selector("#done")
    assert len(tab.dialogs) == asked + 1  # marking damaged asked first
    wet = page.locator('#stock-table tr.lot[data-lot="Q-WET"]')
    assert "损坏" in wet.inner_text()
    wet.locator(".scrap-prefill").click()
    assert page.input_value("#scrap-quantity") == "8"
    page.fill("#scrap-reason", "水浸霉变")
    page.click("#scrap-submit")
    page.wait_for_selector("#done")
    assert _stock_row_on_hand(page, QUILT, "Q-WET") in (None, "0")
    scraps = page.locator("#move-table tbody tr", has_text="报废")
    assert scraps.count() == 2
    with page.expect_popup() as popup:
        scraps.first.locator(".voucher-link").click()
    voucher = popup.value
    voucher.wait_for_selector("#voucher")
    assert voucher.inner_text("#voucher h1") == "应急物资报废单"
    assert "水浸霉变" in voucher.inner_text("#voucher dl")
    assert "Q-WET" in voucher.inner_text("#voucher-lines") and "床" in voucher.inner_text(
        "#voucher-lines")
    voucher.close()
    assert world.available("CTY", WATER) == 0 and world.available("CTY", QUILT) == 0
    assert world.ledger_ok()
    tab.clean()


def test_issue_vouchers_and_transfer_waybills_print_what_was_sent(world: World,
                                                                 tab: Page) -> None:
    """After an issue and a transfer from the depot page, the issue's 出库单 and the transfer's
    调拨单 open from the lists: lots in first-expiry order, item names, units, weight,
    signature lines; printing hides the print button."""
    world.receive("CTY", WATER, 5, lot="W-A", expiry=TODAY + timedelta(days=40))
    world.receive("CTY", WATER, 5, lot="W-B", expiry=TODAY + timedelta(days=90))
    page = tab.login(world.manager.token)
    page.goto(tab.base + "/console/depots/CTY")
    page.click("#op-issue summary")
    page.select_option("#issue-item", WATER)
    page.fill("#issue-quantity", "7")
    page.fill("#issue-reference", "INC-9 发放")
    page.click("#issue-submit")
    page.wait_for_selector("#done")
    with page.expect_popup() as popup:
        page.locator("#move-table tbody tr", has_text="INC-9").first.locator(
            ".voucher-link").click()
    voucher = popup.value
    voucher.wait_for_selector("#voucher")
    assert voucher.inner_text("#voucher h1") == "应急物资出库单"
    rows = [r.split("\t") for r in voucher.inner_text("#voucher-lines tbody").splitlines()]
    assert [(r[2], r[3], r[4]) for r in rows] == [("W-A", "5", "箱"), ("W-B", "2", "箱")]
    assert all(r[1].startswith("瓶装水") for r in rows)
    text = voucher.inner_text("#voucher")
    assert "合计重量约 95.2 千克" in text and "领取人签字" in text and "INC-9 发放" in text
    assert voucher.is_visible(".print-button")
    voucher.emulate_media(media="print")
    assert not voucher.is_visible(".print-button")
    voucher.close()

    page.click("#op-transfer summary")
    page.select_option("#transfer-to_depot", "CTY2")
    page.select_option("#transfer-item", WATER)
    page.fill("#transfer-quantity", "3")
    page.fill("#transfer-reference", "支援如皋")
    page.click("#transfer-submit")
    page.wait_for_selector("#done")
    with page.expect_popup() as popup:
        page.locator("#transfer-table .waybill-link").first.click()
    waybill = popup.value
    waybill.wait_for_selector("#waybill")
    text = waybill.inner_text("#waybill")
    assert waybill.inner_text("#waybill h1").startswith("应急物资调拨单")
    assert "通州区储备库 (CTY)" in text and "如皋市储备库 (CTY2)" in text
    assert "W-B" in waybill.inner_text("#waybill-lines")  # what was left after the issue
    assert "合计 3 箱,重量约 40.8 千克" in text
    assert "发货人签字" in text and "承运人签字" in text and "收货人签字" in text
    waybill.close()
    assert world.ledger_ok()
    tab.clean()


def test_a_leader_opens_a_countys_shortfall_from_the_map(world: World, tab: Page) -> None:
    """Against targets of 10 tents and 100 quilts at 通州区's depot holding 4 tents, the map's
    county table shows 通州区 short by 0.5 t with its short items in their units; its link opens
    the shortfall page, which lists each item apart, heaviest first, in units and tonnes."""
    for item, qty in ((TENT, 10), (QUILT, 100)):
        assert world.admin.post("/targets", {"depot": "CTY", "item": item, "quantity": qty}
                                ).status_code == 201
    world.receive("CTY", TENT, 4, lot="T-1")
    page = tab.login(world.viewer.token)
    page.wait_for_selector("#map[data-ready='1']")
    row = page.locator('#county-table tr[data-county="320612"]')
    assert row.locator(".short-t").inner_text() == "0.5"
    assert row.locator(".top-short").inner_text().splitlines()[:2] == ["棉被 100 床",
                                                                       "救灾帐篷 6 顶"]
    row.locator(".top-short a").click()
    page.wait_for_selector("#short-320612")
    assert page.inner_text("#short-320612 h2").startswith("通州区")
    assert "合计 0.5 吨" in page.inner_text("#short-320612 h2")
    lines = [r.split("\t") for r in page.inner_text("#short-320612 tbody").splitlines()]
    assert [(r[1], r[2], r[3], r[4]) for r in lines] == [("棉被", "100", "床", "0.25"),
                                                         ("救灾帐篷", "6", "顶", "0.23")]
    tab.clean()


def test_a_dispatcher_activates_a_reserve_and_withdraws_it(world: World, tab: Page) -> None:
    """On the incident page a dispatcher picks the water contract, activates 200 cases and
    sees the row with its ready time; withdrawing asks first and marks the row withdrawn."""
    contract = world.admin.post("/agreements", {
        "depot": "AGR", "item": WATER, "committed_quantity": 600, "lead_time_hours": 2,
        "valid_from": (TODAY - timedelta(days=30)).isoformat(),
        "valid_to": (TODAY + timedelta(days=300)).isoformat(), "contract_ref": "协议-水-01"})
    assert contract.status_code == 201
    page = tab.login(world.dispatcher.token)
    page.goto(tab.base + "/console/incidents")
    page.fill("#incident-name", "如皋内涝(演练)")
    page.click("#incident-submit")
    page.wait_for_selector("#activations")
    assert page.inner_text("#no-activations") == "尚未激活任何协议或产能储备。"
    page.click("#activation-form summary")
    page.select_option("#activation-reserve", f"agreement:{contract.json()['id']}")
    page.fill("#activation-quantity", "200")
    page.fill("#activation-note", "电话通知 张经理")
    page.click("#activation-submit")
    page.wait_for_selector("#done")
    assert page.inner_text("#done") == "储备已激活。"
    row = page.locator("#activation-table tbody tr").first
    assert row.get_attribute("data-state") == "active"
    assert "协议储备 · 协议企业(测试) · 瓶装水" in row.inner_text()
    assert row.locator(".quantity").inner_text() == "200 箱"
    assert "提前期 2 小时" in row.locator(".ready").inner_text()
    row.locator("input[name='reason']").fill("改由市级库供水")
    row.locator("button[type='submit']").click()
    page.wait_for_selector("#activation-table tbody tr[data-state='cancelled']")
    assert any("撤销" in d for d in tab.dialogs)  # withdrawing asked first
    assert "已撤销" in page.inner_text("#activation-table tbody tr")
    listed = world.dispatcher.get("/incidents/1/activations").json()
    assert listed[0]["cancel_reason"] == "改由市级库供水"
    tab.clean()


def test_a_dispatcher_sees_late_stops_and_reoptimises(world: World, tab: Page) -> None:
    """On a desk with an approved plan whose first trip left three hours late, the timing
    panel loads after the page and flags that trip's stops (晚于计划 or 超过送达时限); ticking
    "re-optimise everything not yet departed" plans again and the result says how many trips
    approval will re-plan; approving it cancels them."""
    world.receive("CTY", QUILT, 600, lot="Q-A")
    world.receive("CTY", TENT, 200, lot="T-A")
    world.receive("CTY", WATER, 300, lot="W-A", expiry=TODAY + timedelta(days=90))
    for plate in ("苏F-A1", "苏F-A2"):
        assert world.admin.post("/vehicles", {"plate": plate, "depot": "CTY",
                                              "capacity_kg": 1500, "capacity_m3": 12}
                                ).status_code == 201
    api = world.dispatcher
    needs = {"days": 1, "household_size": 3, "per_person": {QUILT: 1},
             "per_person_per_day": {WATER: 0.25}, "per_household": {TENT: 1}}
    incident = api.post("/incidents", {"kind": "flood", "name": "通州内涝(演练)",
                                       "onset": (utcnow() - timedelta(minutes=30)).isoformat(),
                                       "needs": needs}).json()["id"]
    for code, name, lat, lon, people in [("P-1", "西亭安置点", 32.10, 121.00, 60),
                                         ("P-3", "金沙安置点", 32.07, 121.08, 30)]:
        assert api.post(f"/incidents/{incident}/sites", {
            "code": code, "name": name, "lat": lat, "lon": lon, "people": people,
            "reported_by": "灾害信息员 王"}).status_code == 201
    page = tab.login(api.token)
    page.goto(f"{tab.base}/console/incidents/{incident}")
    page.fill("#plan-time_limit_s", "2")
    page.click("#plan-submit")
    page.wait_for_selector("#approve-submit", timeout=180_000)
    page.click("#approve-submit")
    page.wait_for_selector("#trips")
    trips = api.get(f"/incidents/{incident}/shipments").json()
    first = trips[0]
    assert api.post(f"/shipments/{first['id']}/depart").status_code == 200

    def late(session: Any) -> None:
        row = session.execute(select(Shipment).where(Shipment.id == first["id"])).scalar_one()
        row.departed_at = utcnow() + timedelta(hours=3)
        session.add(row)

    world.db.write(late)
    page.goto(f"{tab.base}/console/incidents/{incident}")
    page.wait_for_selector("#timing-table")  # loaded after the page
    flags = page.locator(f"#timing-table tr[data-shipment='{first['id']}'] .timing-flag")
    assert flags.count() == len(first["stops"])
    assert set(flags.all_inner_texts()) <= {"晚于计划", "超过送达时限"}
    assert "请调整或重新规划" in page.inner_text("#timing-alert")

    page.check("#plan-reoptimise")
    page.fill("#plan-time_limit_s", "2")
    page.click("#plan-submit")
    page.wait_for_selector("#plan-reoptimise-note", timeout=180_000)
    waiting = [t["id"] for t in trips if t["id"] != first["id"]]
    assert f"重新安排 {len(waiting)} 个尚未出发" in page.inner_text("#plan-reoptimise-note")
    page.click("#approve-submit")
    page.wait_for_selector("#trips")
    after = {t["id"]: t["status"] for t in api.get(f"/incidents/{incident}/shipments").json()}
    assert all(after[i] == "cancelled" for i in waiting) and after[first["id"]] == "departed"
    assert world.ledger_ok()
    tab.clean()
