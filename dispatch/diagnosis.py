"""Why a live plan leaves demand unmet, in words a dispatcher can act on.

The engine names each shortfall's binding resource (``unmet[].reason``: ``unreachable``,
``stock``, ``lead_time``, ``fleet_time``; docs/planning.md). On a live scenario those reasons
see vehicles busy on approved trips as not available until those trips end, so a fleet held
until the deadline reads as "no stock within reach" or "unreachable". This module asks the
engine again with the busy vehicles free now (``dispatch.planning.plan.evaluate`` on the same
routes): a shortfall whose reason then becomes ``fleet_time`` is ``fleet_busy`` (the stock is
there and could be brought, the trucks are held), and the diagnosis says until when the fleet
is busy (the first and the last busy vehicle's free time).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo

from pydantic import BaseModel

from dispatch.planning.network import build_network
from dispatch.planning.plan import Plan, evaluate
from dispatch.planning.problem import Scenario, load_scenario
from relief.platform.messages import render

FLEET_BUSY = "fleet_busy"


class UnmetWhy(BaseModel):
    """One shortfall with the engine's reason and the true one."""

    site: str
    need: str
    qty: float
    unit: str | None
    engine_reason: str
    reason: str


class FleetBusy(BaseModel):
    """Vehicles held by live trips when the plan was made."""

    vehicles: int
    first_free_min: int
    last_free_min: int
    first_free_at: datetime
    last_free_at: datetime


class Diagnosis(BaseModel):
    """Why demand stays unmet: counts per reason, the fleet's busy time, and a sentence: its
    catalogue key and parameters (``key``, ``params``; rendered in the reader's language by the
    console) and both texts as rendered when the plan was made."""

    reasons: dict[str, int]
    fleet_busy: FleetBusy | None
    unmet: list[UnmetWhy]
    message_zh: str
    message: str
    key: str | None = None
    params: dict[str, str | int] = {}


def diagnose(scenario: Scenario, plan: Plan, *, busy: Mapping[str, int], as_of_min: int,
             tz: tzinfo) -> Diagnosis:
    """The plan's shortfalls with their true reasons (module docstring); ``busy``: vehicle id
    -> minute it is free after its live trips (only vehicles busy past ``as_of_min``)."""
    onset = (scenario.onset if isinstance(scenario.onset, datetime)
             else datetime.fromisoformat(str(scenario.onset)))
    held = {v: t for v, t in busy.items() if t > as_of_min}
    freed_reason: dict[tuple[str, str], str] = {}
    if plan.unmet and held:
        data = json.loads(scenario.model_dump_json(by_alias=True, exclude_none=True))
        for v in data["vehicles"]:
            if v["id"] in held:
                v["available_min"] = as_of_min
        freed = load_scenario(json.dumps(data))
        ev = evaluate(freed, plan.routes, build_network(freed))
        freed_reason = {(u.site, u.item): str(u.reason) for u in ev.unmet}
    rows = []
    for u in plan.unmet:
        engine = str(u.reason)
        reason = (FLEET_BUSY if engine != "fleet_time"
                  and freed_reason.get((u.site, u.item)) == "fleet_time" else engine)
        rows.append(UnmetWhy(site=u.site, need=u.item, qty=float(u.qty), unit=u.unit,
                             engine_reason=engine, reason=reason))
    counts = dict(sorted(Counter(r.reason for r in rows).items()))
    fleet = None
    if held:
        first, last = min(held.values()), max(held.values())
        fleet = FleetBusy(vehicles=len(held), first_free_min=first, last_free_min=last,
                          first_free_at=onset + timedelta(minutes=first),
                          last_free_at=onset + timedelta(minutes=last))
    key, params = _sentence(counts, fleet, len(rows), tz)
    return Diagnosis(reasons=counts, fleet_busy=fleet, unmet=rows,
                     message_zh=render(key, "zh", params), message=render(key, "en", params),
                     key=key, params=params)


def _sentence(counts: Mapping[str, int], fleet: FleetBusy | None, total: int, tz: tzinfo
              ) -> tuple[str, dict[str, str | int]]:
    params: dict[str, str | int]
    if not total:
        key, params = "diag.all_met", {}
    elif counts.get(FLEET_BUSY) and fleet is not None:
        key = "diag.fleet_busy"
        params = {"n": counts[FLEET_BUSY], "total": total, "vehicles": fleet.vehicles,
                  "first": f"{fleet.first_free_at.astimezone(tz):%H:%M}",
                  "last": f"{fleet.last_free_at.astimezone(tz):%H:%M}"}
    else:
        top = max(counts, key=lambda k: counts[k])
        key, params = "diag.top_reason", {"n": counts[top], "total": total, "reason": top}
    return key, params
