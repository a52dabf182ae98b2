"""The spool: Kafka messages kept on local disk as Avro object container files.

The spool is the embedded deployment's bus and the Kafka transport's fallback.  It stores each
message exactly as it is (or would have been) sent to Kafka — key, value, headers — with the
schema in ``avro/spool-message.v1.avsc``; the value is an event message (Avro single-object
encoding or OpenLineage JSON), so the spool and the topic decode through the same code.

Files and their life:

* ``.<name>.avro.open.new`` — just created, not yet locked (empty; renamed at once);
* ``<host>-<pid>-<start ns>-<seq>.avro.open`` — being written by one process, which holds an
  exclusive ``flock`` on it from before it has this name until after it loses it (its own
  file: safe with many processes and with forked children, which start a file of their own);
* ``….avro`` — complete; readers and ``pedigree spool flush`` only touch these.  A writer
  rotates (fsync, then an atomic rename) when a file holds ``max_messages_per_file`` messages
  or ``max_bytes_per_file`` bytes, and when it closes;
* ``….avro.sending-<pid>`` / ``….acked`` — claimed by a flusher, and its progress (see
  :mod:`emitters.spool_flush`).

The whole spool is bounded (``max_total_bytes``): past it new messages are refused, counted and
logged, never silently dropped.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import fastavro
from fastavro.write import Writer

from emitters.codec import DEFAULT_MAX_MESSAGE_BYTES, decode, encode
from emitters.errors import InvalidEvent
from emitters.kafka_key import kafka_key
from emitters.schemas import schema_dir

__all__ = [
    "SpoolFull",
    "SpoolWriter",
    "SpooledMessage",
    "closed_files",
    "read_events",
    "read_file",
    "read_spool",
    "recover_orphans",
    "spool_size",
]

log = logging.getLogger("pedigree.spool")

OPEN_SUFFIX = ".avro.open"
CLOSED_SUFFIX = ".avro"


@cache
def _schema() -> Any:
    raw = json.loads((schema_dir() / "spool-message.v1.avsc").read_text(encoding="utf-8"))
    return fastavro.parse_schema(raw)


@dataclass(frozen=True)
class SpooledMessage:
    """One Kafka message: what the producer sends."""

    value: bytes
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()
    spooled_at: int = field(default_factory=lambda: time.time_ns() // 1000)

    @classmethod
    def for_event(
        cls, event: Mapping[str, Any], headers: Sequence[tuple[str, bytes]] = ()
    ) -> SpooledMessage:
        """The Avro message of a (validated) event, keyed by its root job."""
        value = encode(event)
        if len(value) > DEFAULT_MAX_MESSAGE_BYTES:
            raise InvalidEvent(
                f"event is {len(value)} bytes encoded, over the {DEFAULT_MAX_MESSAGE_BYTES}-byte "
                "message limit (Kafka's default message.max.bytes)"
            )
        return cls(value=value, key=kafka_key(event), headers=tuple(headers))

    def to_record(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "headers": [{"name": n, "value": v} for n, v in self.headers],
            "spooledAt": self.spooled_at,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SpooledMessage:
        return cls(
            value=record["value"],
            key=record["key"],
            headers=tuple((h["name"], h["value"]) for h in record["headers"]),
            spooled_at=record["spooledAt"],
        )


class SpoolFull(Exception):
    """The spool directory holds ``max_total_bytes`` already."""


class SpoolWriter:
    """Append messages to a spool directory, one container file at a time, per process."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_messages_per_file: int = 10_000,
        max_bytes_per_file: int = 64 * 1024 * 1024,
        max_total_bytes: int = 1024 * 1024 * 1024,
    ) -> None:
        if min(max_messages_per_file, max_bytes_per_file, max_total_bytes) < 1:
            raise ValueError("spool limits must be at least 1")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_messages_per_file = max_messages_per_file
        self.max_bytes_per_file = max_bytes_per_file
        self.max_total_bytes = max_total_bytes
        self._pid = -1
        self._sequence = 0
        self._file: IO[bytes] | None = None
        self._writer: Writer | None = None
        self._path: Path | None = None
        self._count = 0
        self._known_total = spool_size(self.directory)

    def write(self, message: SpooledMessage) -> None:
        """Append one message durably enough to survive the process (flushed to the OS)."""
        if os.getpid() != self._pid:
            self._after_fork()
        size = (
            len(message.value)
            + len(message.key or b"")
            + sum(len(n) + len(v) for n, v in message.headers)
            + 64
        )
        if self._known_total + size > self.max_total_bytes:
            self._known_total = spool_size(self.directory)  # others may have flushed files
            if self._known_total + size > self.max_total_bytes:
                raise SpoolFull(
                    f"spool {self.directory} holds {self._known_total} bytes "
                    f"(limit {self.max_total_bytes}, PEDIGREE_SPOOL_MAX_BYTES)"
                )
        if self._writer is None:
            self._open()
        writer, handle = self._writer, self._file
        assert writer is not None
        assert handle is not None
        writer.write(message.to_record())
        writer.flush()
        self._count += 1
        self._known_total += size
        if self._count >= self.max_messages_per_file or handle.tell() >= self.max_bytes_per_file:
            self.rotate()

    def write_event(self, event: Mapping[str, Any]) -> None:
        """Validate, encode and append one event (raises ``InvalidEvent`` for a bad one)."""
        self.write(SpooledMessage.for_event(event))

    def _after_fork(self) -> None:
        # A forked child inherits the parent's open file: it must never write into it (the
        # parent does).  Writes are flushed as they happen, so nothing is buffered to lose.
        if self._file is not None and self._pid != -1:
            self._file = self._writer = self._path = None
        self._pid = os.getpid()
        self._stem = f"{socket.gethostname()}-{self._pid}-{time.time_ns()}"
        self._sequence = 0

    def _open(self) -> None:
        self._sequence += 1
        path = self.directory / f"{self._stem}-{self._sequence:06d}{OPEN_SUFFIX}"
        # The lock is held while the file is being written: a file whose lock can be taken
        # belongs to a writer that died without closing it (SIGKILL, OOM, os._exit), see
        # recover_orphans.  So the file is created under a name no reader looks at, locked, and
        # only then given its .open name: a reader never finds it unlocked while we live.
        staging = path.with_name(f".{path.name}.new")
        handle = staging.open("wb")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            staging.rename(path)
        except BaseException:
            handle.close()
            staging.unlink(missing_ok=True)
            raise
        self._path, self._file = path, handle
        self._writer = Writer(self._file, _schema(), codec="null")
        self._count = 0

    def rotate(self) -> Path | None:
        """Close the current file and make it visible to readers; return its final path."""
        if self._writer is None or self._file is None or self._path is None:
            return None
        if os.getpid() != self._pid:  # the parent's file: not ours to close
            self._after_fork()
            return None
        writer, handle, path = self._writer, self._file, self._path
        self._writer = self._file = self._path = None  # whatever happens, the next write opens anew
        final = path.with_name(path.name.removesuffix(OPEN_SUFFIX) + CLOSED_SUFFIX)
        try:
            writer.flush()
            handle.flush()
            os.fsync(handle.fileno())
            path.rename(final)  # still locked: closing first would let a reader take it as orphan
        finally:
            handle.close()
        return final

    def close(self) -> None:
        self.rotate()

    def __enter__(self) -> SpoolWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def spool_size(directory: str | os.PathLike[str]) -> int:
    """Bytes held by the spool files of a directory."""
    total = 0
    for path in Path(directory).glob("*.avro*"):
        try:
            total += path.stat().st_size
        except FileNotFoundError:  # flushed meanwhile
            continue
    return total


