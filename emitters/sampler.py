"""The resource sampler: a background thread that reports a run's resource usage.

Every ``interval`` seconds it takes one usage sample (CPU %, resident memory, and per GPU its
utilisation and memory) of the job's process — or of the command ``pedigree run`` wraps — and
hands a ``pedigree_resources`` facet to the run, which sends it on a RUNNING event.  Stopping
takes a last sample for the run's final event.  A failing sample is skipped, never raised.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from emitters.facets import facet

__all__ = ["ResourceSampler"]

log = logging.getLogger("pedigree.sampler")


class ResourceSampler:
    def __init__(
        self, interval: float, send: Callable[[dict[str, Any]], None], *, pid: int | None = None
    ) -> None:
        from emitters.capture.machine import UsageSampler

        self.interval = interval
        self._send = send
        self._usage = UsageSampler(pid=pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pedigree-sampler", daemon=True)
        self.sent = 0

    def start(self) -> None:
        self._usage.sample()  # the first CPU reading only sets the baseline
        self._thread.start()

    def track(self, pid: int) -> None:
        """Sample another process from now on (a command the run wraps)."""
        from emitters.capture.machine import UsageSampler

        self._usage = UsageSampler(pid=pid)
        self._usage.sample()

    def _facet(self) -> dict[str, Any] | None:
        try:
            samples = self._usage.sample()
        except Exception as err:  # noqa: BLE001 - a missed sample is not worth a crash
            log.debug("pedigree: usage sample failed: %r", err)
            return None
        return facet("pedigree_resources", samples=samples) if samples else None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            resources = self._facet()
            if resources is not None:
                self._send(resources)
                self.sent += 1

    def stop(self) -> dict[str, Any] | None:
        """Stop the thread; return a last sample for the run's final event."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)
        return self._facet()
