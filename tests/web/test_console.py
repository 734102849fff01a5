"""The web console over HTTP (no browser): sessions, permissions, CSRF, stock forms with
errors at their fields, exports and the map, readiness and error pages. On both databases."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta

from openpyxl import load_workbook
from sqlalchemy import update

from relief.platform.dbtypes import utcnow
from relief.platform.models import ApiToken, Role
from tests.web.conftest import Console
from tests.world import QUILT, TENT, TODAY, WATER, World, make_token

MakeConsole = Callable[[str | None], Console]


def _stock(world: World, depot: str, item: str) -> tuple[int, int]:
    rows = world.viewer.get("/stock", depot=depot, item=item).json()["items"]
    return sum(r["on_hand"] for r in rows), sum(r["available"] for r in rows)


# ---------------------------------------------------------------------------------------------
# Sessions


def test_login_sets_a_strict_httponly_cookie_and_logout_clears_it(world: World,
                                                                   console: MakeConsole) -> None:
    """Login with an API token stores it in an HttpOnly, SameSite=Strict cookie; logout
    forgets it and pages send the user back to the login page."""
    c = console(None)
    response = c.login(world.manager.token)
    assert response.status_code == 303 and response.headers["location"] == "/console/"
    cookie = response.headers["set-cookie"].lower()
    assert "relief_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert c.get("/console/depots").status_code == 200
    out = c.post("/console/logout")
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    again = c.get("/console/depots", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == "/console/login?next=%2Fconsole%2Fdepots"


def test_pages_without_a_session_go_to_login_and_come_back(world: World,
                                                          console: MakeConsole) -> None:
    """An anonymous request is redirected to login with the page to return to; after login
    the user lands there."""
    c = console(None)
    r = c.get("/console/depots/CTY?done=x", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next=")
    login = c.client.post("/console/login", data={"token": world.viewer.token,
                                                  "next": "/console/depots/CTY"},
                          follow_redirects=False)
    assert login.headers["location"] == "/console/depots/CTY"
    evil = c.client.post("/console/login", data={"token": world.viewer.token,
                                                 "next": "//evil.example/"},
                         follow_redirects=False)
    assert evil.headers["location"] == "/console/"
    assert c.client.get("/", follow_redirects=False).headers["location"] == "/console/"


def test_bad_unknown_revoked_and_machine_tokens_are_refused_at_the_field(
        world: World, console: MakeConsole) -> None:
    """A wrong, revoked or integration token re-renders the login form with the error at the
    token field and sets no cookie."""
    c = console(None)
    for token in ("", "rlf_nope", make_token(world.db, Role.integration, name="feed")):
        r = c.login(token)
        assert r.status_code == 401
        assert 'id="login-token-error"' in r.text and "set-cookie" not in r.headers
    world.db.write(lambda s: s.execute(update(ApiToken).where(ApiToken.role == "viewer")
                                       .values(revoked_at=utcnow())))
    assert c.login(world.viewer.token).status_code == 401


def test_a_revoked_token_ends_the_session(world: World, console: MakeConsole) -> None:
    """Revoking the token behind a session logs the console out at the next request."""
    c = console(world.viewer.token)
    assert c.get("/console/readiness").status_code == 200
    world.db.write(lambda s: s.execute(update(ApiToken).where(ApiToken.role == "viewer")
                                       .values(revoked_at=utcnow())))
    assert c.get("/console/readiness", follow_redirects=False).status_code == 303


# ---------------------------------------------------------------------------------------------
# Permissions: the use cases decide, the console shows a friendly 403 page


def test_viewer_reads_every_page_but_any_write_is_a_403_page(world: World,
                                                             console: MakeConsole) -> None:
    """Viewers see the map, depots, desk list and readiness; a stock post is refused with
    the 403 page and writes nothing."""
    world.receive("CTY", TENT, 10, lot="T-1")
    c = console(world.viewer.token)
    for path in ("/console/", "/console/depots", "/console/depots/CTY", "/console/incidents",
                 "/console/readiness", "/console/map/depots/CTY"):
        assert c.get(path).status_code == 200, path
    moves = world.moves()
    r = c.post("/console/depots/CTY/receive", {"item": TENT, "quantity": "5"})
    assert r.status_code == 403 and 'id="error-page"' in r.text
    assert "depot_manager" in r.text
    assert world.moves() == moves
    page = c.get("/console/depots/CTY").text
    assert 'id="receive-form"' not in page  # no form offered that would be refused


def test_manager_cannot_touch_another_depot(world: World, console: MakeConsole) -> None:
    """A depot manager posting at a depot not on the token gets the 403 page naming it."""
    world.receive("CTY2", TENT, 10, lot="T-1")
    c = console(world.manager.token)
    r = c.post("/console/depots/CTY2/issue", {"item": TENT, "quantity": "1", "reference": "x"})
    assert r.status_code == 403 and "CTY2" in r.text and 'id="error-page"' in r.text
    assert _stock(world, "CTY2", TENT) == (10, 10)
    desk = c.post("/console/incidents", {"name": "x", "kind": "flood"})
    assert desk.status_code == 403


def test_unknown_depot_is_a_404_page(world: World, console: MakeConsole) -> None:
    """An unknown depot code or console address shows the console's 404 page, not the API's
    JSON."""
    c = console(world.viewer.token)
    for path in ("/console/depots/NOPE", "/console/nowhere", "/console/incidents/99"):
        r = c.get(path)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), path
        assert 'data-status="404"' in r.text


# ---------------------------------------------------------------------------------------------
# CSRF


def test_posts_need_the_session_csrf_token_and_the_same_origin(world: World,
                                                               console: MakeConsole) -> None:
    """A post without the token, with another session's token, or from another origin is
    refused (403) and writes nothing; with the token it goes through."""
    c = console(world.manager.token)
    other = console(world.manager2.token)
    form = {"item": TENT, "quantity": "3", "lot": "T-9"}
    assert c.post("/console/depots/CTY/receive", form, csrf=False).status_code == 403
    assert c.post("/console/depots/CTY/receive", {**form, "csrf_token": other.csrf}
                  ).status_code == 403
    cross = c.post("/console/depots/CTY/receive", form,
                   headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403 and "csrf_rejected" in cross.text
    assert world.moves() == 0
    assert c.post("/console/depots/CTY/receive", form,
                  headers={"Origin": "http://testserver"}).status_code == 303
    assert _stock(world, "CTY", TENT) == (3, 3)
    # htmx requests carry the token in a header instead of the form.
    header = c.client.post("/console/logout", headers={"X-CSRF-Token": c.csrf},
                           follow_redirects=False)
    assert header.status_code == 303


# ---------------------------------------------------------------------------------------------
# Stock forms


def test_receive_issue_transfer_and_count_through_the_forms(world: World,
                                                             console: MakeConsole) -> None:
    """The forms call the use cases: receipt, FEFO issue, transfer sent and received, count
    and quarantine change the book, and the depot page shows the new numbers."""
    manager, manager2 = console(world.manager.token), console(world.manager2.token)
    r = manager.post("/console/depots/CTY/receive", {
        "item": WATER, "quantity": "40", "lot": "W-1",
        "expiry": (TODAY + timedelta(days=100)).isoformat(), "reference": "PO-1"})
    assert r.status_code == 303 and r.headers["location"].endswith("?done=receive#stock")
    assert _stock(world, "CTY", WATER) == (40, 40)
    assert manager.post("/console/depots/CTY/issue", {
        "item": WATER, "quantity": "15", "reference": "INC-1"}).status_code == 303
    page = manager.get("/console/depots/CTY?done=issue").text
    assert 'data-item="1040101" data-lot="W-1"' in page and ">25<" in page
    assert manager.post("/console/depots/CTY/transfer", {
        "to_depot": "CTY2", "item": WATER, "quantity": "5"}).status_code == 303
    incoming = manager2.get("/console/depots/CTY2").text
    assert 'id="transfer-1"' in incoming
    assert manager2.post("/console/transfers/1/receive", {"quantity": "4", "note": "1 wet"}
                         ).status_code == 303
    assert _stock(world, "CTY2", WATER) == (4, 4)
    assert manager.post("/console/depots/CTY/adjust", {
        "item": WATER, "lot": "W-1", "counted_quantity": "18", "reason": "count"}
    ).status_code == 303
    assert _stock(world, "CTY", WATER) == (18, 18)
    lot_id = world.viewer.get("/stock", depot="CTY", item=WATER).json()["items"][0]["lot_id"]
    assert manager.post("/console/depots/CTY/quality", {
        "lot_id": str(lot_id), "status": "quarantine", "reason": "wet"}).status_code == 303
    assert _stock(world, "CTY", WATER) == (18, 0)
    assert world.ledger_ok()


def test_a_double_submitted_form_posts_once(world: World, console: MakeConsole) -> None:
    """The form's idempotency key makes a repeated post (double click, retry) a replay."""
    c = console(world.manager.token)
    form = {"item": TENT, "quantity": "7", "lot": "T-1", "idem": "form-key-1"}
    assert c.post("/console/depots/CTY/receive", form).status_code == 303
    assert c.post("/console/depots/CTY/receive", form).status_code == 303
    assert _stock(world, "CTY", TENT) == (7, 7)


