"""Needs standard: how much of each item a site needs, per the planning contract.

Demand of a site is its explicit ``demand`` when given, else per item::

    ceil(people * per_person + people * per_person_per_day * days + households * per_household)

with ``households = ceil(people / household_size)`` when the site gives none.

``DEFAULT_STANDARD`` is the first-24-hour standard used when a scenario has no ``needs``;
its numbers and sources are documented in docs/planning.md ("The needs standard"). Its item
codes are defined once, in ``DEFAULT_ITEMS``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from dispatch.planning.problem import Scenario, Site

# Float noise guard for ceil: 0.1 * 30 == 3.0000000000000004 must give 3, not 4.
_CEIL_SLACK = 1e-9

NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def ceil_slack(x: float) -> int:
    """Ceil that ignores float noise below 1e-9 (so 3.0000000000000004 -> 3)."""
    return math.ceil(x - _CEIL_SLACK)


class NeedGroup(BaseModel):
    """A named need (contract v2) and the group of items that meet it.

    The quantity a site needs is ``ceil(people * per_person + people * per_person_per_day *
    days + households * per_household)`` in the need's own ``unit`` (litres, meals, persons,
    households, ...); ``items`` gives, per item code, how many units of need one unit of the
    item meets (e.g. 13.2 L per case of water, 12 meals per case of self-heating rice). A
    ``shelter`` need is zero at a site marked ``sheltered``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(min_length=1)]
    name: str = ""
    unit: Annotated[str, Field(min_length=1)]
    per_person: NonNegFloat = 0.0
    per_person_per_day: NonNegFloat = 0.0
    per_household: NonNegFloat = 0.0
    items: Annotated[dict[str, PosFloat], Field(min_length=1)]
    shelter: bool = False


