"""Per county: the latest readiness of each library scenario, the worst of them with its
binding reason, and, per item of the needs standard (and any other item a scenario misses),
the reserve catalogue's quota shortfall beside the scenario gap (units and tonnes). Reads
only."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.planning.needs import DEFAULT_ITEMS
from dispatch.readiness.models import ResultPublic
from dispatch.readiness.service import latest_results
from supplies import reports
from supplies.models import Division, DivisionLevel, Item


class ItemComparison(BaseModel):
    """One item of one county: what the catalogue's quotas miss and what the worst scenario
    leaves undelivered by the deadline."""

    item: str
    name_zh: str
    name_en: str
    unit: str
    quota_shortfall: int
    quota_shortfall_t: float
    scenario_gap: int
    scenario_gap_t: float
    gap_scenario: str | None


class CountyReadiness(BaseModel):
    """A county-level unit's readiness over its library scenarios."""

    code: str
    name: str
    population: int | None
    results: list[ResultPublic]
    worst: ResultPublic | None
    items: list[ItemComparison]

    @property
    def coverage(self) -> float | None:
        """The worst scenario's covered share (None before any run)."""
        return self.worst.coverage if self.worst else None


def _county_of(divisions: dict[str, Division], code: str) -> str | None:
    current: str | None = code
    while current is not None and current in divisions:
        if divisions[current].level == DivisionLevel.county:
            return current
        current = divisions[current].parent_code
    return None


def counties(session: Session, *, today: date) -> list[CountyReadiness]:
    """Every county-level unit in code order, with its latest results and item comparison."""
    divisions = {d.code: d for d in session.execute(select(Division)).scalars()}
    items = {i.code: i for i in session.execute(select(Item)).scalars()}
    by_county: dict[str, list[ResultPublic]] = defaultdict(list)
    for r in latest_results(session):
        by_county[r.county].append(r)
    short: dict[tuple[str, str], int] = defaultdict(int)
    for row in reports.shortfall(session, today=today):
        county = _county_of(divisions, row.division_code)
        if county is not None and row.shortfall > 0:
            short[(county, row.item)] += row.shortfall
    out = []
    for d in sorted(divisions.values(), key=lambda x: x.code):
        if d.level != DivisionLevel.county:
            continue
        results = by_county.get(d.code, [])
        worst = min(results, key=lambda r: (r.coverage, -r.people, r.scenario), default=None)
        gap: dict[str, tuple[int, str]] = {}
        for r in results:
            for g in r.gaps:
                if g.units > gap.get(g.item, (0, ""))[0]:
                    gap[g.item] = (g.units, r.scenario)
        kit = [k.code for k in DEFAULT_ITEMS]
        codes = [*kit, *sorted(set(gap) - set(kit))]
        comparison = []
        for code in codes:
            item = items.get(code)
            kg = item.unit_weight_kg if item else 0.0
            units, where = gap.get(code, (0, None))
            comparison.append(ItemComparison(
                item=code, name_zh=item.name_zh if item else code,
                name_en=item.name_en if item else code, unit=item.unit if item else "",
                quota_shortfall=short.get((d.code, code), 0),
                quota_shortfall_t=round(short.get((d.code, code), 0) * kg / 1000, 3),
                scenario_gap=units, scenario_gap_t=round(units * kg / 1000, 3),
                gap_scenario=where))
        out.append(CountyReadiness(code=d.code, name=d.name, population=d.population,
                                   results=results, worst=worst, items=comparison))
    return out
