"""The composition root: ``create_app()`` wires settings, the database and the domain routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from relief.app import migrations
from relief.app.wiring import background_jobs, import_runner, plan_runner, readiness_runner
from relief.platform import metrics
from relief.platform.db import Database
from relief.platform.edge import EdgeGuard
from relief.platform.envelope import document_errors
from relief.platform.errors import ReliefError, error_envelope
from relief.platform.messages import pydantic_text
from relief.platform.middleware import RequestContext
from relief.platform.ratelimit import limiter_for
from relief.platform.settings import Settings, get_settings

log = logging.getLogger(__name__)

DESCRIPTION = """
Nantong's emergency relief supplies: the three-tier reserve network (city, county, township
depots, agreement and capacity reserves) on one double-entry stock ledger, and dispatch
planning that gets basic needs to affected people within 10 hours.

Authenticate with `Authorization: Bearer <token>` (`relief token create`, or the demo tokens
`make run` prints). Every POST honours an `Idempotency-Key` header. Errors share one envelope
(schema `ErrorEnvelope`, documented on every error status of every operation):
`{"error": {"code", "key", "message", "message_zh", "fields": [{"field", "message",
"message_zh"}], "details"}}`. Bodies are limited in size (413), and NUL and other control
characters are refused in every string (see docs/hardening.md).
"""


def serve_routes(app: FastAPI, router: APIRouter) -> None:
    """Serve ``router``'s routes as they were built when their module was imported.

    ``app.include_router`` would wrap the router in this app's own inclusion, which FastAPI
    builds again, every route with its dependencies, on the app's first request: about 0.5 s
    per app on the CI machine (199 routes), paid by every test's app. Nothing is lost by
    serving them as built: the routers carry their own prefix, tags and dependencies, and
    the inclusion would add none (tests/relief/test_app_routes.py compares the two: the
    same routes, dependencies and OpenAPI). Routers with start or stop handlers are refused
    (inclusion would have run them)."""
    if router.on_startup or router.on_shutdown:
        raise ValueError("a router with startup or shutdown handlers must be included")
    app.router.routes.extend(router.routes)


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    """Build the application; nothing is connected until the first request."""
    from dispatch.gauges import plan_gauges
    from dispatch.readiness.views import router as readiness_router
    from dispatch.views import router as dispatch_router
    from exchange.views import router as exchange_router
    from relief.app.access_views import router as access_router
    from supplies.views import router as supplies_router
    from web.views import STATIC_DIR
    from web.views import router as console_router

    settings = settings or get_settings()
    db = database or Database.from_settings(settings)
    jobs = background_jobs(db, settings, role="api")
    runner = plan_runner(db, settings, jobs=jobs)
    readiness = readiness_runner(db, settings, jobs=jobs)
    imports = import_runner(db, settings, jobs=jobs)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        jobs.start()
        runner.start()
        readiness.start()
        imports.start()
        yield
        imports.shutdown()
        readiness.shutdown()
        runner.shutdown()
        jobs.stop()

    app = FastAPI(title="relief", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.db = db
    app.state.runner = runner
    app.state.readiness = readiness
    app.state.import_runner = imports
    app.state.jobs = jobs
    app.state.limiter = limiter_for(db.engine)
    app.state.gauges = [plan_gauges(db)]
    app.add_middleware(EdgeGuard, max_body_bytes=settings.max_body_bytes,
                       max_upload_bytes=settings.max_upload_bytes)
    app.add_middleware(RequestContext)  # request id, log line, any 500
    # Large JSON answers (feed pages, lists) compress about tenfold (docs/integration.md).
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    for router in (supplies_router, dispatch_router, readiness_router, exchange_router,
                   access_router,  # tokens, console sessions, the audit log
                   console_router):  # the web console under /console
        serve_routes(app, router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_error_handlers(app)
    install_error_schema(app)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        """The web console."""
        return RedirectResponse("/console/", status_code=307)

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        """Liveness probe: the process answers (it checks nothing else)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["meta"], responses={503: {"description": "Not ready"}})
    def readyz() -> JSONResponse:
        """Readiness probe: the database answers and its schema is at the newest migration.
        503 with the reason otherwise (take this process out of the load balancer)."""
        readiness = migrations.readiness(db.engine)
        if not readiness.ready:
            return JSONResponse(error_envelope("not_ready", readiness.reason,
                                               details=readiness.details()), status_code=503)
        return JSONResponse({"status": "ready", **readiness.details()})

    @app.get("/metrics", tags=["meta"], response_class=Response)
    def prometheus_metrics() -> Response:
        """Prometheus metrics: request latency by route, planning queue depth and job
        durations, plan coverage and gap, ledger write rate (docs/operations.md)."""
        return Response(metrics.render(app.state.gauges), media_type=metrics.CONTENT_TYPE)

    return app


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:] or parts
    return ".".join(parts)


def install_error_schema(app: FastAPI) -> None:
    """Document the error envelope on every error response of the OpenAPI."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI's own, cached until the routes change
        if "ErrorEnvelope" not in schema.get("components", {}).get("schemas", {}):
            document_errors(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    """Render every error in the shared envelope."""

    @app.exception_handler(ReliefError)
    def _relief(_: Request, exc: ReliefError) -> JSONResponse:
        return JSONResponse(jsonable_encoder(exc.envelope()), status_code=exc.status,
                            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {"field": _field_path(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid"),
             "message_zh": pydantic_text(e, "zh")}
            for e in exc.errors()
        ]
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        message_zh = "; ".join(f"{f['field']}: {f['message_zh']}" for f in fields)
        return JSONResponse(jsonable_encoder(error_envelope(
            "invalid_input", message, fields=fields, message_zh=message_zh)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed",
                413: "payload_too_large"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_envelope(code, str(exc.detail)), status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(IntegrityError)
    def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        # The database constraints are the last line of defence; reaching one is a conflict.
        log.warning("constraint violation: %s", exc.orig)
        return JSONResponse(
            error_envelope("constraint_violation", "the change breaks a database constraint",
                           details={"constraint": str(exc.orig).splitlines()[0][:200]}),
            status_code=409,
        )