def recover_orphans(directory: str | os.PathLike[str]) -> int:
    """Close the files of writers that died mid-file, so their events are not lost.

    A live writer holds an exclusive lock on its ``.avro.open`` file; a file whose lock can be
    taken is an orphan, and is renamed to ``.avro`` (its last block may be cut short: readers
    stop there).  Returns how many files were recovered.
    """
    recovered = 0
    for path in Path(directory).glob(f"*{OPEN_SUFFIX}"):
        try:
            with path.open("rb") as handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its writer is alive
                path.rename(path.with_name(path.name.removesuffix(OPEN_SUFFIX) + CLOSED_SUFFIX))
                recovered += 1
        except FileNotFoundError:  # rotated or recovered meanwhile
            continue
    if recovered:
        log.warning("pedigree: recovered %d spool files left open by writers that died", recovered)
    return recovered


def closed_files(directory: str | os.PathLike[str], *, recover: bool = True) -> list[Path]:
    """The complete spool files of a directory, oldest first (orphans recovered first)."""
    if recover and Path(directory).is_dir():
        recover_orphans(directory)
    found = []
    for path in Path(directory).glob(f"*{CLOSED_SUFFIX}"):
        try:
            found.append((path.stat().st_mtime_ns, path.name, path))
        except FileNotFoundError:
            continue
    return [path for _, _, path in sorted(found)]


def read_file(path: Path) -> Iterator[SpooledMessage]:
    """The messages of one spool file, in order (up to a cut-short last block, if any)."""
    with path.open("rb") as handle:
        records = iter(fastavro.reader(handle, reader_schema=_schema()))
        count = 0
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            # A writer killed mid-write leaves a partial last block; what precedes it is whole.
            except (EOFError, ValueError, OSError) as err:
                log.warning("pedigree: %s ends in a cut-short block after %d messages (%s)",
                            path.name, count, err)  # fmt: skip
                return
            count += 1
            yield SpooledMessage.from_record(record)  # type: ignore[arg-type]


def read_spool(directory: str | os.PathLike[str]) -> Iterator[SpooledMessage]:
    """Every message in the complete files of a spool directory, file by file."""
    for path in closed_files(directory):
        yield from read_file(path)


def read_events(directory: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Every event in the complete files of a spool directory, decoded."""
    for message in read_spool(directory):
        yield decode(message.value)
