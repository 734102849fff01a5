"""From a library scenario version to the engine's input: the live scenario a dispatcher would
plan if the disaster struck now, built by ``dispatch.live`` itself.

Each affected township becomes up to two sites at the township's point, as a disaster
information officer would report them: the displaced people not in a standing shelter (a
``township`` site: the default needs standard, tents included) and those already sheltered (a
``shelter`` site ``<code>-S``: the same standard without the tent, ``SHELTERED_STANDARD``).
The incident is unsaved, onset = now, deadline = the version's; stock, reserves, lead times,
activations and fleet are whatever ``live.build`` reads for any incident.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from dispatch import live
from dispatch.models import AffectedSite, Incident, IncidentKind, SiteKind
from dispatch.readiness.library import TownshipPeople, township_people
from dispatch.readiness.models import Hazard, InputsSummary, ReadinessScenario, ScenarioVersion

SHELTERED_SUFFIX = "-S"
INCIDENT_KIND: dict[Hazard, IncidentKind] = {
    Hazard.typhoon: IncidentKind.typhoon,
    Hazard.storm_surge: IncidentKind.storm_surge,
    Hazard.yangtze_flood: IncidentKind.flood,
    Hazard.river_flood: IncidentKind.flood,
    Hazard.earthquake: IncidentKind.earthquake,
    Hazard.wind_hail: IncidentKind.other,
    Hazard.forest_fire: IncidentKind.other,
    Hazard.other: IncidentKind.other,
}
# What the digest leaves out: the name and the clock (every time is minutes since onset).
UNDIGESTED = ("name", "onset")


def incident_for(scenario: ReadinessScenario, version: ScenarioVersion, *, onset: datetime,
                 actor: str) -> Incident:
    """The (unsaved) incident a library scenario stands for, striking at ``onset``."""
    return Incident(kind=INCIDENT_KIND[scenario.hazard],
                    name=f"{version.name} ({scenario.code} v{version.version})", onset=onset,
                    deadline_hours=version.deadline_hours, needs=None, created_by=actor)


def sites_for(towns: list[TownshipPeople], incident_id: int | None = None
              ) -> list[AffectedSite]:
    """The (unsaved) affected sites of the townships: unsheltered and sheltered people."""
    out = []
    for t in towns:
        if t.unsheltered > 0:
            out.append(AffectedSite(incident_id=incident_id or 0, code=t.code, name=t.name,
                                    kind=SiteKind.township, lat=t.lat, lon=t.lon,
                                    people=t.unsheltered))
        if t.sheltered > 0:
            out.append(AffectedSite(incident_id=incident_id or 0,
                                    code=t.code + SHELTERED_SUFFIX,
                                    name=f"{t.name}(避难场所)", kind=SiteKind.shelter,
                                    lat=t.lat, lon=t.lon, people=t.sheltered))
    return out


@dataclass(frozen=True)
class Built:
    """A library scenario version as the engine sees it on live data."""

    live: live.LiveScenario
    digest: str
    inputs: InputsSummary


def build(session: Session, scenario: ReadinessScenario, version: ScenarioVersion, *,
          now: datetime, today: date, time_limit_s: float,
          lead_minutes: Mapping[int, int] | None = None,
          stock_adjust: Mapping[tuple[int, int], int] | None = None,
          contract_adjust: Mapping[tuple[str, str], int] | None = None) -> Built:
    """The live scenario of a library version. What-ifs of an advice: ``stock_adjust`` adds
    (depot id, item id) -> units to usable stock (moved, rotated, bought); ``contract_adjust``
    adds (enterprise depot code, item code) -> units to an agreement in force (its source's
    stock is the contracts' committed volume, so more volume is exactly that)."""
    incident = incident_for(scenario, version, onset=now, actor="readiness")
    built = live.build(session, incident, now=now, today=today, time_limit_s=time_limit_s,
                       lead_minutes=lead_minutes, stock_adjust=stock_adjust,
                       sites=sites_for(township_people(session, version)))
    for (depot, code), qty in (contract_adjust or {}).items():
        _add_contract_volume(built, depot, code, qty)
    return Built(live=built, digest=digest(built.scenario), inputs=summary(built))


def _add_contract_volume(built: live.LiveScenario, depot: str, code: str, qty: int) -> None:
    """Add volume to the first agreement source of an enterprise that supplies the item."""
    for entry in built.scenario["sources"]:
        info = built.sources[entry["id"]]
        if info.kind == "agreement" and info.depot == depot and code in entry["stock"]:
            entry["stock"][code] += qty
            info.stock[code] = info.stock.get(code, 0) + qty
            return
    raise ValueError(f"no agreement of {depot} supplies {code}")


def digest(scenario: Mapping[str, Any]) -> str:
    """SHA-256 of the scenario's canonical JSON without its name and onset: equal digests
    mean the engine got exactly the same input."""
    body = {k: v for k, v in scenario.items() if k not in UNDIGESTED}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def summary(built: live.LiveScenario) -> InputsSummary:
    """Counts of what went in (the digest pins the detail)."""
    stock: dict[str, int] = {}
    for info in built.sources.values():
        for code, qty in info.stock.items():
            stock[code] = stock.get(code, 0) + qty
    return InputsSummary(sites=len(built.scenario["sites"]), sources=len(built.sources),
                         vehicles=len(built.scenario["vehicles"]),
                         stock_units=dict(sorted(stock.items())), as_of_min=built.as_of_min)
