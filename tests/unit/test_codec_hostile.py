"""Hostile Avro bodies cannot exhaust memory or time, and the schemas cannot recurse."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from emitters import codec
from emitters.errors import InvalidEvent
from emitters.schemas import current_schema, known_schemas


def _varint(n: int) -> bytes:
    """Avro's zig-zag varint encoding of a long."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return _varint(len(data)) + data


def _event_prefix() -> bytes:
    """Header plus the fields before `inputs`: eventTime, producer, schemaURL, eventType=START,
    run=null, job=null, dataset=null."""
    header = codec.MAGIC + current_schema().fingerprint
    return (
        header
        + _string("2026-01-01T00:00:00Z")
        + _string("p")
        + _string("u")
        + _varint(1)
        + _varint(0)
        + _varint(0) * 3
    )


HUGE = 2**62
CASES = {
    # inputs = [non-null branch] array declaring 2^62 items, then nothing
    "array count": _event_prefix() + _varint(1) + _varint(HUGE),
    # a negative block count (-n items followed by a byte size) claiming 2^62 items
    "negative array block": _event_prefix() + _varint(1) + _varint(-HUGE) + _varint(HUGE),
    # inputs = [] , outputs = null, then the event's _extra map declaring 2^62 entries
    "map count": _event_prefix() + _varint(1) + _varint(0) + _varint(0) + _varint(HUGE),
    # eventTime declaring a 2^62-byte string
    "string length": codec.MAGIC + current_schema().fingerprint + _varint(HUGE) + b"abc",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_declared_sizes_beyond_the_message_fail_without_allocating(case: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(InvalidEvent, match="undecodable Avro body"):
            codec.decode(CASES[case])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"decoding a {len(CASES[case])}-byte message peaked at {peak} bytes"


def _min_size(avro_type: Any, named: dict[str, Any], stack: tuple[str, ...]) -> int:
    """Fewest bytes a value of this type encodes to; fails on recursive types."""
    if isinstance(avro_type, list):
        return 1 + min(_min_size(b, named, stack) for b in avro_type)
    if isinstance(avro_type, str):
        if avro_type in named:
            return _min_size(named[avro_type], named, stack)
        return {"null": 0, "boolean": 1, "int": 1, "long": 1, "float": 4, "double": 8}.get(
            avro_type, 1
        )  # string and bytes: at least their length varint
    kind = avro_type["type"]
    if kind == "record":
        name = avro_type["name"]
        assert name not in stack, f"recursive type: {' -> '.join((*stack, name))}"
        named.setdefault(name, avro_type)
        return sum(_min_size(f["type"], named, (*stack, name)) for f in avro_type["fields"])
    if kind == "enum":
        named.setdefault(avro_type["name"], avro_type)
        return 1
    if kind in ("array", "map"):
        item = avro_type["items"] if kind == "array" else avro_type["values"]
        item_size = _min_size(item, named, stack) + (1 if kind == "map" else 0)
        assert item_size >= 1, f"an {kind} of zero-byte items lets a count allocate for free"
        return 1
    return _min_size(kind, named, stack)


@pytest.mark.parametrize("version", sorted(known_schemas()))
def test_schemas_have_no_recursion_and_no_free_items(version: int) -> None:
    assert _min_size(known_schemas()[version].raw, {}, ()) > 0
