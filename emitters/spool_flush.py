"""Send the spool to Kafka: every spooled message once, file by file.

A flusher first *claims* a complete file by renaming it ``X.avro`` -> ``X.avro.sending-<pid>``
(an atomic rename: of two flushers, one wins) and holds an exclusive lock on it while sending;
a claimed file whose lock can be taken belongs to a flusher that died and is given back.  The
messages are produced with the emitter's idempotent producer; when Kafka acknowledged all of
them the file is deleted.  Otherwise the number of leading messages acknowledged is recorded in
``X.acked`` and the file renamed back, so the next flush resumes after them.  A message Kafka
refuses for good (too large, invalid record) is moved to ``rejected/`` with the error, so it can
neither block the spool nor be sent again and again.

Exactly once holds whenever a flush completes, stops on a delivery failure or is told to stop.
The one window for a repeat is a crash between Kafka's acknowledgement and the deletion of the
file (or the write of ``X.acked``): those messages are sent again, and consumers drop the
repeat by the event id (see ``docs/warehouse.md``).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emitters.config import EmitterConfig
from emitters.spool import CLOSED_SUFFIX, SpooledMessage, SpoolWriter, closed_files, read_file

__all__ = ["FlushReport", "flush_spool", "release_stale_claims"]

log = logging.getLogger("pedigree.spool")

_SENDING = ".sending-"


@dataclass
class FlushReport:
    files: int = 0  # files sent completely (and deleted)
    messages: int = 0  # messages acknowledged by Kafka
    rejected: int = 0  # messages Kafka refuses for good, moved to rejected/
    files_left: int = 0  # complete files still in the spool
    errors: list[str] = field(default_factory=list)


def release_stale_claims(directory: Path) -> int:
    """Give back files claimed by flushers that died (their lock is free); return how many."""
    released = 0
    for path in directory.glob(f"*{CLOSED_SUFFIX}{_SENDING}*"):
        base = path.name.rpartition(_SENDING)[0]
        try:
            with path.open("rb") as handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live flusher is sending it
                path.rename(path.with_name(base))
                released += 1
        except FileNotFoundError:
            continue
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


def _refused_for_good(err: Any) -> bool:
    try:
        return bool(err.fatal() or not err.retriable())
    except AttributeError:
        return False


class _FileSender:
    """Produces one file's messages and learns, per message, what became of it."""

    def __init__(self, producer: Any, topic: str, messages: list[SpooledMessage]) -> None:
        self.producer = producer
        self.topic = topic
        self.messages = messages
        self.outcome: list[Any] = [None] * len(messages)  # None: pending, True: acked, else err
        self.failed = False

    def _delivered(self, index: int, err: Any) -> None:
        self.outcome[index] = True if err is None else err
        if err is not None:
            self.failed = True

    def send(self, deadline: float, stop: threading.Event | None) -> None:
        from confluent_kafka import KafkaException

        for index, message in enumerate(self.messages):
            while not self.failed:
                if time.monotonic() > deadline or (stop is not None and stop.is_set()):
                    return
                try:
                    self.producer.produce(
                        self.topic,
                        value=message.value,
                        key=message.key,
                        headers=list(message.headers),
                        on_delivery=lambda e, _m, i=index: self._delivered(i, e),
                    )
                    break
                except BufferError:
                    self.producer.poll(0.1)
                except KafkaException as err:
                    self._delivered(index, err.args[0] if err.args else err)
            if self.failed:  # stop at the first failure: what follows would be resent anyway
                return
            self.producer.poll(0)


def flush_spool(
    directory: str | os.PathLike[str],
    config: EmitterConfig,
    *,
    timeout: float = 60.0,
    producer: Any = None,
    progress: Callable[[FlushReport], None] | None = None,
    stop: threading.Event | None = None,
) -> FlushReport:
    """Send every complete spool file to ``config.kafka_topic``; stop at the first failure,
    at the timeout, or when ``stop`` is set."""
    from confluent_kafka import Producer

    from emitters.transports.kafka import producer_settings

    folder = Path(directory)
    report = FlushReport()
    if not folder.is_dir():
        return report
    release_stale_claims(folder)
    deadline = time.monotonic() + timeout
    producer = producer or Producer(producer_settings(config))
    for path in closed_files(folder):
        if time.monotonic() > deadline or (stop is not None and stop.is_set()):
            break
        claimed = path.with_name(f"{path.name}{_SENDING}{os.getpid()}")
        try:
            path.rename(claimed)
        except FileNotFoundError:  # another flusher took it
            continue
        with claimed.open("rb") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            done = _flush_file(
                path, claimed, producer, config=config, deadline=deadline, stop=stop, report=report
            )
        if not done:
            break
        if progress:
            progress(report)
    report.files_left = len(closed_files(folder))
    return report


def _flush_file(
    path: Path,
    claimed: Path,
    producer: Any,
    *,
    config: EmitterConfig,
    deadline: float,
    stop: threading.Event | None,
    report: FlushReport,
) -> bool:
    skip = _acked(path)
    sender = _FileSender(producer, config.kafka_topic, list(read_file(claimed))[skip:])
    sender.send(deadline, stop)
    producer.flush(max(0.0, deadline - time.monotonic()))
    prefix = 0
    refused: list[tuple[SpooledMessage, Any]] = []
    for message, outcome in zip(sender.messages, sender.outcome, strict=True):
        if outcome is True:
            prefix += 1
        elif outcome is not None and _refused_for_good(outcome):
            refused.append((message, outcome))
            prefix += 1
        else:
            break
    if refused:
        _reject(path.parent, refused, config)
        report.rejected += len(refused)
    report.messages += prefix - len(refused)
    if prefix == len(sender.messages):
        claimed.unlink()
        _acked_path(path).unlink(missing_ok=True)
        report.files += 1
        return True
    _record_acked(path, skip + prefix)
    claimed.rename(path)
    failures = [str(o) for o in sender.outcome if o not in (None, True)]
    report.errors += failures[:5] or [f"stopped with {path.name} unfinished (timeout or stop)"]
    return False


def _reject(folder: Path, refused: list[tuple[SpooledMessage, Any]], config: EmitterConfig) -> None:
    """Keep messages Kafka will never take where a person can look at them."""
    with SpoolWriter(folder / "rejected", max_total_bytes=config.spool_max_bytes) as kept:
        for message, err in refused:
            log.error("pedigree: Kafka refuses a spooled message for good: %s", err)
            with contextlib.suppress(Exception):
                kept.write(message)
