"""The planning worker process: scenario JSON on stdin, progress and the plan as JSON lines.

``python -m dispatch.worker --time-limit 30 < scenario.json`` prints lines
``{"progress": {"phase": "routing", "fraction": 0.4}}`` while it works and, last,
``{"plan": {...}}``. It exits non-zero with the reason on stderr when the scenario is bad.
"""

from __future__ import annotations

import argparse
import json
import sys

from dispatch.planning.problem import ScenarioError, load_scenario
from dispatch.planning.solve import SolveParams, solve


def _emit(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    """Solve the scenario read from stdin."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-limit", type=float, required=True)
    args = parser.parse_args(argv)
    try:
        scenario = load_scenario(sys.stdin.read())
    except ScenarioError as exc:
        print(f"bad scenario: {exc}", file=sys.stderr)
        return 2
    plan = solve(scenario, SolveParams(time_limit_s=args.time_limit),
                 progress=lambda phase, fraction: _emit(
                     {"progress": {"phase": phase, "fraction": fraction}}))
    _emit({"plan": plan.model_dump(mode="json")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
