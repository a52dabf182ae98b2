"""OpenTelemetry metrics and traces of the Kafka consumer (``pedigree consume``).

The consumer is the one place where lineage can silently fall behind: events pile up in Kafka
while the tables look fine.  So it reports what an operator alerts on — how far behind each
partition is, how fast batches go through, and what went to the dead-letter topic or failed to
insert — through the standard OpenTelemetry SDK, configured by the standard ``OTEL_*``
variables (:func:`setup_from_environment`).  Nothing is exported unless asked for:
``OTEL_METRICS_EXPORTER`` / ``OTEL_TRACES_EXPORTER`` unset or ``none`` means no exporter
(unlike the OpenTelemetry default of ``otlp``), ``console`` prints to stdout, ``otlp`` needs
the ``opentelemetry-exporter-otlp`` package (a missing package is a warning, never a crash).

Metrics (instrumentation scope ``pedigree.consumer``):

================================  =============  ===========  ==================================
name                              instrument     unit         attributes
================================  =============  ===========  ==================================
pedigree.consumer.events          counter        {event}      topic, partition
pedigree.consumer.batch.size      histogram      {event}      (none)
pedigree.consumer.batch.duration  histogram      s            (none)
pedigree.consumer.batch.rows      histogram      {row}        (none)
pedigree.consumer.lag             gauge (async)  {message}    topic, partition
pedigree.consumer.dead_letters    counter        {message}    topic, error.type
pedigree.consumer.insert_errors   counter        {error}      table, error.type
================================  =============  ===========  ==================================

* ``events``: events materialized into ClickHouse (a batch counts once it is committed).
* ``batch.size`` / ``batch.duration``: messages in one flushed batch, and the seconds from
  decoding it to committing its offsets.  ``batch.rows``: rows it wrote over all tables (only
  when the consumer reports it).
* ``lag``: messages between the committed position and the partition's high watermark, as last
  measured; a partition disappears from the gauge when it is revoked from this consumer.
* ``dead_letters``: messages sent to the dead-letter topic (``topic`` is that topic,
  ``error.type`` the kind of failure).  ``insert_errors``: failed inserts, ``error.type`` being
  the exception's class name.

Trace: each batch is a ``pedigree.consume batch`` span (kind ``CONSUMER``) carrying the
``messaging.*`` attributes of the OpenTelemetry messaging conventions and the batch's offset
range, with a link to the span of each job that emitted an event in it (their W3C
``traceparent``; at most 128 distinct links), so a job's trace leads to where its lineage was
written.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
import sys
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from opentelemetry import metrics, trace
from opentelemetry.environment_variables import OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_SDK_DISABLED,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = ["MAX_LINKS", "SCOPE", "ConsumerTelemetry", "setup_from_environment", "shutdown"]

log = logging.getLogger("pedigree.consumer")

SCOPE = "pedigree.consumer"
MAX_LINKS = 128  # links per batch span: a batch of 20 000 jobs' events must not make a huge span

_SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 20_000, 50_000, 100_000)
_ROW_BUCKETS = tuple(b * 10 for b in _SIZE_BUCKETS)
_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_W3C = TraceContextTextMapPropagator()

# The lag gauge is asynchronous: its callback must see every ConsumerTelemetry of a meter.  A
# meter provider hands out one meter per scope and one gauge per name, so the first instance's
# callback would otherwise be the only one ever called.
_lag_lock = threading.Lock()
_lag_sources: weakref.WeakKeyDictionary[Meter, weakref.WeakSet[ConsumerTelemetry]] = (
    weakref.WeakKeyDictionary()
)


def _observe_lag(
    sources: weakref.WeakSet[ConsumerTelemetry], _options: CallbackOptions
) -> Iterable[Observation]:
    with _lag_lock:
        telemetries = list(sources)
    observations: list[Observation] = []
    for telemetry in telemetries:
        observations.extend(telemetry._lag_observations())
    return observations


class ConsumerTelemetry:
    """The consumer's instruments; thread-safe.  ``None`` providers mean the global ones."""

    def __init__(
        self,
        meter_provider: metrics.MeterProvider | None = None,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        meter = (meter_provider or metrics.get_meter_provider()).get_meter(SCOPE)
        self._tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer(SCOPE)
        self._events = meter.create_counter(
            "pedigree.consumer.events", "{event}", "Events materialized into ClickHouse"
        )
        self._batch_size = meter.create_histogram(
            "pedigree.consumer.batch.size",
            "{event}",
            "Messages in one flushed batch",
            explicit_bucket_boundaries_advisory=_SIZE_BUCKETS,
        )
        self._batch_duration = meter.create_histogram(
            "pedigree.consumer.batch.duration",
            "s",
            "Time to flush one batch, from decoding to committing its offsets",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )
        self._batch_rows = meter.create_histogram(
            "pedigree.consumer.batch.rows",
            "{row}",
            "Rows one flushed batch wrote over all tables",
            explicit_bucket_boundaries_advisory=_ROW_BUCKETS,
        )
        self._dead_letters = meter.create_counter(
            "pedigree.consumer.dead_letters", "{message}", "Messages sent to a dead-letter topic"
        )
        self._insert_errors = meter.create_counter(
            "pedigree.consumer.insert_errors", "{error}", "Failed inserts into ClickHouse"
        )
        self._lock = threading.Lock()
        self._lags: dict[tuple[str, int], int] = {}
        with _lag_lock:
            sources = _lag_sources.get(meter)
            if sources is None:
                sources = weakref.WeakSet()
                _lag_sources[meter] = sources
                meter.create_observable_gauge(
                    "pedigree.consumer.lag",
                    callbacks=[functools.partial(_observe_lag, sources)],
                    unit="{message}",
                    description="Messages between the committed position and the high watermark",
                )
            sources.add(self)

    # -- metrics --------------------------------------------------------------------------

    def events(self, count: int, *, topic: str, partition: int) -> None:
        """``count`` events of ``topic[partition]`` were materialized."""
        self._events.add(count, {"topic": topic, "partition": partition})

    def batch(self, size: int, seconds: float, *, table_rows: int | None = None) -> None:
        """One batch of ``size`` messages was flushed in ``seconds``, writing ``table_rows``."""
        self._batch_size.record(size)
        self._batch_duration.record(seconds)
        if table_rows is not None:
            self._batch_rows.record(table_rows)

    def lag(self, topic: str, partition: int, lag: int) -> None:
        """``topic[partition]`` is ``lag`` messages behind; reported until :meth:`forget`."""
        with self._lock:
            self._lags[(topic, partition)] = lag

    def forget(self, topic: str, partition: int) -> None:
        """``topic[partition]`` was revoked: stop reporting its lag."""
        with self._lock:
            self._lags.pop((topic, partition), None)

    def dead_letter(self, count: int, *, error_class: str, topic: str) -> None:
        """``count`` messages went to the dead-letter ``topic`` because of ``error_class``."""
        self._dead_letters.add(count, {"topic": topic, "error.type": error_class})

    def insert_error(self, *, table: str, error: BaseException) -> None:
        """An insert into ``table`` failed with ``error``."""
        self._insert_errors.add(1, {"table": table, "error.type": type(error).__name__})

    def _lag_observations(self) -> list[Observation]:
        with self._lock:
            lags = list(self._lags.items())
        return [Observation(v, {"topic": t, "partition": p}) for (t, p), v in lags]

    # -- traces ---------------------------------------------------------------------------

    @contextmanager
    def batch_span(
        self,
        *,
        topic: str,
        partition: int,
        first_offset: int,
        last_offset: int,
        traceparents: Iterable[str],
        message_count: int | None = None,
    ) -> Iterator[Span]:
        """The span of flushing one batch, linked to the traces of the jobs that emitted it.

        ``message_count`` defaults to the size of the offset range (an upper bound: offsets of
        a compacted or transactional topic have gaps).
        """
        count = last_offset - first_offset + 1 if message_count is None else message_count
        attributes: dict[str, str | int] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            "messaging.destination.partition.id": str(partition),
            "messaging.batch.message_count": count,
            "pedigree.first_offset": first_offset,
            "pedigree.last_offset": last_offset,
        }
        with self._tracer.start_as_current_span(
            "pedigree.consume batch",
            kind=SpanKind.CONSUMER,
            attributes=attributes,
            links=links_from_traceparents(traceparents),
        ) as span:
            try:
                yield span
            except BaseException as err:
                span.set_attribute("error.type", type(err).__name__)
                raise


