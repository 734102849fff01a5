"""The console's audit log page (issue 16 item 6): Chinese labels from the catalogue, the same
scope as the API (admins all, depot managers their depots), filters, paging and downloads.
Both databases."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable

from openpyxl import load_workbook

from relief.platform.audit import record
from relief.platform.models import Role
from tests.web.conftest import Console
from tests.world import TODAY, World, make_token

MakeConsole = Callable[[str | None], Console]
ROW = re.compile(r'<tr data-id="(\d+)" data-action="([^"]+)">')


def _seed(world: World, n_cty: int = 3) -> None:
    def write(s: object) -> None:
        for i in range(n_cty):
            record(s, actor="admin:a", action="depot.update", entity="depot", entity_id="CTY",
                   depot="CTY", details={"i": i})
        record(s, actor="admin:a", action="depot.update", entity="depot", entity_id="CTY2",
               depot="CTY2", details={"secret": "cty2-only"})
        record(s, actor="admin:a", action="token.create", entity="api_token", entity_id="9")

    world.db.write(write)


def test_admin_sees_every_event_in_chinese_with_filters(world: World,
                                                        console: MakeConsole) -> None:
    """The page is Chinese by default (title, column heads, action words from the
    catalogue), lists every event for an admin, and the filters narrow it."""
    _seed(world)
    admin = console(make_token(world.db, Role.admin, name="console-admin"))
    page = admin.get("/console/audit")
    assert page.status_code == 200
    assert "审计日志" in page.text and "操作人" in page.text and "修改库点" in page.text
    assert 'id="nav-audit"' in page.text
    rows = ROW.findall(page.text)
    actions = [a for _, a in rows]
    assert actions.count("depot.update") == 4 and "token.create" in actions
    only = ROW.findall(admin.get("/console/audit", params={"depot": "CTY2"}).text)
    assert [a for _, a in only] == ["depot.update"]
    fam = ROW.findall(admin.get("/console/audit", params={"action": "token"}).text)
    assert {a for _, a in fam} == {"token.create"}
    future = admin.get("/console/audit", params={"since": TODAY.replace(year=TODAY.year + 1)
                                                 .isoformat()})
    assert ROW.findall(future.text) == [] and "没有符合条件的记录" in future.text
    today = ROW.findall(admin.get("/console/audit", params={"since": TODAY.isoformat(),
                                                            "until": TODAY.isoformat()}).text)
    assert len(today) >= 5
    for far in ({"until": "9999-12-31"}, {"since": "0001-01-01"}):
        r = admin.get("/console/audit", params=far)
        assert r.status_code == 422 and 'id="error-page"' in r.text
        assert admin.get("/console/audit.csv", params=far).status_code == 422
    english = admin.get("/console/audit", params={"lang": "en"}).text
    assert "Audit log" in english and "Depot changed" in english


def test_manager_sees_only_their_depots_and_cannot_ask_for_others(
        world: World, console: MakeConsole) -> None:
    """A depot manager's page and downloads hold only their depots' events; asking for
    another depot is the 403 page; viewers and dispatchers get the 403 page."""
    _seed(world)
    manager = console(world.manager.token)
    page = manager.get("/console/audit")
    assert page.status_code == 200 and "cty2-only" not in page.text
    assert {a for _, a in ROW.findall(page.text)} == {"depot.update"}
    assert len(ROW.findall(page.text)) == 3
    assert '<option value="CTY2"' not in page.text
    refused = manager.get("/console/audit", params={"depot": "CTY2"})
    assert refused.status_code == 403 and 'id="error-page"' in refused.text
    assert "CTY2" in refused.text
    download = manager.get("/console/audit.csv")
    rows = list(csv.reader(io.StringIO(download.text.lstrip("\ufeff"))))
    assert len(rows) == 4 and "cty2-only" not in download.text
    assert manager.get("/console/audit.csv", params={"depot": "CTY2"}).status_code == 403
    for token in (world.viewer.token, world.dispatcher.token):
        other = console(token)
        assert 'id="nav-audit"' not in other.get("/console/readiness").text
        assert other.get("/console/audit").status_code == 403


def test_pages_and_xlsx_download(world: World, console: MakeConsole) -> None:
    """50 events a page with a pager; the Excel download holds every filtered event."""
    _seed(world, n_cty=60)
    admin = console(make_token(world.db, Role.admin, name="console-admin"))
    first = admin.get("/console/audit", params={"depot": "CTY"})
    assert len(ROW.findall(first.text)) == 50 and 'id="audit-pager"' in first.text
    second = admin.get("/console/audit", params={"depot": "CTY", "page": "2"})
    ids = {i for i, _ in ROW.findall(first.text)} | {i for i, _ in ROW.findall(second.text)}
    assert len(ROW.findall(second.text)) == 10 and len(ids) == 60
    book = admin.get("/console/audit.xlsx", params={"depot": "CTY"})
    assert book.status_code == 200
    sheet = load_workbook(io.BytesIO(book.content)).worksheets[0]
    assert sheet.title == "审计日志" and sheet.max_row == 61
    assert admin.get("/console/audit.pdf").status_code == 422
