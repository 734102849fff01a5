"""`relief scenario generate` and `relief plan` (no database needed)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from dispatch.planning.plan import Plan, check
from dispatch.planning.problem import load_scenario
from relief.app.cli import app


def test_generate_then_plan_writes_a_plan_that_passes_the_checker(tmp_path: Path) -> None:
    """A small generated typhoon scenario is planned within 2 s; the written plan passes the
    checker, and the summary shows coverage beside the bound and the baseline."""
    runner = CliRunner()
    scenario = tmp_path / "typhoon.json"
    result = runner.invoke(app, ["scenario", "generate", "--kind", "typhoon", "--sites", "6",
                                 "--seed", "2", "-o", str(scenario)])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "typhoon.meta.json").read_text(encoding="utf-8"))
    assert meta["synthetic"] is True and meta["sites"] == 6
    sc = load_scenario(scenario)
    assert "synthetic" in sc.name

    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["plan", str(scenario), "--time-limit", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    plan = Plan.model_validate_json(out.read_text(encoding="utf-8"))
    assert check(plan, sc).ok
    assert "upper bound" in result.output and "greedy baseline" in result.output
    assert "vehicle timelines" in result.output and "checker: plan ok" in result.output


def test_generation_is_reproducible(tmp_path: Path) -> None:
    """The same kind, size and seed give the same file; another seed another one."""
    runner = CliRunner()
    files = []
    for seed in (5, 5, 6):
        path = tmp_path / f"s{len(files)}.json"
        result = runner.invoke(app, ["scenario", "generate", "--kind", "earthquake",
                                     "--sites", "20", "--seed", str(seed), "-o", str(path)])
        assert result.exit_code == 0, result.output
        files.append(path.read_text(encoding="utf-8"))
    assert files[0] == files[1] != files[2]


def test_flood_closes_roads(tmp_path: Path) -> None:
    """A flood scenario is in road mode with the bridges (and riverside roads) closed."""
    result = CliRunner().invoke(app, ["scenario", "generate", "--kind", "flood", "--sites",
                                      "10", "--seed", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["network"]["mode"] == "road" and len(data["network"]["closed"]) >= 3


def test_bad_scenario_names_the_field_and_the_line(tmp_path: Path) -> None:
    """A scenario with a misspelt capacity fails with the field path and its line."""
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{\n "name": "bad",\n "onset": "2025-08-01T06:00:00+08:00",\n'
        ' "items": [{"code": "w", "unit_kg": 1, "unit_m3": 0.001}],\n'
        ' "sites": [{"id": "A", "lat": 32, "lon": 120.9, "people": 5, "demand": {"w": 1}}],\n'
        ' "sources": [{"id": "D", "tier": "township", "lat": 32, "lon": 120.9}],\n'
        ' "vehicles": [{"id": "t", "source": "D", "capacity_kgs": 10, "capacity_m3": 1}]\n}\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["plan", str(bad), "--time-limit", "1"])
    assert result.exit_code != 0
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "vehicles[0].capacity_kgs" in text and "line 7" in text
    assert not (tmp_path / "bad.plan.json").exists()


def test_unknown_kind_is_rejected() -> None:
    """`--kind` must be typhoon, flood or earthquake."""
    result = CliRunner().invoke(app, ["scenario", "generate", "--kind", "tsunami"])
    assert result.exit_code != 0


def test_fleet_share_keeps_a_reproducible_sample_of_the_same_vehicle_types() -> None:
    """--fleet 0.25 keeps about a quarter of the vehicle units, only types of the full fleet,
    the same sample every time, and leaves sites and stock untouched."""
    runner = CliRunner()

    def generate(*extra: str) -> dict:
        result = runner.invoke(app, ["scenario", "generate", "--kind", "typhoon", "--sites",
                                     "8", "--seed", "3", *extra])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    full, thin, again = generate(), generate("--fleet", "0.25"), generate("--fleet", "0.25")
    units = {v["id"]: v["count"] for v in full["vehicles"]}
    kept = {v["id"]: v["count"] for v in thin["vehicles"]}
    assert thin == again
    assert round(0.25 * sum(units.values())) == sum(kept.values())
    assert all(0 < n <= units[vid] for vid, n in kept.items())
    assert thin["sites"] == full["sites"] and thin["sources"] == full["sources"]
