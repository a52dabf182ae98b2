"""Test helpers for teams: assert, in your own tests, on the lineage your jobs emit.

::

    from emitters.testing import record_lineage

    def test_training_reports_its_dataset_version(tmp_path):
        with record_lineage() as lineage:
            train(data=tmp_path / "train.csv")
        complete = lineage.last("train", "COMPLETE")
        assert complete["inputs"][0]["facets"]["version"]["datasetVersion"].startswith("sha256:")
        assert lineage.event_types("train") == ["START", "COMPLETE"]

Events go through the real validation and Avro encoding; what the recorder holds is what a
consumer would decode from Kafka.  Nothing is sent anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from emitters.client import Emitter, set_emitter
from emitters.codec import decode
from emitters.config import EmitterConfig
from emitters.spool import SpooledMessage
from emitters.transports.base import Transport

__all__ = ["LineageRecorder", "RecordingTransport", "record_lineage"]


class RecordingTransport(Transport):
    """Keeps every message it is given, in order."""

    kind: ClassVar[str] = "recording"

    def __init__(self) -> None:
        self.messages: list[SpooledMessage] = []

    def send(self, event: dict[str, Any], message: SpooledMessage) -> None:
        self.messages.append(message)


class LineageRecorder:
    """What a job emitted, decoded; queries flush the emitter first."""

    def __init__(self, emitter: Emitter, transport: RecordingTransport) -> None:
        self.emitter = emitter
        self.transport = transport

    @property
    def events(self) -> list[dict[str, Any]]:
        self.emitter.flush(timeout=10)
        return [decode(m.value) for m in self.transport.messages]

    def of(self, job: str, event_type: str | None = None) -> list[dict[str, Any]]:
        """The events of a job (by name), optionally of one type, in emission order."""
        return [
            e
            for e in self.events
            if e.get("job", {}).get("name") == job
            and (event_type is None or e.get("eventType") == event_type)
        ]

    def event_types(self, job: str) -> list[str]:
        return [e.get("eventType", "") for e in self.of(job)]

    def last(self, job: str, event_type: str | None = None) -> dict[str, Any]:
        found = self.of(job, event_type)
        if not found:
            seen = sorted({e.get("job", {}).get("name", "?") for e in self.events})
            raise AssertionError(f"no {event_type or ''} event of job {job!r}; jobs seen: {seen}")
        return found[-1]

    def run_ids(self, job: str) -> list[str]:
        return list(dict.fromkeys(e["run"]["runId"] for e in self.of(job) if "run" in e))


@contextmanager
def record_lineage(**config: Any) -> Iterator[LineageRecorder]:
    """Install a recording emitter as the process's emitter for the duration of the block.

    Keyword arguments set :class:`EmitterConfig` fields (``sample_interval=0`` by default, so
    tests are not timing-dependent; ``namespace``, ``team``, ...).
    """
    settings = {"sample_interval": 0.0, **config}
    transport = RecordingTransport()
    emitter = Emitter(EmitterConfig(**settings), transport=transport)
    previous = set_emitter(emitter)
    try:
        yield LineageRecorder(emitter, transport)
    finally:
        emitter.flush(timeout=10)
        set_emitter(previous)
        emitter.close(timeout=10)
