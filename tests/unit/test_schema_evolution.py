"""Schema evolution: messages written with an older schema read with the current one, and the
reverse, following Avro's resolution rules (see docs/event-contract.md, "Evolving the schema")."""

from __future__ import annotations

import io
from typing import Any

import fastavro

from emitters import codec
from emitters.schemas import SchemaVersion, current_schema, known_schemas
from tests.avro_records import plain
from tests.events import job_event, ml_run_event
from tests.json_equality import strictly_equal


def _write(schema: SchemaVersion, event: dict[str, Any]) -> bytes:
    """A single-object message as a Pedigree emitter of that schema version wrote it."""
    buffer = io.BytesIO()
    buffer.write(codec.MAGIC + schema.fingerprint)
    fastavro.schemaless_writer(buffer, schema.parsed, schema.mapping.to_avro(event, ""))
    return buffer.getvalue()


def _read_as(reader: SchemaVersion, writer: SchemaVersion, message: bytes) -> dict[str, Any]:
    """What a reader of an older version makes of a message (old consumer, new emitter)."""
    body = io.BytesIO(message[10:])
    record = fastavro.schemaless_reader(body, writer.parsed, reader.parsed)
    return reader.mapping.from_avro(record)


def test_there_is_a_previous_version_to_evolve_from() -> None:
    assert sorted(known_schemas()) == [1, 2]
    assert current_schema().version == 2


def test_current_reader_reads_previous_writer_exactly() -> None:
    v1 = known_schemas()[1]
    for event in (ml_run_event(), job_event()):
        message = _write(v1, event)
        assert message[2:10] == v1.fingerprint != current_schema().fingerprint
        assert strictly_equal(codec.decode(message), event)


def test_previous_writer_carried_the_jobtype_facet_as_json_and_current_reader_keeps_it() -> None:
    v1 = known_schemas()[1]
    record = plain(v1.mapping.to_avro(job_event(), ""))
    assert "jobType" in record["job"]["facets"]["_extra"]  # v1 had no typed slot for it
    typed = plain(codec.to_record(job_event()))["job"]["facets"]["jobType"]
    assert typed["integration"] == "PEDIGREE"


def test_previous_reader_reads_current_writer_minus_what_it_has_no_field_for() -> None:
    v1 = known_schemas()[1]
    event = ml_run_event()
    decoded = _read_as(v1, current_schema(), codec.encode(event))
    # Avro resolution skips writer fields the reader lacks: v1 readers do not see the typed
    # jobType facet (the raw message is kept, so a rebuild with a new reader recovers it) ...
    assert "jobType" not in decoded["job"]["facets"]
    # ... and everything else arrives exactly.
    event["job"]["facets"].pop("jobType")
    assert strictly_equal(decoded, event)
