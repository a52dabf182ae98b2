"""Per-partition batches of the Kafka consumer: the pure part of exactly-once-in-effect.

A batch is a contiguous offset range ``[first, last]`` of one partition.  What makes a replay
after a crash harmless is that it re-forms *the same range*:

* before its first insert, a batch's range is committed to Kafka as the metadata of the
  partition's (unchanged) committed offset -- ``pedigree:inflight=<first>-<last>`` at offset
  ``first`` -- see :func:`inflight_metadata`;
* a consumer that is assigned the partition (after a crash, a rebalance or a restart) reads
  the committed offset and its metadata; when they name an in-flight range starting at the
  committed offset, its first batch must end exactly at ``last`` (:attr:`Batch.forced_end`),
  whatever its own batch-size settings;
* each table's insert of the batch carries the deduplication token :func:`dedup_token`, a
  function of topic, partition and range alone, so ClickHouse drops the blocks it already has.

Once every table acknowledged its rows, offset ``last + 1`` is committed with empty metadata.
The argument in full is ``docs/delivery.md``.  No I/O here: the Kafka loop
(:mod:`consumers.kafka_consumer`) and the unit tests share this module.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Batch",
    "BatchLimits",
    "dedup_token",
    "inflight_metadata",
    "parse_inflight",
]

_INFLIGHT = re.compile(r"^pedigree:inflight=(\d+)-(\d+)$")


def inflight_metadata(first: int, last: int) -> str:
    """The commit metadata that records the range ``[first, last]`` as being inserted."""
    return f"pedigree:inflight={first}-{last}"


def parse_inflight(metadata: str | None, committed: int) -> int | None:
    """The ``last`` offset of the in-flight range recorded at ``committed``, if any.

    Only a range that starts at the committed offset counts: anything else (no metadata,
    another tool's metadata, a range the group has moved past) means "form batches freely".
    """
    match = _INFLIGHT.match(metadata or "")
    if match is None or int(match[1]) != committed or int(match[2]) < committed:
        return None
    return int(match[2])


def dedup_token(topic: str, partition: int, first: int, last: int, table: str) -> str:
    """ClickHouse ``insert_deduplication_token`` of one table's insert of one batch."""
    return f"kafka:{topic}:{partition}:{first}-{last}:{table}"


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """When an open batch is flushed: whichever limit is reached first.

    ``max_bytes`` bounds memory during a backlog catch-up, when every batch fills up at once:
    a batch's decoded events and rows take several times its messages' bytes until inserted.
    8 MiB, not more: with 32 MiB the consumer's peak resident memory was ~190 MiB higher for
    10-15 % more events/s, with the embedded engine's allocator as ``consumers.engine_memory``
    sets it; with chDB's own (freed pages held 5 s) the batch size hardly moves the peak
    (bench/RESULTS.md, "Bringing the consumer under 1 GB").
    """

    max_events: int = 20_000
    max_bytes: int = 8 * 1024 * 1024
    max_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.max_events < 1:
            raise ValueError("max_events must be at least 1")
        if self.max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        if not self.max_seconds > 0:
            raise ValueError("max_seconds must be positive")


@dataclass(slots=True)
class Batch:
    """Messages of one partition, in offset order, not yet in the warehouse.

    ``forced_end``: the range a previous owner was inserting ends here; this batch must end
    exactly there (it is closed at ``forced_end`` even if that offset never arrives, e.g. a
    transaction marker, so the token's range is the recorded one).
    """

    topic: str
    partition: int
    forced_end: int | None = None
    forced_start: int | None = None  # the recorded range's start (the committed offset)
    messages: list[Any] = field(default_factory=list)
    nbytes: int = 0
    opened: float = 0.0
    first: int = -1
    last: int = -1
    # Flush progress, kept so that a retry after a failure redoes only what is missing.
    recorded: bool = False  # the range is committed as in-flight metadata
    inserted: set[str] = field(default_factory=set)  # tables that acknowledged their rows
    prepared: Any = None  # the rows and dead letters, computed once

    @classmethod
    def resuming(cls, topic: str, partition: int, committed: int, metadata: str | None) -> Batch:
        """The first batch of a newly assigned partition: forced when an in-flight range was
        recorded at the committed offset, free otherwise."""
        end = parse_inflight(metadata, committed)
        if end is None:
            return cls(topic, partition)
        return cls(topic, partition, forced_end=end, forced_start=committed)

    @property
    def range(self) -> tuple[int, int]:
        """``(first, last)`` offsets the batch stands for: its deduplication tokens' range."""
        if self.forced_end is not None and self.forced_start is not None:
            return self.forced_start, self.forced_end
        return self.first, self.last

    def add(self, message: Any, offset: int, size: int, now: float | None = None) -> None:
        if not self.messages:
            self.opened = time.monotonic() if now is None else now
            self.first = offset
        self.messages.append(message)
        self.last = offset
        self.nbytes += size

    def accepts(self, offset: int) -> bool:
        """Whether ``offset`` belongs in this batch (false past a forced end)."""
        return self.forced_end is None or offset <= self.forced_end

    def full(self, limits: BatchLimits) -> bool:
        """Whether no further message may join (size limits reached, or the forced end)."""
        if not self.messages:
            return False
        if self.forced_end is not None:
            return self.last >= self.forced_end
        return len(self.messages) >= limits.max_events or self.nbytes >= limits.max_bytes

    def due(self, limits: BatchLimits, now: float, *, at_end: bool = False) -> bool:
        """Whether to flush now.  ``at_end``: the partition has no more messages for now."""
        if not self.messages:
            return False
        if self.full(limits):
            return True
        if self.forced_end is not None:
            return at_end  # the rest of the range never comes (transaction markers)
        return now - self.opened >= limits.max_seconds

    def deadline(self, limits: BatchLimits) -> float | None:
        """Monotonic time at which the batch is due by age (``None`` when empty or forced)."""
        if not self.messages or self.forced_end is not None:
            return None
        return self.opened + limits.max_seconds
