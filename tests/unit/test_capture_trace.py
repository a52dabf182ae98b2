"""The trace facet: the W3C context of the active span of a real OpenTelemetry SDK tracer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from emitters.capture.trace import current_trace_context, trace_facet

ROOT = Path(__file__).resolve().parents[2]


def test_the_active_span_gives_its_traceparent() -> None:
    tracer = TracerProvider().get_tracer("training")
    with tracer.start_as_current_span("train") as span:
        context = span.get_span_context()
        flags = f"{context.trace_flags:02x}"  # sampled, and "random" (Trace Context level 2)
        expected = f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags}"
        assert current_trace_context() == {"traceparent": expected}
        facet = trace_facet()
    assert facet is not None
    assert facet["traceparent"] == expected
    assert "tracestate" not in facet


def test_tracestate_travels_with_the_traceparent() -> None:
    parent = SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "opaque-value"), ("rojo", "00f067aa0ba902b7")]),
    )
    tracer = TracerProvider().get_tracer("training")
    remote = trace.set_span_in_context(NonRecordingSpan(parent))
    with tracer.start_as_current_span("train", context=remote) as span:
        span_id = span.get_span_context().span_id
        facet = trace_facet()
    assert facet is not None
    assert facet["traceparent"] == f"00-4bf92f3577b34da6a3ce929d0e0e4736-{span_id:016x}-01"
    assert facet["tracestate"] == "vendor=opaque-value,rojo=00f067aa0ba902b7"


def test_no_active_span_gives_nothing() -> None:
    assert current_trace_context() == {}
    assert trace_facet() is None


def test_opentelemetry_is_not_imported_when_the_job_did_not_import_it() -> None:
    code = (
        "import sys\n"
        "from emitters.capture.trace import current_trace_context, trace_facet\n"
        "assert current_trace_context() == {} and trace_facet() is None\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')]\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
