"""The OpenTelemetry trace a run belongs to: the ``pedigree_trace`` facet.

The W3C trace context (``traceparent``, ``tracestate``) of the span active in the calling
thread, written by OpenTelemetry's W3C propagator.  The W3C propagator is used directly rather
than the globally configured one (``opentelemetry.propagate.inject``), because a job may
configure B3 or Jaeger propagation, which writes no ``traceparent``; the facet is W3C by
contract.

OpenTelemetry is never imported here unless the job imported it already: without
``opentelemetry.trace`` loaded, no span can be active, so there is nothing to record.
"""

from __future__ import annotations

import sys
from typing import Any

from emitters.capture import harmless, logger
from emitters.facets import facet

__all__ = ["current_trace_context", "trace_facet"]


@harmless({})
def current_trace_context() -> dict[str, str]:
    """``{"traceparent": …, "tracestate": …}`` of the active span; ``{}`` when there is none."""
    if "opentelemetry.trace" not in sys.modules:
        return {}
    try:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError as err:
        logger.debug("no OpenTelemetry propagator: %s", err)
        return {}
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return {k: v for k, v in carrier.items() if k in ("traceparent", "tracestate") and v}


@harmless(None)
def trace_facet() -> dict[str, Any] | None:
    """The ``pedigree_trace`` facet of the active span, or ``None``."""
    context = current_trace_context()
    if "traceparent" not in context:
        return None
    return facet(
        "pedigree_trace", traceparent=context["traceparent"], tracestate=context.get("tracestate")
    )
