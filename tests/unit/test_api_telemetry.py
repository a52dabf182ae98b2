"""Every API request is a server span and a duration sample (no server, no warehouse: the
ASGI application is called directly on routes that need neither)."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from api.app import create_app
from api.context import ApiContext
from api.settings import ApiLimits
from api.store import Warehouse
from tests.asgi import asgi_request


def call(app: Any, method: str, path: str, query: bytes = b"") -> int:
    """One request through the ASGI interface; the response status."""
    return asgi_request(app, method, path, query)[0]


def test_requests_become_spans_and_duration_samples() -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    app = create_app(
        ApiContext(Warehouse(None, "pedigree"), None, ApiLimits(), None),
        meter_provider=MeterProvider(metric_readers=[reader]),
        tracer_provider=tracer_provider,
    )
    assert call(app, "GET", "/healthz") == 200
    # a bad node id is refused before any warehouse query
    assert call(app, "GET", "/api/v1/lineage", b"nodeId=table:x") == 400
    finished = spans.get_finished_spans()
    assert [s.name for s in finished] == ["GET /healthz", "GET /api/v1/lineage"]
    assert all(s.kind == SpanKind.SERVER for s in finished)
    assert finished[1].attributes is not None
    assert finished[1].attributes["http.response.status_code"] == 400
    data = reader.get_metrics_data()
    assert data is not None
    [metric] = [
        m
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "pedigree.api.request.duration"
    ]
    routes = {
        (p.attributes["http.route"], p.attributes["http.response.status_code"]): p.count
        for p in metric.data.data_points  # type: ignore[union-attr]
    }
    assert routes == {("/healthz", 200): 1, ("/api/v1/lineage", 400): 1}
