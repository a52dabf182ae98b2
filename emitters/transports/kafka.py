"""The ``kafka`` transport: confluent-kafka, idempotent, ``acks=all``, keyed by root job.

Every message is tracked until its delivery report: acknowledged ones are counted as sent;
failed ones (broker unreachable past ``message.timeout.ms``, authorization errors, ...) and the
ones still undelivered when the emitter closes go to the spool, to be sent later by
``pedigree spool flush`` or the next emitter start.  A full local producer queue also spills to
the spool, so ``send`` never blocks.  librdkafka's own log goes to the ``pedigree.kafka``
Python logger instead of the job's standard error.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from functools import partial
from typing import Any, ClassVar

from emitters.config import EmitterConfig
from emitters.spool import SpooledMessage
from emitters.spool_flush import flush_earlier_spool_in_background
from emitters.transports.base import EmitterStats, Fallback, Transport

__all__ = ["KafkaTransport", "producer_settings"]

log = logging.getLogger("pedigree.kafka")


class _LibrdkafkaLog:
    """librdkafka's log, quietly: DEBUG in ``pedigree.kafka``, plus one WARNING per problem
    kind, so a job whose broker is down does not print a connection error every second."""

    def __init__(self) -> None:
        self._warned: set[str] = set()

    def log(self, level: int, fmt: str, *args: Any) -> None:
        text = fmt % args if args else fmt
        log.debug("librdkafka: %s", text)
        kind = text.split("]", 1)[0] if "]" in text else text[:40]
        if level >= logging.ERROR and kind not in self._warned and len(self._warned) < 20:
            self._warned.add(kind)
            log.warning("pedigree: Kafka problem (lineage events are kept in the spool): %s", text)


def producer_settings(config: EmitterConfig) -> dict[str, Any]:
    """librdkafka settings of the emitter's producer (secrets included: never log them)."""
    return {
        **config.kafka_settings(),
        "client.id": f"pedigree-{socket.gethostname()}-{os.getpid()}",
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "compression.type": "lz4",
        # bounded memory: past these the producer raises BufferError and we spool
        "queue.buffering.max.messages": config.queue_size,
        "queue.buffering.max.kbytes": 32 * 1024,
        # a message undelivered this long is reported failed, and spooled
        "message.timeout.ms": 60_000,
        "logger": _LibrdkafkaLog(),
    }


class _Closed:
    """Stands in for the producer after close, so librdkafka's threads and sockets go."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("the Kafka transport is closed")


class KafkaTransport(Transport):
    kind: ClassVar[str] = "kafka"

    def __init__(self, config: EmitterConfig, spool: Fallback, stats: EmitterStats) -> None:
        from confluent_kafka import Producer

        self._topic = config.kafka_topic
        self._spool = spool
        self._stats = stats
        self._unreachable = False
        self._producer: Any = Producer({**producer_settings(config), "error_cb": self._on_error})
        self._inflight: dict[int, SpooledMessage] = {}
        self._next_id = 0
        self._stop_flush = threading.Event()
        self._flusher = flush_earlier_spool_in_background(config, self._stop_flush)

    def send(self, event: dict[str, Any], message: SpooledMessage) -> None:
        from confluent_kafka import KafkaException

        self._next_id += 1
        msg_id = self._next_id
        self._inflight[msg_id] = message
        try:
            self._producer.produce(
                self._topic,
                value=message.value,
                key=message.key,
                headers=list(message.headers),
                on_delivery=partial(self._delivered, msg_id),
            )
        except (BufferError, KafkaException) as err:
            del self._inflight[msg_id]
            self._spool.keep(message, f"the Kafka producer refused it: {err}")
        self._producer.poll(0)

    def _delivered(self, msg_id: int, err: Any, _msg: Any) -> None:
        message = self._inflight.pop(msg_id, None)
        if message is None:  # already spooled by close()
            return
        if err is None:
            self._stats.count("sent")
            self._unreachable = False
        else:
            self._stats.note(f"Kafka delivery failed: {err}")
            self._spool.keep(message, f"Kafka delivery failed: {err}")

    def _on_error(self, err: Any) -> None:
        from confluent_kafka import KafkaError

        if err.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE, KafkaError._TRANSPORT):
            self._unreachable = True

    def poll(self) -> None:
        self._producer.poll(0)

    def flush(self, timeout: float) -> bool:
        # With the cluster known to be unreachable, waiting only delays the job: the messages
        # stay queued (and go to the spool at close, or on their delivery timeout).
        wait = 0.0 if self._unreachable else max(timeout, 0.0)
        return bool(self._producer.flush(wait) == 0)

    def close(self, timeout: float) -> bool:
        started = time.monotonic()
        self._stop_flush.set()
        delivered = bool(self._producer.flush(max(timeout, 0.0)) == 0)
        if self._flusher is not None:
            self._flusher.join(max(0.5, timeout - (time.monotonic() - started)))
        undelivered = list(self._inflight.values())
        self._inflight.clear()
        for message in undelivered:
            self._spool.keep(message, "Kafka did not acknowledge it before the emitter closed")
        if undelivered:
            log.warning(
                "pedigree: %d lineage events not acknowledged by Kafka in %.1f s are in the spool",
                len(undelivered),
                timeout,
            )
            self._producer.purge()
            self._producer.poll(0)
        self._producer = _Closed()
        return delivered
