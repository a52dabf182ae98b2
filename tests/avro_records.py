"""Reading the Avro records the codec hands to fastavro, in tests."""

from __future__ import annotations

from typing import Any


def plain(record: Any) -> Any:
    """The record without fastavro's union tuple notation: ``("name", value)`` -> ``value``."""
    if isinstance(record, tuple):
        return plain(record[1])
    if isinstance(record, dict):
        return {k: plain(v) for k, v in record.items()}
    if isinstance(record, list):
        return [plain(v) for v in record]
    return record
