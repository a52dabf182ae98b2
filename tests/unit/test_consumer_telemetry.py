"""The consumer's OpenTelemetry instruments, read back through the real SDK."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util._once import Once

from consumers.telemetry import (
    MAX_LINKS,
    ConsumerTelemetry,
    setup_from_environment,
    shutdown,
)

TRACE_A = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_B = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT_A = f"00-{TRACE_A}-00f067aa0ba902b7-01"
TRACEPARENT_B = f"00-{TRACE_B}-b7ad6b7169203331-00"


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def telemetry(reader: InMemoryMetricReader, spans: InMemorySpanExporter) -> ConsumerTelemetry:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    return ConsumerTelemetry(MeterProvider(metric_readers=[reader]), tracer_provider)


@pytest.fixture
def clean_globals(monkeypatch: pytest.MonkeyPatch) -> None:
    """No OTEL_* variable, and fresh global providers that are put back after the test.

    OpenTelemetry sets its global providers once per process; resetting its private state is
    what its own test utilities do.
    """
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(trace, "_TRACER_PROVIDER_SET_ONCE", Once())
    monkeypatch.setattr(metrics_internal, "_METER_PROVIDER", None)
    monkeypatch.setattr(metrics_internal, "_METER_PROVIDER_SET_ONCE", Once())
    monkeypatch.setattr(
        metrics_internal, "_PROXY_METER_PROVIDER", metrics_internal._ProxyMeterProvider()
    )


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Metric name -> its data points, from one collection."""
    data = reader.get_metrics_data()
    found: dict[str, list[Any]] = {}
    if data is None:
        return found
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            assert scope_metrics.scope.name == "pedigree.consumer"
            for metric in scope_metrics.metrics:
                found[metric.name] = list(metric.data.data_points)
    return found


def by_attributes(data_points: list[Any]) -> dict[tuple[tuple[str, Any], ...], Any]:
    return {tuple(sorted(p.attributes.items())): p for p in data_points}


def the_span(spans: InMemorySpanExporter) -> ReadableSpan:
    (span,) = spans.get_finished_spans()
    return span


# -- metrics ----------------------------------------------------------------------------------


def test_events_are_summed_per_topic_and_partition(
    telemetry: ConsumerTelemetry, reader: InMemoryMetricReader
) -> None:
    telemetry.events(10, topic="lineage", partition=0)
    telemetry.events(5, topic="lineage", partition=0)
    telemetry.events(7, topic="lineage", partition=1)
    telemetry.events(1, topic="other", partition=0)
    sums = {
        k: p.value for k, p in by_attributes(points(reader)["pedigree.consumer.events"]).items()
    }
    assert sums == {
        (("partition", 0), ("topic", "lineage")): 15,
        (("partition", 1), ("topic", "lineage")): 7,
        (("partition", 0), ("topic", "other")): 1,
    }


def test_batches_fill_the_size_and_duration_histograms(
    telemetry: ConsumerTelemetry, reader: InMemoryMetricReader
) -> None:
    telemetry.batch(100, 0.25)
    telemetry.batch(300, 0.75, table_rows=900)
    found = points(reader)
    (size,) = found["pedigree.consumer.batch.size"]
    (duration,) = found["pedigree.consumer.batch.duration"]
    (rows,) = found["pedigree.consumer.batch.rows"]
    assert (size.count, size.sum, size.min, size.max) == (2, 400, 100, 300)
    assert (duration.count, duration.sum) == (2, pytest.approx(1.0))
    assert (rows.count, rows.sum) == (1, 900)  # only the batch that reported its rows
    assert 1.0 in duration.explicit_bounds  # second buckets, not the millisecond defaults


