"""A disaster day on the seeded city: plan, approve, depart half, then at +4 h three road
closures and head counts +30 %, re-plan, confirm; coverage at the deadline against a plan
made from scratch at +4 h with every truck free at its true time (the reference).

Setting (synthetic where the seed lacks data, labelled so): a fresh SQLite database with the
Nantong seed; the typhoon of ``dispatch.scenarios`` (coastal 如东/启东/海门 townships, synthetic
head counts, ``--sites`` shelters, x ``--scale``), every site a shelter (避难场所: sheltered,
no tent); every agreement enterprise activated at onset for its whole contract and every
producer for one day's output (what a dispatcher calls at a typhoon's landfall).

The clock is **simulated**: the day is put 11 hours in the past (onset = now - 11 h) and use
cases are called with explicit times after onset (planning builds ``dispatch.live`` at +0 and
+4 h; approvals, departures, arrivals and cancellations are stamped at their simulated
minute), so a 10-hour day runs in minutes and no time recorded lies in the future. Steps:

1. +0: plan (engine, ``--time-limit``), approve (reservations, draws);
2. depart the earlier half of the trips (at their planned minute); at +4 h confirm every stop
   of those trips planned by then, as planned;
3. +4 h: three closures (one road edge at each of the three most populous sites with a
   pending stop: the edge at the road node nearest to it) and every head count +30 %; the
   approved trips are re-timed (late, past the deadline, cut off);
4. the database is copied three ways and each copy re-plans at +4 h, is approved and
   executed through the HTTP API, in process (trips depart at their re-timed minute, stops
   are confirmed at their re-timed arrival when that is by the deadline; cut-off trips are
   cancelled):
   * ``re-optimise``: the approved trips not yet departed re-planned with the new demand
     (``reoptimise``), same time limit;
   * ``keep``: approved trips stand, the new demand planned with the trucks free after them;
   * ``reference``: the re-optimisation's scenario (every truck free at its true time,
     everything not departed planned from scratch) with ``--ref-factor`` times the limit;
5. coverage at the deadline = people at sites whose every need was delivered by the deadline
   (``/incidents/{id}/coverage``'s delivered figure at the deadline); target: the
   re-optimisation >= 95 % of the reference.

Usage: python -m bench.disaster_day [--runs 3] [--sites 20] [--scale 3] [--time-limit 20]
       [--ref-factor 3] [--out bench/results/disaster_day.md]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.machine import describe
from bench.pages import write_keeping_notes
from dispatch import activations, live, reports, retime, service
from dispatch.diagnosis import diagnose
from dispatch.flows import inline_planner
from dispatch.models import (
    AffectedSite,
    DispatchPlan,
    Incident,
    IncidentKind,
    JobStatus,
    Shipment,
    ShipmentStatus,
    ShipmentStop,
    SiteKind,
    StopStatus,
)
from dispatch.models.activations import ActivationIn
from dispatch.models.incidents import ClosureIn, HeadCountIn
from dispatch.planning.plan import Plan, check
from dispatch.planning.problem import load_scenario
from dispatch.record import vehicle_map, verdict_of
from dispatch.roads import load_graph
from dispatch.scenarios import generate_scenario
from relief.app import migrations
from relief.app.main import create_app
from relief.platform.auth import create_token
from relief.platform.db import Database, make_engine
from relief.platform.dbtypes import utcnow
from relief.platform.models import Role
from relief.platform.settings import DEFAULT_RATE_LIMITS, RateLimit, Settings
from supplies.ledger import verify
from supplies.models import AgreementReserve, CapacityReserve

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.95
REPLAN_AT = 240  # minutes after onset
# The bench's own requests are not throttled (as in the tests).
UNLIMITED = {role: RateLimit(per_s=100_000, burst=1_000_000) for role in DEFAULT_RATE_LIMITS}
MODES = ("reoptimise", "keep", "reference")


@dataclass
class Clock:
    """The simulated day: onset and the minute "now" stands at."""

    onset: datetime

    def at(self, minute: float) -> datetime:
        """The instant ``minute`` minutes after onset."""
        return self.onset + timedelta(minutes=minute)


def _seed(url: str, today: Any) -> Database:
    from seed.loader import load

    migrations.upgrade(url)
    db = Database(engine=make_engine(url))
    db.write(lambda s: load(s, today=today))
    return db


def _incident(db: Database, clock: Clock, sites: list[dict[str, Any]], today: Any) -> int:
    def make(session: Session) -> int:
        incident = Incident(kind=IncidentKind.typhoon, name="台风登陆 启东-海门(合成演练)",
                            onset=clock.onset, deadline_hours=10, created_by="bench",
                            created_at=clock.onset)
        session.add(incident)
        session.flush()
        for s in sites:
            session.add(AffectedSite(incident_id=incident.id or 0, code=s["id"],
                                     name=s["name"], kind=SiteKind.shelter, lat=s["lat"],
                                     lon=s["lon"], people=s["people"]))
        session.flush()
        for a in session.execute(select(AgreementReserve).where(
                AgreementReserve.valid_from <= today,
                AgreementReserve.valid_to >= today)).scalars():
            activations.activate(session, incident_id=incident.id or 0, data=ActivationIn(
                agreement=a.id, quantity=a.committed_quantity, activated_at=clock.onset),
                actor="bench", today=today)
        for c in session.execute(select(CapacityReserve)).scalars():
            activations.activate(session, incident_id=incident.id or 0, data=ActivationIn(
                capacity=c.id, quantity=c.units_per_day, activated_at=clock.onset),
                actor="bench", today=today)
        return incident.id or 0

    return db.write(make)


def _plan(db: Database, incident_id: int, clock: Clock, minute: int, *, limit: float,
          reoptimise: bool, today: Any, tz: Any) -> tuple[int, dict[str, Any]]:
    """Build the live scenario at ``minute``, run the engine, store the checked plan."""
    with db.read_session() as session:
        incident = session.get_one(Incident, incident_id)
        built = live.build(session, incident, now=clock.at(minute), today=today,
                           time_limit_s=limit, reoptimise=reoptimise)
    scenario = load_scenario(json.dumps(built.scenario))
    t0, c0 = time.perf_counter(), time.process_time()
    plan_json = inline_planner(built.scenario, limit, lambda _p, _f: None)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    plan = Plan.model_validate(plan_json)
    report = check(plan, scenario)
    why = diagnose(scenario, plan, busy=built.busy, as_of_min=built.as_of_min, tz=tz)

    def store(session: Session) -> int:
        row = DispatchPlan(
            incident_id=incident_id, status=JobStatus.succeeded, time_limit_s=limit,
            as_of_min=built.as_of_min, requested_by="bench", scenario=built.scenario,
            result=plan_json, verdict=verdict_of(report.ok, report.violations).model_dump(),
            sources={sid: info.model_dump() for sid, info in built.sources.items()},
            vehicles={u: v.model_dump() for u, v in vehicle_map(scenario,
                                                                  built.vehicles).items()},
            reoptimise=reoptimise, supersedes=built.supersedes if reoptimise else None,
            diagnosis=why.model_dump(mode="json"), phase="done", progress=1.0)
        session.add(row)
        session.flush()
        return row.id or 0

    plan_id = db.write(store)
    s = plan.summary
    return plan_id, {"people": s.people, "covered": s.people_covered, "bound": s.bound_coverage,
                     "checker_ok": report.ok, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                     "status": str(s.status), "trips": sum(len(r.trips) for r in plan.routes),
                     "fleet_busy": why.reasons.get("fleet_busy", 0),
                     "diagnosis": why.message}


@dataclass
class Desk:
    """The dispatcher's API on one database (approval, departures, stops, cancels go through
    the HTTP API, as a dispatcher's would)."""

    db: Database
    client: TestClient
    token: str

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST /api/v1<path>; any answer but 200 is an error of the bench."""
        r = self.client.post(f"/api/v1{path}", json=body or {},
                             headers={"Authorization": f"Bearer {self.token}"})
        if r.status_code != 200:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:500]}")
        return dict(r.json())


@contextmanager
def desk(db: Database, url: str) -> Iterator[Desk]:
    """An application on ``db`` and an admin token for it."""
    settings = Settings(database_url=url, planner="inline", readiness_interval_hours=0,
                        rate_limits=UNLIMITED)
    token = db.write(lambda s: create_token(s, name=f"bench-{utcnow():%H%M%S%f}",
                                            role=Role.admin)[1])
    with TestClient(create_app(settings=settings, database=db)) as client:
        yield Desk(db, client, token)


def _approve(api: Desk, incident_id: int, plan_id: int, at: datetime) -> None:
    """Approve at the simulated instant ``at``: the approval and the trips it cancels (a
    re-optimisation) are stamped then."""
    started = utcnow()
    api.post(f"/incidents/{incident_id}/plans/{plan_id}/approve")

    def stamp(session: Session) -> None:
        plan = session.get_one(DispatchPlan, plan_id)
        plan.approved_at = at
        session.add(plan)
        for trip in session.execute(select(Shipment).where(
                Shipment.incident_id == incident_id,
                Shipment.status == ShipmentStatus.cancelled,
                Shipment.finished_at >= started)).scalars():
            trip.finished_at = at
            session.add(trip)

    api.db.write(stamp)


def _stamp(db: Database, shipment_id: int, **times: datetime) -> None:
    """Set a trip's ``departed_at`` / ``finished_at`` to the simulated instants given."""
    def stamp(session: Session) -> None:
        row = session.get_one(Shipment, shipment_id)
        for name, at in times.items():
            setattr(row, name, at)
        session.add(row)

    db.write(stamp)


