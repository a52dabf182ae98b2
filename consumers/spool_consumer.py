"""Materialize the embedded spool into ClickHouse (``pedigree consume --from-spool DIR``).

The spool is the embedded deployment's bus: complete files of Kafka messages (see
:mod:`emitters.spool`).  Each file is read in batches of ``batch_size`` messages starting
after the count recorded in its ``X.consumed`` sidecar; a batch's rows are inserted table by
table with the deduplication token ``spool:<file>:<first>-<last>:<table>``, then the sidecar
is advanced; a finished file is deleted (its messages live on in the ``events`` table).

Why a crash anywhere loses and doubles nothing: files never change once complete and the
batches are cut from the recorded count, so a restarted consumer re-forms exactly the batch it
was inserting, with the same tokens, and ClickHouse drops the blocks it already has
(``non_replicated_deduplication_window``).  Two consumers on one spool make the same blocks
too.  Messages that do not decode or validate are kept as JSON under ``<spool>/rejected/``
with the reason — never dropped, never blocking the file.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from consumers.materialize import EventMeta, rows_for_events
from consumers.tables import COLUMNS, TABLES
from emitters.codec import decode
from emitters.errors import InvalidEvent
from emitters.spool import CLOSED_SUFFIX, closed_files, read_file

__all__ = ["ConsumeReport", "consume_spool"]

log = logging.getLogger("pedigree.consumer")


@dataclass
class ConsumeReport:
    files: int = 0  # spool files consumed completely (and deleted)
    events: int = 0  # events materialized
    rejected: int = 0  # messages kept under rejected/ instead
    errors: list[str] = field(default_factory=list)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(CLOSED_SUFFIX) + ".consumed")


def _consumed(path: Path) -> int:
    try:
        return max(0, int(_sidecar(path).read_text().strip() or 0))
    except (FileNotFoundError, ValueError):
        return 0


def _record(path: Path, count: int) -> None:
    target = _sidecar(path)
    temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    temporary.write_text(str(count))
    temporary.replace(target)


def _reject(directory: Path, source: str, message: bytes, err: InvalidEvent) -> None:
    folder = directory / "rejected"
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "source": source,
        "reason": str(err),
        "field": err.field,
        "message": message.decode("utf-8", "backslashreplace"),
    }
    (folder / f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.json").write_text(json.dumps(record))
    log.error("pedigree: invalid event in %s kept under rejected/: %s", source, err)


def _insert_batch(
    client: Any,
    database: str,
    path: Path,
    *,
    start: int,
    messages: list[Any],
    report: ConsumeReport,
) -> None:
    stem = path.name.removesuffix(CLOSED_SUFFIX)
    received = datetime.now(UTC)
    pairs = []
    for index, message in enumerate(messages, start=start):
        try:
            event = decode(message.value)
        except InvalidEvent as err:
            _reject(path.parent, f"{path.name}#{index}", message.value, err)
            report.rejected += 1
            continue
        meta = EventMeta(
            topic=f"spool:{stem}",
            partition=0,
            offset=index,
            message=message.value,
            received_time=received,
        )
        pairs.append((meta, event))
    last = start + len(messages) - 1
    prepared = rows_for_events(pairs)
    for table in TABLES:  # runs last: see consumers.tables.TABLES
        rows = prepared.get(table)
        if rows:
            client.insert(
                f"`{database}`.{table}",
                rows,
                column_names=COLUMNS[table],
                settings={"insert_deduplication_token": f"spool:{stem}:{start}-{last}:{table}"},
            )
    report.events += len(pairs)


def consume_spool(
    directory: str | os.PathLike[str],
    client: Any,
    database: str,
    *,
    batch_size: int = 5000,
    follow: bool = False,
    poll_interval: float = 1.0,
    stop: threading.Event | None = None,
) -> ConsumeReport:
    """Materialize every complete spool file (and, with ``follow``, keep tailing it)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    folder = Path(directory)
    report = ConsumeReport()
    backoff = poll_interval
    while not (stop is not None and stop.is_set()):
        files = closed_files(folder) if folder.is_dir() else []
        try:
            for path in files:
                if stop is not None and stop.is_set():
                    break
                _consume_file(client, database, path, batch_size, report)
            backoff = poll_interval
        except Exception as err:  # ClickHouse unavailable, ...: the batch is replayed later
            if not follow:
                raise
            report.errors.append(repr(err))
            log.warning("pedigree: insert failed (%r); retrying in %.0f s", err, backoff)
            backoff = min(backoff * 2, 60.0)
            files = []
        if not follow:
            break
        if not files:
            if stop is not None:
                stop.wait(backoff)
            else:
                time.sleep(backoff)
    return report


def _consume_file(
    client: Any, database: str, path: Path, batch_size: int, report: ConsumeReport
) -> None:
    try:
        messages = list(read_file(path))
    except FileNotFoundError:  # consumed by another consumer meanwhile
        return
    for start in range(_consumed(path), len(messages), batch_size):
        batch = messages[start : start + batch_size]
        _insert_batch(client, database, path, start=start, messages=batch, report=report)
        _record(path, start + len(batch))
    path.unlink(missing_ok=True)
    _sidecar(path).unlink(missing_ok=True)
    report.files += 1