class NeedsStandard(BaseModel):
    """Per-person, per-person-per-day and per-household quantities, in item units (each item
    its own need), and (contract v2) named needs with substitutes, ``groups``, listed in
    priority order (first = most urgent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0
    household_size: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 3.0
    per_person: dict[str, NonNegFloat] = Field(default_factory=dict)
    per_person_per_day: dict[str, NonNegFloat] = Field(default_factory=dict)
    per_household: dict[str, NonNegFloat] = Field(default_factory=dict)
    groups: list[NeedGroup] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_need_per_item(self) -> NeedsStandard:
        seen: dict[str, str] = {}
        for g in self.groups:
            if g.id in seen.values() or g.id in self.table_codes():
                raise ValueError(f"need id {g.id!r} is used twice (or is an item code of a table)")
            for code in g.items:
                if code in seen:
                    raise ValueError(f"item {code!r} meets two needs ({seen[code]!r}, {g.id!r})")
                if code in self.table_codes():
                    raise ValueError(f"item {code!r} is in need {g.id!r} and in a per-item table")
                seen[code] = g.id
            if g.id in seen:
                raise ValueError(f"need id {g.id!r} is also an item code of a need group")
        return self

    def table_codes(self) -> list[str]:
        """Item codes of the per-item tables, in first-mention order."""
        seen: dict[str, None] = {}
        for table in (self.per_person, self.per_person_per_day, self.per_household):
            for code in table:
                seen.setdefault(code, None)
        return list(seen)

    def item_codes(self) -> list[str]:
        """Item codes this standard mentions (tables, then groups), in first-mention order."""
        seen = dict.fromkeys(self.table_codes())
        for g in self.groups:
            for code in g.items:
                seen.setdefault(code, None)
        return list(seen)

    def restricted_to(self, codes: Iterable[str]) -> NeedsStandard:
        """This standard with group items outside ``codes`` dropped (substitutes the catalogue
        does not hold); groups left with no item are dropped too, so check ``missing_groups``."""
        known = set(codes)
        groups = [
            g.model_copy(update={"items": {c: q for c, q in g.items.items() if c in known}})
            for g in self.groups
        ]
        return self.model_copy(update={"groups": [g for g in groups if g.items]})

    def missing_groups(self, codes: Iterable[str]) -> list[str]:
        """Ids of groups none of whose items is in ``codes``."""
        known = set(codes)
        return [g.id for g in self.groups if not any(c in known for c in g.items)]


@dataclass(frozen=True)
class Need:
    """One need of a scenario: a group of the standard, or one item as its own need (the
    per-item tables and explicit per-item demand). ``items``: units of need per item unit;
    ``rank``: priority position (0 = first)."""

    id: str
    name: str
    unit: str
    items: Mapping[str, float]
    shelter: bool
    rank: int


@dataclass(frozen=True)
class DefaultItem:
    """An item of the default catalogue: a stable code with its unit, weight and volume."""

    code: str
    name: str
    unit: str
    unit_kg: float
    unit_m3: float


# The one place where the default standard's item codes live. The codes and unit figures are
# those of the seed catalogue (seed/data/items.csv, 7-digit codes); a test keeps them equal.
WATER_CASE_LITRES = 24 * 0.55  # 1040101: 24 bottles x 550 ml = 13.2 L
DRINKING_WATER_L_PER_PERSON_DAY = 3.0  # Sphere: 2.5-3 L survival intake; hot typhoon season
MEALS_PER_CASE = 12  # 1050103: self-heating rice, case of 12 meals
MEALS_PER_PERSON_DAY = 3  # three ready-to-eat meals, roughly Sphere's 2,100 kcal
KCAL_PER_MEAL = 700  # 2,100 kcal a day (WFP/UNHCR 1997, Sphere) in three meals
# Energy densities (assumption, docs/planning.md): fried instant noodles and biscuits carry
# 400-500 kcal per 100 g; 450 is taken for both.
NOODLE_MEALS_PER_CASE = 15  # 1050101: 24 packs x ~100 g x 4.5 kcal/g / 700, rounded down
BISCUIT_MEALS_PER_CASE = 64  # 1050102: ~10 kg x 4.5 kcal/g / 700, rounded down

WATER = "1040101"
FOOD = "1050103"
QUILT = "1020101"
TENT = "1010101"
NOODLES = "1050101"
BISCUITS = "1050102"
BLANKET = "1020102"
COTTON_TENT = "1010102"

DEFAULT_ITEMS: tuple[DefaultItem, ...] = (
    DefaultItem(WATER, "瓶装饮用水(24×550 ml)", "case (箱) of 13.2 L", 13.6, 0.023),
    DefaultItem(FOOD, "自热米饭", "case (箱) of 12 meals", 5.5, 0.04),
    DefaultItem(QUILT, "棉被", "piece (床)", 2.5, 0.03),
    DefaultItem(TENT, "单帐篷(12㎡救灾帐篷)", "tent (顶)", 38.0, 0.2),
)
# The substitutes the contract-v2 default standard also accepts (same seed catalogue figures).
SUBSTITUTE_ITEMS: tuple[DefaultItem, ...] = (
    DefaultItem(NOODLES, "方便面", "case (箱) of 24 packs", 2.8, 0.05),
    DefaultItem(BISCUITS, "压缩饼干", "case (箱) of ~10 kg", 10.0, 0.025),
    DefaultItem(BLANKET, "毛毯", "piece (床)", 2.0, 0.015),
    DefaultItem(COTTON_TENT, "棉帐篷(12㎡救灾帐篷)", "tent (顶)", 62.0, 0.32),
)

# Everyone affected gets drinking water, ready-to-eat food for the day and a quilt; every
# household gets a 12 m2 tent (3 people -> 4 m2 each, above Sphere's 3.5 m2). Use
# SHELTERED_STANDARD for people housed in a standing shelter (避难场所), who need no tent.
DEFAULT_STANDARD = NeedsStandard(
    days=1.0,
    household_size=3.0,
    per_person={QUILT: 1.0},
    per_person_per_day={
        WATER: DRINKING_WATER_L_PER_PERSON_DAY / WATER_CASE_LITRES,
        FOOD: MEALS_PER_PERSON_DAY / MEALS_PER_CASE,
    },
    per_household={TENT: 1.0},
)
SHELTERED_STANDARD = DEFAULT_STANDARD.model_copy(update={"per_household": {}})

# Contract v2's default: the same four needs, each met by a group of substitutes, in priority
# order (docs/planning.md, "The needs standard"). Sites marked ``sheltered`` need no shelter.
DEFAULT_STANDARD_V2 = NeedsStandard(
    days=1.0,
    household_size=3.0,
    groups=[
        NeedGroup(id="water", name="饮用水", unit="L",
                  per_person_per_day=DRINKING_WATER_L_PER_PERSON_DAY,
                  items={WATER: WATER_CASE_LITRES}),
        NeedGroup(id="food", name="食品", unit="meal", per_person_per_day=MEALS_PER_PERSON_DAY,
                  items={FOOD: MEALS_PER_CASE, BISCUITS: BISCUIT_MEALS_PER_CASE,
                         NOODLES: NOODLE_MEALS_PER_CASE}),
        NeedGroup(id="shelter", name="住所", unit="household", per_household=1.0,
                  items={TENT: 1.0, COTTON_TENT: 1.0}, shelter=True),
        NeedGroup(id="bedding", name="被褥", unit="person", per_person=1.0,
                  items={QUILT: 1.0, BLANKET: 1.0}),
    ],
)


class UnknownItemError(ValueError):
    """A standard or an explicit demand names an item code that is not in the catalogue."""


def households_of(site: Site, standard: NeedsStandard) -> int:
    """The site's households, or ceil(people / household_size) when it gives none."""
    if site.households is not None:
        return site.households
    return ceil_slack(site.people / standard.household_size)


