"""Screenshots of the console for the README: ``python -m relief.app.screenshots [--out DIR]``.

Builds a fresh SQLite database with the Nantong seed (through the ``relief`` command, as
``make run`` does), serves the app on a free loopback port, opens a typhoon incident in 如东
with affected townships, a shelter and a road closure, plans it, and captures with headless
Chromium (Debian's ``/usr/bin/chromium`` through Playwright; no browser download):

* ``map.png``: the one map of supplies with the county roll-up;
* ``depot.png``: the Tongzhou county depot's page;
* ``dispatch.png``: the dispatch desk with the plan's routes and coverage;
* ``readiness.png``: readiness per county (after readiness runs for three counties);
* ``shortfall.png``: one county's shortfall per item, in units and tonnes;
* ``map-tablet.png``: the map on a tablet-sized screen.

Chinese text needs a CJK font in the system (Debian: ``fonts-noto-cjk``, which ``make test``
installs with Chromium, ``.ci/browser-deps``). Planning uses the real engine
(``dispatch.planning.solve``); while that
module is missing, the greedy baseline stands in and the script says so.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from dispatch import flows
from relief.platform.db import Database
from relief.platform.dbtypes import utcnow
from relief.platform.settings import Settings

CHROMIUM = os.environ.get("RELIEF_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _relief(url: str, *args: str) -> str:
    """Run the ``relief`` command on the database at ``url``; returns its output."""
    env = {**os.environ, "RELIEF_DATABASE_URL": url}
    done = subprocess.run([sys.executable, "-m", "relief.app.cli", *args], env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout


def _token(url: str, *args: str) -> str:
    return _relief(url, "token", "create", *args).strip().splitlines()[-1]


def _planner() -> tuple[Callable[..., dict[str, Any]] | None, str]:
    """The real engine, or the greedy baseline when the engine is not there yet."""
    try:
        import dispatch.planning.solve  # noqa: F401
    except ImportError:
        from dispatch.planning.baseline import coverage_upper_bound, greedy_baseline
        from dispatch.planning.problem import load_scenario

        def baseline(scenario: dict[str, Any], _limit: float, progress: Any
                     ) -> dict[str, Any]:
            parsed = load_scenario(json.dumps(scenario))
            progress("baseline", 0.5)
            plan = greedy_baseline(parsed).model_dump(mode="json")
            plan["summary"]["bound_coverage"] = coverage_upper_bound(parsed, 1.0).coverage
            plan["summary"]["baseline_coverage"] = plan["summary"]["coverage"]
            return plan

        return baseline, "greedy baseline (dispatch.planning.solve is not there yet)"
    return None, "the planning engine"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scenario(api: httpx.Client, time_limit: float) -> tuple[int, int]:
    """Open the demo incident and plan it; returns (incident id, plan id)."""
    onset = (utcnow() - timedelta(minutes=40)).isoformat()
    incident = api.post("/incidents", json={
        "kind": "typhoon", "name": "台风“海葵”登陆如东(演示)", "onset": onset}).json()["id"]
    sites = [{"township": "320623101", "people": 1800}, {"township": "320623104", "people": 1200},
             {"township": "320623107", "people": 900}, {"township": "320623001", "people": 2600},
             {"shelter": "SH-06", "people": 1500},
             {"code": "P-YK", "name": "洋口港临时安置点", "lat": 32.52, "lon": 121.02,
              "people": 600}]
    for site in sites:
        r = api.post(f"/incidents/{incident}/sites", json={**site, "reported_by": "灾害信息员"})
        r.raise_for_status()
    roads = api.get("/roads").json()
    node = min(roads["nodes"], key=lambda n: (n["lat"] - 32.42) ** 2 + (n["lon"] - 121.1) ** 2)
    edge = next(e for e in roads["edges"] if node["id"] in (e["a"], e["b"]))
    api.post(f"/incidents/{incident}/closures",
             json={"a": edge["a"], "b": edge["b"], "reason": "道路积水"}).raise_for_status()
    job = api.post(f"/incidents/{incident}/plans", json={"time_limit_s": time_limit}).json()
    deadline = time.monotonic() + time_limit + 300
    while time.monotonic() < deadline:
        status = api.get(f"/incidents/{incident}/plans/{job['id']}",
                         params={"full": "false"}).json()
        if status["status"] in ("succeeded", "failed"):
            break
        time.sleep(1)
    if status["status"] != "succeeded":
        raise SystemExit(f"planning did not succeed: {status.get('error')}")
    return incident, int(job["id"])


def capture(out: Path, time_limit: float) -> list[Path]:
    """Build the demo database, serve it, and write the screenshots into ``out``."""
    from playwright.sync_api import sync_playwright

    from relief.app.main import create_app

    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="relief-shots-"))
    url = f"sqlite:///{work / 'relief.db'}"
    _relief(url, "db", "upgrade")
    _relief(url, "seed")
    admin = _token(url, "--role", "admin", "--name", "screenshots")
    dispatcher = _token(url, "--role", "dispatcher", "--scope", "draw:city", "--scope",
                        "draw:agreement", "--name", "值班调度员")
    manager = _token(url, "--role", "depot_manager", "--depot", "NT-320612", "--name", "通州库管员")
    # readiness for the coast and the centre (the schedule is off for the demo server)
    for county in ("320681", "320613", "320623"):
        _relief(url, "readiness", "run", "--county", county, "--time-limit", "5")
    planner, which = _planner()
    if planner is not None:
        flows.inline_planner = planner  # type: ignore[assignment]
    print(f"planning with {which}")
    settings = Settings(database_url=url, planner="inline", readiness_interval_hours=0)
    app = create_app(settings=settings, database=Database.from_settings(settings))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.1)
    base = f"http://127.0.0.1:{port}"
    shots: list[Path] = []
    try:
        with httpx.Client(base_url=base + "/api/v1", timeout=60,
                          headers={"Authorization": f"Bearer {admin}"}) as api:
            api.post("/stock/issues", json={"depot": "NT-320612", "item": "1020101",
                                            "quantity": 120, "reference": "演示发放"})
            incident, plan = _scenario(api, time_limit)
            # Approved, so the desk shows its trips list beside the map.
            api.post(f"/incidents/{incident}/plans/{plan}/approve").raise_for_status()
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(work / "profile"), executable_path=CHROMIUM, headless=True,
                args=CHROMIUM_ARGS, viewport={"width": 1440, "height": 900},
                device_scale_factor=1, locale="zh-CN")
            page = context.new_page()

            def login(token: str) -> None:
                context.clear_cookies()
                page.goto(base + "/console/login")
                page.fill("#login-token", token)
                page.click("#login-submit")
                page.wait_for_selector("#whoami")

            def shoot(name: str, path: str, *, wait: str = "body", full: bool = False,
                      height: int | None = None, click: str | None = None,
                      pick: str | None = None) -> None:
                page.goto(base + path)
                page.wait_for_selector(wait)
                if click:
                    page.click(click)
                if pick:  # choose the first real option of a select (a depot's routes)
                    page.select_option(pick, index=1)
                page.wait_for_timeout(600)
                target = out / name
                clip = {"x": 0, "y": 0, "width": 1440, "height": height} if height else None
                page.screenshot(path=str(target), full_page=full or bool(clip), clip=clip)
                shots.append(target)

            login(manager)
            shoot("depot.png", "/console/depots/NT-320612", height=1300,
                  click="#op-receive summary")
            login(dispatcher)
            shoot("map.png", "/console/", wait="#map[data-ready='1']")
            shoot("dispatch.png", f"/console/incidents/{incident}?plan={plan}",
                  wait="#map[data-routes-ready='1']", height=1700, pick="#route-depot")
            shoot("shortfall.png", "/console/shortfall?county=320623", height=900)
            shoot("readiness.png", "/console/readiness", wait="#map[data-ready='1']",
                  height=1500)
            page.set_viewport_size({"width": 820, "height": 1180})
            shoot("map-tablet.png", "/console/", wait="#map[data-ready='1']")
            context.close()
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    return shots


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--time-limit", type=float, default=20.0,
                        help="planning time limit in seconds")
    args = parser.parse_args(argv)
    for path in capture(args.out, args.time_limit):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
