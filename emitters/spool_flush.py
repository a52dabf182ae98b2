"""Send the spool to Kafka (or to an OpenLineage HTTP endpoint): every spooled message once,
file by file.

A flusher first *claims* a complete file by renaming it ``X.avro`` -> ``X.avro.sending-<pid>``
(an atomic rename: of two flushers, one wins) and holds an exclusive lock on it while sending;
a claimed file whose lock can be taken belongs to a flusher that died and is given back.  The
messages are produced with the emitter's idempotent producer; when Kafka acknowledged all of
them the file is deleted.  Otherwise the number of leading messages acknowledged is recorded in
``X.acked`` and the file renamed back, so the next flush resumes after them.  A message Kafka
refuses for good (too large, invalid record) is moved to ``rejected/`` with the error, so it can
neither block the spool nor be sent again and again.

With ``http=True`` (``pedigree spool flush --http URL``; the emitter's ``http`` transport spools
what it could not POST) each message is decoded and POSTed as OpenLineage JSON, one request per
event, to the endpoint of ``PEDIGREE_HTTP_URL`` with ``PEDIGREE_HTTP_TOKEN``: a 2xx is the
acknowledgement; 400, 413 and 422 (the endpoint will never take this event) send it to
``rejected/``; anything else (401, 403, 5xx, a network error) stops the flush with the file kept.

Exactly once holds whenever a flush completes, stops on a delivery failure or is told to stop.
The one window for a repeat is a crash between Kafka's acknowledgement and the deletion of the
file (or the write of ``X.acked``): those messages are sent again, and consumers drop the
repeat by the event id (see ``docs/warehouse.md``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emitters.config import EmitterConfig
from emitters.spool import CLOSED_SUFFIX, SpooledMessage, SpoolWriter, closed_files, read_file

__all__ = [
    "FlushReport",
    "HttpRefusal",
    "flush_earlier_spool_in_background",
    "flush_spool",
    "release_stale_claims",
]

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


class HttpRefusal(Exception):
    """What an HTTP endpoint answered for one event (or why it could not be sent)."""

    def __init__(self, message: str, *, for_good: bool) -> None:
        super().__init__(message)
        self.for_good = for_good


def _refused_for_good(err: Any) -> bool:
    if isinstance(err, HttpRefusal):
        return err.for_good
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


Send = Callable[[list[SpooledMessage], float, "threading.Event | None"], list[Any]]
"""Sends a file's messages in order; returns per message True (acknowledged), None (not sent)
or the error.  It stops at the first error that is not a refusal for good."""


def _kafka_sender(producer: Any, topic: str) -> Send:
    def send(
        messages: list[SpooledMessage], deadline: float, stop: threading.Event | None
    ) -> list[Any]:
        sender = _FileSender(producer, topic, messages)
        sender.send(deadline, stop)
        producer.flush(max(0.0, deadline - time.monotonic()))
        return sender.outcome

    return send


def _http_sender(config: EmitterConfig, request_timeout: float = 30.0) -> Send:
    from emitters.codec import decode
    from emitters.errors import InvalidEvent
    from emitters.transports.http import endpoint

    url = endpoint(config.http_url or "")
    headers = {"Content-Type": "application/json"}
    if config.http_token:
        headers["Authorization"] = f"Bearer {config.http_token}"

    def post(event: dict[str, Any], timeout: float) -> Any:
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in endpoint()
            url, data=json.dumps(event).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                response.read()
            return True
        except urllib.error.HTTPError as err:
            detail = err.read(2000).decode("utf-8", "replace").strip()
            return HttpRefusal(
                f"POST {url}: HTTP {err.code} {detail or err.reason}",
                for_good=err.code in (400, 413, 422),
            )
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = err.reason if isinstance(err, urllib.error.URLError) else err
            return HttpRefusal(f"POST {url} failed: {reason}", for_good=False)

    def send(
        messages: list[SpooledMessage], deadline: float, stop: threading.Event | None
    ) -> list[Any]:
        outcome: list[Any] = [None] * len(messages)
        for index, message in enumerate(messages):
            left = deadline - time.monotonic()
            if left <= 0 or (stop is not None and stop.is_set()):
                break
            try:
                event = decode(message.value, validate=False)
            except InvalidEvent as err:
                outcome[index] = HttpRefusal(f"undecodable: {err}", for_good=True)
                continue
            outcome[index] = post(event, min(request_timeout, left))
            if outcome[index] is not True and not _refused_for_good(outcome[index]):
                break
        return outcome

    return send


def flush_spool(
    directory: str | os.PathLike[str],
    config: EmitterConfig,
    *,
    timeout: float = 60.0,
    producer: Any = None,
    progress: Callable[[FlushReport], None] | None = None,
    stop: threading.Event | None = None,
    http: bool = False,
) -> FlushReport:
    """Send every complete spool file to ``config.kafka_topic`` (with ``http``: POST each
    event to ``config.http_url``); stop at the first failure, at the timeout, or when ``stop``
    is set."""
    folder = Path(directory)
    report = FlushReport()
    if not folder.is_dir():
        return report
    release_stale_claims(folder)
    deadline = time.monotonic() + timeout
    if http:
        send = _http_sender(config)
    else:
        from confluent_kafka import Producer

        from emitters.transports.kafka import producer_settings

        send = _kafka_sender(producer or Producer(producer_settings(config)), config.kafka_topic)
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
                path, claimed, send, config=config, deadline=deadline, stop=stop, report=report
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
    send: Send,
    *,
    config: EmitterConfig,
    deadline: float,
    stop: threading.Event | None,
    report: FlushReport,
) -> bool:
    skip = _acked(path)
    messages = list(read_file(claimed))[skip:]
    outcomes = send(messages, deadline, stop)
    prefix = 0
    refused: list[tuple[SpooledMessage, Any]] = []
    for message, outcome in zip(messages, outcomes, strict=True):
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
    if prefix == len(messages):
        claimed.unlink()
        _acked_path(path).unlink(missing_ok=True)
        report.files += 1
        return True
    _record_acked(path, skip + prefix)
    claimed.rename(path)
    failures = [str(o) for o in outcomes[prefix:] if o not in (None, True)]
    report.errors += failures[:5] or [f"stopped with {path.name} unfinished (timeout or stop)"]
    return False


def _reject(folder: Path, refused: list[tuple[SpooledMessage, Any]], config: EmitterConfig) -> None:
    """Keep messages Kafka will never take where a person can look at them."""
    with SpoolWriter(folder / "rejected", max_total_bytes=config.spool_max_bytes) as kept:
        for message, err in refused:
            log.error("pedigree: a spooled message is refused for good: %s", err)
            with contextlib.suppress(Exception):
                kept.write(message)


def flush_earlier_spool_in_background(
    config: EmitterConfig, stop: threading.Event, *, http: bool = False
) -> threading.Thread | None:
    """At an emitter's start: send what earlier runs left in the spool (bounded, in a daemon
    thread, stopped cleanly -- progress recorded, file given back -- when ``stop`` is set)."""
    if not (config.spool_dir.is_dir() and closed_files(config.spool_dir)):
        return None
    where = "the API" if http else "Kafka"

    def flush() -> None:
        try:
            report = flush_spool(config.spool_dir, config, timeout=30.0, stop=stop, http=http)
            if report.messages:
                log.info("pedigree: sent %d spooled lineage events to %s", report.messages, where)
        except Exception as err:  # noqa: BLE001 - a later flush will retry
            log.warning("pedigree: could not flush the spool at start: %r", err)

    thread = threading.Thread(target=flush, name="pedigree-spool-flush", daemon=True)
    thread.start()
    return thread