def _formula(site: Site, households: int, standard: NeedsStandard, pp: float, ppd: float,
             ph: float) -> int:
    return ceil_slack(site.people * pp + site.people * ppd * standard.days + households * ph)


def demand_for(site: Site, standard: NeedsStandard, items: Iterable[str]) -> dict[str, int]:
    """Demand of one site per need id (only positive quantities), in priority order.

    A need id is a group id of the standard (quantity in the group's unit) or an item code
    (the item is its own need; quantity in item units): the per-item tables and explicit
    per-item demand. ``items`` is the catalogue (item codes, or a mapping keyed by code); a
    code in the standard or in the site's explicit demand that is neither in it nor a group
    id raises UnknownItemError. Groups come first (in their order), then items in catalogue
    order.
    """
    order = list(items.keys()) if isinstance(items, Mapping) else list(items)
    known = set(order)
    groups = [g.id for g in standard.groups]
    if site.demand is not None:
        unknown = sorted(set(site.demand) - known - set(groups))
        if unknown:
            raise UnknownItemError(f"site {site.id!r}: demand names unknown items {unknown}")
        return {key: site.demand[key] for key in [*groups, *order] if site.demand.get(key, 0) > 0}
    unknown = sorted(set(standard.table_codes()) - known)
    if unknown:
        raise UnknownItemError(f"needs standard names unknown items {unknown}")
    households = households_of(site, standard)
    out: dict[str, int] = {}
    for g in standard.groups:
        if g.shelter and getattr(site, "sheltered", False):
            continue
        n = _formula(site, households, standard, g.per_person, g.per_person_per_day,
                     g.per_household)
        if n > 0:
            out[g.id] = n
    for code in order:
        n = _formula(site, households, standard, standard.per_person.get(code, 0.0),
                     standard.per_person_per_day.get(code, 0.0),
                     standard.per_household.get(code, 0.0))
        if n > 0:
            out[code] = n
    return out


@dataclass(frozen=True)
class Demand:
    """Every need of a scenario and what each site needs (see ``scenario_needs``).

    ``needs``: need id -> Need, in priority order; ``by_site``: site id -> need id -> quantity
    (positive only, in the need's unit); ``item_need``: site id -> item code -> the need of
    that site the item meets (items meeting none of the site's needs are absent).
    """

    needs: dict[str, Need]
    by_site: dict[str, dict[str, int]]
    item_need: dict[str, dict[str, str]]

    def met(self, site_id: str, units: Mapping[str, int]) -> dict[str, float]:
        """Units of each of the site's needs met by these item units (capped nowhere)."""
        out = dict.fromkeys(self.by_site[site_id], 0.0)
        mapping = self.item_need[site_id]
        for code, q in units.items():
            need = mapping.get(code)
            if need is not None and q:
                out[need] += q * self.needs[need].items[code]
        return out

    def covered(self, site_id: str, units: Mapping[str, int]) -> bool:
        """True when these item units meet every need of the site."""
        met = self.met(site_id, units)
        return all(met[n] >= q - NEED_SLACK for n, q in self.by_site[site_id].items())


NEED_SLACK = 1e-9  # need units: 3 cases x 13.2 L meet 39.6 L even with float noise


def scenario_needs(scenario: Scenario) -> Demand:
    """The scenario's needs (groups of its standard, then items as their own needs, in
    catalogue order) and every site's demand per need."""
    standard = scenario.needs_standard()
    codes = [item.code for item in scenario.items]
    names = {item.code: item.name for item in scenario.items}
    needs: dict[str, Need] = {}
    for rank, g in enumerate(standard.groups):
        needs[g.id] = Need(g.id, g.name, g.unit, dict(g.items), g.shelter, rank)
    base = len(standard.groups)
    by_site: dict[str, dict[str, int]] = {}
    item_need: dict[str, dict[str, str]] = {}
    for site in scenario.sites:
        want = demand_for(site, standard, codes)
        by_site[site.id] = want
        mapping: dict[str, str] = {}
        for key in want:
            if key not in needs:
                needs[key] = Need(key, names.get(key, key), "unit", {key: 1.0}, False,
                                  base + codes.index(key))
            for code in needs[key].items:
                mapping[code] = key
        item_need[site.id] = mapping
    ordered = dict(sorted(needs.items(), key=lambda kv: kv[1].rank))
    return Demand(ordered, by_site, item_need)


def scenario_demand(scenario: Scenario) -> dict[str, dict[str, int]]:
    """Demand of every site of a scenario, keyed by site id then need id (an item code for
    per-item needs; uses the scenario's standard or the default)."""
    return scenario_needs(scenario).by_site
