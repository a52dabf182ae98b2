"""The codec: OpenLineage JSON <-> Avro single-object messages, exactly, and nothing else."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import fastavro
import pytest

from emitters import codec
from emitters.errors import InvalidEvent
from emitters.schemas import current_schema, known_schemas
from tests.avro_records import plain
from tests.events import all_project_events, ml_run_event, simple_run_event
from tests.json_equality import strictly_equal

EVENTS = all_project_events()


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_json_to_avro_to_json_is_an_identity(name: str) -> None:
    event = EVENTS[name]
    assert strictly_equal(codec.decode(codec.encode(event)), event)


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_plain_json_messages_decode_to_the_same_event(name: str) -> None:
    event = EVENTS[name]
    assert strictly_equal(codec.decode(codec.encode_json(event)), event)


def test_message_starts_with_magic_and_the_current_schema_fingerprint() -> None:
    message = codec.encode(simple_run_event())
    assert message[:2] == b"\xc3\x01"
    assert message[2:10] == current_schema().fingerprint
    assert codec.detect_format(message) == "avro"
    assert codec.detect_format(codec.encode_json(simple_run_event())) == "json"


def test_fingerprint_is_crc64_avro_little_endian_as_in_the_avro_test_vectors() -> None:
    # Avro's schema-tests: the fingerprint of "null" is 7195948357588979594 (signed, LE bytes).
    from fastavro.schema import fingerprint

    raw = bytes.fromhex(fingerprint('"null"', "CRC-64-AVRO"))
    assert int.from_bytes(raw, "little", signed=True) == 7195948357588979594
    for schema in known_schemas().values():
        canonical = fastavro.schema.to_parsing_canonical_form(schema.parsed)
        assert schema.fingerprint == bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


def test_ml_and_standard_facets_travel_as_typed_records_not_json_text() -> None:
    record = plain(codec.to_record(ml_run_event()))
    run_facets = record["run"]["facets"]
    for key in ("parent", "errorMessage", "pedigree_code", "pedigree_parameters"):
        assert isinstance(run_facets[key], dict), key
    assert run_facets["pedigree_resources"]["samples"][0]["gpuUtilPercent"] == 97.5
    assert run_facets["_extra"] == {}
    assert set(record["job"]["facets"]) >= {"sourceCodeLocation", "ownership", "jobType"}
    assert record["job"]["facets"]["_extra"] == {}
    images, labels = record["inputs"]
    assert (
        images["facets"]["schema"]["fields"][1]["fields"]
        == '[{"fields":[],"name":"x","type":"float"},{"fields":[],"name":"y"}]'
    )
    assert (
        images["facets"]["columnLineage"]["fields"]["label"]["inputFields"][0]["field"]
        == "annotation"
    )
    assert labels["facets"]["pedigree_annotations"]["labelSet"] == "boxes"
    model = record["outputs"][0]
    assert model["facets"]["pedigree_model"]["metrics"] == {"mAP": 0.61, "loss": 0.25}
    assert model["outputFacets"]["outputStatistics"]["size"] == 1024
    # parameters are JSON text per dotted key on the wire, JSON values in OpenLineage JSON
    assert run_facets["pedigree_parameters"]["parameters"]["model.layers"] == "[64,64]"


def test_values_that_do_not_fit_their_typed_slot_exactly_ride_along_as_json() -> None:
    event = ml_run_event()
    facets = event["run"]["facets"]
    facets["pedigree_code"]["gitDirty"] = 1  # an int where the record has a boolean
    facets["pedigree_ownership"]["team"] = None  # an explicit null
    facets["pedigree_resources"]["samples"][0]["gpuUtilPercent"] = 97  # int where a double is
    facets["pedigree_code"]["vendorField"] = {"nested": [1, 2.5, None, True]}
    event["outputs"][0]["facets"]["pedigree_model"]["metrics"]["epochs"] = 3
    record = plain(codec.to_record(event))
    extra = record["run"]["facets"]["_extra"]
    assert set(extra) == {"pedigree_code", "pedigree_ownership", "pedigree_resources"}
    assert record["run"]["facets"]["pedigree_code"] is None
    assert "pedigree_model" in record["outputs"][0]["facets"]["_extra"]
    back = codec.decode(codec.encode(event))
    assert strictly_equal(back, event)
    assert back["run"]["facets"]["pedigree_code"]["gitDirty"] == 1
    assert type(back["run"]["facets"]["pedigree_code"]["gitDirty"]) is int


def test_unknown_keys_at_every_level_are_kept() -> None:
    event = simple_run_event()
    event["x-vendor"] = {"a": 1}
    event["run"]["x-run"] = "r"
    event["job"]["facets"] = {"custom_facet": {"_producer": "p", "_schemaURL": "u", "k": [1]}}
    event["_extra"] = "a key named like the internal field"
    assert strictly_equal(codec.decode(codec.encode(event)), event)


def test_integer_and_float_and_boolean_are_told_apart() -> None:
    event = simple_run_event()
    event["run"]["facets"] = {
        "custom": {"_producer": "p", "_schemaURL": "u", "i": 1, "f": 1.0, "b": True, "big": 2**70}
    }
    back = codec.decode(codec.encode(event))
    custom = back["run"]["facets"]["custom"]
    assert [type(custom[k]) for k in ("i", "f", "b", "big")] == [int, float, bool, int]
    assert custom["big"] == 2**70


def test_dataset_and_job_events_keep_their_kind() -> None:
    assert "run" not in codec.decode(codec.encode(EVENTS["job_event"]))
    decoded = codec.decode(codec.encode(EVENTS["dataset_event"]))
    assert set(decoded) == {"eventTime", "producer", "schemaURL", "dataset"}


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.update(eventType="FINISH"), "eventType"),
        (lambda e: e["run"].update(runId="not-a-uuid"), "run.runId"),
        (lambda e: e.update(eventTime="yesterday"), "eventTime"),
        (lambda e: e["run"].pop("runId"), "run.runId"),
    ],
)
def test_invalid_events_are_refused_with_the_field_named(mutate: Any, field: str) -> None:
    event = simple_run_event()
    mutate(event)
    with pytest.raises(InvalidEvent) as caught:
        codec.encode(event)
    assert caught.value.field == field
    # and a JSON message carrying it is refused by the decoder the same way
    with pytest.raises(InvalidEvent) as caught:
        codec.decode(json.dumps(event).encode())
    assert caught.value.field == field


def test_avro_messages_carrying_invalid_events_are_refused_on_decode() -> None:
    event = simple_run_event()
    event["run"]["runId"] = "not-a-uuid"
    message = codec.encode(event, validate=False)
    with pytest.raises(InvalidEvent, match=r"run\.runId"):
        codec.decode(message)
    assert codec.decode(message, validate=False)["run"]["runId"] == "not-a-uuid"


def _wire_case(name: str) -> bytes:
    good = codec.encode(ml_run_event())
    cases = {
        "truncated body": good[:-7],
        "truncated header": good[:6],
        "wrong magic": b"\xc3\x02" + good[2:],
        "unknown fingerprint": good[:2] + b"\x00" * 8 + good[10:],
        "trailing bytes": good + b"\x00",
        "empty": b"",
        "binary garbage": b"\x00\x01\x02\x03",
        "json array": b"[1, 2]",
        "json syntax": b'{"eventType": ',
        "json nan": b'{"eventTime": NaN}',
        "json not utf-8": b'{"a": "\xff"}',
        "json too deep": b"{" + b'"a":{' * 100_000 + b"}" * 100_001,
    }
    return cases[name]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("truncated body", "undecodable Avro body"),
        ("truncated header", "truncated single-object header"),
        ("wrong magic", "neither Avro single-object encoding"),
        ("unknown fingerprint", "unknown schema fingerprint 0000000000000000"),
        ("trailing bytes", "1 trailing bytes"),
        ("empty", "empty message"),
        ("binary garbage", "starts with 00 01"),
        ("json array", "must be a JSON object"),
        ("json syntax", "not valid JSON"),
        ("json nan", "NaN is not a JSON value"),
        ("json not utf-8", "not UTF-8"),
        ("json too deep", "nested too deeply"),
    ],
)
def test_broken_messages_raise_one_typed_error_naming_the_reason(case: str, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason) as caught:
        codec.decode(_wire_case(case), max_bytes=10_000_000)
    assert caught.value.field is None


def test_oversized_messages_are_refused_before_decoding() -> None:
    message = codec.encode(ml_run_event())
    with pytest.raises(InvalidEvent, match=f"{len(message)} bytes, over the 1000-byte limit"):
        codec.decode(message, max_bytes=1000)
    assert codec.decode(message, max_bytes=len(message))


def test_corrupt_json_text_inside_a_valid_avro_body_is_refused() -> None:
    record = codec.to_record(simple_run_event())
    record["_extra"] = {"vendor": "{not json"}
    buffer = io.BytesIO()
    buffer.write(codec.MAGIC + current_schema().fingerprint)
    fastavro.schemaless_writer(buffer, current_schema().parsed, record)
    with pytest.raises(InvalidEvent, match="corrupt JSON text"):
        codec.decode(buffer.getvalue())


def test_a_key_both_typed_and_in_extra_is_refused() -> None:
    record = plain(codec.to_record(simple_run_event()))
    record["_extra"] = {"producer": '"twice"'}
    with pytest.raises(InvalidEvent, match="both a typed field"):
        codec.from_record(record)


def test_encoding_does_not_modify_the_callers_event() -> None:
    event = ml_run_event()
    before = copy.deepcopy(event)
    codec.encode(event)
    assert event == before
