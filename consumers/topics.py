"""The Kafka topics Pedigree needs: what they should be, and creating them idempotently.

:func:`plan` is pure: the events topic and its dead-letter topic with their partitions,
replication factor and configs.  :func:`compare` is pure too: what differs between a wanted
topic and one that exists.  :func:`ensure` is the I/O edge: it creates the missing topics
through ``confluent_kafka.admin.AdminClient`` and reports the existing ones, never altering
them (changing a live topic's partitions or configs is an operator's decision).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from consumers.dead_letter import default_dead_letter_topic

__all__ = [
    "DEFAULT_DEAD_LETTER_PARTITIONS",
    "DEFAULT_DEAD_LETTER_RETENTION_MS",
    "DEFAULT_MIN_INSYNC_REPLICAS",
    "DEFAULT_PARTITIONS",
    "DEFAULT_REPLICATION_FACTOR",
    "DEFAULT_RETENTION_MS",
    "Outcome",
    "TopicError",
    "TopicSpec",
    "compare",
    "ensure",
    "plan",
]

DEFAULT_PARTITIONS = 12
DEFAULT_REPLICATION_FACTOR = 3
DEFAULT_MIN_INSYNC_REPLICAS = 2
DEFAULT_DEAD_LETTER_PARTITIONS = 1
DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000
"""A week: covers a long consumer outage (``docs/operations.md``, "Retention")."""
DEFAULT_DEAD_LETTER_RETENTION_MS = 30 * 24 * 3600 * 1000
"""A month: long enough to look at refused messages."""


class TopicError(Exception):
    """The cluster cannot hold the planned topics, or did not answer."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in sorted(self.configs.items()))
        return f"{self.partitions} partitions, replication factor {self.replication_factor}" + (
            f", {settings}" if settings else ""
        )


@dataclass(frozen=True)
class Outcome:
    """What happened to one topic: ``created``, ``exists`` (as wanted) or ``differs``."""

    spec: TopicSpec
    status: str
    differences: tuple[str, ...] = ()

    def line(self) -> str:
        if self.status == "differs":
            return f"differs {self.spec.name}: " + "; ".join(self.differences)
        return f"{self.status} {self.spec.name}: {self.spec.describe()}"


def plan(
    topic: str,
    *,
    dead_letter_topic: str | None = None,
    partitions: int = DEFAULT_PARTITIONS,
    replication_factor: int = DEFAULT_REPLICATION_FACTOR,
    min_insync_replicas: int = DEFAULT_MIN_INSYNC_REPLICAS,
    retention_ms: int = DEFAULT_RETENTION_MS,
    dead_letter_partitions: int = DEFAULT_DEAD_LETTER_PARTITIONS,
    dead_letter_retention_ms: int = DEFAULT_DEAD_LETTER_RETENTION_MS,
) -> list[TopicSpec]:
    """The events topic and its dead-letter topic (``<topic>.dlq``, the consumer's default).

    Raises ``ValueError`` naming the bad value.
    """
    if not topic.strip():
        raise ValueError("the topic name is empty")
    for name, value in (("--partitions", partitions), ("--dead-letter-partitions",
                        dead_letter_partitions), ("--replication-factor", replication_factor),
                        ("--min-insync-replicas", min_insync_replicas)):  # fmt: skip
        if value < 1:
            raise ValueError(f"{name} {value}: must be at least 1")
    if min_insync_replicas > replication_factor:
        raise ValueError(
            f"--min-insync-replicas {min_insync_replicas} is above --replication-factor "
            f"{replication_factor}: no write could ever be acknowledged"
        )
    for name, value in (("--retention-ms", retention_ms),
                        ("--dead-letter-retention-ms", dead_letter_retention_ms)):  # fmt: skip
        if value < -1 or value == 0:
            raise ValueError(f"{name} {value}: must be positive, or -1 (keep forever)")
    common = {"min.insync.replicas": str(min_insync_replicas), "cleanup.policy": "delete"}
    dead_letter = dead_letter_topic or default_dead_letter_topic(topic)
    if dead_letter == topic:
        raise ValueError("the dead-letter topic must differ from the events topic")
    return [
        TopicSpec(
            topic,
            partitions,
            replication_factor,
            {**common, "retention.ms": str(retention_ms)},
        ),
        TopicSpec(
            dead_letter,
            dead_letter_partitions,
            replication_factor,
            {**common, "retention.ms": str(dead_letter_retention_ms)},
        ),
    ]


def compare(
    spec: TopicSpec, partitions: int, replication_factor: int, configs: Mapping[str, str]
) -> tuple[str, ...]:
    """How an existing topic differs from ``spec`` (empty: as wanted)."""
    found: list[str] = []
    if partitions != spec.partitions:
        found.append(f"has {partitions} partitions, wanted {spec.partitions}")
    if replication_factor != spec.replication_factor:
        found.append(
            f"has replication factor {replication_factor}, wanted {spec.replication_factor}"
        )
    for key, wanted in sorted(spec.configs.items()):
        value = configs.get(key)
        if value is not None and value != wanted:
            found.append(f"has {key}={value}, wanted {wanted}")
    return tuple(found)


def ensure(admin: Any, specs: Sequence[TopicSpec], timeout: float = 30.0) -> list[Outcome]:
    """Create the missing topics of ``specs`` and report on the existing ones.

    ``admin`` is a ``confluent_kafka.admin.AdminClient``.  Raises :class:`TopicError` when the
    cluster has fewer brokers than a replication factor needs, or a request fails.
    """
    from confluent_kafka import KafkaException

    # the documented import path; confluent-kafka declares no re-exports for strict mypy
    from confluent_kafka.admin import ConfigResource, NewTopic  # type: ignore[attr-defined]

    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as err:
        raise TopicError(f"the cluster did not answer: {err.args[0]}") from err
    brokers = len(metadata.brokers)
    for spec in specs:
        if spec.name not in metadata.topics and spec.replication_factor > brokers:
            raise TopicError(
                f"{spec.name}: replication factor {spec.replication_factor} needs as many "
                f"brokers; the cluster has {brokers}"
            )
    outcomes: dict[str, Outcome] = {}
    missing = [s for s in specs if s.name not in metadata.topics]
    if missing:
        new = [
            NewTopic(s.name, num_partitions=s.partitions,
                     replication_factor=s.replication_factor, config=dict(s.configs))
            for s in missing
        ]  # fmt: skip
        futures = admin.create_topics(
            new,
            operation_timeout=timeout,
            request_timeout=timeout,
        )
        for spec in missing:
            try:
                futures[spec.name].result(timeout=timeout)
            except KafkaException as err:
                raise TopicError(f"{spec.name}: not created: {err.args[0].str()}") from err
            outcomes[spec.name] = Outcome(spec, "created")
    existing = [s for s in specs if s.name in metadata.topics]
    if existing:
        resources = [ConfigResource(ConfigResource.Type.TOPIC, s.name) for s in existing]
        described = admin.describe_configs(resources, request_timeout=timeout)
        for spec, resource in zip(existing, resources, strict=True):
            try:
                entries = described[resource].result(timeout=timeout)
            except KafkaException as err:
                raise TopicError(f"{spec.name}: cannot read its configs: {err.args[0]}") from err
            topic = metadata.topics[spec.name]
            replicas = min((len(p.replicas) for p in topic.partitions.values()), default=0)
            differences = compare(
                spec,
                len(topic.partitions),
                replicas,
                {key: entry.value for key, entry in entries.items()},
            )
            outcomes[spec.name] = Outcome(spec, "differs" if differences else "exists", differences)
    return [outcomes[s.name] for s in specs]
