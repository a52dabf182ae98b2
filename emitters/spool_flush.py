"""Send the spool to Kafka: every spooled message once, file by file.

A flusher first *claims* a complete file by renaming it ``X.avro`` -> ``X.avro.sending-<pid>``
(an atomic rename: of two flushers, one wins), produces its messages with the emitter's
idempotent producer, and waits for the delivery reports.  When all are acknowledged it deletes
the file; otherwise it records how many leading messages were acknowledged in ``X.acked`` and
renames the file back, so the next flush resumes after them.  A claim left by a process that
died is released by the next flusher.

Exactly once holds whenever a flush completes or stops on a delivery failure.  The one window
for a repeat is a crash between Kafka's acknowledgement and the deletion of the file (or the
write of ``X.acked``): those messages are sent again, and consumers drop the repeat by the
event id (see ``docs/delivery.md``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emitters.config import EmitterConfig
from emitters.spool import CLOSED_SUFFIX, closed_files, read_file

__all__ = ["FlushReport", "flush_spool", "release_stale_claims"]

log = logging.getLogger("pedigree.spool")

_SENDING = ".sending-"


@dataclass
class FlushReport:
    files: int = 0  # files sent completely (and deleted)
    messages: int = 0  # messages acknowledged by Kafka
    files_left: int = 0  # complete files still in the spool
    errors: list[str] = field(default_factory=list)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def release_stale_claims(directory: Path) -> int:
    """Give back files claimed by flushers that are no longer running; return how many."""
    released = 0
    for path in directory.glob(f"*{CLOSED_SUFFIX}{_SENDING}*"):
        base, _, pid = path.name.rpartition(_SENDING)
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                path.rename(path.with_name(base))
                released += 1
    return released


def _acked_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(CLOSED_SUFFIX) + ".acked")


def _acked(path: Path) -> int:
    try:
        return max(0, int(_acked_path(path).read_text().strip() or 0))
    except (FileNotFoundError, ValueError):
        return 0


def _record_acked(path: Path, count: int) -> None:
    target = _acked_path(path)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(str(count))
    temporary.replace(target)


def flush_spool(
    directory: str | os.PathLike[str],
    config: EmitterConfig,
    *,
    timeout: float = 60.0,
    producer: Any = None,
    progress: Callable[[FlushReport], None] | None = None,
) -> FlushReport:
    """Send every complete spool file to ``config.kafka_topic``; stop at the first failure."""
    from confluent_kafka import KafkaException, Producer

    from emitters.transports.kafka import producer_settings

    folder = Path(directory)
    report = FlushReport()
    if not folder.is_dir():
        return report
    release_stale_claims(folder)
    deadline = time.monotonic() + timeout
    producer = producer or Producer(producer_settings(config))
    for path in closed_files(folder):
        claimed = path.with_name(f"{path.name}{_SENDING}{os.getpid()}")
        try:
            path.rename(claimed)
        except FileNotFoundError:  # another flusher took it
            continue
        skip = _acked(path)
        messages = list(read_file(claimed))[skip:]
        acked = [False] * len(messages)

        def delivered(index: int, err: Any, _msg: Any, acked: list[bool] = acked) -> None:
            if err is None:
                acked[index] = True
            else:
                report.errors.append(str(err))

        for index, message in enumerate(messages):
            while True:
                try:
                    producer.produce(
                        config.kafka_topic,
                        value=message.value,
                        key=message.key,
                        headers=list(message.headers),
                        on_delivery=lambda e, m, i=index: delivered(i, e, m),
                    )
                    break
                except BufferError:
                    producer.poll(0.1)
                except KafkaException as err:
                    report.errors.append(str(err))
                    break
            if time.monotonic() > deadline:
                break
        producer.flush(max(0.0, deadline - time.monotonic()))
        prefix = next((i for i, ok in enumerate(acked) if not ok), len(acked))
        report.messages += prefix
        if prefix == len(messages):
            claimed.unlink()
            _acked_path(path).unlink(missing_ok=True)
            report.files += 1
            if progress:
                progress(report)
            continue
        _record_acked(path, skip + prefix)
        claimed.rename(path)
        if not report.errors:
            report.errors.append(f"timed out after {timeout:.0f} s with {path.name} unfinished")
        break
    report.files_left = len(closed_files(folder))
    return report
