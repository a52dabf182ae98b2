"""The integration fixtures do what they claim: a real broker, isolated topics that are cleaned
up, and a fresh empty ClickHouse database per test.

Two pairs of tests look at what the previous test of the pair left behind (the topic or the
database must be gone); pytest runs a file's tests in order, and each second test skips itself
when run alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

_left_behind: dict[str, str] = {}


def _consume_all(bootstrap: str, topic: str, group: str, count: int) -> list[Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    received: list[Any] = []
    try:
        for _ in range(60):
            for message in consumer.consume(num_messages=count, timeout=0.5):
                assert message.error() is None, message.error()
                received.append(message)
            if len(received) >= count:
                break
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return received


def _committed(bootstrap: str, group: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        [partition] = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        return int(partition.offset)
    finally:
        consumer.close()


def test_hundred_messages_come_back_in_order_through_a_consumer_group(
    kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    sent = [(f"key-{i % 7}".encode(), f"message {i:03d}".encode()) for i in range(100)]
    for key, value in sent:
        producer.produce(topic, key=key, value=value, headers=[("n", value[-3:])])
    assert producer.flush(30) == 0

    group = f"harness-{uuid.uuid4().hex}"
    received = _consume_all(kafka_bootstrap, topic, group, len(sent))

    assert [(m.key(), m.value()) for m in received] == sent
    assert [m.offset() for m in received] == list(range(100))
    assert {(m.topic(), m.partition()) for m in received} == {(topic, 0)}
    assert [m.headers() for m in received] == [[("n", v[-3:])] for _, v in sent]
    assert _committed(kafka_bootstrap, group, topic) == 100


def test_new_topics_are_distinct_and_isolated(
    kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    first = new_topic()
    second = new_topic(partitions=3, name_prefix="iso")
    assert first != second
    assert first.startswith("t-")
    assert second.startswith("iso-")

    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(first, value=b"only in the first")
    assert producer.flush(30) == 0

    topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics
    assert len(topics[first].partitions) == 1
    assert len(topics[second].partitions) == 3
    probe = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "harness-probe"})
    try:
        assert probe.get_watermark_offsets(TopicPartition(first, 0), timeout=10) == (0, 1)
        for partition in range(3):
            watermarks = probe.get_watermark_offsets(TopicPartition(second, partition), timeout=10)
            assert watermarks == (0, 0)
    finally:
        probe.close()
    _left_behind["topic"] = second


def test_topics_of_the_previous_test_were_deleted(kafka_bootstrap: str) -> None:
    if "topic" not in _left_behind:
        pytest.skip("runs after test_new_topics_are_distinct_and_isolated")
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    metadata = admin.list_topics(timeout=10)
    topic = metadata.topics.get(_left_behind["topic"])
    assert topic is None or topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_clickhouse_database_is_fresh_empty_and_round_trips(clickhouse: Any) -> None:
    assert clickhouse.database.startswith("pedigree_test_")
    assert clickhouse.command("SELECT currentDatabase()") == clickhouse.database
    assert clickhouse.query("SHOW TABLES").result_rows == []

    clickhouse.command(
        "CREATE TABLE runs (run_id String, step UInt32, loss Float64) "
        "ENGINE = MergeTree ORDER BY (run_id, step)"
    )
    rows = [["r1", 1, 0.5], ["r1", 2, 0.25], ["r2", 1, 0.75]]
    clickhouse.insert("runs", rows, column_names=["run_id", "step", "loss"])
    result = clickhouse.query("SELECT run_id, step, loss FROM runs ORDER BY run_id, step")
    assert [list(row) for row in result.result_rows] == rows
    qualified = f"SELECT count() FROM {clickhouse.database}.runs"
    assert clickhouse.command(qualified) == 3
    _left_behind["database"] = clickhouse.database


def test_clickhouse_gives_each_test_its_own_database(clickhouse: Any) -> None:
    if "database" not in _left_behind:
        pytest.skip("runs after test_clickhouse_database_is_fresh_empty_and_round_trips")
    previous = _left_behind["database"]
    assert clickhouse.database != previous
    assert clickhouse.query("SHOW TABLES").result_rows == []
    databases = {row[0] for row in clickhouse.query("SHOW DATABASES").result_rows}
    assert previous not in databases, "the previous test's database was not dropped"
    assert clickhouse.database in databases
