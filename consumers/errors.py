"""The consumers' exceptions: one root, :class:`ConsumerError`, with typed subclasses."""

from __future__ import annotations

__all__ = ["ChecksumMismatch", "ConsumerError", "KafkaClientFenced", "MigrationError"]


class ConsumerError(Exception):
    """Root of every error the consumers raise on purpose."""


class KafkaClientFenced(ConsumerError):
    """The worker's Kafka client hit fatal errors more often than a rebuild can mend: most
    likely another worker runs with the same ``group.instance.id``."""


class MigrationError(ConsumerError):
    """The warehouse schema cannot be brought to the version this code expects."""


class ChecksumMismatch(MigrationError):
    """An applied migration's file changed since it was applied: refuse to guess."""

    def __init__(self, version: int, name: str, applied: str, current: str) -> None:
        self.version = version
        self.name = name
        self.applied = applied
        self.current = current
        super().__init__(
            f"migration {version:04d}_{name} was applied with checksum {applied[:12]}… but the "
            f"file now has checksum {current[:12]}…: applied migrations must never be edited; "
            "restore the file and put the change in a new migration"
        )