def test_bad_input_is_shown_at_its_field_and_writes_nothing(world: World,
                                                            console: MakeConsole) -> None:
    """Validation errors (the API's models and the domain's) come back at the field, with
    what was typed kept, and nothing is written."""
    world.receive("CTY", TENT, 5, lot="T-1")
    c = console(world.manager.token)
    moves = world.moves()
    zero = c.post("/console/depots/CTY/receive", {"item": TENT, "quantity": "0"})
    assert zero.status_code == 422
    assert 'id="receive-quantity-error"' in zero.text and "必须大于 0" in zero.text
    assert 'id="op-receive" open' in zero.text
    perishable = c.post("/console/depots/CTY/receive", {"item": WATER, "quantity": "3"})
    assert perishable.status_code == 422 and 'id="receive-expiry-error"' in perishable.text
    too_many = c.post("/console/depots/CTY/issue", {"item": TENT, "quantity": "9",
                                                    "reference": "INC-1"})
    assert too_many.status_code == 409
    # The domain's error in Chinese with its numbers, at the field and in the form's summary.
    assert 'id="issue-quantity-error">可用 5,申请 9<' in too_many.text
    assert 'href="#issue-quantity">可用 5,申请 9</a>' in too_many.text
    assert "物资 1040101 有保质期,必须填写有效期" in perishable.text
    english = c.post("/console/depots/CTY/issue?lang=en", {"item": TENT, "quantity": "9",
                                                           "reference": "INC-1"})
    assert "only 5 available, 9 requested" in english.text
    assert 'value="9"' in too_many.text  # what was typed stays
    unknown = c.post("/console/depots/CTY/issue", {"item": "1999999", "quantity": "1",
                                                   "reference": "x"})
    assert unknown.status_code == 404 and 'id="issue-item-error"' in unknown.text
    english = c.post("/console/depots/CTY/receive?lang=en", {"item": TENT, "quantity": "x"})
    assert "Enter a whole number" in english.text
    assert world.moves() == moves


