"""The Kafka consumer group on the real broker and the real ClickHouse engine (in process).

The crash tests, which SIGKILL consumer processes, are in ``test_kafka_consumer_crashes.py``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from consumers.batching import BatchLimits
from consumers.kafka_consumer import (
    ConsumerConfig,
    ConsumeStats,
    KafkaConsumerWorker,
    RebuildBudget,
)
from consumers.materialize import event_id
from consumers.migrate import migrate
from consumers.queries import RUN_INPUTS
from consumers.tables import COLUMNS
from consumers.telemetry import ConsumerTelemetry
from emitters.codec import decode, encode, encode_json
from emitters.errors import InvalidEvent
from tests.integration.conftest import TopicFactory
from tests.integration.test_warehouse import realistic_events, run_state
from tests.openlineage_corpus import event_files, is_known_invalid, load_json, requires_shared
from tests.unit.test_codec_hostile import CASES as HOSTILE

Message = tuple[bytes | None, bytes, list[tuple[str, bytes]]]


def produce(bootstrap: str, topic: str, values: Iterable[bytes | Message]) -> int:
    """Produce and wait for the broker's acknowledgement; returns the number produced."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    sent = 0
    for value in values:
        key, payload, headers = value if isinstance(value, tuple) else (None, value, [])
        producer.produce(topic, value=payload, key=key, headers=headers)
        producer.poll(0)
        sent += 1
    assert producer.flush(30) == 0
    return sent


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list[Any]:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{time.time_ns()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(found) < expected and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            found.append(message)
    consumer.close()
    return found


def config(bootstrap: str, topic: str, database: str, **overrides: Any) -> ConsumerConfig:
    settings: dict[str, Any] = {
        "group": f"g-{topic}",
        "limits": BatchLimits(max_events=500, max_seconds=0.3),
        "exit_when_idle": True,
        "retry_initial": 0.2,
        "retry_max": 1.0,
    }
    settings.update(overrides)
    return ConsumerConfig(bootstrap=bootstrap, topics=(topic,), database=database, **settings)


def consume(client: Any, cfg: ConsumerConfig) -> ConsumeStats:
    return KafkaConsumerWorker(cfg, client).run()


def count(client: Any, table: str, final: str = "") -> int:
    return int(client.query(f"SELECT count() FROM {table} {final}").result_rows[0][0])


def assert_no_duplicates(client: Any) -> None:
    """No table holds a row twice (same sorting key, which ends in event_id), read without
    FINAL -- so before any merge could have collapsed copies."""
    tables = client.query(
        "SELECT name, sorting_key FROM system.tables WHERE database = currentDatabase() "
        "AND engine LIKE '%MergeTree' AND name != 'schema_migrations'"
    ).result_rows
    assert {t for t, _ in tables} >= set(COLUMNS)
    for table, key in tables:
        [(rows, distinct)] = client.query(
            f"SELECT count(), uniqExact({key}) FROM {table}"
        ).result_rows
        assert rows == distinct, f"{table} holds {rows - distinct} duplicate rows"


@contextlib.contextmanager
def running(worker: KafkaConsumerWorker, stop: threading.Event) -> Iterator[threading.Thread]:
    """``worker`` consuming in a thread until the block ends; then it must stop within 30 s."""
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()


def assert_each_event_once(warehouse: Any, events: list[dict[str, Any]]) -> None:
    assert count(warehouse, "events") == len(events)
    assert count(warehouse, "runs") == sum(1 for e in events if "run" in e)
    assert_no_duplicates(warehouse)


@pytest.fixture
def warehouse(clickhouse: Any) -> Any:
    """The fixture's database, migrated, with background merges off: a ReplacingMergeTree merge
    would collapse duplicate rows and hide them from :func:`assert_no_duplicates`."""
    migrate(clickhouse, clickhouse.database)
    for (table,) in clickhouse.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase() "
        "AND engine LIKE '%MergeTree'"
    ).result_rows:
        clickhouse.command(
            f"ALTER TABLE {table} MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 1, "
            "max_bytes_to_merge_at_min_space_in_pool = 1"
        )
    return clickhouse


