"""Reserve activations on the desk, over HTTP, on both databases: the incident page lists its
activations and offers the valid contracts and producers; activating and withdrawing call the
API's use cases, with errors at their fields in Chinese; only a dispatcher with draw:agreement
sees the forms (tests/world.py network: the agreement enterprise AGR near 如皋)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest

from tests.web.conftest import Console
from tests.world import TENT, TODAY, WATER, World

MakeConsole = Callable[[str | None], Console]


@pytest.fixture
def reserves(world: World) -> dict[str, int]:
    """A water contract at AGR (600 cases, 2 h lead) and a tent producer (240 a day, 4 h)."""
    contract = world.admin.post("/agreements", {
        "depot": "AGR", "item": WATER, "committed_quantity": 600, "lead_time_hours": 2,
        "valid_from": (TODAY - timedelta(days=30)).isoformat(),
        "valid_to": (TODAY + timedelta(days=300)).isoformat(), "contract_ref": "协议-水-01"})
    assert contract.status_code == 201, contract.text
    producer = world.admin.post("/capacity-reserves", {
        "depot": "AGR", "item": TENT, "units_per_day": 240, "lead_time_hours": 4})
    assert producer.status_code == 201, producer.text
    return {"agreement": contract.json()["id"], "capacity": producer.json()["id"]}


def _incident(c: Console) -> int:
    r = c.post("/console/incidents", {"name": "如皋内涝", "kind": "flood",
                                      "deadline_hours": "10", "onset": ""})
    assert r.status_code == 303, r.text[-2000:]
    return int(r.headers["location"].rsplit("/", 1)[1])


def _row(html: str, activation: int) -> str:
    return html.split(f'data-activation="{activation}"')[1].split("</tr>")[0]


def test_a_dispatcher_activates_and_withdraws_a_reserve_from_the_desk(
        world: World, console: MakeConsole, reserves: dict[str, int]) -> None:
    """The form offers the contract and the producer with their volumes and lead times; a
    missing choice, a quantity over the contract's open volume and a time in the future come
    back at their fields in Chinese; an activation is listed with its ready time (activation +
    lead time); withdrawing needs a reason and marks the row withdrawn."""
    c = console(world.dispatcher.token)
    incident = _incident(c)
    page = c.get(f"/console/incidents/{incident}").text
    assert 'id="no-activations"' in page
    assert (f'<option value="agreement:{reserves["agreement"]}" >协议储备 · 协议企业(测试) · '
            f'瓶装水 · 承诺 600 箱 · 提前期 2 小时 · 协议-水-01</option>') in page
    assert f'value="capacity:{reserves["capacity"]}" >产能储备 · 协议企业(测试) · 救灾帐篷 · ' \
           f'每日 240 顶 · 提前期 4 小时<' in page
    url = f"/console/incidents/{incident}/activations"
    unchosen = c.post(url, {"quantity": "10"})
    assert unchosen.status_code == 422
    assert 'id="activation-reserve-error">请选择<' in unchosen.text
    agreement = f"agreement:{reserves['agreement']}"
    too_many = c.post(url, {"reserve": agreement, "quantity": "700"})
    assert too_many.status_code == 409
    error = re.search(r'id="activation-quantity-error">([^<]+)<', too_many.text).group(1)
    assert "700" in error and "600" in error  # asked and open, in the Chinese text
    future = (TODAY + timedelta(days=2)).isoformat() + "T08:00"
    later = c.post(url, {"reserve": agreement, "quantity": "10", "activated_at": future})
    assert later.status_code == 422 and 'id="activation-activated_at-error"' in later.text
    assert world.dispatcher.get(f"/incidents/{incident}/activations").json() == []

    done = c.post(url, {"reserve": agreement, "quantity": "200", "note": "电话通知 张经理"})
    assert done.status_code == 303 and "done=activated" in done.headers["location"]
    listed = world.dispatcher.get(f"/incidents/{incident}/activations").json()
    assert [(a["kind"], a["quantity"], a["drawn"]) for a in listed] == [("agreement", 200, 0)]
    page = c.get(f"/console/incidents/{incident}").text
    row = _row(page, listed[0]["id"])
    assert "协议储备 · 协议企业(测试) · 瓶装水" in row and "200 箱" in row
    assert "电话通知 张经理" in row
    assert 'data-state="active"' in page and "提前期 2 小时" in row
    assert 'data-confirm="确认撤销此激活?' in row

    cancel = f"{url}/{listed[0]['id']}/cancel"
    no_reason = c.post(cancel, {"reason": ""})
    assert no_reason.status_code == 422
    assert f'id="activation-{listed[0]["id"]}-reason-error"' in no_reason.text
    withdrawn = c.post(cancel, {"reason": "水源已由市级库保障"})
    assert withdrawn.status_code == 303
    row = _row(c.get(f"/console/incidents/{incident}").text, listed[0]["id"])
    assert "已撤销" in row and "水源已由市级库保障" in row and "activation-cancel" not in row
    again = c.post(cancel, {"reason": "再次撤销"})
    assert again.status_code == 409


def test_only_a_dispatcher_with_the_reserve_scope_sees_and_uses_the_forms(
        world: World, console: MakeConsole, reserves: dict[str, int]) -> None:
    """A viewer sees the list but no form, and a post from one is refused (403)."""
    incident = _incident(console(world.dispatcher.token))
    viewer = console(world.viewer.token)
    page = viewer.get(f"/console/incidents/{incident}").text
    assert 'id="activations"' in page and 'id="add-activation-form"' not in page
    refused = viewer.post(f"/console/incidents/{incident}/activations",
                          {"reserve": f"agreement:{reserves['agreement']}", "quantity": "5"})
    assert refused.status_code == 403
    assert world.viewer.get(f"/incidents/{incident}/activations").json() == []
