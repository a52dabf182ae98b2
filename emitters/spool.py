"""The spool: OpenLineage events kept on local disk as Avro object container files.

The spool is the embedded deployment's bus and the Kafka transport's fallback.  A writer owns
one file at a time, named ``<host>-<pid>-<start time>-<sequence>.avro.open`` while it is being
written; closing (or rotating) renames it to ``.avro`` atomically, so a reader only ever sees
complete files.  Each file's header carries the writer schema, so a newer reader resolves an
older spool exactly as it resolves older Kafka messages.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import fastavro
from fastavro.write import Writer

from emitters.codec import from_record, to_record
from emitters.schemas import current_schema
from emitters.validation import validate_event

__all__ = ["SpoolWriter", "closed_files", "read_file", "read_spool"]

OPEN_SUFFIX = ".avro.open"
CLOSED_SUFFIX = ".avro"


class SpoolWriter:
    """Append events to the spool directory, one container file at a time."""

    def __init__(self, directory: str | os.PathLike[str], *, max_events_per_file: int = 10_000):
        if max_events_per_file < 1:
            raise ValueError("max_events_per_file must be at least 1")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_events_per_file = max_events_per_file
        self._stem = f"{socket.gethostname()}-{os.getpid()}-{time.time_ns()}"
        self._sequence = 0
        self._file: IO[bytes] | None = None
        self._writer: Writer | None = None
        self._path: Path | None = None
        self._count = 0

    def write(self, event: Mapping[str, Any]) -> None:
        """Validate and append one event; rotate when the file is full."""
        validate_event(event)
        record = to_record(event)
        if self._writer is None:
            self._open()
        assert self._writer is not None
        self._writer.write(record)
        self._writer.flush()
        self._count += 1
        if self._count >= self.max_events_per_file:
            self.rotate()

    def _open(self) -> None:
        self._sequence += 1
        self._path = self.directory / f"{self._stem}-{self._sequence:06d}{OPEN_SUFFIX}"
        self._file = self._path.open("wb")
        self._writer = Writer(self._file, current_schema().parsed, codec="null")
        self._count = 0

    def rotate(self) -> Path | None:
        """Close the current file and make it visible to readers; return its final path."""
        if self._writer is None or self._file is None or self._path is None:
            return None
        self._writer.flush()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        final = self._path.with_name(self._path.name.removesuffix(OPEN_SUFFIX) + CLOSED_SUFFIX)
        self._path.rename(final)
        self._writer = self._file = self._path = None
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


def closed_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The complete spool files of a directory, oldest first."""
    return sorted(Path(directory).glob(f"*{CLOSED_SUFFIX}"), key=lambda p: (p.stat().st_mtime, p))


def read_file(path: Path) -> Iterator[dict[str, Any]]:
    """The events of one spool file, as OpenLineage JSON."""
    with path.open("rb") as handle:
        for record in fastavro.reader(handle, reader_schema=current_schema().parsed):
            yield from_record(record)


def read_spool(directory: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Every event in the closed files of a spool directory, file by file."""
    for path in closed_files(directory):
        yield from read_file(path)