def test_avro_and_json_events_materialize_and_offsets_are_committed(
    kafka_bootstrap: str, new_topic: TopicFactory, warehouse: Any
) -> None:
    events = realistic_events()
    topic = new_topic(partitions=2)
    # the emitter's Avro and the official clients' JSON, keyed by run as both clients do
    messages: list[Message] = [
        (e["run"]["runId"].encode(), encode(e) if i % 2 else encode_json(e), [])
        for i, e in enumerate(events)
    ]
    produce(kafka_bootstrap, topic, messages)
    stats = consume(warehouse, config(kafka_bootstrap, topic, warehouse.database))

    assert stats.events == len(events)
    assert stats.dead_letters == 0
    ids = {event_id(decode(m[1])) for m in messages}
    stored = {r[0] for r in warehouse.query("SELECT event_id FROM events").result_rows}
    assert stored == ids
    ml_run = events[0]["run"]["runId"]
    state = run_state(warehouse, ml_run)
    assert state["status"] == "COMPLETE"
    assert len(warehouse.query(RUN_INPUTS, parameters={"run_id": ml_run}).result_rows) == 2
    positions = warehouse.query(
        "SELECT topic, partition, offset FROM events ORDER BY partition, offset"
    ).result_rows
    assert {p[0] for p in positions} == {topic}
    # every offset was committed: a second run of the group finds nothing to do
    again = consume(warehouse, config(kafka_bootstrap, topic, warehouse.database))
    assert again.events == 0
    assert count(warehouse, "events") == len(events)
    assert_no_duplicates(warehouse)


def _accepted(event: dict[str, Any]) -> bool:
    import json

    try:
        decode(json.dumps(event).encode())
    except InvalidEvent:
        return False
    return True


def _corpus() -> list[tuple[str, dict[str, Any]]]:
    return [(p.name, load_json(p)) for p in event_files()]


@requires_shared
def test_the_openlineage_corpus_materializes_through_kafka(
    kafka_bootstrap: str, new_topic: TopicFactory, warehouse: Any
) -> None:
    import json

    corpus = _corpus()
    # valid: what the validator accepts (it agrees with jsonschema on the corpus, see
    # tests/unit/test_validation_matches_jsonschema.py); the known-invalid ones among the rest
    valid = [(n, e) for n, e in corpus if _accepted(e)]
    invalid = [n for n, e in corpus if not _accepted(e)]
    assert valid
    assert {n for n, _ in corpus if is_known_invalid(Path(n))} <= set(invalid)
    topic = new_topic()
    # as the official clients send them: OpenLineage JSON, one message per event
    produce(kafka_bootstrap, topic, [json.dumps(e).encode() for _, e in corpus])
    stats = consume(warehouse, config(kafka_bootstrap, topic, warehouse.database))

    assert stats.dead_letters == len(invalid)
    assert stats.events == len(valid)
    stored = {
        r[0]: r[1:]
        for r in warehouse.query(
            "SELECT event_id, event_kind, run_id, job_namespace, job_name FROM events"
        ).result_rows
    }
    for name, event in valid:
        kind, run_id, job_namespace, job_name = stored[event_id(event)]
        assert kind == ("run" if "run" in event else "dataset" if "dataset" in event else "job")
        assert run_id == event.get("run", {}).get("runId", ""), name
        assert (job_namespace, job_name) == (
            event.get("job", {}).get("namespace", ""),
            event.get("job", {}).get("name", ""),
        ), name
    run_events = [e for _, e in valid if "run" in e]
    runs = {r[0]: r[1:] for r in warehouse.query(
        "SELECT run_id, job_namespace, job_name FROM runs FINAL").result_rows}  # fmt: skip
    for event in run_events:
        assert runs[event["run"]["runId"]] == (event["job"]["namespace"], event["job"]["name"])
    edges = set(warehouse.query(
        "SELECT run_id, dataset_namespace, dataset_name FROM run_inputs").result_rows)  # fmt: skip
    expected = {
        (e["run"]["runId"], i["namespace"], i["name"]) for e in run_events
        for i in e.get("inputs") or []
    }  # fmt: skip
    assert expected
    assert expected <= edges
    outputs = set(warehouse.query(
        "SELECT run_id, dataset_namespace, dataset_name FROM run_outputs").result_rows)  # fmt: skip
    assert {
        (e["run"]["runId"], o["namespace"], o["name"]) for e in run_events
        for o in e.get("outputs") or []
    } == outputs  # fmt: skip
    ctas = "019127df-0850-72bc-b214-b255290588a6"  # the column-lineage scenario's CTAS run
    assert run_state(warehouse, ctas)["status"] == "COMPLETE"
    assert_no_duplicates(warehouse)


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
LIMIT = 200_000  # the consumer's message size limit in the poison test (default: 1 MiB)


