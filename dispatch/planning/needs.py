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

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from dispatch.planning.problem import Scenario, Site

# Float noise guard for ceil: 0.1 * 30 == 3.0000000000000004 must give 3, not 4.
_CEIL_SLACK = 1e-9

NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]


def ceil_slack(x: float) -> int:
    """Ceil that ignores float noise below 1e-9 (so 3.0000000000000004 -> 3)."""
    return math.ceil(x - _CEIL_SLACK)


class NeedsStandard(BaseModel):
    """Per-person, per-person-per-day and per-household quantities, in item units."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0
    household_size: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 3.0
    per_person: dict[str, NonNegFloat] = Field(default_factory=dict)
    per_person_per_day: dict[str, NonNegFloat] = Field(default_factory=dict)
    per_household: dict[str, NonNegFloat] = Field(default_factory=dict)

    def item_codes(self) -> list[str]:
        """Item codes this standard mentions, in first-mention order."""
        seen: dict[str, None] = {}
        for table in (self.per_person, self.per_person_per_day, self.per_household):
            for code in table:
                seen.setdefault(code, None)
        return list(seen)


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

WATER = "1040101"
FOOD = "1050103"
QUILT = "1020101"
TENT = "1010101"

DEFAULT_ITEMS: tuple[DefaultItem, ...] = (
    DefaultItem(WATER, "瓶装饮用水(24×550 ml)", "case (箱) of 13.2 L", 13.6, 0.023),
    DefaultItem(FOOD, "自热米饭", "case (箱) of 12 meals", 5.5, 0.04),
    DefaultItem(QUILT, "棉被", "piece (床)", 2.5, 0.03),
    DefaultItem(TENT, "单帐篷(12㎡救灾帐篷)", "tent (顶)", 38.0, 0.2),
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


class UnknownItemError(ValueError):
    """A standard or an explicit demand names an item code that is not in the catalogue."""


def households_of(site: Site, standard: NeedsStandard) -> int:
    """The site's households, or ceil(people / household_size) when it gives none."""
    if site.households is not None:
        return site.households
    return ceil_slack(site.people / standard.household_size)


def demand_for(site: Site, standard: NeedsStandard, items: Iterable[str]) -> dict[str, int]:
    """Demand of one site per item code (only positive quantities), in catalogue order.

    ``items`` is the catalogue (item codes, or a mapping keyed by code); a code in the
    standard or in the site's explicit demand that is not in it raises UnknownItemError.
    """
    order = list(items.keys()) if isinstance(items, Mapping) else list(items)
    known = set(order)
    if site.demand is not None:
        unknown = sorted(set(site.demand) - known)
        if unknown:
            raise UnknownItemError(f"site {site.id!r}: demand names unknown items {unknown}")
        return {code: site.demand[code] for code in order if site.demand.get(code, 0) > 0}
    unknown = sorted(set(standard.item_codes()) - known)
    if unknown:
        raise UnknownItemError(f"needs standard names unknown items {unknown}")
    people = site.people
    households = households_of(site, standard)
    out: dict[str, int] = {}
    for code in order:
        qty = (
            people * standard.per_person.get(code, 0.0)
            + people * standard.per_person_per_day.get(code, 0.0) * standard.days
            + households * standard.per_household.get(code, 0.0)
        )
        n = ceil_slack(qty)
        if n > 0:
            out[code] = n
    return out


def scenario_demand(scenario: Scenario) -> dict[str, dict[str, int]]:
    """Demand of every site of a scenario, keyed by site id (uses its standard or the default)."""
    standard = scenario.needs_standard()
    codes = [item.code for item in scenario.items]
    return {site.id: demand_for(site, standard, codes) for site in scenario.sites}
