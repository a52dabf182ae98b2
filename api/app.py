"""The FastAPI application: routes, errors, health and telemetry, put together.

:func:`create_app` takes what the routes need (:class:`api.context.ApiContext`); building it
from settings and running it beside a consumer is :mod:`api.serve`'s job.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from api import __version__
from api.context import ApiContext, Context
from api.routes_catalog import router as catalog_router
from api.routes_explorer import mount_explorer
from api.routes_ingest import router as ingest_router
from api.routes_layout import router as layout_router
from api.routes_lineage import router as lineage_router
from api.routes_rerun import router as rerun_router
from api.routes_runs import router as runs_router
from api.store import WarehouseUnavailable

__all__ = ["create_app"]

_DESCRIPTION = """\
Pedigree answers *where did this model come from?* — and *how do I run it again?*

* **Ingest** OpenLineage events (Marquez-compatible `POST /api/v1/lineage`): published to the
  bus, materialized by the consumer.
* **Lineage graph** in Marquez's shape; **provenance** of a model version (every run, exact
  dataset version, commit, image, parameters, resources, owners); **downstream impact** of a
  dataset version.

* **Explorer**: a web page at `/` over these endpoints (provenance drawn from
  `/api/v1/layout`, runs, comparisons, rerun specs).

Authenticate with `Authorization: Bearer <token>`; a token reads and writes only its namespaces.
Every limit (body size, batch length, depth, node count, page size) answers a 4xx naming it.
"""


def _telemetry(
    app: FastAPI,
    meter_provider: metrics.MeterProvider | None,
    tracer_provider: trace.TracerProvider | None,
) -> None:
    tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer("pedigree.api")
    meter = (meter_provider or metrics.get_meter_provider()).get_meter("pedigree.api")
    duration = meter.create_histogram(
        "pedigree.api.request.duration", unit="s", description="HTTP request duration"
    )

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        template = "unmatched"
        with tracer.start_as_current_span(
            f"{request.method} {request.url.path}", kind=SpanKind.SERVER
        ) as span:
            response = await call_next(request)
            route = request.scope.get("route")
            template = getattr(route, "path", "unmatched")
            span.update_name(f"{request.method} {template}")
            span.set_attribute("http.request.method", request.method)
            span.set_attribute("http.route", template)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR))
        duration.record(
            time.perf_counter() - started,
            {
                "http.request.method": request.method,
                "http.route": template,
                "http.response.status_code": response.status_code,
            },
        )
        return response


def create_app(
    ctx: ApiContext,
    *,
    meter_provider: metrics.MeterProvider | None = None,
    tracer_provider: trace.TracerProvider | None = None,
) -> FastAPI:
    """The application; telemetry goes to the given providers (default: the global ones,
    which ``consumers.telemetry.setup_from_environment`` configures from ``OTEL_*``)."""
    app = FastAPI(
        title="Pedigree",
        version=__version__,
        description=_DESCRIPTION,
        openapi_tags=[
            {"name": "ingest", "description": "OpenLineage events in"},
            {"name": "lineage", "description": "graphs, provenance and impact out"},
            {"name": "runs", "description": "one run, its resources and its rerun spec"},
            {"name": "health"},
        ],
    )
    app.state.pedigree = ctx
    app.include_router(ingest_router)
    app.include_router(lineage_router)
    app.include_router(runs_router)
    app.include_router(catalog_router)
    app.include_router(rerun_router)
    app.include_router(layout_router)
    mount_explorer(app)
    _telemetry(app, meter_provider, tracer_provider)
    # graph answers run to hundreds of KiB of repetitive JSON: compressed for clients that ask
    app.add_middleware(GZipMiddleware, minimum_size=4096, compresslevel=5)

    @app.exception_handler(WarehouseUnavailable)
    async def warehouse_down(_request: Request, err: WarehouseUnavailable) -> JSONResponse:
        return JSONResponse(
            {"detail": f"the warehouse did not answer: {err}"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.get("/healthz", tags=["health"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="The warehouse and the bus answer",
        responses={503: {"description": "one of them does not"}},
    )
    def readyz(ctx: Context) -> Any:
        checks: dict[str, str] = {}
        try:
            ctx.warehouse.ping()
            checks["warehouse"] = "ok"
        except WarehouseUnavailable as err:
            checks["warehouse"] = f"unavailable: {err}"
        if ctx.publisher is not None:
            try:
                ctx.publisher.ping()
                checks["bus"] = "ok"
            except Exception as err:  # noqa: BLE001 - any bus failure: not ready
                checks["bus"] = f"unavailable: {str(err)[:200]}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    return app
