"""The app serves the domain routers' routes as built at import (``relief.app.main.
serve_routes``), not through ``include_router``: the same routes, with the same dependencies,
and the same OpenAPI, as an app that includes them."""

from __future__ import annotations

import json
from typing import Any

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import relief.app.main as main
from relief.app.main import create_app
from relief.platform.settings import Settings

# FastAPI's wrapper of an included router (private): the routes it serves are built from it.
_INCLUDED = getattr(fastapi.routing, "_IncludedRouter", None)
if _INCLUDED is None:  # a FastAPI upgrade renamed it: say so rather than compare nothing
    raise RuntimeError("fastapi.routing._IncludedRouter is gone: update this test")


def _calls(dependant: Any) -> list[str]:
    """The dependency callables of a route, depth first, by qualified name."""
    out = []
    for sub in dependant.dependencies:
        out.append(getattr(sub.call, "__qualname__", repr(sub.call)))
        out.extend(_calls(sub))
    return out


def _routes(app: FastAPI) -> list[tuple[Any, ...]]:
    """Every route the app serves: path, methods, name, status, response model, schema
    visibility and dependencies, whether served as built or through an inclusion."""
    out: list[tuple[Any, ...]] = []

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if isinstance(route, _INCLUDED):
                walk(route.effective_candidates())
                continue
            dependant = getattr(route, "dependant", None)
            out.append((getattr(route, "path", None), sorted(getattr(route, "methods", None)
                                                             or []),
                        getattr(route, "name", None), getattr(route, "status_code", None),
                        repr(getattr(route, "response_model", None)),
                        getattr(route, "include_in_schema", None),
                        _calls(dependant) if dependant is not None else None))

    walk(list(app.router.routes))
    return sorted(out, key=repr)


@pytest.fixture
def both(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> tuple[FastAPI, FastAPI]:
    """The app as built, and the same app with the routers included."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'routes.db'}",
                        readiness_interval_hours=0)
    served = create_app(settings=settings)
    monkeypatch.setattr(main, "serve_routes", lambda app, router: app.include_router(router))
    included = create_app(settings=settings)
    return served, included


def test_the_served_routes_are_the_included_ones(both: tuple[FastAPI, FastAPI]) -> None:
    """Same paths, methods, names, statuses, response models and dependencies (199 routes,
    the console's included sub-routers among them)."""
    served, included = both
    routes = _routes(served)
    assert len(routes) > 150
    assert routes == _routes(included)


def test_the_openapi_is_the_same(both: tuple[FastAPI, FastAPI]) -> None:
    """The OpenAPI document (paths, schemas, the error envelope on every operation) is the one
    the included routers give."""
    served, included = both
    assert json.dumps(served.openapi(), sort_keys=True) == json.dumps(included.openapi(),
                                                                      sort_keys=True)


def test_a_second_app_answers_its_first_request_without_rebuilding_routes(
        tmp_path: Any) -> None:
    """The served routes are shared by every app of the process: a new app's first request
    builds none of them (an included router's routes are built again for each app)."""
    served = create_app(settings=Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}",
                                          readiness_interval_hours=0))
    built: list[object] = []
    original = fastapi.routing._EffectiveRouteContext.from_api_route

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(kwargs.get("original_route"))
        return original(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fastapi.routing._EffectiveRouteContext, "from_api_route",
                      staticmethod(counting))
        # a path no route matches walks every route, the console's sub-routers included
        assert TestClient(served).get("/nowhere").status_code == 404
        first = len(built)
        fresh = TestClient(create_app(settings=served.state.settings))
        assert fresh.get("/nowhere").status_code == 404
        assert fresh.get("/api/v1/items").status_code == 401
    assert len(built) == first
