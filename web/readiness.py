"""Readiness before a disaster: per county, how much of its population's first-day needs the
reserves it can have within 10 hours would cover.

Supply is ``supplies.reports.reserves(hours=10)`` (usable physical stock now, agreement reserves
whose lead time fits, capacity output produced in time). Demand is the planning engine's default
needs standard (``dispatch.planning.needs.DEFAULT_STANDARD``: water, ready meals, a quilt per
person, a tent per household, for one day) applied to the county's 2020 census population,
through the engine's own ``demand_for``. Per item, the share is min(1, supply / demand); a
county's overall share is the smallest of its items' shares, i.e. the share of its people whose
whole first-day kit is within reach. City-level reserves (the city depot, city agreements) are
shown on their own row and count in the city-wide total only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.planning.needs import DEFAULT_ITEMS, DEFAULT_STANDARD, demand_for
from dispatch.planning.problem import Site
from supplies import reports
from supplies.models import Division, DivisionLevel, Item

HOURS = 10.0


@dataclass(frozen=True)
class ItemReadiness:
    """One item of the first-day kit for one county."""

    item: str
    name_zh: str
    name_en: str
    unit: str
    needed: int
    within: int

    @property
    def share(self) -> float:
        """The fraction of the need the reserves within reach cover (at most 1)."""
        return 1.0 if self.needed == 0 else min(1.0, self.within / self.needed)

    @property
    def gap(self) -> int:
        """Units missing to cover everyone."""
        return max(0, self.needed - self.within)


@dataclass(frozen=True)
class CountyReadiness:
    """A county (or the city-level reserves, or the city total) and its kit items."""

    code: str
    name: str
    population: int | None
    items: list[ItemReadiness]
    kind: str  # county | city_reserves | total

    @property
    def share(self) -> float | None:
        """The share of the population whose whole kit is covered (None without population)."""
        if not self.population:
            return None
        return min((i.share for i in self.items), default=1.0)

    @property
    def people_covered(self) -> int | None:
        """People whose whole first-day kit the reserves within reach cover."""
        share = self.share
        return None if share is None or self.population is None else int(self.population * share)

    @property
    def weakest(self) -> ItemReadiness | None:
        """The item that limits the county's readiness."""
        return min(self.items, key=lambda i: i.share) if self.items and self.population else None


def _demand(code: str, people: int, items: list[str]) -> dict[str, int]:
    site = Site(id=code, name=code, lat=0.0, lon=0.0, people=people)
    return demand_for(site, DEFAULT_STANDARD, items)


def readiness(session: Session, *, today: date, hours: float = HOURS) -> list[CountyReadiness]:
    """Rows for every county, then the city-level reserves, then the city-wide total."""
    kit = [d.code for d in DEFAULT_ITEMS]
    catalogue = {i.code: i for i in session.execute(select(Item)).scalars()}
    within: dict[tuple[str, str], int] = {}
    for row in reports.reserves(session, today=today, hours=hours):
        within[(row.county, row.item)] = row.within_hours
    divisions = list(session.execute(select(Division).where(
        Division.level.in_([DivisionLevel.city, DivisionLevel.county]))
        .order_by(Division.code)).scalars())
    city = next((d for d in divisions if d.level == DivisionLevel.city), None)

    def items_for(codes: list[str], people: int | None) -> list[ItemReadiness]:
        need = _demand("x", people or 0, kit) if people else {}
        out = []
        for d in DEFAULT_ITEMS:
            item = catalogue.get(d.code)
            out.append(ItemReadiness(
                item=d.code, name_zh=item.name_zh if item else d.name,
                name_en=item.name_en if item else d.name, unit=item.unit if item else "",
                needed=need.get(d.code, 0),
                within=sum(within.get((c, d.code), 0) for c in codes)))
        return out

    rows = [CountyReadiness(code=d.code, name=d.name, population=d.population,
                            items=items_for([d.code], d.population), kind="county")
            for d in divisions if d.level == DivisionLevel.county]
    if city is not None:
        rows.append(CountyReadiness(code=city.code, name=city.name, population=None,
                                    items=items_for([city.code], None), kind="city_reserves"))
        population = city.population or sum(r.population or 0 for r in rows) or None
        rows.append(CountyReadiness(code=city.code, name=city.name, population=population,
                                    items=items_for([d.code for d in divisions], population),
                                    kind="total"))
    return rows
