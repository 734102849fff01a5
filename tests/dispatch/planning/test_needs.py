"""Demand per site: explicit demand, the contract formula, the default first-24-hour standard."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from planning_scenarios import build, line, site

from dispatch.planning.needs import (
    DEFAULT_ITEMS,
    DEFAULT_STANDARD,
    FOOD,
    QUILT,
    SHELTERED_STANDARD,
    TENT,
    WATER,
    NeedsStandard,
    UnknownItemError,
    demand_for,
    households_of,
    scenario_demand,
)
from dispatch.planning.problem import Site

CODES = [WATER, FOOD, QUILT, TENT, "water", "kit"]


def make_site(people: int, **extra) -> Site:
    return Site.model_validate(site("S", 1, people, **extra))


def test_explicit_demand_wins_and_drops_zero_entries():
    """A site's own demand is used as given (zero entries dropped), ignoring the standard."""
    s = make_site(100, demand={"kit": 3, "water": 0})
    assert demand_for(s, DEFAULT_STANDARD, CODES) == {"kit": 3}


def test_contract_formula_with_given_households():
    """ceil(people*per_person + people*per_person_per_day*days + households*per_household)."""
    std = NeedsStandard(
        days=2,
        per_person={"kit": 0.5},
        per_person_per_day={"kit": 0.25},
        per_household={"kit": 1},
    )
    s = make_site(10, households=4)
    # 10*0.5 + 10*0.25*2 + 4*1 = 5 + 5 + 4
    assert demand_for(s, std, CODES) == {"kit": 14}


def test_households_default_to_ceil_people_over_size():
    """Without households, ceil(people / household_size) is used (10 people / 3 -> 4)."""
    std = NeedsStandard(household_size=3.0, per_household={TENT: 1})
    s = make_site(10)
    assert households_of(s, std) == 4
    assert demand_for(s, std, CODES) == {TENT: 4}


def test_float_noise_does_not_round_up():
    """30 people * 0.1 is 3 units, not 4 (3.0000000000000004 is not rounded up)."""
    std = NeedsStandard(per_person={"water": 0.1})
    assert demand_for(make_site(30), std, CODES) == {"water": 3}


def test_unknown_codes_raise():
    """A standard or demand naming an item outside the catalogue raises UnknownItemError."""
    with pytest.raises(UnknownItemError):
        demand_for(make_site(5), NeedsStandard(per_person={"rice": 1}), CODES)
    with pytest.raises(UnknownItemError):
        demand_for(make_site(5, demand={"rice": 1}), DEFAULT_STANDARD, CODES)


def test_default_standard_for_100_people():
    """Default first-24-hour standard for 100 people, 34 households of 3: 23 cases of water
    (3 L each / 13.2 L a case), 25 cases of self-heating rice (3 meals each / 12 a case), 100
    quilts, 34 tents."""
    assert demand_for(make_site(100), DEFAULT_STANDARD, CODES) == {
        WATER: 23,
        FOOD: 25,
        QUILT: 100,
        TENT: 34,
    }


def test_sheltered_standard_has_no_tents():
    """People in a standing shelter get everything but the tent."""
    assert TENT not in demand_for(make_site(100), SHELTERED_STANDARD, CODES)


def test_default_items_define_every_default_code():
    """Every code used by the default standards has one DEFAULT_ITEMS entry with its unit."""
    codes = [i.code for i in DEFAULT_ITEMS]
    assert len(codes) == len(set(codes))
    assert set(DEFAULT_STANDARD.item_codes()) <= set(codes)
    assert all(i.unit_kg > 0 and i.unit_m3 > 0 for i in DEFAULT_ITEMS)


def test_scenario_demand_uses_scenario_needs_or_default():
    """scenario_demand applies the scenario's standard; with none, the default standard."""
    data = line()
    data["needs"] = {"per_person": {"water": 0.5}}
    data["sites"][0].pop("demand")
    assert scenario_demand(build(data))["A"] == {"water": 20}

    data = line()
    data["items"] += [
        {"code": i.code, "name": i.name, "unit_kg": i.unit_kg, "unit_m3": i.unit_m3}
        for i in DEFAULT_ITEMS
    ]
    data["sites"][0].pop("demand")  # A: 40 people -> default standard
    got = scenario_demand(build(data))
    assert got["A"] == {WATER: 10, FOOD: 10, QUILT: 40, TENT: 14}
    assert got["B"] == {"water": 5}


def test_days_scale_only_the_daily_part():
    """days multiplies per_person_per_day, not per_person or per_household."""
    std = NeedsStandard(days=3, per_person={"kit": 1}, per_person_per_day={"water": 1})
    assert demand_for(make_site(4), std, CODES) == {"water": 12, "kit": 4}


def test_default_items_match_the_seed_catalogue():
    """The default standard's codes exist in seed/data/items.csv with the same unit weight and
    volume (skipped when the catalogue is absent)."""
    path = Path(__file__).resolve().parents[3] / "seed" / "data" / "items.csv"
    if not path.exists():
        pytest.skip("seed catalogue not present")
    with path.open(encoding="utf-8") as f:
        rows = {r["code"]: r for r in csv.DictReader(f)}
    for item in DEFAULT_ITEMS:
        row = rows[item.code]
        assert float(row["unit_weight_kg"]) == item.unit_kg, item.code
        assert float(row["unit_volume_m3"]) == item.unit_m3, item.code