def test_units_are_the_documented_ones(
    telemetry: ConsumerTelemetry, reader: InMemoryMetricReader
) -> None:
    telemetry.events(1, topic="t", partition=0)
    telemetry.batch(1, 0.1)
    telemetry.lag("t", 0, 3)
    telemetry.dead_letter(1, error_class="decode", topic="t.dlq")
    telemetry.insert_error(table="runs", error=ValueError())
    data = reader.get_metrics_data()
    assert data is not None
    units = {
        m.name: m.unit
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert units == {
        "pedigree.consumer.events": "{event}",
        "pedigree.consumer.batch.size": "{event}",
        "pedigree.consumer.batch.duration": "s",
        "pedigree.consumer.lag": "{message}",
        "pedigree.consumer.dead_letters": "{message}",
        "pedigree.consumer.insert_errors": "{error}",
    }


def test_lag_reports_the_latest_value_per_partition_until_forgotten(
    telemetry: ConsumerTelemetry, reader: InMemoryMetricReader
) -> None:
    telemetry.lag("lineage", 0, 500)
    telemetry.lag("lineage", 0, 120)
    telemetry.lag("lineage", 1, 40)
    lags = {k: p.value for k, p in by_attributes(points(reader)["pedigree.consumer.lag"]).items()}
    assert lags == {
        (("partition", 0), ("topic", "lineage")): 120,
        (("partition", 1), ("topic", "lineage")): 40,
    }
    telemetry.forget("lineage", 0)
    telemetry.forget("lineage", 7)  # never assigned: nothing to forget, no error
    lags = {k: p.value for k, p in by_attributes(points(reader)["pedigree.consumer.lag"]).items()}
    assert lags == {(("partition", 1), ("topic", "lineage")): 40}
    telemetry.forget("lineage", 1)
    assert points(reader).get("pedigree.consumer.lag", []) == []


def test_two_consumers_on_one_provider_both_report_their_lag() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    first, second = ConsumerTelemetry(provider), ConsumerTelemetry(provider)
    first.lag("a", 0, 1)
    second.lag("b", 0, 2)
    lags = {k: p.value for k, p in by_attributes(points(reader)["pedigree.consumer.lag"]).items()}
    assert lags == {(("partition", 0), ("topic", "a")): 1, (("partition", 0), ("topic", "b")): 2}
    del second
    lags = {k: p.value for k, p in by_attributes(points(reader)["pedigree.consumer.lag"]).items()}
    assert lags == {(("partition", 0), ("topic", "a")): 1}
    assert first is not None


def test_dead_letters_and_insert_errors_count_per_cause(
    telemetry: ConsumerTelemetry, reader: InMemoryMetricReader
) -> None:
    telemetry.dead_letter(2, error_class="decode", topic="lineage.dlq")
    telemetry.dead_letter(1, error_class="decode", topic="lineage.dlq")
    telemetry.dead_letter(4, error_class="invalid", topic="lineage.dlq")
    telemetry.insert_error(table="runs", error=ConnectionError("gone"))
    telemetry.insert_error(table="runs", error=ConnectionError("gone again"))
    telemetry.insert_error(table="datasets", error=TimeoutError())
    found = points(reader)
    letters = {
        k: p.value for k, p in by_attributes(found["pedigree.consumer.dead_letters"]).items()
    }
    assert letters == {
        (("error.type", "decode"), ("topic", "lineage.dlq")): 3,
        (("error.type", "invalid"), ("topic", "lineage.dlq")): 4,
    }
    errors = {
        k: p.value for k, p in by_attributes(found["pedigree.consumer.insert_errors"]).items()
    }
    assert errors == {
        (("error.type", "ConnectionError"), ("table", "runs")): 2,
        (("error.type", "TimeoutError"), ("table", "datasets")): 1,
    }


def test_none_means_the_global_providers(clean_globals: None) -> None:
    reader, spans = InMemoryMetricReader(), InMemorySpanExporter()
    telemetry = ConsumerTelemetry()  # before the globals are set: the proxies catch up
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(tracer_provider)
    telemetry.events(3, topic="t", partition=0)
    with ConsumerTelemetry().batch_span(
        topic="t", partition=0, first_offset=0, last_offset=0, traceparents=[]
    ):
        pass
    (point,) = points(reader)["pedigree.consumer.events"]
    assert point.value == 3
    assert the_span(spans).name == "pedigree.consume batch"


# -- traces -----------------------------------------------------------------------------------


def test_the_batch_span_describes_the_batch(
    telemetry: ConsumerTelemetry, spans: InMemorySpanExporter
) -> None:
    with telemetry.batch_span(
        topic="lineage", partition=3, first_offset=100, last_offset=149, traceparents=[]
    ) as span:
        assert span.is_recording()
        assert trace.get_current_span() is span  # the inserts' spans nest under it
    finished = the_span(spans)
    assert finished.name == "pedigree.consume batch"
    assert finished.kind is SpanKind.CONSUMER
    assert finished.instrumentation_scope is not None
    assert finished.instrumentation_scope.name == "pedigree.consumer"
    assert dict(finished.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": "lineage",
        "messaging.destination.partition.id": "3",
        "messaging.batch.message_count": 50,
        "pedigree.first_offset": 100,
        "pedigree.last_offset": 149,
    }
    assert finished.links == ()
    assert finished.status.status_code is StatusCode.UNSET


def test_the_message_count_can_be_given(
    telemetry: ConsumerTelemetry, spans: InMemorySpanExporter
) -> None:
    with telemetry.batch_span(
        topic="t", partition=0, first_offset=0, last_offset=99, traceparents=[], message_count=60
    ):
        pass
    assert (the_span(spans).attributes or {})["messaging.batch.message_count"] == 60


def test_the_span_links_each_distinct_valid_traceparent(
    telemetry: ConsumerTelemetry, spans: InMemorySpanExporter
) -> None:
    given = [
        TRACEPARENT_A,
        "garbage",
        TRACEPARENT_B,
        TRACEPARENT_A,  # the same job emitted twice: one link
        TRACEPARENT_A[:-2] + "00",  # same span, other flags: still the same span
        "",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # all-zero trace id
        f"00-{TRACE_A}-{'0' * 16}-01",  # all-zero span id
        f"ff-{TRACE_A}-00f067aa0ba902b7-01",  # version ff is invalid
        f"00-{TRACE_A.upper()}-00f067aa0ba902b7-01",  # upper-case hex is invalid
        f"00-{TRACE_A}-00f067aa0ba902b7-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE_A}-00f067aa0ba902b-01",  # short span id
    ]
    with telemetry.batch_span(
        topic="t", partition=0, first_offset=0, last_offset=11, traceparents=iter(given)
    ):
        pass
    links = the_span(spans).links
    assert [f"{link.context.trace_id:032x}" for link in links] == [TRACE_A, TRACE_B]
    assert [f"{link.context.span_id:016x}" for link in links] == [
        "00f067aa0ba902b7",
        "b7ad6b7169203331",
    ]
    assert all(link.context.is_remote for link in links)
    # the consumer span is a trace of its own, not a child of the first job's
    assert the_span(spans).parent is None
    assert f"{the_span(spans).context.trace_id:032x}" not in (TRACE_A, TRACE_B)


def test_links_are_capped(telemetry: ConsumerTelemetry, spans: InMemorySpanExporter) -> None:
    many = [f"00-{i + 1:032x}-{i + 1:016x}-01" for i in range(1000)]
    with telemetry.batch_span(
        topic="t", partition=0, first_offset=0, last_offset=999, traceparents=many
    ):
        pass
    links = the_span(spans).links
    assert len(links) == MAX_LINKS == 128
    assert [link.context.trace_id for link in links] == list(range(1, 129))


def test_a_failed_batch_marks_its_span_and_raises(
    telemetry: ConsumerTelemetry, spans: InMemorySpanExporter
) -> None:
    with (
        pytest.raises(ConnectionError),
        telemetry.batch_span(
            topic="t", partition=0, first_offset=0, last_offset=0, traceparents=[TRACEPARENT_A]
        ),
    ):
        raise ConnectionError("clickhouse is gone")
    span = the_span(spans)
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "ConnectionError"
    assert [e.name for e in span.events] == ["exception"]
    assert len(span.links) == 1


# -- setup from OTEL_* ------------------------------------------------------------------------


def test_nothing_configured_means_no_providers(
    clean_globals: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert setup_from_environment() == (None, None)
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "none")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", " none ")
    assert setup_from_environment() == (None, None)
    assert not isinstance(trace.get_tracer_provider(), TracerProvider)


def test_the_sdk_can_be_disabled(clean_globals: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "console")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "TRUE")
    assert setup_from_environment() == (None, None)