# ---------------------------------------------------------------------------------------------
# Exports


def test_stock_exports_as_csv_and_excel(world: World, console: MakeConsole) -> None:
    """CSV (UTF-8 with BOM) and xlsx exports list the depot's lots with their balances."""
    world.receive("CTY", TENT, 12, lot="T-1")
    world.receive("CTY", WATER, 30, lot="W-1", expiry=TODAY + timedelta(days=60))
    c = console(world.viewer.token)
    response = c.get("/console/depots/CTY/stock.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["库点编码", "物资编码"]
    assert {(r[1], r[4], r[7]) for r in rows[1:]} == {(TENT, "T-1", "12"), (WATER, "W-1", "30")}
    xlsx = c.get("/console/depots/CTY/stock.xlsx?lang=en")
    assert xlsx.status_code == 200 and "spreadsheetml" in xlsx.headers["content-type"]
    sheet = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][-1] == "Counted" and len(values) == 3
    assert {(v[1], v[4], v[7]) for v in values[1:]} == {(TENT, "T-1", 12), (WATER, "W-1", 30)}
    # The expiry is a date cell (sortable as a date), not text.
    water = next(r for r in sheet.iter_rows(min_row=2) if r[1].value == WATER)
    assert water[5].is_date and water[5].value.date() == TODAY + timedelta(days=60)
    assert water[5].number_format == "yyyy-mm-dd"


# ---------------------------------------------------------------------------------------------
# Map, readiness, language


def test_map_shows_depots_county_rollup_and_popups(world: World, console: MakeConsole) -> None:
    """The map page embeds every depot with its stock, the county table rolls stock up, the
    item filter narrows both, and a depot's popup lists its stock."""
    world.receive("TWN", TENT, 8, lot="T-1")
    world.receive("CTY2", QUILT, 20, lot="Q-1")
    c = console(world.viewer.token)
    page = c.get("/console/").text
    assert 'id="map-data"' in page and '"code": "TWN"' in page
    assert 'data-county="320612"' in page
    filtered = c.get(f"/console/?item={QUILT}").text
    assert '"item": "1020101"' in filtered
    popup = c.get("/console/map/depots/TWN").text
    assert 'data-depot="TWN"' in popup and ">8 " in popup
    assert "tile" not in page.lower()  # no tile server anywhere


def test_english_switch_translates_the_labels(world: World, console: MakeConsole) -> None:
    """Chinese by default; /console/lang/en sets a cookie and the pages speak English."""
    c = console(world.viewer.token)
    assert "储备保障能力" in c.get("/console/readiness").text
    switched = c.get("/console/lang/en?next=/console/readiness", follow_redirects=False)
    assert switched.headers["location"] == "/console/readiness"
    c.client.cookies.set("relief_lang", "en")
    page = c.get("/console/readiness").text
    assert "Readiness" in page and "储备保障能力" not in page
    assert c.get("/console/lang/en?next=https://evil.example", follow_redirects=False
                 ).headers["location"] == "/console/"


def test_console_pages_carry_a_strict_content_security_policy(world: World,
                                                              console: MakeConsole) -> None:
    """Pages allow scripts from this origin only and use no inline script."""
    page = console(world.viewer.token).get("/console/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "<script>" not in page.text
    static = console(None).get("/static/vendor/leaflet/leaflet.js")
    assert static.status_code == 200 and "Leaflet 1.9.4" in static.text[:200]
