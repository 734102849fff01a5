"""The scenario library: per county, the hazards the city's plan names, versioned.

A scenario (``readiness_scenario``) is one hazard of one county-level unit; what it says lives
in immutable versions (``readiness_scenario_version``): the affected townships, the share of
their people displaced, the share of those already sheltered, and where each figure comes
from. An edit writes the next version and makes it current; results keep the version they
ran. Functions run inside the caller's transaction and never commit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.readiness.models import (
    Hazard,
    ReadinessScenario,
    ScenarioContent,
    ScenarioEdit,
    ScenarioIn,
    ScenarioPublic,
    ScenarioVersion,
    TownshipShare,
    VersionPublic,
)
from relief.platform.audit import record
from relief.platform.db import one_or_none
from relief.platform.dbtypes import utcnow
from relief.platform.errors import Conflict, InvalidInput, NotFound
from supplies.models import Division, DivisionLevel

CONTENT_FIELDS = tuple(ScenarioContent.model_fields)


def half_up(x: float) -> int:
    """Round half up (people are whole; Python's round() rounds half to even)."""
    return math.floor(x + 0.5)


@dataclass(frozen=True)
class TownshipPeople:
    """One affected township of a version: where it is and how many people it puts in the
    scenario (displaced; of them, sheltered)."""

    code: str
    name: str
    lat: float
    lon: float
    population: int
    displaced: int
    sheltered: int

    @property
    def unsheltered(self) -> int:
        """Displaced people not in a standing shelter (they need a tent too)."""
        return self.displaced - self.sheltered


def township_people(session: Session, version: ScenarioVersion) -> list[TownshipPeople]:
    """The version's townships with their displaced and sheltered people, in code order.

    displaced = round(population x displaced_share), sheltered = round(displaced x
    sheltered_share), both half up; populations are the divisions' (docs/seed-data.md).
    """
    rows = {d.code: d for d in session.execute(
        select(Division).where(Division.code.in_(version.townships))).scalars()}
    out = []
    for code in sorted(version.townships):
        d = rows.get(code)
        if d is None or d.lat is None or d.lon is None or d.population is None:
            raise Conflict.of("readiness.township_gone", township=code, version=version.id,
                              details={"township": code})
        displaced = half_up(d.population * version.displaced_share)
        out.append(TownshipPeople(code=code, name=d.name, lat=d.lat, lon=d.lon,
                                  population=d.population, displaced=displaced,
                                  sheltered=half_up(displaced * version.sheltered_share)))
    return out


def get_scenario(session: Session, code: str, *, lock: bool = False) -> ReadinessScenario:
    """The library scenario ``code`` or a 404."""
    row = one_or_none(session, select(ReadinessScenario).where(ReadinessScenario.code == code),
                      lock=lock)
    if row is None:
        raise NotFound.of("readiness.scenario_unknown", field="code", code=code)
    return row  # type: ignore[no-any-return]


def current_version(session: Session, scenario: ReadinessScenario) -> ScenarioVersion:
    """The scenario's current version."""
    return version_of(session, scenario, scenario.current_version)


def version_of(session: Session, scenario: ReadinessScenario, version: int) -> ScenarioVersion:
    """Version ``version`` of a scenario, or a 404."""
    row = session.execute(select(ScenarioVersion).where(
        ScenarioVersion.scenario_id == scenario.id, ScenarioVersion.version == version)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound.of("readiness.version_unknown", code=scenario.code, version=version)
    return row


def scenarios(session: Session, *, county: str | None = None, hazard: Hazard | None = None,
              active: bool | None = True) -> list[ReadinessScenario]:
    """Library scenarios in (county, hazard) order, filtered."""
    stmt = select(ReadinessScenario).order_by(ReadinessScenario.county_code,
                                              ReadinessScenario.code)
    if county is not None:
        stmt = stmt.where(ReadinessScenario.county_code == county)
    if hazard is not None:
        stmt = stmt.where(ReadinessScenario.hazard == hazard)
    if active is not None:
        stmt = stmt.where(ReadinessScenario.active.is_(active))
    return list(session.execute(stmt).scalars())


def _county(session: Session, code: str) -> Division:
    division = session.get(Division, code)
    if division is None:
        raise NotFound.of("division.unknown", field="county", code=code)
    if division.level != DivisionLevel.county:
        raise InvalidInput.of("readiness.not_county", field="county", code=code,
                              level=division.level.value)
    return division


def _check_townships(session: Session, county: str, codes: Iterable[str]) -> None:
    """Every township exists, lies in ``county`` and has a place and a population."""
    codes = list(codes)
    found = {d.code: d for d in session.execute(
        select(Division).where(Division.code.in_(codes))).scalars()}
    for i, code in enumerate(codes):
        d = found.get(code)
        field = f"townships.{i}"
        if d is None:
            raise InvalidInput.of("readiness.township_unknown", field=field, code=code)
        if d.level not in (DivisionLevel.township, DivisionLevel.township_other):
            raise InvalidInput.of("site.not_township", field=field, code=code,
                                  level=d.level.value)
        if d.parent_code != county:
            raise InvalidInput.of("readiness.township_elsewhere", field=field, code=code,
                                  name=d.name, county=county)
        if d.lat is None or d.lon is None:
            raise InvalidInput.of("readiness.township_no_place", field=field, code=code,
                                  name=d.name)
        if not d.population:
            raise InvalidInput.of("readiness.township_no_people", field=field, code=code,
                                  name=d.name)


def _new_version(session: Session, scenario: ReadinessScenario, content: ScenarioContent,
                 number: int, actor: str) -> ScenarioVersion:
    _check_townships(session, scenario.county_code, content.townships)
    version = ScenarioVersion(scenario_id=scenario.id or 0, version=number,
                              created_by=actor, **content.model_dump())
    session.add(version)
    session.flush()
    return version


def create_scenario(session: Session, *, data: ScenarioIn, actor: str) -> ReadinessScenario:
    """Add a scenario to the library (version 1)."""
    _county(session, data.county)
    code = data.code or f"{data.county}-{data.hazard.value}"
    if session.execute(select(ReadinessScenario.id).where(ReadinessScenario.code == code)
                       ).first():
        raise Conflict.of("readiness.scenario_exists", field="code", code=code)
    scenario = ReadinessScenario(code=code, county_code=data.county, hazard=data.hazard)
    session.add(scenario)
    session.flush()
    _new_version(session, scenario, ScenarioContent.model_validate(
        data.model_dump(include=set(CONTENT_FIELDS))), 1, actor)
    record(session, actor=actor, action="readiness_scenario.create",
           entity="readiness_scenario", entity_id=code)
    return scenario


def edit_scenario(session: Session, *, code: str, data: ScenarioEdit, actor: str
                  ) -> ReadinessScenario:
    """Change a scenario: a changed content writes the next version (and makes it current);
    ``active`` only switches the scenario in or out of runs."""
    scenario = get_scenario(session, code, lock=True)
    current = current_version(session, scenario)
    changes = data.model_dump(exclude_unset=True)
    active = changes.pop("active", None)
    if active is not None and active != scenario.active:
        scenario.active = active
        record(session, actor=actor, action="readiness_scenario.active",
               entity="readiness_scenario", entity_id=code, details={"active": active})
    merged = {f: getattr(current, f) for f in CONTENT_FIELDS}
    nulled = [f for f, v in changes.items() if v is None and f != "note"]
    if nulled:
        raise InvalidInput.of("readiness.not_null", field=nulled[0])
    merged.update(changes)
    content = ScenarioContent.model_validate(merged)
    if content.model_dump() != ScenarioContent.model_validate(
            {f: getattr(current, f) for f in CONTENT_FIELDS}).model_dump():
        _new_version(session, scenario, content, current.version + 1, actor)
        scenario.current_version = current.version + 1
        record(session, actor=actor, action="readiness_scenario.version",
               entity="readiness_scenario", entity_id=code,
               details={"version": scenario.current_version, "changed": sorted(changes)})
    scenario.updated_at = utcnow()
    session.add(scenario)
    session.flush()
    return scenario


def version_public(session: Session, version: ScenarioVersion) -> VersionPublic:
    """A version with its townships' people."""
    towns = township_people(session, version)
    return VersionPublic(
        id=version.id or 0, version=version.version, name=version.name,
        townships=[TownshipShare(code=t.code, name=t.name, population=t.population,
                                 displaced=t.displaced, sheltered=t.sheltered) for t in towns],
        displaced_share=version.displaced_share, displaced_basis=version.displaced_basis,
        displaced_source=version.displaced_source, sheltered_share=version.sheltered_share,
        sheltered_basis=version.sheltered_basis, sheltered_source=version.sheltered_source,
        townships_source=version.townships_source, deadline_hours=version.deadline_hours,
        note=version.note, people=sum(t.displaced for t in towns),
        created_by=version.created_by, created_at=version.created_at)


def scenario_public(session: Session, scenario: ReadinessScenario) -> ScenarioPublic:
    """A scenario with its current version, as the API returns it."""
    county = session.get_one(Division, scenario.county_code)
    return ScenarioPublic(code=scenario.code, county=scenario.county_code,
                          county_name=county.name, hazard=scenario.hazard,
                          active=scenario.active, current_version=scenario.current_version,
                          current=version_public(session, current_version(session, scenario)),
                          updated_at=scenario.updated_at)


def versions(session: Session, scenario: ReadinessScenario) -> list[ScenarioVersion]:
    """Every version of a scenario, oldest first."""
    return list(session.execute(select(ScenarioVersion).where(
        ScenarioVersion.scenario_id == scenario.id).order_by(ScenarioVersion.version)
    ).scalars())