def links_from_traceparents(traceparents: Iterable[str], limit: int = MAX_LINKS) -> list[Link]:
    """A link per distinct valid W3C ``traceparent`` (same trace and span id), at most ``limit``.

    Invalid values (malformed, unknown version ``ff``, all-zero ids) are skipped.
    """
    links: list[Link] = []
    seen: set[tuple[int, int]] = set()
    for traceparent in traceparents:
        if len(links) >= limit:
            break
        context = trace.get_current_span(_W3C.extract({"traceparent": traceparent}))
        span_context = context.get_span_context()
        key = (span_context.trace_id, span_context.span_id)
        if span_context.is_valid and key not in seen:
            seen.add(key)
            links.append(Link(span_context))
    return links


# -- configuration from OTEL_* ------------------------------------------------------------

_OTLP = {
    "metrics": ("metric_exporter", "OTLPMetricExporter", OTEL_EXPORTER_OTLP_METRICS_PROTOCOL),
    "traces": ("trace_exporter", "OTLPSpanExporter", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL),
}
_OTLP_PACKAGE = "opentelemetry-exporter-otlp"


def _exporter_names(variable: str) -> list[str]:
    names: list[str] = []
    for raw in os.environ.get(variable, "").split(","):
        name = raw.strip().lower()
        if name and name != "none" and name not in names:
            names.append(name)
    return names


