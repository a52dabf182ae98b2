"""The emitter: hands events from the job's threads to a transport without ever hurting the job.

``emit(event)`` only puts the event on a bounded in-memory queue (microseconds) and returns; a
background thread validates, encodes and sends it.  Nothing raises into the caller: an invalid
event is logged, counted and kept as JSON under ``<spool>/rejected/``; a full queue spills to
the spool in the caller's thread (bounded: one local file append); a transport failure spools
the message.  ``close(timeout)`` — also run at interpreter exit — drains the queue and flushes
within the timeout; whatever is still undelivered then is in the spool, not lost.  A forked
child (a data-loader worker) gets a fresh queue, thread and producer of its own.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import queue
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from emitters.config import EmitterConfig
from emitters.errors import InvalidEvent
from emitters.spool import SpooledMessage
from emitters.transports import EmitterStats, Fallback, Transport, create_transport

__all__ = ["Emitter", "get_emitter", "set_emitter"]

log = logging.getLogger("pedigree.emitter")

_STOP = object()
_IDLE_POLL = 0.1
_MAX_REJECTED = 1000


def _trace_headers() -> tuple[tuple[str, bytes], ...]:
    """The caller's W3C trace context as Kafka headers, when OpenTelemetry is in use.

    Costs one dict lookup when the job never imported OpenTelemetry.
    """
    if "opentelemetry.trace" not in sys.modules:
        return ()
    from emitters.capture.trace import current_trace_context

    return tuple((k, v.encode()) for k, v in current_trace_context().items())


class Emitter:
    """Sends OpenLineage events through the configured transport, in the background."""

    def __init__(
        self, config: EmitterConfig | None = None, transport: Transport | None = None
    ) -> None:
        self.config = config or EmitterConfig.from_env()
        self.stats = EmitterStats()
        self._custom_transport = transport
        self._closed = False
        self._start()
        atexit.register(_close_at_exit, weakref.ref(self))
        os.register_at_fork(after_in_child=partial_after_fork(weakref.ref(self)))

    def _start(self) -> None:
        # Everything with a lock or a thread is made anew here, so a forked child (where the
        # parent's locks may be held forever and its threads do not exist) starts clean.
        self._send_lock = threading.Lock()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=self.config.queue_size)
        self._spool = Fallback(self.config, self.stats)
        self._transport = self._custom_transport or self._create_transport()
        self._thread = threading.Thread(target=self._work, name="pedigree-emitter", daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        return self._closed

    def _create_transport(self) -> Transport:
        try:
            return create_transport(self.config, self._spool, self.stats)
        except Exception as err:  # noqa: BLE001 - e.g. a Kafka setting librdkafka refuses
            from emitters.transports.simple import SpoolTransport

            self.stats.note(f"{self.config.transport} transport unavailable: {err!r}")
            log.error(
                "pedigree: the %s transport could not start (%s); lineage events go to the "
                "spool in %s",
                self.config.transport,
                err,
                self.config.spool_dir,
            )
            return SpoolTransport(self._spool)

    # -- the job's side ------------------------------------------------------------------------

    def emit(self, event: Mapping[str, Any]) -> None:
        """Queue one OpenLineage event for sending.  Never raises, never waits on the network."""
        if self.config.disabled:
            return
        try:
            self.stats.count("emitted")
            headers = _trace_headers()
            if self._closed:
                self._deliver(event, headers, transport=None)
                return
            try:
                self._queue.put_nowait((event, headers))
            except queue.Full:
                self._deliver(event, headers, transport=None)
            if self.closed:  # close() ran meanwhile: nobody reads the queue any more
                self._drain_to_spool()
        except Exception as err:  # noqa: BLE001 - lineage must never break the job
            self.stats.count("lost")
            self.stats.note(f"emit failed: {err!r}")
            log.error("pedigree: could not emit a lineage event: %r", err)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until queued events are handed to the transport and delivered (bounded)."""
        if self._closed:
            return True
        deadline = time.monotonic() + (self.config.flush_timeout if timeout is None else timeout)
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)
        if self._queue.unfinished_tasks:
            return False
        if not self._send_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return False
        try:
            return self._transport.flush(max(0.0, deadline - time.monotonic()))
        except Exception as err:  # noqa: BLE001 - never into the job
            self.stats.note(f"flush failed: {err!r}")
            return False
        finally:
            self._send_lock.release()

    def close(self, timeout: float | None = None) -> bool:
        """Drain, flush within ``timeout`` s (default ``flush_timeout``), spool the rest."""
        if self._closed:
            return True
        self._closed = True
        budget = self.config.flush_timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
        self._thread.join(max(0.0, deadline - time.monotonic()))
        # Whatever the thread did not reach goes to the spool (the thread has stopped, or is
        # stuck in a transport call and stops by itself after it, seeing _closed).
        self._drain_to_spool()
        # The thread may be stuck inside a transport call holding the lock: never wait past
        # the deadline for it (what it holds is one message; the rest is in the spool).
        done = False
        if self._send_lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            try:
                done = self._transport.close(max(0.0, deadline - time.monotonic()))
            except Exception as err:  # noqa: BLE001 - never into the job
                self.stats.note(f"transport close failed: {err!r}")
            finally:
                self._send_lock.release()
        self._spool.close()
        return done and not self._thread.is_alive()

    def _drain_to_spool(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                self._deliver(item[0], item[1], transport=None)

    # -- the background thread -----------------------------------------------------------------

    def _work(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=_IDLE_POLL)
            except queue.Empty:
                if self._closed:
                    return
                with self._send_lock:
                    self._safely(self._transport.poll)
                continue
            try:
                if item is _STOP:
                    return
                with self._send_lock:
                    self._deliver(item[0], item[1], transport=self._transport)
            finally:
                self._queue.task_done()

    def _deliver(
        self,
        event: Mapping[str, Any],
        headers: Sequence[tuple[str, bytes]],
        transport: Transport | None,
    ) -> None:
        """Validate and encode, then send (or spool when ``transport`` is None)."""
        try:
            message = SpooledMessage.for_event(event, headers)
        except InvalidEvent as err:
            self._reject(event, err)
            return
        except Exception as err:  # noqa: BLE001 - e.g. a lone surrogate in a file name
            self._reject(event, InvalidEvent(f"cannot be encoded: {err!r}"))
            return
        if transport is None:
            self._spool.keep(message, "the emitter queue was full or closed")
            return
        try:
            transport.send(dict(event), message)
        except Exception as err:  # noqa: BLE001 - any transport failure: keep the message
            self._spool.keep(message, f"the {transport.kind} transport failed: {err!r}")

    def _reject(self, event: Mapping[str, Any], err: InvalidEvent) -> None:
        self.stats.count("rejected")
        self.stats.note(f"invalid event: {err}")
        log.error("pedigree: invalid lineage event not sent: %s", err)
        try:
            folder = self.config.spool_dir / "rejected"
            folder.mkdir(parents=True, exist_ok=True)
            record = {"reason": str(err), "field": err.field, "event": event}
            path = folder / f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.json"
            if len(list(folder.glob("*.json"))) >= _MAX_REJECTED:
                raise OSError(f"{folder} already holds {_MAX_REJECTED} rejected events")
            path.write_text(json.dumps(record, default=repr))  # ASCII: survives lone surrogates
        except (OSError, TypeError, ValueError) as write_err:
            self.stats.count("lost")
            log.error("pedigree: could not keep the invalid event: %s", write_err)

    def _safely(self, fn: Any) -> None:
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - keep the thread alive
            self.stats.note(f"{fn.__qualname__} failed: {err!r}")

    def _after_fork_in_child(self) -> None:
        if not self._closed:
            self.stats = EmitterStats()
            self._start()


def partial_after_fork(ref: weakref.ref[Emitter]) -> Any:
    def after_fork() -> None:
        emitter = ref()
        if emitter is not None:
            emitter._after_fork_in_child()

    return after_fork


def _close_at_exit(ref: weakref.ref[Emitter]) -> None:
    emitter = ref()
    if emitter is not None:
        emitter.close()


_default: Emitter | None = None
_default_lock = threading.Lock()


def get_emitter() -> Emitter:
    """The process's emitter, configured from ``PEDIGREE_*`` variables on first use."""
    global _default  # noqa: PLW0603 - one emitter per process, created lazily
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Emitter()
    return _default


def set_emitter(emitter: Emitter | None) -> Emitter | None:
    """Replace the process's emitter (returns the previous one, not closed)."""
    global _default
    with _default_lock:
        previous, _default = _default, emitter
    return previous
