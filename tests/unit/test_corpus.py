"""The contract on real OpenLineage events (``../shared/openlineage``): every event survives
OpenLineage JSON -> Avro -> OpenLineage JSON exactly, decoded events validate against the
OpenLineage JSON Schema, and invalid ones are refused with the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from emitters import codec
from emitters.errors import InvalidEvent
from emitters.validation import validate_event
from tests.json_equality import strictly_equal
from tests.jsonschema_reference import verdicts
from tests.openlineage_corpus import (
    corpus_id,
    event_files,
    is_known_invalid,
    load_json,
    requires_shared,
)

pytestmark = requires_shared

CORPUS = event_files()


def _is_valid(path: Path) -> bool:
    try:
        validate_event(load_json(path))
    except InvalidEvent:
        return False
    return True


VALID = [p for p in CORPUS if _is_valid(p)]
INVALID = [p for p in CORPUS if not _is_valid(p)]


def test_the_corpus_has_valid_and_invalid_events() -> None:
    assert len(VALID) >= 40
    assert {p.stem for p in INVALID} >= {"event_no_run_id", "event_invalid_run_facet"}


@pytest.mark.parametrize("path", VALID, ids=corpus_id)
def test_valid_event_round_trips_exactly_and_decodes_to_schema_valid_json(path: Path) -> None:
    event = load_json(path)
    message = codec.encode(event)
    decoded = codec.decode(message)
    assert strictly_equal(decoded, event)
    expected, _, _ = verdicts(decoded)
    assert expected is not None, "the JSON Schema rejects the decoded event"
    assert strictly_equal(codec.decode(codec.encode_json(event)), event)


@pytest.mark.parametrize("path", INVALID, ids=corpus_id)
def test_invalid_event_is_refused_on_encode_and_decode_with_the_field_named(path: Path) -> None:
    event = load_json(path)
    expected, _, _ = verdicts(event)
    assert expected is None, "the JSON Schema accepts what we refuse"
    with pytest.raises(InvalidEvent) as on_encode:
        codec.encode(event)
    assert on_encode.value.field
    with pytest.raises(InvalidEvent) as on_decode:
        codec.decode(codec.encode_json(event, validate=False))
    assert on_decode.value.field == on_encode.value.field
    # the wire format itself is still exact for them: nothing a producer sent is lost
    message = codec.encode(event, validate=False)
    assert strictly_equal(codec.decode(message, validate=False), event)


@pytest.mark.parametrize("path", [p for p in CORPUS if is_known_invalid(p)], ids=corpus_id)
def test_known_invalid_fluentd_events_are_refused(path: Path) -> None:
    assert path in INVALID
