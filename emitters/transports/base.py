"""The transport interface: how an encoded event leaves the process.

A transport is driven by the emitter's background thread only (``send``, ``poll``, ``flush``)
and closed once by the emitter.  It may raise from ``send``; the emitter then keeps the message
in the spool.  Transports that learn of a failure later (a Kafka delivery report) spool the
message themselves through the :class:`Fallback` they were given.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from emitters.config import EmitterConfig
from emitters.spool import SpooledMessage, SpoolFull, SpoolWriter

__all__ = ["EmitterStats", "Fallback", "Transport"]

log = logging.getLogger("pedigree.emitter")


@dataclass
class EmitterStats:
    """What happened to the events handed to an emitter (counts, since it started)."""

    emitted: int = 0  # handed to emit()
    sent: int = 0  # accepted by the transport (Kafka: delivery acknowledged)
    spooled: int = 0  # kept in the spool instead (broker down, queue full, delivery failed)
    rejected: int = 0  # invalid events, kept as JSON under <spool>/rejected/
    lost: int = 0  # could not even be spooled (spool full or unwritable); logged as errors
    errors: list[str] = field(default_factory=list)  # the last few problems, newest last
    # counted from the job's threads and from librdkafka's delivery callbacks alike
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, name: str, amount: int = 1) -> None:
        """Add to one of the counters (``+=`` on an attribute is not atomic across threads)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def note(self, problem: str) -> None:
        with self._lock:
            self.errors = [*self.errors[-9:], problem]


class Fallback:
    """The spool as a fallback: thread-safe, opened on first use, counted in the stats."""

    def __init__(self, config: EmitterConfig, stats: EmitterStats) -> None:
        self._config = config
        self._stats = stats
        self._lock = threading.Lock()
        self._writer: SpoolWriter | None = None
        self._closed = False

    def keep(self, message: SpooledMessage, why: str) -> None:
        try:
            with self._lock:
                if self._writer is None:
                    self._writer = SpoolWriter(
                        self._config.spool_dir, max_total_bytes=self._config.spool_max_bytes
                    )
                self._writer.write(message)
                if self._closed:  # after close nobody rotates: make each message visible now
                    self._writer.rotate()
            self._stats.count("spooled")
        except (OSError, SpoolFull) as err:
            self._stats.count("lost")
            self._stats.note(f"could not spool a message ({why}): {err}")
            log.error("pedigree: lost a lineage event: %s (spooling it because %s)", err, why)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._writer is not None:
                try:
                    self._writer.close()
                except OSError as err:
                    log.error("pedigree: could not close the spool file: %s", err)


class Transport(ABC):
    """Sends messages somewhere; one module per kind, chosen by ``EmitterConfig.transport``."""

    kind: ClassVar[str]

    @abstractmethod
    def send(self, event: dict[str, Any], message: SpooledMessage) -> None:
        """Send one validated event (``message`` is its Kafka message)."""

    def poll(self) -> None:  # noqa: B027 - optional hook
        """Serve callbacks; called by the emitter thread when idle."""

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until everything sent is delivered; True when it is."""
        return True

    def close(self, timeout: float) -> bool:
        """Flush within ``timeout`` s, hand what is undelivered to the fallback, release."""
        return self.flush(timeout)
