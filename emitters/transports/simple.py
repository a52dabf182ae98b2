"""The transports with nothing to wait for: ``spool``, ``console`` and ``noop``."""

from __future__ import annotations

import json
import sys
from typing import Any, ClassVar, TextIO

from emitters.spool import SpooledMessage
from emitters.transports.base import Fallback, Transport

__all__ = ["ConsoleTransport", "NoopTransport", "SpoolTransport"]


class SpoolTransport(Transport):
    """Write every message to the local spool: the embedded default."""

    kind: ClassVar[str] = "spool"

    def __init__(self, spool: Fallback) -> None:
        self._spool = spool

    def send(self, event: dict[str, Any], message: SpooledMessage) -> None:
        self._spool.keep(message, "the spool is the configured transport")


class ConsoleTransport(Transport):
    """Print each event as one JSON line (standard error by default): for debugging."""

    kind: ClassVar[str] = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, event: dict[str, Any], message: SpooledMessage) -> None:
        stream = self._stream or sys.stderr
        stream.write(json.dumps(event, ensure_ascii=False) + "\n")
        stream.flush()


class NoopTransport(Transport):
    """Drop everything (``PEDIGREE_TRANSPORT=noop``)."""

    kind: ClassVar[str] = "noop"

    def send(self, event: dict[str, Any], message: SpooledMessage) -> None:
        return None
