"""Encode and decode Pedigree events: OpenLineage JSON <-> Avro single-object messages.

On the wire an event is either

* **Avro single-object encoding** — ``C3 01``, the 8-byte little-endian CRC-64-AVRO fingerprint
  of the writer schema, then the Avro binary body — which is what Pedigree's emitters send; or
* **plain OpenLineage JSON** (UTF-8), which is what the official OpenLineage clients' Kafka
  transport sends.

:func:`decode` tells the two apart by the first bytes (no JSON text starts with ``0xC3``),
resolves an older writer schema to the current reader schema, and returns the event as
OpenLineage JSON (a ``dict``).  A message of the current schema is first read by the reader
generated from it (``compile_reader``), which returns exactly what fastavro and the mapping
return, about three times as fast; anything it does not handle goes the fastavro way.
Everything :func:`decode` refuses raises :class:`InvalidEvent` naming the field or the
reason — never another exception type.  Hostile input cannot exhaust memory: the
message size is checked first, and every Avro array item and map entry of the schema takes at
least one byte, so a declared count larger than the remaining bytes fails as truncated after at
most that many bytes (tested in ``tests/unit/test_codec_hostile.py``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from functools import cache
from typing import Any, Literal

import fastavro

from emitters._avro_mapping import DoesNotFit, Reader, Unsupported, compile_reader, dump_json
from emitters.errors import InvalidEvent
from emitters.schemas import SchemaVersion, current_schema, known_schemas
from emitters.validation import validate_event

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "MAGIC",
    "WireFormat",
    "decode",
    "detect_format",
    "encode",
    "encode_json",
    "from_record",
    "parse_json",
    "to_record",
]

MAGIC = b"\xc3\x01"
_HEADER_LEN = len(MAGIC) + 8
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
"""Largest message :func:`decode` accepts (1 MiB, Kafka's default ``message.max.bytes``)."""

WireFormat = Literal["avro", "json"]
_JSON_START = frozenset(b"{[ \t\r\n")


@cache
def _by_fingerprint() -> dict[bytes, tuple[SchemaVersion, Reader | None]]:
    """Each known writer schema by fingerprint, with the generated reader (see
    ``compile_reader``) of the current one: older writers are resolved by fastavro."""
    current = current_schema()
    return {
        s.fingerprint: (s, _fast_reader(s) if s is current else None)
        for s in known_schemas().values()
    }


def _fast_reader(schema: SchemaVersion) -> Reader | None:
    """The generated reader of a schema, if it has one."""
    try:
        return compile_reader(schema.raw)[0]
    except Unsupported:
        return None


def detect_format(message: bytes) -> WireFormat:
    """Which wire format a message is in; :class:`InvalidEvent` when it is neither."""
    if message[:2] == MAGIC:
        return "avro"
    if message[:1] and message[0] in _JSON_START:
        return "json"
    if not message:
        raise InvalidEvent("empty message")
    raise InvalidEvent(
        f"neither Avro single-object encoding (magic C3 01) nor a JSON object: "
        f"starts with {message[:2].hex(' ').upper()}"
    )


def to_record(event: Mapping[str, Any]) -> dict[str, Any]:
    """The Avro record (current schema) for an OpenLineage event given as JSON values."""
    try:
        return current_schema().mapping.to_avro(dict(event), "")
    except DoesNotFit as err:
        raise InvalidEvent(err.reason, err.path) from err


def from_record(record: Any) -> dict[str, Any]:
    """The OpenLineage JSON of an Avro record read with the current schema."""
    try:
        return current_schema().mapping.from_avro(record)
    except (ValueError, TypeError, RecursionError) as err:
        raise InvalidEvent(f"corrupt JSON text inside the Avro record: {err}") from err


def encode(event: Mapping[str, Any], *, validate: bool = True) -> bytes:
    """Avro single-object bytes for an OpenLineage event (validated first unless told not to)."""
    if validate:
        validate_event(event)
    schema = current_schema()
    record = to_record(event)
    buffer = io.BytesIO()
    buffer.write(MAGIC)
    buffer.write(schema.fingerprint)
    fastavro.schemaless_writer(buffer, schema.parsed, record)
    return buffer.getvalue()


def encode_json(event: Mapping[str, Any], *, validate: bool = True) -> bytes:
    """Plain OpenLineage JSON bytes, as the official clients send them."""
    if validate:
        validate_event(event)
    return dump_json(event).encode("utf-8")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def parse_json(message: bytes | str) -> dict[str, Any]:
    """Parse one OpenLineage JSON event strictly (UTF-8, no NaN/Infinity, an object at the top)."""
    try:
        text = message.decode("utf-8") if isinstance(message, bytes) else message
        value = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError as err:
        raise InvalidEvent(f"JSON message is not UTF-8: {err.reason} at byte {err.start}") from err
    except RecursionError as err:
        raise InvalidEvent("JSON is nested too deeply") from err
    except ValueError as err:  # json.JSONDecodeError, over-long integers, NaN
        raise InvalidEvent(f"not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise InvalidEvent(f"an event must be a JSON object, got {type(value).__name__}")
    return value


def _decode_avro(message: bytes) -> dict[str, Any]:
    if len(message) < _HEADER_LEN:
        raise InvalidEvent(f"truncated single-object header: {len(message)} bytes")
    fingerprint = message[len(MAGIC) : _HEADER_LEN]
    found = _by_fingerprint().get(fingerprint)
    if found is None:
        known = ", ".join(f"v{s.version}={s.fingerprint.hex()}" for s in known_schemas().values())
        raise InvalidEvent(f"unknown schema fingerprint {fingerprint.hex()} (known: {known})")
    writer, read = found
    if read is not None:
        try:
            event, end = read(message, _HEADER_LEN)
        except Exception:  # noqa: BLE001, S110 - not plain or not valid: the path below decides
            pass
        else:
            if end == len(message):
                return event
    reader = current_schema()
    body = io.BytesIO(message)
    body.seek(_HEADER_LEN)
    try:
        record = fastavro.schemaless_reader(
            body, writer.parsed, None if writer is reader else reader.parsed
        )
    # fastavro raises an open set of types on corrupt bodies (EOFError, ValueError, IndexError,
    # UnicodeDecodeError, SchemaResolutionError, ...); to a reader they all mean "undecodable".
    except Exception as err:
        raise InvalidEvent(
            f"undecodable Avro body (writer schema v{writer.version}): {type(err).__name__}: {err}"
        ) from err
    if body.tell() != len(message):
        raise InvalidEvent(f"{len(message) - body.tell()} trailing bytes after the Avro body")
    return from_record(record)


def decode(
    message: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    validate: bool = True,
) -> dict[str, Any]:
    """The OpenLineage JSON event in a message of either wire format.

    Raises :class:`InvalidEvent` for oversized, undecodable or (unless ``validate=False``)
    invalid events.
    """
    if len(message) > max_bytes:
        raise InvalidEvent(f"message is {len(message)} bytes, over the {max_bytes}-byte limit")
    if message[:2] == MAGIC:
        event = _decode_avro(message)
    else:
        detect_format(message)  # JSON, or InvalidEvent saying what it is not
        event = parse_json(message)
    if validate:
        validate_event(event)
    return event
