"""Status texts stored as catalogue keys (relief.platform.statustext): what a failed job
stores for each kind of failure, and how rows render in both languages. No database."""

from __future__ import annotations

from dispatch.flows import PlanningFailed, failure_text
from dispatch.planning.problem import ScenarioError, ScenarioIssue
from relief.platform.errors import InsufficientStock
from relief.platform.statustext import StatusText, stored


def test_a_keyed_error_is_stored_with_its_key_and_numbers() -> None:
    """An error raised with a catalogue key keeps the key and its numbers, so both texts can
    be rendered later; the English text goes to the error column."""
    text = StatusText.failure(InsufficientStock.of("stock.short", available=12, requested=50))
    assert text.key == "err.stock.short" and text.params == {"available": 12, "requested": 50}
    assert "12" in text.text("zh") and "50" in text.text("zh")
    assert text.columns()["error"] == text.text("en") != text.text("zh")


def test_planning_failures_scenario_issues_and_crashes_have_texts() -> None:
    """The worker's exit, an invalid scenario and an unexpected crash each store a key whose
    Chinese text carries the details."""
    exit_ = failure_text(PlanningFailed.of("plan.worker_exit", code=3, output="boom"))
    assert exit_.key == "err.plan.worker_exit"
    assert exit_.text("zh") == "规划进程异常退出(退出码 3):boom"
    issue = ScenarioIssue(path="sites[0].people", line=None, message="must be >= 0")
    invalid = failure_text(ScenarioError([issue]))
    assert invalid.key == "status.scenario_invalid" and invalid.params["count"] == 1
    assert invalid.text("zh").startswith("规划场景无效,共 1 个问题:")
    crash = failure_text(ZeroDivisionError("division by zero"))
    assert crash.text("zh") == "内部错误(ZeroDivisionError):division by zero"
    assert crash.text("en") == "ZeroDivisionError: division by zero"


def test_rows_render_from_their_key_and_old_rows_say_they_are_english_only() -> None:
    """A row with a key renders in the asked language; a row from before keys were stored
    (migration 0013 gives it ``status.unkeyed``) shows its English text, marked in Chinese."""
    assert stored("status.interrupted", {}, "x", "zh") == "服务器在运行中停止,任务已中断"
    assert stored("status.unkeyed", {"text": "late"}, "late", "zh") == "(旧记录,仅有英文)late"
    assert stored("status.unkeyed", {"text": "late"}, "late", "en") == "late"
    assert stored(None, None, None, "zh") is None