def _otlp_exporter(signal: str) -> Any:
    """The OTLP exporter of ``signal`` (``metrics`` or ``traces``), or None if not installed."""
    module_name, class_name, signal_protocol = _OTLP[signal]
    protocol = (
        os.environ.get(signal_protocol) or os.environ.get(OTEL_EXPORTER_OTLP_PROTOCOL) or ""
    ).strip()
    if protocol == "grpc":
        transports: Sequence[str] = ("grpc",)
    elif protocol:  # http/protobuf (http/json is not implemented by the Python exporter)
        transports = ("http",)
    else:
        transports = ("http", "grpc")
    for transport in transports:
        try:
            module = importlib.import_module(
                f"opentelemetry.exporter.otlp.proto.{transport}.{module_name}"
            )
        except ImportError:
            continue
        return getattr(module, class_name)()
    log.warning(
        "pedigree: %s=otlp needs the %s package (pip install %s); %s are not exported",
        OTEL_METRICS_EXPORTER if signal == "metrics" else OTEL_TRACES_EXPORTER,
        _OTLP_PACKAGE,
        _OTLP_PACKAGE,
        signal,
    )
    return None


def _exporters(signal: str, variable: str) -> list[Any]:
    exporters: list[Any] = []
    for name in _exporter_names(variable):
        try:
            if name == "console":  # today's sys.stdout: the exporters' default is import time's
                exporter: Any = (
                    ConsoleMetricExporter(out=sys.stdout)
                    if signal == "metrics"
                    else ConsoleSpanExporter(out=sys.stdout)
                )
            elif name == "otlp":
                exporter = _otlp_exporter(signal)
            else:
                log.warning("pedigree: %s=%s is not a known exporter; skipped", variable, name)
                continue
        except Exception as err:  # noqa: BLE001 - telemetry must never stop the consumer
            log.warning("pedigree: cannot create the %s exporter %s: %s", signal, name, err)
            continue
        if exporter is not None:
            exporters.append(exporter)
    return exporters


def _resource(service_name: str) -> Resource:
    # Resource.create lets the attributes given override OTEL_SERVICE_NAME and
    # OTEL_RESOURCE_ATTRIBUTES; the user's variables must win over our default name instead.
    configured = OTELResourceDetector().detect().attributes.get(SERVICE_NAME)
    return Resource.create({} if configured else {SERVICE_NAME: service_name})


def setup_from_environment(
    service_name: str = "pedigree-consumer",
) -> tuple[MeterProvider | None, TracerProvider | None]:
    """Set the global providers from the ``OTEL_*`` variables; return them for :func:`shutdown`.

    A signal without exporter gets no provider (``None``); ``OTEL_SDK_DISABLED=true`` disables
    both.  OpenTelemetry sets a global provider only once per process: a second call builds and
    returns new providers but the global ones stay the first (the API logs a warning).
    """
    if os.environ.get(OTEL_SDK_DISABLED, "").strip().lower() == "true":
        return None, None
    metric_exporters = cast(list[MetricExporter], _exporters("metrics", OTEL_METRICS_EXPORTER))
    span_exporters = cast(list[SpanExporter], _exporters("traces", OTEL_TRACES_EXPORTER))
    if not metric_exporters and not span_exporters:
        return None, None
    resource = _resource(service_name)
    meter_provider: MeterProvider | None = None
    tracer_provider: TracerProvider | None = None
    if metric_exporters:
        # the export interval comes from OTEL_METRIC_EXPORT_INTERVAL (ms), read by the reader
        readers: list[MetricReader] = [PeriodicExportingMetricReader(e) for e in metric_exporters]
        meter_provider = MeterProvider(metric_readers=readers, resource=resource)
        metrics.set_meter_provider(meter_provider)
    if span_exporters:
        tracer_provider = TracerProvider(resource=resource)
        for span_exporter in span_exporters:
            tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
        trace.set_tracer_provider(tracer_provider)
    return meter_provider, tracer_provider


def shutdown(
    providers: tuple[MeterProvider | None, TracerProvider | None] | None,
) -> None:
    """Flush and shut down what :func:`setup_from_environment` returned (``None`` is fine)."""
    if providers is None:
        return
    for provider in providers:
        if provider is None:
            continue
        try:
            provider.force_flush()
            provider.shutdown()
        except Exception as err:  # noqa: BLE001 - exiting anyway; the telemetry is best-effort
            log.warning("pedigree: telemetry shutdown failed: %s", err)
