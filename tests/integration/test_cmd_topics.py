"""``pedigree topics create`` against the real test broker (one node: replication factor 1).

The three-node cluster case (replication factor 3, ``min.insync.replicas=2``) is in
``tests/integration/test_kafka_cluster.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pedigree.cli import main


def topic_configs(bootstrap: str, topic: str) -> tuple[int, int, dict[str, str]]:
    """(partitions, replication factor, configs) of ``topic`` as the broker reports them."""
    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient({"bootstrap.servers": bootstrap})
    meta = admin.list_topics(timeout=10).topics[topic]
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(timeout=10)
    replicas = {len(p.replicas) for p in meta.partitions.values()}
    assert len(replicas) == 1
    return len(meta.partitions), replicas.pop(), {k: e.value for k, e in entries.items()}


@pytest.fixture
def topic_name(kafka_bootstrap: str) -> Iterator[str]:
    name = f"topics-{uuid.uuid4().hex}"
    yield name
    from confluent_kafka.admin import AdminClient

    admin: Any = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.delete_topics([name, f"{name}.dlq"], operation_timeout=30).values():
        future.result(timeout=30)


def test_create_is_idempotent_and_reports_a_difference(
    kafka_bootstrap: str, topic_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["topics", "create", "--bootstrap", kafka_bootstrap, "--topic", topic_name,
            "--partitions", "3", "--replication-factor", "1", "--min-insync-replicas", "1",
            "--retention-ms", "3600000", "--dead-letter-retention-ms", "7200000"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == [
        f"created {topic_name}",
        f"created {topic_name}.dlq",
    ]
    partitions, replicas, configs = topic_configs(kafka_bootstrap, topic_name)
    assert (partitions, replicas) == (3, 1)
    assert configs["min.insync.replicas"] == "1"
    assert configs["retention.ms"] == "3600000"
    partitions, replicas, configs = topic_configs(kafka_bootstrap, f"{topic_name}.dlq")
    assert (partitions, replicas, configs["retention.ms"]) == (1, 1, "7200000")

    assert main(argv) == 0  # again: nothing to do, nothing altered
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == [
        f"exists {topic_name}",
        f"exists {topic_name}.dlq",
    ]

    assert main([*argv, "--partitions", "6"]) == 1  # asks for 6 (the last one wins): differs
    out = capsys.readouterr().out
    assert f"differs {topic_name}: has 3 partitions, wanted 6" in out
    assert topic_configs(kafka_bootstrap, topic_name)[0] == 3  # never altered


def test_a_replication_factor_above_the_brokers_is_refused_in_one_line(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"topics-{uuid.uuid4().hex}"
    assert main(["topics", "create", "--bootstrap", kafka_bootstrap, "--topic", name]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"pedigree topics: {name}: replication factor 3 needs as many brokers; the cluster has 1\n"
    )
    from confluent_kafka.admin import AdminClient

    assert (
        name
        not in AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics
    )