def test_console_metrics(
    clean_globals: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "console")
    monkeypatch.setenv("OTEL_METRIC_EXPORT_INTERVAL", "50")
    providers = setup_from_environment()
    meter_provider, tracer_provider = providers
    try:
        assert isinstance(meter_provider, MeterProvider)
        assert tracer_provider is None
        assert metrics.get_meter_provider() is meter_provider
        ConsumerTelemetry(meter_provider).events(42, topic="lineage", partition=0)
        printed = ""
        deadline = time.monotonic() + 10
        while "pedigree.consumer.events" not in printed and time.monotonic() < deadline:
            time.sleep(0.05)  # exported by the periodic reader, every 50 ms
            printed += capsys.readouterr().out
    finally:
        shutdown(providers)
    assert "pedigree.consumer.events" in printed
    assert '"service.name": "pedigree-consumer"' in printed


def test_console_traces(
    clean_globals: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    providers = setup_from_environment("my-consumer")
    meter_provider, tracer_provider = providers
    assert meter_provider is None
    assert isinstance(tracer_provider, TracerProvider)
    assert trace.get_tracer_provider() is tracer_provider
    with ConsumerTelemetry(tracer_provider=tracer_provider).batch_span(
        topic="lineage", partition=0, first_offset=0, last_offset=0, traceparents=[TRACEPARENT_A]
    ):
        pass
    shutdown(providers)  # flushes the batch processor
    span = json.loads(capsys.readouterr().out)
    assert span["name"] == "pedigree.consume batch"
    assert span["resource"]["attributes"]["service.name"] == "my-consumer"
    assert span["links"][0]["context"]["trace_id"] == f"0x{TRACE_A}"


def test_the_service_name_variables_win_over_the_default(
    clean_globals: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,deployment=prod")
    providers = setup_from_environment()
    shutdown(providers)
    assert providers[1] is not None
    attributes = providers[1].resource.attributes
    assert (attributes["service.name"], attributes["deployment"]) == ("from-attrs", "prod")

    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-name")
    providers = setup_from_environment()
    shutdown(providers)
    assert providers[1] is not None
    attributes = providers[1].resource.attributes
    assert (attributes["service.name"], attributes["deployment"]) == ("from-name", "prod")


def test_otlp_without_the_package_is_a_warning(
    clean_globals: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for transport in ("http", "grpc"):  # absent even where the package happens to be installed
        for module in ("metric_exporter", "trace_exporter"):
            monkeypatch.setitem(
                sys.modules, f"opentelemetry.exporter.otlp.proto.{transport}.{module}", None
            )
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    with caplog.at_level(logging.WARNING, logger="pedigree.consumer"):
        assert setup_from_environment() == (None, None)
    warnings = [r.getMessage() for r in caplog.records if r.name == "pedigree.consumer"]
    assert len(warnings) == 2
    assert all("opentelemetry-exporter-otlp" in w for w in warnings)
    assert "OTEL_METRICS_EXPORTER" in warnings[0]
    assert "OTEL_TRACES_EXPORTER" in warnings[1]


def test_otlp_missing_does_not_stop_the_other_exporters(
    clean_globals: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for module in ("metric_exporter", "trace_exporter"):
        monkeypatch.setitem(sys.modules, f"opentelemetry.exporter.otlp.proto.http.{module}", None)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "otlp,console")
    with caplog.at_level(logging.WARNING, logger="pedigree.consumer"):
        providers = setup_from_environment()
    shutdown(providers)
    assert isinstance(providers[0], MeterProvider)
    assert providers[1] is None
    assert any("opentelemetry-exporter-otlp" in r.getMessage() for r in caplog.records)


def test_an_unknown_exporter_is_a_warning(
    clean_globals: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with caplog.at_level(logging.WARNING, logger="pedigree.consumer"):
        assert setup_from_environment() == (None, None)
    (record,) = [r for r in caplog.records if r.name == "pedigree.consumer"]
    assert "OTEL_TRACES_EXPORTER=zipkin" in record.getMessage()


def test_setting_up_twice_does_not_raise(
    clean_globals: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "console")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    first = setup_from_environment()
    second = setup_from_environment()
    try:
        assert isinstance(second[0], MeterProvider)
        assert isinstance(second[1], TracerProvider)
        assert second[0] is not first[0]
        assert metrics.get_meter_provider() is first[0]  # the global is set once per process
        assert trace.get_tracer_provider() is first[1]
    finally:
        shutdown(second)
        shutdown(first)


def test_shutdown_tolerates_nothing() -> None:
    shutdown(None)
    shutdown((None, None))
