"""Where ingested events go: the bus, never the warehouse (the log stays the source of truth).

* :class:`KafkaPublisher` (bus mode) produces each event's Avro message, keyed by its root job,
  with ``acks=all`` and idempotence, and answers once the broker acknowledged it;
* :class:`SpoolPublisher` (embedded mode) appends to the spool directory and rotates the file
  (``fsync`` + atomic rename) before answering: the event is on disk, and visible to the spool
  consumer that ``pedigree serve`` runs beside the API.

Both take a batch of messages and return, per message, ``None`` (durably accepted) or the reason
it was not, so a batch request can report partial success.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import Any, Protocol

from emitters.spool import SpooledMessage, SpoolFull, SpoolWriter

__all__ = ["KafkaPublisher", "Publisher", "SpoolPublisher"]

log = logging.getLogger("pedigree.api")


class Publisher(Protocol):
    description: str

    def publish(self, messages: Sequence[SpooledMessage]) -> list[str | None]: ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


class SpoolPublisher:
    def __init__(self, directory: str, *, max_total_bytes: int = 1024 * 1024 * 1024) -> None:
        self.directory = directory
        self.description = f"spool {directory}"
        self._writer = SpoolWriter(directory, max_total_bytes=max_total_bytes)
        self._lock = threading.Lock()

    def publish(self, messages: Sequence[SpooledMessage]) -> list[str | None]:
        results: list[str | None] = []
        with self._lock:
            for message in messages:
                try:
                    self._writer.write(message)
                    results.append(None)
                except SpoolFull as err:
                    results.append(f"the spool is full: {err}")
                except OSError as err:
                    results.append(f"cannot write the spool: {err.strerror}")
            try:
                self._writer.rotate()  # fsync + rename: durable, and visible to the consumer
            except OSError as err:
                return [f"cannot write the spool: {err.strerror}"] * len(messages)
        return results

    def ping(self) -> None:
        from pathlib import Path

        if not Path(self.directory).is_dir():
            raise OSError(f"spool directory {self.directory} is missing")

    def close(self) -> None:
        with self._lock:
            self._writer.close()


class KafkaPublisher:
    def __init__(
        self, settings: dict[str, Any], topic: str, *, timeout_seconds: float = 30.0
    ) -> None:
        from confluent_kafka import Producer

        self.topic = topic
        self.timeout = timeout_seconds
        self.description = f"Kafka topic {topic}"
        self._producer = Producer(
            {
                **settings,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
                "message.timeout.ms": int(timeout_seconds * 1000),
            }
        )
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="pedigree-api-kafka", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)

    def publish(self, messages: Sequence[SpooledMessage]) -> list[str | None]:
        futures: list[Future[str | None]] = []
        for message in messages:
            future: Future[str | None] = Future()

            def delivered(err: Any, _msg: Any, future: Future[str | None] = future) -> None:
                future.set_result(None if err is None else f"Kafka refused it: {err.str()}")

            try:
                self._producer.produce(
                    self.topic,
                    value=message.value,
                    key=message.key,
                    headers=list(message.headers),
                    on_delivery=delivered,
                )
            except BufferError:
                future.set_result("the producer queue is full; retry later")
            except Exception as err:  # noqa: BLE001 - KafkaException: reported per event
                future.set_result(f"cannot produce: {err}")
            futures.append(future)
        wait_futures(futures, timeout=self.timeout + 5)
        return [
            f.result() if f.done() else "no acknowledgement from Kafka in time" for f in futures
        ]

    def ping(self) -> None:
        self._producer.list_topics(self.topic, timeout=5)

    def close(self) -> None:
        self._producer.flush(self.timeout)
        self._stop.set()
        self._poller.join(timeout=1)
