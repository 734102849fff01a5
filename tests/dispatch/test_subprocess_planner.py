"""The process planner (``dispatch.flows.subprocess_planner``, what served API and worker
processes run): the engine in ``python -m dispatch.worker``, its progress read back, a stop
that kills it, and a worker that fails reported with its exit code and output. The rest of
the suite plans in the test's process (tests/conftest.py ``settings``)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from dispatch.flows import (
    PlanningFailed,
    PlanningStopped,
    failure_text,
    inline_planner,
    subprocess_planner,
)
from tests.dispatch.planning.planning_scenarios import two_depots


def _without_clock(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan without what the clock decides (its solve time)."""
    return {**plan, "summary": {**plan["summary"], "solve_s": None}}


def test_the_worker_process_returns_the_plan_the_engine_makes_in_process() -> None:
    """Same scenario, same plan: through the worker process and in this process (the engine is
    deterministic); the worker's progress reaches the caller, ending with the routing phase."""
    scenario = two_depots()
    seen: list[tuple[str, float]] = []
    through = subprocess_planner(scenario, 5.0, lambda phase, f: seen.append((phase, f)))
    here = inline_planner(scenario, 5.0, lambda phase, f: None)
    assert _without_clock(through) == _without_clock(here)
    assert through["summary"]["people_covered"] > 0
    assert seen and {phase for phase, _ in seen} >= {"routing"}
    assert all(0.0 <= f <= 1.0 for _, f in seen)


def test_a_stop_kills_the_worker_process_and_says_so() -> None:
    """A stop (cancel, lost lease, shutdown) kills the worker: PlanningStopped, no plan."""
    stop = threading.Event()
    stop.set()
    with pytest.raises(PlanningStopped):
        subprocess_planner(two_depots(), 5.0, lambda phase, f: None, stop)


def test_a_worker_that_fails_reports_its_exit_code_and_what_it_said() -> None:
    """A scenario the worker refuses: PlanningFailed keyed plan.worker_exit, with the exit
    code and the reason the worker printed."""
    with pytest.raises(PlanningFailed) as failed:
        subprocess_planner({"name": "no sites"}, 5.0, lambda phase, f: None)
    text = failure_text(failed.value)
    assert text.key == "err.plan.worker_exit"
    assert text.params["code"] == 2
    assert "bad scenario" in str(text.params["output"])
