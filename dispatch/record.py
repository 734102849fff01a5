"""The typed record of a plan: the engine's plan, its sources and its vehicle map.

A planning job stores, with its plan, everything approval, the reports, the CLI and the
console need to turn the engine's identifiers back into live records:

* ``plan``: the engine's :class:`dispatch.planning.plan.Plan` (routes, trips, stops, figures);
* ``sources``: scenario source id -> :class:`PlanSource` (depot, tier, kind, what it held);
* ``vehicles``: the engine's vehicle unit id -> :class:`PlanVehicle` (plate, vehicle id);
* ``outline``: the places of the scenario (names and coordinates of sites and sources) and
  its deadline, read without the road network;
* ``diagnosis``: why demand stays unmet, when the job diagnosed it (dispatch.diagnosis).

:func:`record_of` reads the three JSON columns of a ``dispatch_plan`` row into one validated
record; nothing downstream navigates string keys or takes plates apart.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.diagnosis import Diagnosis
from dispatch.models import DispatchPlan, JobStatus
from dispatch.planning.plan import Plan, Route, Trip
from dispatch.planning.problem import Scenario
from relief.platform.db import one_or_none
from relief.platform.errors import Conflict, NotFound

SourceKind = Literal["stock", "agreement", "capacity"]


class PlanSource(BaseModel):
    """Where a scenario source comes from: its depot, tier, kind, lead time and what it held
    when the plan was made (item code -> units)."""

    depot: str
    depot_id: int
    tier: str
    kind: SourceKind
    lead_min: int
    stock: dict[str, int]


class PlanVehicle(BaseModel):
    """One engine vehicle unit and the live vehicle it stands for."""

    model_config = ConfigDict(frozen=True)

    unit: str
    plate: str
    vehicle_id: int | None


class PlanPlace(BaseModel):
    """A site or source of the scenario: id, name and coordinates."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    name: str = ""
    lat: float
    lon: float


class ScenarioOutline(BaseModel):
    """What the read side needs of a scenario: its deadline and its places."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    deadline_min: int
    sites: list[PlanPlace]
    sources: list[PlanPlace]


class Violation(BaseModel):
    """One rule the plan checker found broken."""

    code: str
    path: str
    message: str


class PlanVerdict(BaseModel):
    """The independent checker's verdict on a plan."""

    ok: bool
    violations: list[Violation] = []


class PlanRecord(BaseModel):
    """A finished plan with its sources, its vehicle map and its scenario's places."""

    plan_id: int
    plan: Plan
    sources: dict[str, PlanSource]
    vehicles: dict[str, PlanVehicle]
    outline: ScenarioOutline
    verdict: PlanVerdict
    diagnosis: Diagnosis | None = None

    def source(self, trip: Trip) -> PlanSource:
        """The source a trip loads at."""
        return self.sources[trip.source]

    def vehicle(self, route: Route) -> PlanVehicle:
        """The live vehicle of a route."""
        return self.vehicles[route.vehicle]

    def tiers(self) -> set[str]:
        """Every tier the plan draws on."""
        return {self.source(t).tier for r in self.plan.routes for t in r.trips}

    def site_place(self, site: str) -> PlanPlace | None:
        """A site's name and coordinates."""
        return next((p for p in self.outline.sites if p.id == site), None)

    def source_place(self, source: str) -> PlanPlace | None:
        """A source's name and coordinates."""
        return next((p for p in self.outline.sources if p.id == source), None)


def vehicle_map(scenario: Scenario, vehicle_ids: dict[str, int]) -> dict[str, PlanVehicle]:
    """The engine's vehicle units of a live scenario -> the vehicles they stand for
    (``vehicle_ids``: plate -> vehicle id; every live scenario vehicle is one plate)."""
    return {u.id: PlanVehicle(unit=u.id, plate=u.type_id, vehicle_id=vehicle_ids.get(u.type_id))
            for u in scenario.vehicle_units}


def verdict_of(ok: bool, violations: list[Any]) -> PlanVerdict:
    """The checker's report as a stored verdict."""
    return PlanVerdict(ok=ok, violations=[
        Violation(code=v.code, path=v.path, message=v.message) for v in violations])


def get_plan(session: Session, plan_id: int, *, incident_id: int | None = None,
             lock: bool = False) -> DispatchPlan:
    """A plan (job) or a 404."""
    plan = one_or_none(session, select(DispatchPlan).where(DispatchPlan.id == plan_id),
                       lock=lock)
    if plan is None or (incident_id is not None and plan.incident_id != incident_id):
        raise NotFound.of("plan.unknown", plan=plan_id)
    return plan


def has_record(plan: DispatchPlan) -> bool:
    """Whether a job finished with a plan (and so has a record)."""
    return plan.status == JobStatus.succeeded and plan.result is not None


def record_of(plan: DispatchPlan) -> PlanRecord:
    """The typed record of a finished plan (409 ``plan.not_ready`` while it has none)."""
    if not has_record(plan) or plan.scenario is None or plan.sources is None \
            or plan.vehicles is None or plan.verdict is None:
        raise Conflict.of("plan.not_ready", plan=plan.id, status=plan.status.value)
    return PlanRecord(plan_id=plan.id or 0, plan=Plan.model_validate(plan.result),
                      sources=plan.sources, vehicles=plan.vehicles,
                      outline=ScenarioOutline.model_validate(plan.scenario),
                      verdict=PlanVerdict.model_validate(plan.verdict),
                      diagnosis=(Diagnosis.model_validate(plan.diagnosis)
                                 if plan.diagnosis is not None else None))
