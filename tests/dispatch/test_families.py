"""Scenario families (contract v2) and their v1 twins, and the benchmark's manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dispatch.families import FAMILIES, family_params, generate_family
from dispatch.planning.plan import check
from dispatch.planning.problem import LIVE_DRIVER_RULES, Scenario
from relief.app.cli import app

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("family", FAMILIES)
def test_family_scenarios_use_the_v2_features_live_plans_use(family):
    """Every family scenario is contract v2: enterprise trucks at their yards loading
    anywhere, depot trucks at home, the live driver rules, per-tonne unloading, needs with
    substitutes, evacuees' shelters sheltered; synthetic head counts are labelled so; the
    same arguments give the same scenario."""
    data, meta = generate_family(family, 12, 5)
    assert data == generate_family(family, 12, 5)[0]
    sc = Scenario.model_validate(data)
    assert sc.contract_version == 2 and meta["synthetic"] and "synthetic" in sc.name
    assert all(s.name.endswith("(合成)") for s in sc.sites)
    yards = {b.id for b in sc.bases}
    enterprise = [v for v in sc.vehicles if v.base in yards]
    assert enterprise and all(v.loads_at == "any" and v.source is None for v in enterprise)
    assert all(v.loads_at == "home" for v in sc.vehicles if v.base not in yards)
    assert sc.policy.drivers == LIVE_DRIVER_RULES and sc.policy.unload_min_per_t > 0
    assert {"water", "food", "shelter", "bedding"} <= set(sc.demand.needs)
    sheltered = meta["kind"] in ("typhoon", "flood")
    assert all(s.sheltered == sheltered for s in sc.sites)


def test_the_v1_twin_has_the_same_people_and_roads():
    """The twin (for the engine of contract v1) has the same sites and closures, and
    expresses the enterprise trucks as v1 could (at depots, loading there)."""
    v2, _ = generate_family("road-flood", 15, 2)
    v1, meta = generate_family("road-flood", 15, 2, contract=1)
    twin = Scenario.model_validate(v1)
    assert twin.contract_version == 1 and meta["contract_version"] == 1
    assert [(s["id"], s["people"]) for s in v1["sites"]] == [
        (s["id"], s["people"]) for s in v2["sites"]]
    assert v1["network"]["closed"] == v2["network"]["closed"]
    assert all(v.source is not None for v in twin.vehicles) and not twin.bases


def test_fleet_bound_keeps_a_tenth_to_a_quarter_of_the_fleet():
    """The fleet-bound family samples 10-25 % of the physical vehicles."""
    full, _ = generate_family("typhoon", 10, 3)
    units = sum(v["count"] for v in full["vehicles"])
    for seed in (1, 2, 3, 4):
        share = family_params("fleet-bound", seed).fleet
        assert 0.10 <= share <= 0.25
        _, meta = generate_family("fleet-bound", 10, seed)
        assert meta["vehicle_units"] <= 0.3 * units


def test_the_greedy_baseline_passes_the_checker_on_a_family_scenario():
    """The floor of every engine follows every v2 rule on a family scenario."""
    from dispatch.planning.baseline import greedy_baseline

    sc = Scenario.model_validate(generate_family("earthquake", 25, 4)[0])
    plan = greedy_baseline(sc)
    assert check(plan, sc).ok, str(check(plan, sc))


def test_the_benchmark_manifest_splits_forty_scenarios_in_halves():
    """bench/families.json: at least 40 fixed scenarios over the five families, 30-600
    sites, half tune and half held out, each family in both halves."""
    rows = json.loads((ROOT / "bench" / "families.json").read_text())["scenarios"]
    assert len(rows) >= 40 and len({(r["family"], r["sites"], r["seed"]) for r in rows}) == len(
        rows)
    assert {r["family"] for r in rows} == set(FAMILIES)
    assert min(r["sites"] for r in rows) == 30 and max(r["sites"] for r in rows) == 600
    for family in FAMILIES:
        splits = [r["split"] for r in rows if r["family"] == family]
        assert splits.count("tune") == splits.count("held_out") > 0


def test_cli_generates_a_family(tmp_path):
    """`relief scenario generate --family` writes the v2 scenario (and --contract 1 its
    twin); --kind and --family together are refused."""
    runner = CliRunner()
    out = tmp_path / "f.json"
    result = runner.invoke(app, ["scenario", "generate", "--family", "typhoon", "--sites", "8",
                                 "--seed", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["contract_version"] == 2
    result = runner.invoke(app, ["scenario", "generate", "--family", "typhoon", "--kind",
                                 "flood"])
    assert result.exit_code != 0
