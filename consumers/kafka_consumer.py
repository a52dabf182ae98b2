"""The Kafka consumer-group worker behind ``pedigree consume``: the topic into ClickHouse.

One thread, one loop: ``consume()`` a bounded number of messages, append each to its
partition's open batch (:mod:`consumers.batching`), and flush the batches that are due --
by count, bytes or age (:class:`~consumers.batching.BatchLimits`).  Flushing a batch:

1. commit the partition's unchanged offset with the batch's range as metadata (the range is
   now *recorded*: whoever replays it forms exactly this batch again);
2. decode and validate every message, turn the events into rows (pure code); messages that do
   not decode or validate are produced to the dead-letter topic (:mod:`consumers.dead_letter`)
   and acknowledged there first;
3. insert each table's rows with the deduplication token of topic, partition, range and table;
4. commit ``last + 1`` -- only now, after ClickHouse acknowledged every table.

A failure at 1-4 (ClickHouse down, the broker away) keeps the batch, pauses every partition,
and retries with exponential backoff while the loop keeps serving the group (heartbeats,
rebalances); it resumes when the flush succeeds.  On a rebalance, the batches of revoked
partitions are flushed if the warehouse answers and dropped otherwise -- a dropped batch was
not committed, so its next owner replays it, with the same range when it was recorded.  SIGTERM
(``stop``) ends the loop: open batches are flushed once, offsets committed, the group left.

A *fatal* Kafka error (a static member fenced by the coordinator: librdkafka does this even to a
lone member whose session timed out while the coordinator moved) kills the client for good.
The worker then drops its uncommitted batches -- replayed, as after a rebalance -- and rebuilds
the client, a few times in a window (:class:`RebuildBudget`); past that it stops with
:class:`~consumers.errors.KafkaClientFenced`, since two workers sharing an instance id would
fence each other forever.
Why nothing is lost or doubled across crashes is argued in ``docs/delivery.md``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from consumers.batching import Batch, BatchLimits, dedup_token, inflight_metadata
from consumers.dead_letter import (
    DeadLetter,
    dead_letter_headers,
    default_dead_letter_topic,
    error_kind,
)
from consumers.errors import KafkaClientFenced
from consumers.health import WorkerState
from consumers.materialize import EventMeta, Row, rows_for_events
from consumers.tables import COLUMNS, TABLES
from consumers.telemetry import ConsumerTelemetry
from emitters.codec import DEFAULT_MAX_MESSAGE_BYTES, decode
from emitters.errors import InvalidEvent

__all__ = [
    "ConsumeStats",
    "ConsumerConfig",
    "KafkaConsumerWorker",
    "RebuildBudget",
    "consume_kafka",
]

log = logging.getLogger("pedigree.consumer")

CRASH_ENV = "PEDIGREE_TEST_CRASH_AT"
"""Fault injection for the crash tests: ``<point>:<n>`` SIGKILLs the process the n-th time it
reaches ``point`` (``before-insert``, ``between-inserts``, ``before-commit``)."""

_DEAD_LETTER_MAX_BYTES = 900_000  # under Kafka's default message.max.bytes, headers included


@dataclass(frozen=True)
class ConsumerConfig:
    """What a worker reads, where it writes, and how it batches."""

    bootstrap: str
    topics: tuple[str, ...]
    database: str
    group: str = "pedigree-consumer"
    dead_letter_topic: str | None = None  # default: "<topic>.dlq" of each source topic
    limits: BatchLimits = field(default_factory=BatchLimits)
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    retry_initial: float = 0.5  # seconds before the first retry of a failed flush
    retry_max: float = 30.0
    exit_when_idle: bool = False  # stop once every assigned partition is caught up
    deduplicate: bool = True  # False only for the crash tests' negative control
    auto_offset_reset: str = "earliest"
    # librdkafka settings of every client (consumer, dead-letter producer, admin): security
    connection: Mapping[str, Any] = field(default_factory=dict)
    kafka: Mapping[str, Any] = field(default_factory=dict)  # extra settings of the consumer

    def client_settings(self, **settings: Any) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap, **self.connection, **settings}

    def dead_letter_for(self, topic: str) -> str:
        return self.dead_letter_topic or default_dead_letter_topic(topic)


@dataclass
class ConsumeStats:
    events: int = 0  # events materialized
    batches: int = 0  # batches flushed
    dead_letters: int = 0  # messages produced to the dead-letter topic
    flush_failures: int = 0  # flush attempts that failed and were retried
    dropped_batches: int = 0  # batches of revoked partitions left to their next owner
    client_restarts: int = 0  # Kafka clients rebuilt after a fatal error (a fenced member)


@dataclass
class _Partition:
    topic: str
    partition: int
    open: Batch
    sealed: list[Batch] = field(default_factory=list)  # closed, waiting for their flush
    at_end: bool = False  # the last fetch reached the end of the partition

    def seal(self) -> None:
        if self.open.messages or self.open.forced_end is not None:
            self.sealed.append(self.open)
        self.open = Batch(self.topic, self.partition)

    def pending(self) -> bool:
        return bool(self.sealed or self.open.messages)


PREPARE_CHUNK = 2000
"""Messages decoded and mapped at a time within a batch (bounds the decoded events in memory)."""


@dataclass
class _Prepared:
    rows: dict[str, list[Row]]
    letters: list[DeadLetter]
    events: int
    traceparents: list[str]
    row_count: int = 0

    def __post_init__(self) -> None:
        self.row_count = sum(len(rows) for rows in self.rows.values())


class _FatalKafkaError(Exception):
    """The consumer client is dead (librdkafka's fatal state): only a new client can go on."""


def _is_fatal(err: BaseException) -> bool:
    from confluent_kafka import KafkaError, KafkaException

    if isinstance(err, _FatalKafkaError):
        return True
    if not isinstance(err, KafkaException) or not err.args:
        return False
    error = err.args[0]
    return isinstance(error, KafkaError) and (
        error.fatal() or error.code() in (KafkaError._FATAL, KafkaError.FENCED_INSTANCE_ID)
    )


@dataclass
class RebuildBudget:
    """How often a fatal client error may be mended by a new client: ``limit`` rebuilds within
    ``window`` seconds, each after a longer wait (``first_wait`` doubled each time)."""

    limit: int = 3
    window: float = 600.0
    first_wait: float = 1.0
    _times: list[float] = field(default_factory=list)

    def next_wait(self, now: float) -> float | None:
        """Seconds to wait before the next rebuild, or None when the budget is spent."""
        self._times = [t for t in self._times if now - t < self.window]
        if len(self._times) >= self.limit:
            return None
        wait = self.first_wait * (1 << len(self._times))
        self._times.append(now)
        return wait


class _CrashPoints:
    def __init__(self, spec: str | None) -> None:
        point, _, count = (spec or "").partition(":")
        self.point = point
        self.remaining = int(count or 1) if point else 0

    def reach(self, point: str) -> None:
        if point == self.point:
            self.remaining -= 1
            if self.remaining <= 0:
                os.kill(os.getpid(), signal.SIGKILL)


class KafkaConsumerWorker:
    """A consumer-group member that materializes its partitions into ``config.database``."""

    def __init__(
        self,
        config: ConsumerConfig,
        client: Any,
        *,
        stop: threading.Event | None = None,
        telemetry: ConsumerTelemetry | None = None,
        rebuilds: RebuildBudget | None = None,
    ) -> None:
        from confluent_kafka import Consumer

        if not config.topics:
            raise ValueError("at least one topic is needed")
        self.config = config
        self.stats = ConsumeStats()
        self._client = client
        self._stop = stop or threading.Event()
        self._telemetry = telemetry or ConsumerTelemetry()
        self._crash = _CrashPoints(os.environ.get(CRASH_ENV))
        self._parts: dict[tuple[str, int], _Partition] = {}
        self._producer: Any = None
        self._retry_at: float | None = None  # set while the warehouse (or broker) fails
        self._backoff = config.retry_initial
        self._paused = False
        self._resume_due = False  # set on an assignment: its partitions may carry an old pause
        self._running = False
        self._last_turn = time.monotonic()
        self._rebuilds = rebuilds or RebuildBudget()
        self._closed = False
        settings = config.client_settings(**{
            "group.id": config.group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": config.auto_offset_reset,
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            # Bounded prefetch: the fetch queue holds at most this much per consumer.
            "queued.max.messages.kbytes": 65536,
            "client.id": f"pedigree-consumer-{os.getpid()}",
        })  # fmt: skip
        settings.update(config.kafka)
        self._settings = settings
        self._consumer = Consumer(settings)

    def assigned(self) -> list[tuple[str, int]]:
        """The partitions this worker holds now."""
        return sorted(self._parts)

    def state(self) -> WorkerState:
        """What the probes of :mod:`consumers.health` look at (safe from another thread)."""
        return WorkerState(
            running=self._running,
            loop_age=time.monotonic() - self._last_turn,
            retrying=self._retry_at is not None,
        )

    # -- the loop -------------------------------------------------------------------------

    def run(self) -> ConsumeStats:
        """Consume until ``stop`` is set (or, with ``exit_when_idle``, until caught up)."""
        self._ensure_dead_letter_topics()
        self._subscribe()
        self._running = True
        try:
            while not self._stop.is_set():
                self._last_turn = time.monotonic()
                try:
                    self._step()
                except Exception as err:
                    if not _is_fatal(err):
                        raise
                    self._rebuild_client(err)
                    continue
                if self.config.exit_when_idle and self._idle():
                    break
            self._running = False
            self._drain()
        finally:
            self._running = False
            if not self._closed:  # (a client that failed fatally was closed already)
                self._consumer.close()  # leaves the group; on_revoke flushes what is left
            if self._producer is not None:
                self._producer.flush(10)
                self._producer = None
        return self.stats

    def _subscribe(self) -> None:
        self._consumer.subscribe(
            list(self.config.topics),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    def _rebuild_client(self, err: BaseException) -> None:
        """The client is dead: drop what it held (uncommitted, so replayed) and start anew."""
        from confluent_kafka import Consumer

        for part in list(self._parts.values()):  # uncommitted: whoever owns them next replays
            self._forget(part)
        self._retry_at, self._backoff, self._paused = None, self.config.retry_initial, False
        self._resume_due = False
        try:
            self._consumer.close()
        except Exception as close_err:  # noqa: BLE001 - a dead client may refuse to close
            log.info("pedigree: closing the failed client: %s", close_err)
        self._closed = True
        wait = self._rebuilds.next_wait(time.monotonic())
        if wait is None:
            instance = self._settings.get("group.instance.id")
            hint = (
                f"; is another worker running with group.instance.id {instance!r}?"
                if instance
                else ""
            )
            raise KafkaClientFenced(
                f"the Kafka client failed fatally {self._rebuilds.limit + 1} times within "
                f"{self._rebuilds.window:.0f} s (last: {err}){hint}"
            ) from err
        log.error("pedigree: Kafka client failed fatally (%s); its uncommitted batches are "
                  "dropped and a new client joins in %.0f s", err, wait)  # fmt: skip
        if self._stop.wait(wait):
            return
        self._consumer = Consumer(self._settings)
        self._closed = False
        self._subscribe()
        self.stats.client_restarts += 1

    def _step(self) -> None:
        now = time.monotonic()
        if self._retry_at is not None:
            self._pause()
            wait = max(0.0, self._retry_at - now)
            self._accept(self._consumer.consume(1000, timeout=min(wait, 1.0)))
            if time.monotonic() < self._retry_at:
                return
        else:
            deadlines = [
                d
                for p in self._parts.values()
                if (d := p.open.deadline(self.config.limits)) is not None
            ]
            timeout = min([0.5, *(d - now for d in deadlines)])
            count = min(self.config.limits.max_events, 10_000)
            self._accept(self._consumer.consume(count, timeout=max(0.0, timeout)))
        self._flush_due()

    def _accept(self, messages: Sequence[Any]) -> None:
        from confluent_kafka import KafkaError

        limits = self.config.limits
        for message in messages:
            error = message.error()
            part = self._parts.get((message.topic(), message.partition()))
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    if part is not None:
                        part.at_end = True
                    continue
                if error.fatal() or error.code() == KafkaError._FATAL:
                    raise _FatalKafkaError(str(error))
                log.warning("pedigree: Kafka: %s", error)
                continue
            if part is None:  # a message of a partition revoked meanwhile: its owner has it
                continue
            part.at_end = False
            offset = message.offset()
            if not part.open.accepts(offset):
                part.seal()
            value = message.value() or b""
            part.open.add(message, offset, len(value))
            if part.open.full(limits):
                part.seal()

    def _flush_due(self) -> None:
        limits = self.config.limits
        now = time.monotonic()
        crowded = sum(p.open.nbytes for p in self._parts.values()) >= limits.max_bytes
        try:
            for part in list(self._parts.values()):
                if crowded or part.open.due(limits, now, at_end=part.at_end):
                    part.seal()
                while part.sealed and self._parts.get((part.topic, part.partition)) is part:
                    self._flush(part.sealed[0])
                    part.sealed.pop(0)
        except (
            Exception
        ) as err:  # ClickHouse or Kafka away: keep the batch, retry later (fatal: rebuild)
            if _is_fatal(err):
                raise
            self.stats.flush_failures += 1
            self._retry_at = time.monotonic() + self._backoff
            log.warning(
                "pedigree: flush failed (%s: %s); partitions paused, retrying in %.1f s",
                type(err).__name__, err, self._backoff,
            )  # fmt: skip
            self._backoff = min(self._backoff * 2, self.config.retry_max)
            return
        if self._retry_at is not None:
            log.info("pedigree: flush succeeded again; resuming")
        self._retry_at = None
        self._backoff = self.config.retry_initial
        self._resume()

    def _idle(self) -> bool:
        return (
            bool(self._parts)
            and self._retry_at is None
            and all(p.at_end and not p.pending() for p in self._parts.values())
        )

    def _drain(self) -> None:
        """On stop: flush every open batch once; whatever fails is replayed by the next owner."""
        if self._retry_at is not None:
            return
        for part in list(self._parts.values()):
            part.seal()
        try:
            self._flush_due()
        except Exception as err:  # noqa: BLE001 - logged; uncommitted, so replayed later
            log.warning("pedigree: final flush failed: %s", err)

    # -- one batch ------------------------------------------------------------------------

    def _flush(self, batch: Batch) -> None:
        first, last = batch.range
        topic, partition = batch.topic, batch.partition
        started = time.monotonic()
        if not batch.messages:  # a recorded range whose messages never came: nothing to do
            self._commit(topic, partition, last + 1, "")
            return
        if not batch.recorded:
            self._commit(topic, partition, first, inflight_metadata(first, last))
            batch.recorded = True
        self._crash.reach("before-insert")
        if batch.prepared is None:
            batch.prepared = self._prepare(batch)
        prepared: _Prepared = batch.prepared
        if prepared.letters and "dead-letters" not in batch.inserted:
            self._dead_letter(prepared.letters)
            batch.inserted.add("dead-letters")
        with self._telemetry.batch_span(
            topic=topic,
            partition=partition,
            first_offset=first,
            last_offset=last,
            traceparents=prepared.traceparents,
            message_count=len(batch.messages),
        ):
            for table in TABLES:
                rows = prepared.rows.get(table)
                if not rows or table in batch.inserted:
                    continue
                self._insert(table, rows, dedup_token(topic, partition, first, last, table))
                batch.inserted.add(table)
                prepared.rows[table] = []  # acknowledged: a retry skips it, so free it now
                self._crash.reach("between-inserts")
            self._crash.reach("before-commit")
            self._commit(topic, partition, last + 1, "")
        self.stats.batches += 1
        self.stats.events += prepared.events
        self._telemetry.events(prepared.events, topic=topic, partition=partition)
        self._telemetry.batch(
            len(batch.messages), time.monotonic() - started, table_rows=prepared.row_count
        )
        self._record_lag(topic, partition, last + 1)

    def _prepare(self, batch: Batch) -> _Prepared:
        """Decode, validate and map the batch's messages, a chunk at a time: only one chunk's
        decoded events are alive at once (they are several times the size of their rows)."""
        received = datetime.now(UTC)
        rows: dict[str, list[Row]] = {table: [] for table in COLUMNS}
        letters: list[DeadLetter] = []
        traceparents: list[str] = []
        events = 0
        messages = batch.messages
        for start in range(0, len(messages), PREPARE_CHUNK):
            pairs = self._decode(messages[start : start + PREPARE_CHUNK], received, letters)
            for message in messages[start : start + PREPARE_CHUNK]:
                for name, header in message.headers() or ():
                    if name == "traceparent" and header:
                        traceparents.append(bytes(header).decode("ascii", "replace"))
            try:
                chunk = rows_for_events(pairs)
                events += len(pairs)
            except InvalidEvent:  # one event the mapping refuses: find it, keep the others
                chunk = {table: [] for table in COLUMNS}
                for meta, event in pairs:
                    try:
                        one = rows_for_events([(meta, event)])
                    except InvalidEvent as err:
                        letters.append(self._letter(_message_at(batch, meta.offset), err))
                        continue
                    events += 1
                    for table, table_rows in one.items():
                        chunk[table].extend(table_rows)
            for table, table_rows in chunk.items():
                rows[table].extend(table_rows)
        return _Prepared(rows, letters, events, traceparents)

    def _decode(
        self, messages: Sequence[Any], received: datetime, letters: list[DeadLetter]
    ) -> list[tuple[EventMeta, dict[str, Any]]]:
        pairs: list[tuple[EventMeta, dict[str, Any]]] = []
        max_bytes = self.config.max_message_bytes
        for message in messages:
            value = message.value() or b""
            try:
                event = decode(value, max_bytes=max_bytes)
            except InvalidEvent as err:
                letters.append(self._letter(message, err))
                continue
            meta = EventMeta(
                topic=message.topic(),
                partition=message.partition(),
                offset=message.offset(),
                message=value,
                received_time=received,
            )
            pairs.append((meta, event))
        return pairs

    def _letter(self, message: Any, err: InvalidEvent) -> DeadLetter:
        value = message.value() or b""
        return DeadLetter(
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            key=message.key(),
            value=value,
            headers=[(n, bytes(v or b"")) for n, v in message.headers() or ()],
            kind=error_kind(err, value, self.config.max_message_bytes),
            error=err,
        )

    def _insert(self, table: str, rows: list[Row], token: str) -> None:
        settings: dict[str, Any] = (
            {"insert_deduplication_token": token}
            if self.config.deduplicate
            else {"insert_deduplicate": 0}
        )
        try:
            self._client.insert(
                f"`{self.config.database}`.{table}",
                rows,
                column_names=COLUMNS[table],
                settings=settings,
            )
        except Exception as err:
            self._telemetry.insert_error(table=table, error=err)
            raise

    def _commit(self, topic: str, partition: int, offset: int, metadata: str) -> None:
        from confluent_kafka import TopicPartition

        self._consumer.commit(
            offsets=[TopicPartition(topic, partition, offset, metadata)], asynchronous=False
        )

    def _dead_letter(self, letters: list[DeadLetter]) -> None:
        """Produce the refused messages and wait for the broker's acknowledgement."""
        from confluent_kafka import KafkaException, Producer

        if self._producer is None:
            self._producer = Producer(
                self.config.client_settings(
                    **{
                        "acks": "all",
                        "enable.idempotence": True,
                        "linger.ms": 5,
                        "client.id": f"pedigree-dead-letters-{os.getpid()}",
                    }
                )
            )
        failures: list[str] = []

        def delivered(err: Any, _message: Any) -> None:
            if err is not None:
                failures.append(str(err))

        try:
            for letter in letters:
                value, truncated = letter.value, 0
                if len(value) > _DEAD_LETTER_MAX_BYTES:
                    value, truncated = value[:_DEAD_LETTER_MAX_BYTES], len(value)
                headers = dead_letter_headers(letter, self.config.group, truncated_from=truncated)
                self._producer.produce(
                    self.config.dead_letter_for(letter.topic),
                    value=value,
                    key=letter.key,
                    headers=headers,
                    on_delivery=delivered,
                )
                self._producer.poll(0)
            remaining = self._producer.flush(30)
        except (KafkaException, BufferError) as err:  # the producer's, not the consumer's
            failures.append(f"{type(err).__name__}: {err}")
            remaining = 0
        if remaining or failures:
            self._producer = None  # the retry starts a new producer (an idempotent one can die)
            raise RuntimeError(
                f"dead-letter topic did not acknowledge {remaining + len(failures)} messages"
                + (f": {failures[0]}" if failures else "")
            )
        for letter in letters:
            log.warning(
                "pedigree: %s message at %s[%d]@%d sent to %s: %s",
                letter.kind, letter.topic, letter.partition, letter.offset,
                self.config.dead_letter_for(letter.topic), letter.error,
            )  # fmt: skip
            self._telemetry.dead_letter(
                1, error_class=letter.kind, topic=self.config.dead_letter_for(letter.topic)
            )
        self.stats.dead_letters += len(letters)

    def _ensure_dead_letter_topics(self) -> None:
        """Create the dead-letter topics if missing (a broker may refuse auto-creation)."""
        from confluent_kafka.admin import AdminClient
        from confluent_kafka.cimpl import NewTopic

        admin = AdminClient(self.config.client_settings())
        try:
            existing = admin.list_topics(timeout=10).topics
        except Exception as err:  # noqa: BLE001 - the loop reports the broker's absence
            log.warning("pedigree: cannot list topics: %s", err)
            return
        wanted = {self.config.dead_letter_for(t) for t in self.config.topics} - set(existing)
        if not wanted:
            return
        futures = admin.create_topics([NewTopic(t, num_partitions=1) for t in sorted(wanted)])
        for name, future in futures.items():
            try:
                future.result(timeout=30)
                log.info("pedigree: created dead-letter topic %s", name)
            except Exception as err:  # noqa: BLE001 - exists already, or no permission
                log.info("pedigree: dead-letter topic %s not created: %s", name, err)

    def _record_lag(self, topic: str, partition: int, position: int) -> None:
        from confluent_kafka import TopicPartition

        try:
            _low, high = self._consumer.get_watermark_offsets(
                TopicPartition(topic, partition), cached=True
            )
        except Exception:  # noqa: BLE001 - lag is informative only
            return
        if high >= 0:
            self._telemetry.lag(topic, partition, max(0, high - position))

    # -- pause / resume, rebalances -------------------------------------------------------

    def _pause(self) -> None:
        if not self._paused:
            assignment = self._consumer.assignment()
            if assignment:
                self._consumer.pause(assignment)
            self._paused = True

    def _resume(self) -> None:
        if self._paused or self._resume_due:
            assignment = self._consumer.assignment()
            if assignment:
                self._consumer.resume(assignment)
                self._resume_due = False
            self._paused = False

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        committed = consumer.committed(partitions, timeout=30) if partitions else []
        for tp in committed:
            batch = (
                Batch.resuming(tp.topic, tp.partition, tp.offset, tp.metadata)
                if tp.offset >= 0
                else Batch(tp.topic, tp.partition)
            )
            if batch.forced_end is not None:
                log.info(
                    "pedigree: %s[%d] resumes the recorded batch %d-%d",
                    tp.topic, tp.partition, *batch.range,
                )  # fmt: skip
            self._parts[(tp.topic, tp.partition)] = _Partition(tp.topic, tp.partition, batch)
        # librdkafka keeps a partition's pause across a revoke and re-assignment
        # (confluent-kafka-go#193, librdkafka#1849): one paused while the warehouse failed,
        # revoked, then given back, would stay paused for good. So the next successful flush
        # resumes the whole new assignment (the loop pauses it first if the warehouse fails).
        self._paused = False
        self._resume_due = bool(partitions)
        if partitions:
            log.info("pedigree: assigned %s",
                     ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions))  # fmt: skip

    def _on_revoke(self, _consumer: Any, partitions: list[Any]) -> None:
        for tp in partitions:
            part = self._parts.get((tp.topic, tp.partition))
            if part is None:
                continue
            if self._retry_at is None and part.pending():
                part.seal()
                try:
                    while part.sealed:
                        self._flush(part.sealed[0])
                        part.sealed.pop(0)
                except Exception as err:  # noqa: BLE001 - replayed by the next owner
                    log.warning("pedigree: batch of revoked %s[%d] dropped: %s",
                                tp.topic, tp.partition, err)  # fmt: skip
            self._forget(part)

    def _on_lost(self, _consumer: Any, partitions: list[Any]) -> None:
        for tp in partitions:  # no longer ours: committing would fail; the new owner replays
            part = self._parts.get((tp.topic, tp.partition))
            if part is not None:
                self._forget(part)

    def _forget(self, part: _Partition) -> None:
        if part.pending():
            self.stats.dropped_batches += len(part.sealed) + bool(part.open.messages)
        self._parts.pop((part.topic, part.partition), None)
        self._telemetry.forget(part.topic, part.partition)


def _message_at(batch: Batch, offset: int) -> Any:
    return next(m for m in batch.messages if m.offset() == offset)


def consume_kafka(
    config: ConsumerConfig,
    client: Any,
    *,
    stop: threading.Event | None = None,
    telemetry: ConsumerTelemetry | None = None,
) -> ConsumeStats:
    """Run one worker until ``stop`` (or until idle, with ``config.exit_when_idle``)."""
    return KafkaConsumerWorker(config, client, stop=stop, telemetry=telemetry).run()
