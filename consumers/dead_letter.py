"""The dead-letter topic: messages the consumer refuses, kept with the reason.

A message that does not decode, is not valid OpenLineage, or is over the size limit is
produced to the dead-letter topic (default ``<topic>.dlq``) unchanged -- same key, same value,
its own headers kept -- with these headers added (the names follow Kafka Connect's
``__connect.errors.*`` convention, values are UTF-8 text):

=================================  =============================================================
``pedigree.error.topic``           the topic it was read from
``pedigree.error.partition``       its partition
``pedigree.error.offset``          its offset
``pedigree.error.kind``            ``oversized`` | ``undecodable`` | ``invalid``
``pedigree.error.class``           the exception class, e.g. ``InvalidEvent``
``pedigree.error.message``         the reason, e.g. ``eventTime: not an ISO 8601 timestamp``
``pedigree.error.field``           the offending field's dotted path, when there is one
``pedigree.error.consumer.group``  the consumer group that refused it
``pedigree.error.time``            when, RFC 3339 UTC
``pedigree.error.truncated``       only when the value had to be cut to fit the topic: the
                                   original size in bytes (the original stays at its offset)
=================================  =============================================================

The consumer commits the offset of a dead-lettered message only after the dead-letter write was
acknowledged (``acks=all``), so a refused message is never lost; a crash between the two can
write it twice, which a reader of the dead-letter topic recognizes by the origin headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from emitters.errors import InvalidEvent

__all__ = ["DeadLetter", "dead_letter_headers", "default_dead_letter_topic", "error_kind"]


def default_dead_letter_topic(topic: str) -> str:
    """Where a topic's refused messages go unless one is named: ``<topic>.dlq`` (the consumer
    writes there; ``pedigree topics create`` creates it)."""
    return f"{topic}.dlq"


HEADER_PREFIX = "pedigree.error."


def error_kind(err: BaseException, message: bytes, max_bytes: int) -> str:
    """``oversized``; ``invalid`` (decodes, but is not a valid OpenLineage event: the error
    names a field); or ``undecodable`` (not an event at all: wrong magic, truncated Avro,
    unknown schema fingerprint, malformed JSON, a JSON value that is not an object)."""
    if len(message) > max_bytes:
        return "oversized"
    if isinstance(err, InvalidEvent) and err.field is not None:
        return "invalid"
    return "undecodable"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One refused message and why."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]]
    kind: str
    error: BaseException


def dead_letter_headers(
    letter: DeadLetter, group: str, *, now: datetime | None = None, truncated_from: int = 0
) -> list[tuple[str, bytes]]:
    """The message's own headers followed by the ``pedigree.error.*`` ones."""
    when = (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    field = getattr(letter.error, "field", None)
    reason = getattr(letter.error, "reason", None) or str(letter.error)
    added = {
        "topic": letter.topic,
        "partition": str(letter.partition),
        "offset": str(letter.offset),
        "kind": letter.kind,
        "class": type(letter.error).__name__,
        "message": reason[:4096],  # a header stays small whatever the reason's length
        "consumer.group": group,
        "time": when,
    }
    if field:
        added["field"] = str(field)
    if truncated_from:
        added["truncated"] = str(truncated_from)
    own = [(name, value) for name, value in letter.headers if not name.startswith(HEADER_PREFIX)]
    return own + [(HEADER_PREFIX + name, value.encode()) for name, value in added.items()]