def _depart(api: Desk, shipment_id: int, at: datetime) -> None:
    api.post(f"/shipments/{shipment_id}/depart")
    _stamp(api.db, shipment_id, departed_at=at)


def _confirm(api: Desk, shipment_id: int, seq: int, at: datetime) -> None:
    api.post(f"/shipments/{shipment_id}/stops/{seq}/confirm", {"arrived_at": at.isoformat()})


def _first_half(api: Desk, incident_id: int, clock: Clock) -> int:
    """Depart the earlier half of the trips; confirm, as planned, their stops due by +4 h."""
    with api.db.read_session() as session:
        trips = list(session.execute(select(Shipment).where(
            Shipment.incident_id == incident_id).order_by(
            Shipment.planned_depart_min, Shipment.id)).scalars())
    half = trips[: len(trips) // 2]
    for trip in half:
        _depart(api, trip.id or 0, clock.at(trip.planned_depart_min))
    for trip in half:
        with api.db.read_session() as session:
            stops = list(session.execute(select(ShipmentStop).where(
                ShipmentStop.shipment_id == trip.id).order_by(ShipmentStop.seq)).scalars())
        for stop in stops:
            if stop.planned_arrival_min > REPLAN_AT:
                break
            _confirm(api, trip.id or 0, stop.seq, clock.at(stop.planned_arrival_min))
    return len(half)


def _changes(db: Database, incident_id: int) -> list[str]:
    """Three closures at the most populous sites with a pending stop; head counts +30 %."""
    graph = load_graph()
    with db.read_session() as session:
        pending = session.execute(
            select(AffectedSite).join(ShipmentStop, ShipmentStop.site_id == AffectedSite.id)
            .join(Shipment, Shipment.id == ShipmentStop.shipment_id)
            .where(Shipment.incident_id == incident_id, ShipmentStop.status == StopStatus.pending,
                   Shipment.status.in_([ShipmentStatus.planned, ShipmentStatus.departed]))
            .order_by(AffectedSite.people.desc(), AffectedSite.code)).scalars()
        seen: dict[str, AffectedSite] = {}
        for site in pending:
            seen.setdefault(site.code, site)
        sites = list(seen.values())
        everyone = list(session.execute(select(AffectedSite).where(
            AffectedSite.incident_id == incident_id)).scalars())
    closed: list[str] = []
    used: set[frozenset[str]] = set()
    for site in sites:
        if len(closed) == 3:
            break
        node = min((n for n in graph.nodes.values()
                    if any(n.id in (e.a, e.b) for e in graph.edges)),
                   key=lambda n: (n.lat - site.lat) ** 2 + (n.lon - site.lon) ** 2)
        edge = next(e for e in graph.edges if node.id in (e.a, e.b)
                    and frozenset((e.a, e.b)) not in used)
        used.add(frozenset((edge.a, edge.b)))
        body = ClosureIn(a=edge.a, b=edge.b, reason=f"积水(合成演练) near {site.code}")
        db.write(lambda s, body=body: service.add_closure(s, incident_id=incident_id,
                                                         data=body, actor="bench"))
        closed.append(f"{edge.a}-{edge.b} ({edge.road}, at {site.code})")
    for site in everyone:
        data = HeadCountIn(people=math.ceil(site.people * 1.3), reported_by="灾害信息员(合成)")
        db.write(lambda s, code=site.code, data=data: service.report_head_count(
            s, incident_id=incident_id, code=code, data=data, actor="bench"))
    return closed


def _timing(db: Database, incident_id: int, clock: Clock) -> dict[str, int]:
    with db.read_session() as session:
        r = reports.timing(session, session.get_one(Incident, incident_id),
                           now=clock.at(REPLAN_AT))
    return {"late": r.stops_late, "past_deadline": r.stops_past_deadline,
            "unreachable": r.stops_unreachable, "shipments": len(r.shipments_affected)}


def _execute(api: Desk, incident_id: int, clock: Clock) -> None:
    """Run the rest of the day: every live trip departs at its re-timed minute and its stops
    are confirmed at their re-timed arrival when that is by the deadline; a trip with a stop
    cut off or past the deadline is cancelled there (its goods return)."""
    with api.db.read_session() as session:
        timed = retime.retime(session, session.get_one(Incident, incident_id),
                              now=clock.at(REPLAN_AT))
    for trip in sorted(timed.trips.values(), key=lambda t: (t.depart_min, t.shipment_id)):
        if trip.status == ShipmentStatus.planned:
            _depart(api, trip.shipment_id, clock.at(trip.depart_min))
        for stop in trip.stops:
            if stop.status == retime.DELIVERED:
                continue
            if stop.expected_min is None or stop.expected_min > timed.deadline_min:
                api.post(f"/shipments/{trip.shipment_id}/cancel",
                         {"reason": "cut off or past the deadline"})
                _stamp(api.db, trip.shipment_id, finished_at=clock.at(REPLAN_AT))
                break
            _confirm(api, trip.shipment_id, stop.seq, clock.at(stop.expected_min))


def _covered(db: Database, incident_id: int, clock: Clock, minute: int) -> tuple[int, int, int]:
    """(people, covered as planned, covered as delivered) by the deadline, seen at ``minute``."""
    with db.read_session() as session:
        r = reports.coverage(session, session.get_one(Incident, incident_id),
                             now=clock.at(minute))
    return r.people, r.planned_people_covered, r.delivered_people_covered


def one_run(args: argparse.Namespace, run: int) -> dict[str, Any]:
    """One disaster day (module docstring) in a fresh temporary database."""
    settings = Settings()
    today, tz = settings.today(), settings.tz
    scenario, _meta = generate_scenario("typhoon", args.sites, args.seed, scale=args.scale)
    out: dict[str, Any] = {"run": run}
    with tempfile.TemporaryDirectory(prefix="disaster-day-") as tmp:
        base = Path(tmp) / "day.db"
        url = f"sqlite:///{base}"
        t0 = time.perf_counter()
        db = _seed(url, today)
        out["seed_s"] = round(time.perf_counter() - t0, 1)
        clock = Clock(onset=utcnow().replace(microsecond=0) - timedelta(hours=11))
        incident = _incident(db, clock, scenario["sites"], today)
        first, out["plan_1"] = _plan(db, incident, clock, 0, limit=args.time_limit,
                                     reoptimise=False, today=today, tz=tz)
        with desk(db, url) as api:
            _approve(api, incident, first, clock.at(0))
            out["departed"] = _first_half(api, incident, clock)
        out["trips_1"] = out["plan_1"]["trips"]
        out["closures"] = _changes(db, incident)
        out["retimed_plan_1"] = _timing(db, incident, clock)
        out["people"], out["planned_after_changes"], _ = _covered(db, incident, clock,
                                                                  REPLAN_AT)
        db.dispose()
        for mode in MODES:
            path = Path(tmp) / f"{mode}.db"
            shutil.copy(base, path)
            copy = Database(engine=make_engine(f"sqlite:///{path}"))
            limit = args.time_limit * (args.ref_factor if mode == "reference" else 1)
            plan_id, figures = _plan(copy, incident, clock, REPLAN_AT, limit=limit,
                                     reoptimise=mode != "keep", today=today, tz=tz)
            with desk(copy, f"sqlite:///{path}") as api:
                _approve(api, incident, plan_id, clock.at(REPLAN_AT))
                _, planned, _ = _covered(copy, incident, clock, REPLAN_AT)
                _execute(api, incident, clock)
            people, _, delivered = _covered(copy, incident, clock, args.deadline_min)
            with copy.read_session() as session:
                ok = verify(session).ok
            figures.update(planned_at_replan=planned, delivered_by_deadline=delivered,
                           people=people, ledger_ok=ok, time_limit_s=limit)
            out[mode] = figures
            copy.dispose()
    ref = out["reference"]["delivered_by_deadline"]
    out["of_reference"] = {m: (out[m]["delivered_by_deadline"] / ref if ref else 1.0)
                           for m in ("reoptimise", "keep")}
    return out


def render(runs: list[dict[str, Any]], args: argparse.Namespace, meta: dict[str, Any]) -> str:
    """The results page."""
    def med(key: str, mode: str | None = None) -> float:
        return statistics.median((r[mode][key] if mode else r[key]) for r in runs)

    ratio = statistics.median(r["of_reference"]["reoptimise"] for r in runs)
    keep = statistics.median(r["of_reference"]["keep"] for r in runs)
    r0 = runs[0]
    lines = [
        "# Disaster day on the seeded city", "",
        f"{meta['date']}, {meta['machine']}; load average {meta['load']:.1f} (the machine is "
        f"shared); command `{meta['command']}`; {len(runs)} run(s), medians.", "",
        f"Synthetic typhoon (dispatch.scenarios, seed {args.seed}): {args.sites} coastal "
        f"shelters x {args.scale:g}, {r0['people']:,} people after the +30 % head counts; "
        "every enterprise activated at onset; the clock is simulated (see the module "
        "docstring of bench/disaster_day.py).", "",
        f"Plan 1 at +0 ({args.time_limit:g} s): {r0['plan_1']['covered']:,} of "
        f"{r0['plan_1']['people']:,} people covered as planned, {r0['trips_1']} trips; "
        f"{r0['departed']} departed. At +4 h: closures {', '.join(r0['closures'])}; plan 1 "
        f"re-timed: {r0['retimed_plan_1']['late']} late, "
        f"{r0['retimed_plan_1']['past_deadline']} past the deadline, "
        f"{r0['retimed_plan_1']['unreachable']} cut off ({r0['retimed_plan_1']['shipments']} "
        f"trips affected); coverage as planned {r0['planned_after_changes']:,}.", "",
        "| re-plan at +4 h | time limit s | covered as planned | delivered by the deadline | "
        "of reference | engine wall s | engine CPU s | checker | ledger |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for mode in MODES:
        share = (statistics.median(r["of_reference"][mode] for r in runs)
                 if mode != "reference" else 1.0)
        lines.append(
            f"| {mode} | {runs[0][mode]['time_limit_s']:g} | "
            f"{med('planned_at_replan', mode):,.0f} | {med('delivered_by_deadline', mode):,.0f} | "
            f"{share:.1%} | {med('wall_s', mode):.1f} | {med('cpu_s', mode):.1f} | "
            f"{'ok' if all(r[mode]['checker_ok'] for r in runs) else 'FAILED'} | "
            f"{'whole' if all(r[mode]['ledger_ok'] for r in runs) else 'BROKEN'} |")
    lines += [
        "", f"**Target**: re-optimise >= {TARGET:.0%} of the reference's people delivered by "
        f"the deadline: {ratio:.1%} ({'met' if ratio >= TARGET else 'NOT met'}); keeping the "
        f"approved trips: {keep:.1%}.", "",
        f"Diagnosis of the re-plan that keeps the approved trips (run 1): "
        f"{r0['keep']['diagnosis']}", "",
        "Every run: " + "; ".join(
            f"run {r['run']}: re-optimise {r['reoptimise']['delivered_by_deadline']:,}, keep "
            f"{r['keep']['delivered_by_deadline']:,}, reference "
            f"{r['reference']['delivered_by_deadline']:,}" for r in runs) + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the disaster day ``--runs`` times and write the results page and its JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--time-limit", type=float, default=20.0)
    parser.add_argument("--ref-factor", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" /
                        "disaster_day.md")
    args = parser.parse_args(argv)
    args.deadline_min = 600
    load0 = os.getloadavg()[0]
    runs = []
    for run in range(1, args.runs + 1):
        runs.append(one_run(args, run))
        print(f"run {run}: re-optimise {runs[-1]['of_reference']['reoptimise']:.1%} of the "
              f"reference", flush=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    meta = {"date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            "machine": describe(), "load": (load0 + os.getloadavg()[0]) / 2,
            "command": " ".join(["python -m bench.disaster_day",
                                 *(sys.argv[1:] if argv is None else argv)]),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(
        {"meta": meta, "target": TARGET, "runs": runs}, indent=1, ensure_ascii=False,
        default=str), encoding="utf-8")
    write_keeping_notes(args.out, render(runs, args, meta))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
