"""Dead-letter headers and error kinds (pure; the topic itself is tested on the broker)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumers.dead_letter import DeadLetter, dead_letter_headers, error_kind
from emitters.codec import decode, encode
from emitters.errors import InvalidEvent
from tests.events import simple_run_event


def refusal(message: bytes, max_bytes: int = 1024 * 1024) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        decode(message, max_bytes=max_bytes)
    return caught.value


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (b"", "undecodable"),
        (b"\x00\x01", "undecodable"),
        (b"\xc3\x01\x00", "undecodable"),
        (b"{not json", "undecodable"),
        (b"[1, 2]", "undecodable"),
        (b'{"eventTime": "2026-11-28T00:00:00Z"}', "invalid"),
    ],
)
def test_error_kinds(message: bytes, kind: str) -> None:
    assert error_kind(refusal(message), message, 1024) == kind


def test_an_oversized_message_is_oversized_whatever_else_is_wrong() -> None:
    message = encode(simple_run_event())
    assert error_kind(refusal(message, max_bytes=10), message, 10) == "oversized"


def test_headers_name_origin_and_reason_and_keep_the_message_own() -> None:
    err = refusal(b'{"eventTime": "2026-11-28T00:00:00Z"}')
    letter = DeadLetter(
        topic="lineage",
        partition=2,
        offset=41,
        key=b"run:x",
        value=b"{}",
        headers=[("traceparent", b"00-abc"), ("pedigree.error.kind", b"forged")],
        kind="invalid",
        error=err,
    )
    when = datetime(2026, 11, 28, 12, 0, 1, 500000, tzinfo=UTC)
    headers = dead_letter_headers(letter, "pedigree-consumer", now=when)
    assert headers[0] == ("traceparent", b"00-abc")
    added = {k: v.decode() for k, v in headers[1:]}
    assert added == {
        "pedigree.error.topic": "lineage",
        "pedigree.error.partition": "2",
        "pedigree.error.offset": "41",
        "pedigree.error.kind": "invalid",
        "pedigree.error.class": "InvalidEvent",
        "pedigree.error.message": err.reason,
        "pedigree.error.field": err.field,
        "pedigree.error.consumer.group": "pedigree-consumer",
        "pedigree.error.time": "2026-11-28T12:00:01.500Z",
    }
    assert len(headers) == 10  # the forged header of the message itself is replaced


def test_a_truncated_value_says_its_original_size() -> None:
    letter = DeadLetter("t", 0, 0, None, b"x", (), "oversized", InvalidEvent("too big"))
    added = dict(dead_letter_headers(letter, "g", truncated_from=2_000_000))
    assert added["pedigree.error.truncated"] == b"2000000"
    assert "pedigree.error.field" not in added
