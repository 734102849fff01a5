"""Console labels: every label a template or the console code asks for exists in Chinese and
English, and placeholders agree between the two. No database needed."""

from __future__ import annotations

import re
import string
from pathlib import Path

from web.i18n import MESSAGES, Translator, lang_of, pydantic_message

WEB = Path(__file__).resolve().parents[2] / "web"
LITERAL = re.compile(r"""\bt{1}r?\(\s*["']([a-z_][\w.\-]*)["']""")
LABEL = re.compile(r"""\bt\.label\(\s*["']([a-z_]+)["']""")


def _sources() -> list[tuple[Path, str]]:
    code = [p for p in WEB.glob("*.py") if p.name != "i18n.py"]
    files = [*WEB.glob("templates/*.html"), *code]
    return [(f, f.read_text(encoding="utf-8")) for f in files]


def test_every_literal_label_exists_in_both_languages() -> None:
    """Each t("key") / tr("key") in the templates and the console code has a zh and an en
    text (keys built at run time, such as done.* or count.row.*, are checked below)."""
    missing = []
    for path, text in _sources():
        for key in LITERAL.findall(text):
            if key.endswith("."):
                continue  # a prefix completed at run time
            if key not in MESSAGES:
                missing.append(f"{path.name}: {key}")
    assert missing == []


def test_label_groups_and_dynamic_keys_are_covered() -> None:
    """Enum label groups used by templates have entries; the dynamic key families exist."""
    groups = {g for _, text in _sources() for g in LABEL.findall(text)}
    for group in groups:
        assert any(k.startswith(f"{group}.") for k in MESSAGES), group
    for key in ("error.title.403", "error.explain.404", "done.receive", "done.approved",
                "count.file.not_xlsx", "count.row.unknown_lot", "reason.no_fleet_capacity",
                "job.running", "phase.routing"):
        assert key in MESSAGES, key


def test_every_unmet_reason_of_the_planning_contract_has_a_label() -> None:
    """Plans (v2 and old v1 ones) name why a need is unmet; the console shows every reason."""
    from typing import get_args

    from dispatch.planning.plan import Reason, V1Reason

    for reason in (*get_args(Reason), *get_args(V1Reason)):
        assert f"reason.{reason}" in MESSAGES, reason


def test_every_need_of_the_default_standard_has_a_label() -> None:
    """Live plans' unmet needs are named by need id (water, food, ...): each has a text."""
    from dispatch.planning.needs import DEFAULT_STANDARD_V2

    for group in DEFAULT_STANDARD_V2.groups:
        assert f"need.{group.id}" in MESSAGES, group.id


def test_both_languages_have_the_same_placeholders() -> None:
    """A {name} in the Chinese text is in the English text too, so formatting never fails."""
    fmt = string.Formatter()
    for key, (zh, en) in MESSAGES.items():
        names_zh = {f for _, f, _, _ in fmt.parse(zh) if f}
        names_en = {f for _, f, _, _ in fmt.parse(en) if f}
        assert names_zh == names_en, key
        assert zh.strip() and en.strip(), key


def test_translator_defaults_to_chinese_and_falls_back_to_the_value() -> None:
    """Unknown languages mean Chinese; unknown enum values show as themselves."""
    assert Translator("fr").lang == "zh"
    assert Translator("en")("nav.map") == "Map" and Translator("zh")("nav.map") == "一张图"
    assert Translator("en").label("tier", "moon") == "moon"
    assert "available" in Translator("en").map_labels()


def test_pydantic_errors_are_translated_with_their_limits() -> None:
    """Common validation errors read naturally in both languages."""
    error = {"type": "greater_than", "ctx": {"gt": 0}, "msg": "Input should be greater than 0"}
    assert pydantic_message(error, Translator("zh")) == "必须大于 0"
    assert pydantic_message(error, Translator("en")) == "Must be greater than 0"
    other = {"type": "value_error", "msg": "Value error, give exactly one of a or b"}
    assert pydantic_message(other, Translator("en")) == "give exactly one of a or b"


def test_language_comes_from_the_query_then_the_cookie() -> None:
    """?lang= wins over the cookie; anything else is Chinese."""

    class _Req:
        def __init__(self, query: dict[str, str], cookies: dict[str, str]) -> None:
            self.query_params, self.cookies = query, cookies

    assert lang_of(_Req({"lang": "en"}, {"relief_lang": "zh"})) == "en"  # type: ignore[arg-type]
    assert lang_of(_Req({}, {"relief_lang": "en"})) == "en"  # type: ignore[arg-type]
    assert lang_of(_Req({"lang": "xx"}, {})) == "zh"  # type: ignore[arg-type]


def test_every_engine_status_reason_and_job_word_is_translated() -> None:
    """The engine's status vocabulary, its unmet reasons (both contract versions) and every
    job, plan, trip and stop state have a Chinese word, so no raw English value is shown."""
    from dispatch.models import JobStatus, PlanState, ShipmentStatus, StopStatus
    from dispatch.planning.plan import STATUSES, V1_REASON

    zh = Translator("zh")
    for status in (*STATUSES, "fallback"):
        assert f"solve_status.{status}" in MESSAGES, status
    for reason in {*V1_REASON, *V1_REASON.values()}:
        assert f"reason.{reason}" in MESSAGES, reason
    for group, enum in (("job", JobStatus), ("plan_state", PlanState),
                        ("shipment", ShipmentStatus), ("stop", StopStatus)):
        for value in enum:
            assert zh.label(group, value) != value.value, (group, value)
    assert zh.label("solve_status", "optimal_coverage") == "覆盖率已达理论上界"