def poison_corpus(valid: bytes) -> dict[str, tuple[bytes, str]]:
    """name -> (message, expected pedigree.error.kind)."""
    return {
        "truncated avro": (valid[: len(valid) // 2], "undecodable"),
        "wrong magic": (b"\xc3\x02" + valid[2:], "undecodable"),
        "unknown fingerprint": (valid[:2] + b"\x00" * 8 + valid[10:], "undecodable"),
        "huge declared count": (HOSTILE["array count"], "undecodable"),  # 2^62 inputs
        "invalid openlineage": (b'{"eventTime": "yesterday", "producer": "x"}', "invalid"),
        "not json": (b"{this is not json", "undecodable"),
        "oversized": (b'{"pad": "' + b"x" * LIMIT + b'"}', "oversized"),
    }


def test_poison_messages_go_to_the_dead_letter_topic_and_the_rest_flows(
    kafka_bootstrap: str, new_topic: TopicFactory, warehouse: Any
) -> None:
    events = realistic_events()
    valid = [encode(e) for e in events]
    poison = poison_corpus(valid[0])
    topic = new_topic()
    # poison between valid events, with headers of their own that must survive
    messages: list[Message] = []
    for (name, (value, _kind)), good in zip(poison.items(), [*valid, *valid], strict=False):
        messages.append((None, good, [("traceparent", TRACEPARENT.encode())]))
        messages.append((name.encode(), value, [("origin", name.encode())]))
    produce(kafka_bootstrap, topic, messages)
    dlq = f"{topic}.dlq"
    cfg = config(kafka_bootstrap, topic, warehouse.database, max_message_bytes=LIMIT)
    metrics, spans = InMemoryMetricReader(), InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = ConsumerTelemetry(MeterProvider(metric_readers=[metrics]), tracer_provider)
    stats = KafkaConsumerWorker(cfg, warehouse, telemetry=telemetry).run()

    assert stats.dead_letters == len(poison)
    assert stats.events == len(poison)  # the valid message before each poison one
    letters = read_topic(kafka_bootstrap, dlq, len(poison))
    assert len(letters) == len(poison)
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers()}
        name = letter.key().decode()
        offset = next(i for i, m in enumerate(messages) if m[0] == letter.key())
        assert headers["origin"] == name  # its own headers kept
        assert headers["pedigree.error.topic"] == topic
        assert headers["pedigree.error.partition"] == "0"
        assert headers["pedigree.error.offset"] == str(offset)
        assert headers["pedigree.error.kind"] == poison[name][1], name
        assert headers["pedigree.error.class"] == "InvalidEvent"
        assert headers["pedigree.error.message"]
        assert letter.value() == poison[name][0]
    invalid = next(lt for lt in letters if lt.key() == b"invalid openlineage")
    assert dict(invalid.headers())["pedigree.error.field"] == b"eventTime"
    assert count(warehouse, "events") == len({event_id(e) for e in events[: len(poison)]})
    # telemetry: what was counted, and the batch spans link to the emitting job's trace
    sums = {
        m.name: sum(p.value for p in m.data.data_points)  # type: ignore[union-attr]
        for rm in metrics.get_metrics_data().resource_metrics  # type: ignore[union-attr]
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name in ("pedigree.consumer.events", "pedigree.consumer.dead_letters")
    }
    assert sums == {
        "pedigree.consumer.events": len(poison),
        "pedigree.consumer.dead_letters": len(poison),
    }
    [span, *_] = spans.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["messaging.destination.name"] == topic
    assert [f"{link.context.trace_id:032x}" for link in span.links] == [TRACEPARENT.split("-")[1]]


def test_clickhouse_unavailable_mid_stream_pauses_and_resumes_without_loss(
    kafka_bootstrap: str, new_topic: TopicFactory, warehouse: Any
) -> None:
    """A table is detached (inserts fail as on a server that is away) while events flow."""
    topic = new_topic(partitions=2)
    events = variants(6)
    first, second = events[:8], events[8:]
    produce(kafka_bootstrap, topic, [encode(e) for e in first])
    stop = threading.Event()
    worker = KafkaConsumerWorker(
        config(kafka_bootstrap, topic, warehouse.database, exit_when_idle=False),
        warehouse,
        stop=stop,
    )
    with running(worker, stop) as thread:
        _wait(lambda: count(warehouse, "events") == len(first), "the first events")
        warehouse.command("DETACH TABLE runs")  # events inserts work, runs inserts fail
        produce(kafka_bootstrap, topic, [encode(e) for e in second])
        _wait(lambda: worker.stats.flush_failures >= 3, "repeated flush failures")
        assert thread.is_alive()  # it does not crash-loop: it waits
        warehouse.command("ATTACH TABLE runs")
        _wait(lambda: worker.stats.events == len(events), "all events after the restore")
    assert_each_event_once(warehouse, events)


def test_two_consumers_share_the_partitions_and_a_leaving_one_loses_nothing(
    kafka_bootstrap: str, new_topic: TopicFactory, warehouse: Any, clickhouse_dsn: str
) -> None:
    import clickhouse_connect

    from pedigree.cmd_migrate import _dsn

    topic = new_topic(partitions=4)
    events = variants(50)
    stop_a, stop_b = threading.Event(), threading.Event()
    cfg = config(kafka_bootstrap, topic, warehouse.database, exit_when_idle=False)
    clients = [clickhouse_connect.get_client(dsn=_dsn(clickhouse_dsn)) for _ in range(2)]
    a = KafkaConsumerWorker(cfg, clients[0], stop=stop_a)
    b = KafkaConsumerWorker(cfg, clients[1], stop=stop_b)
    threads = [threading.Thread(target=a.run), threading.Thread(target=b.run)]
    for thread in threads:
        thread.start()
    try:
        _wait(lambda: len(a.assigned()) + len(b.assigned()) == 4 and a.assigned()
              and b.assigned(), "the group to share the 4 partitions")  # fmt: skip
        half = len(events) // 2
        produce(kafka_bootstrap, topic, [(str(i).encode(), encode(e), []) for i, e in
                                         enumerate(events[:half])])  # fmt: skip
        _wait(lambda: a.stats.events > 0 and b.stats.events > 0, "both consumers at work")
        stop_a.set()  # one leaves mid-stream: its partitions go to the other
        threads[0].join(30)
        produce(kafka_bootstrap, topic, [(str(i).encode(), encode(e), []) for i, e in
                                         enumerate(events[half:], half)])  # fmt: skip
        _wait(lambda: count(warehouse, "events") >= len(events), "every event")
        time.sleep(1.0)  # nothing more may arrive
    finally:
        stop_a.set()
        stop_b.set()
        for thread in threads:
            thread.join(30)
    assert count(warehouse, "events") == len(events)
    assert a.stats.events + b.stats.events >= len(events)
    assert_no_duplicates(warehouse)


def variants(copies: int) -> list[dict[str, Any]]:
    """``copies`` runs of the realistic lifecycle, each with its own run ids (distinct events)."""
    return [_variant(e, i) for i in range(copies) for e in realistic_events()]


def _variant(event: Mapping[str, Any], i: int) -> dict[str, Any]:
    import copy
    import uuid

    def remap(run_id: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{i}:{run_id}"))

    copied = copy.deepcopy(dict(event))
    copied["run"]["runId"] = remap(copied["run"]["runId"])
    parent = copied["run"]["facets"].get("parent")
    if parent:
        parent["run"]["runId"] = remap(parent["run"]["runId"])
        if "root" in parent:
            parent["root"]["run"]["runId"] = remap(parent["root"]["run"]["runId"])
    return copied


def _wait(condition: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_rebuild_from_kafka_gives_a_warehouse_that_answers_identically(
    kafka_bootstrap: str, new_topic: TopicFactory, warehouse: Any
) -> None:
    from consumers.rebuild import DERIVED_TABLES, RebuildError, rebuild_from_kafka

    topic = new_topic(partitions=3)
    events = variants(5)
    messages: list[Message] = [(str(i).encode(), encode(e), []) for i, e in enumerate(events)]
    messages.insert(7, (None, b"\x00 not an event", []))
    produce(kafka_bootstrap, topic, messages)
    live = consume(warehouse, config(kafka_bootstrap, topic, warehouse.database))
    assert (live.events, live.dead_letters) == (len(events), 1)

    replayed = f"{warehouse.database}_replayed"
    try:
        cfg = config(kafka_bootstrap, topic, replayed, limits=BatchLimits(max_events=7))
        stats = rebuild_from_kafka(warehouse, cfg)
        assert (stats.events, stats.dead_letters) == (len(events), 1)
        for table in DERIVED_TABLES:
            query = "SELECT * FROM {}.%s ORDER BY ALL" % table  # noqa: UP031
            assert (
                warehouse.query(query.format(replayed)).result_rows
                == warehouse.query(query.format(warehouse.database)).result_rows
            ), table
        raw = "SELECT * EXCEPT received_time FROM {}.events ORDER BY ALL"
        assert (
            warehouse.query(raw.format(replayed)).result_rows
            == warehouse.query(raw.format(warehouse.database)).result_rows
        )
        assert len(read_topic(kafka_bootstrap, f"{topic}.rebuild.dlq", 1)) == 1
        with pytest.raises(RebuildError, match="not empty"):
            rebuild_from_kafka(warehouse, cfg)
    finally:
        warehouse.command(f"DROP DATABASE IF EXISTS {replayed} SYNC")


def test_a_fenced_static_member_rebuilds_its_client_and_loses_nothing(
    kafka_bootstrap: str, new_topic: TopicFactory, warehouse: Any
) -> None:
    """A static member (``group.instance.id``) fenced by the coordinator gets a *fatal* error:
    its Kafka client is dead for good.  librdkafka fences a static member even by itself when
    its session times out while the group coordinator moves (confluentinc/librdkafka#3437; seen
    in the three-broker test).  Here another client claims the worker's instance id, then goes
    away: the worker rebuilds its client, takes its partitions back and misses nothing."""
    from confluent_kafka import Consumer

    topic = new_topic(partitions=2)
    events = variants(8)
    first, second = events[:12], events[12:]
    produce(kafka_bootstrap, topic, [encode(e) for e in first])
    stop = threading.Event()
    cfg = config(kafka_bootstrap, topic, warehouse.database, exit_when_idle=False,
                 kafka={"group.instance.id": "worker-0", "session.timeout.ms": 6000})  # fmt: skip
    worker = KafkaConsumerWorker(cfg, warehouse, stop=stop)
    with running(worker, stop) as thread:
        _wait(lambda: count(warehouse, "events") == len(first), "the first events")
        usurper = Consumer({
            "bootstrap.servers": kafka_bootstrap, "group.id": cfg.group,
            "group.instance.id": "worker-0", "session.timeout.ms": 6000,
            "enable.auto.commit": False,
        })  # fmt: skip
        usurper.subscribe([topic])
        deadline = time.monotonic() + 60
        while not usurper.assignment():
            assert time.monotonic() < deadline, "the usurper never joined"
            usurper.poll(0.2)
        usurper.close()  # a static member's close leaves its id registered, not the group
        _wait(lambda: worker.stats.client_restarts >= 1, "the worker to rebuild its client")
        produce(kafka_bootstrap, topic, [encode(e) for e in second])
        _wait(lambda: count(warehouse, "events") >= len(events), "the events after the fencing")
        time.sleep(1.0)  # nothing more may arrive
        assert thread.is_alive()
    assert_each_event_once(warehouse, events)


def test_two_workers_sharing_an_instance_id_stop_fencing_each_other(
    kafka_bootstrap: str, new_topic: TopicFactory, warehouse: Any, clickhouse_dsn: str
) -> None:
    """A misconfiguration: two workers with one ``group.instance.id`` fence each other in
    turn.  Each rebuild is budgeted; the one whose budget runs out first stops with
    KafkaClientFenced (a one-line error of ``pedigree consume``), the other goes on alone."""
    import clickhouse_connect

    from consumers.errors import KafkaClientFenced
    from pedigree.cmd_migrate import _dsn

    topic = new_topic(partitions=2)
    events = variants(6)
    cfg = config(kafka_bootstrap, topic, warehouse.database, exit_when_idle=False,
                 kafka={"group.instance.id": "worker-0", "session.timeout.ms": 6000})  # fmt: skip
    stops = [threading.Event(), threading.Event()]
    clients = [clickhouse_connect.get_client(dsn=_dsn(clickhouse_dsn)) for _ in range(2)]
    workers = [
        KafkaConsumerWorker(cfg, client, stop=stop, rebuilds=RebuildBudget(limit=1, first_wait=0.2))
        for client, stop in zip(clients, stops, strict=True)
    ]
    ended: dict[int, BaseException | None] = {}

    def run(i: int) -> None:
        try:
            workers[i].run()
            ended[i] = None
        except BaseException as err:  # noqa: BLE001 - recorded for the assertions
            ended[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    threads[0].start()
    _wait(workers[0].assigned, "the first worker to join")
    threads[1].start()
    try:
        _wait(lambda: len(ended) == 1, "one worker to give up", timeout=90)
        [(loser, err)] = ended.items()
        assert isinstance(err, KafkaClientFenced), err
        assert "group.instance.id 'worker-0'" in str(err)
        survivor = 1 - loser
        produce(kafka_bootstrap, topic, [encode(e) for e in events])
        _wait(lambda: count(warehouse, "events") >= len(events), "the survivor to consume")
        assert threads[survivor].is_alive()
    finally:
        for stop in stops:
            stop.set()
        for thread in threads:
            thread.join(30)
    assert ended[survivor] is None
    assert workers[loser].stats.client_restarts == 1
    assert count(warehouse, "events") == len(events)
    assert_no_duplicates(warehouse)


def test_partitions_paused_during_an_outage_flow_again_after_a_rebalance(
    kafka_bootstrap: str, new_topic: TopicFactory, warehouse: Any
) -> None:
    """librdkafka keeps a partition's pause across a revoke and re-assignment.  The worker pauses
    its partitions while ClickHouse fails; a rebalance takes them away (the retry then finds
    nothing to flush) and gives them back: they must flow again, not stay paused for good."""
    from confluent_kafka import Consumer

    topic = new_topic(partitions=2)
    events = variants(6)
    first, second = events[:8], events[8:]
    stop = threading.Event()
    cfg = config(kafka_bootstrap, topic, warehouse.database, exit_when_idle=False,
                 retry_initial=0.1, retry_max=0.1)  # fmt: skip
    worker = KafkaConsumerWorker(cfg, warehouse, stop=stop)
    with running(worker, stop):
        _wait(lambda: len(worker.assigned()) == 2, "the worker to take both partitions")
        warehouse.command("DETACH TABLE runs")
        produce(kafka_bootstrap, topic, [encode(e) for e in first])
        _wait(lambda: worker.stats.flush_failures >= 2, "the partitions paused by failures")
        # a member that commits nothing: it only takes partitions away and gives them back
        other = Consumer({
            "bootstrap.servers": kafka_bootstrap, "group.id": cfg.group,
            "enable.auto.commit": False,
        })  # fmt: skip
        other.subscribe([topic])  # a rebalance: the worker's paused partitions are revoked
        deadline = time.monotonic() + 60
        while not other.assignment():
            assert time.monotonic() < deadline, "the second member never got a partition"
            other.poll(0.2)
        other.close()  # it leaves: the worker gets both partitions back
        _wait(lambda: len(worker.assigned()) == 2, "the worker to take both partitions back")
        warehouse.command("ATTACH TABLE runs")
        produce(kafka_bootstrap, topic, [encode(e) for e in second])
        _wait(lambda: count(warehouse, "events") >= len(events), "every event after the roll")
        time.sleep(1.0)  # nothing more may arrive
    assert_each_event_once(warehouse, events)
