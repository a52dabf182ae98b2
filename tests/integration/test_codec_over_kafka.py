"""The contract on a real broker: what the codec and the official client produce comes back
through a consumer group as the identical OpenLineage event."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Producer
from openlineage.client import OpenLineageClient
from openlineage.client import event_v2 as ev
from openlineage.client.serde import Serde
from openlineage.client.transport.kafka import KafkaConfig, KafkaTransport

from emitters import codec
from emitters.kafka_key import kafka_key
from tests.events import all_project_events
from tests.json_equality import strictly_equal


def _consume(bootstrap: str, topic: str, count: int) -> list[tuple[bytes, bytes]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    received: list[tuple[bytes, bytes]] = []
    try:
        for _ in range(120):
            for message in consumer.consume(num_messages=count, timeout=0.5):
                assert message.error() is None, message.error()
                received.append((message.key(), message.value()))
            if len(received) >= count:
                break
    finally:
        consumer.close()
    assert len(received) == count, f"received {len(received)} of {count}"
    return received


def test_codec_events_survive_the_broker_exactly(
    kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    events = list(all_project_events().values())
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for event in events:
        producer.produce(topic, value=codec.encode(event), key=kafka_key(event))
    assert producer.flush(30) == 0
    received = _consume(kafka_bootstrap, topic, len(events))
    for (key, value), event in zip(received, events, strict=True):
        assert codec.detect_format(value) == "avro"
        assert key == kafka_key(event)
        assert strictly_equal(codec.decode(value), event)


def test_official_openlineage_kafka_transport_json_decodes_identically(
    kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    transport = KafkaTransport(
        KafkaConfig(config={"bootstrap.servers": kafka_bootstrap}, topic=topic, flush=True)
    )
    client = OpenLineageClient(transport=transport)
    sent: list[Any] = []
    for state in (ev.RunState.START, ev.RunState.COMPLETE):
        event = ev.RunEvent(
            eventType=state,
            eventTime="2026-11-28T10:00:00Z",
            run=ev.Run(runId=str(uuid.UUID(int=99))),
            job=ev.Job(namespace="airflow", name="dag.task"),
            inputs=[ev.InputDataset(namespace="postgres://db:5432", name="shop.public.orders")],
        )
        client.emit(event)
        sent.append(json.loads(Serde.to_json(event)))
    transport.close(timeout=10)
    for (key, value), event in zip(_consume(kafka_bootstrap, topic, 2), sent, strict=True):
        assert codec.detect_format(value) == "json"
        decoded = codec.decode(value)
        assert strictly_equal(decoded, event)
        assert key == kafka_key(decoded)
