"""The catalog's pure helpers: the opaque cursor, namespace globs as regular expressions and
SQL conditions, the time range and parameter filters of the runs listing."""

from __future__ import annotations

import base64
import fnmatch
import json
import random
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from api.auth import ANONYMOUS, Principal
from api.catalog_store import (
    MAX_CURSOR_CHARS,
    InvalidCursor,
    Sql,
    decode_cursor,
    encode_cursor,
    glob_regex,
    parse_params,
    parse_time_key,
    readable,
    time_key,
    time_range,
)

# -- the cursor -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        ("2026-11-28 10:00:00.000001", "00000000-0000-0000-0000-0000000003e8"),
        ("s3://bucket:with/colons", "ünïcødé name \n with newline"),
        ("",),
        ("a" * 500, "=", "+/"),
    ],
)
def test_a_cursor_gives_back_its_key(key: tuple[str, ...]) -> None:
    cursor = encode_cursor("runs", key)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor), "base64url without padding: URL-safe"
    assert decode_cursor(cursor, "runs", len(key)) == key


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage!",
        "%%%%",
        "abc",  # not a whole number of bytes
        "A" * (MAX_CURSOR_CHARS + 1),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),  # not UTF-8
        _b64("runs"),  # not a list
        _b64({"kind": "runs"}),
        _b64(["runs", "2026-11-28 10:00:00.000000"]),  # one value short
        _b64(["runs", "a", "b", "c"]),  # one too many
        _b64(["jobs", "a", "b"]),  # another listing's
        _b64(["runs", "a", 1]),  # not strings
        _b64(["runs", None, "b"]),
        _b64(["runs", "a", "b"]) + "=====",
        # the standard base64 alphabet is not ours
        encode_cursor("runs", ("~~~~>>>>????", "x")).replace("-", "+").replace("_", "/"),
    ],
)
def test_anything_but_a_cursor_of_this_listing_is_invalid(cursor: str) -> None:
    with pytest.raises(InvalidCursor, match="invalid cursor"):
        decode_cursor(cursor, "runs", 2)


def test_a_cursor_uses_the_url_safe_alphabet() -> None:
    cursor = encode_cursor("runs", ("~~~~>>>>????", "x"))
    assert "-" in cursor or "_" in cursor
    assert decode_cursor(cursor, "runs", 2) == ("~~~~>>>>????", "x")


def test_time_keys_are_utc_microseconds_and_checked() -> None:
    naive = datetime(2026, 11, 28, 10, 0, 0, 5)
    assert time_key(naive) == "2026-11-28 10:00:00.000005"
    aware = datetime(2026, 11, 28, 11, 0, 0, 5, tzinfo=timezone(timedelta(hours=1)))
    assert time_key(aware) == "2026-11-28 10:00:00.000005"
    assert parse_time_key("2026-11-28 10:00:00.000005") == "2026-11-28 10:00:00.000005"
    assert time_key(datetime(1, 2, 3)) == "0001-02-03 00:00:00.000000"
    assert parse_time_key("0001-02-03 00:00:00.000000") == "0001-02-03 00:00:00.000000"
    for bad in ("yesterday", "2026-11-28T10:00:00", "2026-13-01 00:00:00.000000", ""):
        with pytest.raises(InvalidCursor):
            parse_time_key(bad)


# -- namespace globs ---------------------------------------------------------------------------


def _matches(regex: str | None, text: str) -> bool:
    return regex is not None and re.fullmatch(f"(?s:{regex})", text) is not None


@pytest.mark.parametrize(
    ("pattern", "regex"),
    [
        ("vision", "vision"),
        ("s3://vision-*", r"s3\:\/\/vision\-.*"),
        ("team-?", r"team\-."),
        ("a**b", "a.*b"),
        ("[a-c]x", "[a-c]x"),
        ("[!a-c]", "[^a-c]"),
        ("[]]", r"[\]]"),
        ("[!]]", r"[^\]]"),
        ("[a-]", r"[a\-]"),
        ("[", r"\["),
        ("[abc", r"\[abc"),
        ("[b-a]x", None),  # an empty set: nothing
        ("[!b-a]", "."),  # none of nothing: anything
        ("a.b|c(d)^$\\", r"a\.b\|c\(d\)\^\$\\"),
    ],
)
def test_globs_become_regexes(pattern: str, regex: str | None) -> None:
    assert glob_regex(pattern) == regex


def test_glob_regexes_match_exactly_what_fnmatch_matches() -> None:
    rng = random.Random(7)
    alphabet = "ab-*?[]!^\\.$|(){}+:/\n"
    texts = sorted(
        {"".join(rng.choice("ab-[]!^\\.$|(){}+:/\n") for _ in range(rng.randint(0, 5)))
         for _ in range(400)}
    )  # fmt: skip
    patterns = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 7))) for _ in range(3000)
    ]
    for pattern in patterns:
        regex = glob_regex(pattern)
        for text in texts:
            assert _matches(regex, text) == fnmatch.fnmatchcase(text, pattern), (pattern, text)


def test_unicode_is_one_character() -> None:
    assert _matches(glob_regex("caf?"), "café")
    assert _matches(glob_regex("[é-ë]"), "ê")
    assert not _matches(glob_regex("caf?"), "cafés")


# -- SQL conditions ----------------------------------------------------------------------------


def test_reading_everything_is_no_condition_and_nothing_is_false() -> None:
    sql = Sql()
    assert readable(ANONYMOUS, "ns", sql) == "1"
    assert readable(Principal("admin", ("*",), ()), "ns", sql) == "1"
    assert readable(Principal("nobody", (), ()), "ns", sql) == "0"
    assert readable(Principal("nothing", ("[b-a]",), ()), "ns", sql) == "0"
    assert sql.params == {}


def test_names_are_a_set_and_globs_one_bound_regex() -> None:
    vision = Principal("vision", ("s3://shared",), ("vision", "s3://vision-*", "team-?"))
    sql = Sql()
    condition = readable(vision, "job_namespace", sql)
    assert condition == (
        "(job_namespace IN {p0:Array(String)} OR match(job_namespace, {p1:String}))"
    )
    assert sql.params["p0"] == ["s3://shared", "vision"]
    regex = sql.params["p1"]
    assert regex == r"^(?s:(?:s3\:\/\/vision\-.*)|(?:team\-.))$"
    for text in ("s3://vision-data", "team-a", "team-ab", "s3://vision", "vision", "s3://shared"):
        expected = fnmatch.fnmatchcase(text, "s3://vision-*") or fnmatch.fnmatchcase(text, "team-?")
        assert (re.fullmatch(regex, text) is not None) == expected
    only_names = Principal("nlp", ("nlp",), ())
    assert readable(only_names, "c", Sql()) == "(c IN {p0:Array(String)})"


def test_values_never_enter_the_sql_text() -> None:
    hostile = "x' OR 1=1 --"
    sql = Sql()
    condition = readable(Principal("p", (hostile, hostile + "*"), ()), "ns", sql)
    assert hostile not in condition
    assert sql.bind("y", "String") == "{p2:String}"


# -- the runs listing's filters ----------------------------------------------------------------

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


def test_no_time_filter_is_no_range() -> None:
    assert time_range(None, None, 366, NOW) == (None, None)


def test_a_range_is_utc_and_fills_in_the_missing_end() -> None:
    since = datetime(2026, 11, 1, tzinfo=UTC)
    assert time_range(since, None, 366, NOW) == (since, NOW)
    assert time_range(None, since, 366, NOW) == (since - timedelta(days=366), since)
    naive = datetime(2026, 11, 1, 12)
    assert time_range(naive, None, 366, NOW)[0] == datetime(2026, 11, 1, 12, tzinfo=UTC)
    plus_one = datetime(2026, 11, 1, 13, tzinfo=timezone(timedelta(hours=1)))
    assert time_range(plus_one, None, 366, NOW)[0] == datetime(2026, 11, 1, 12, tzinfo=UTC)
    exactly = NOW - timedelta(days=366)
    assert time_range(exactly, None, 366, NOW) == (exactly, NOW)
    early = datetime(1, 1, 2, tzinfo=UTC)  # no 366 days before it: from the first day
    assert time_range(None, early, 366, NOW) == (datetime(1, 1, 1, tzinfo=UTC), early)


def test_a_range_too_long_or_backwards_is_refused_naming_the_limit() -> None:
    with pytest.raises(ValueError, match=r"spans 366\.5 days, over the 366-day limit"):
        time_range(NOW - timedelta(days=366, hours=12), None, 366, NOW)
    with pytest.raises(ValueError, match="is after until"):
        time_range(NOW + timedelta(seconds=1), None, 366, NOW)
    with pytest.raises(ValueError, match="over the 7-day limit"):
        time_range(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 9, tzinfo=UTC), 7, NOW)


def test_param_filters_split_at_the_first_equals_sign() -> None:
    assert parse_params(["lr=0.01", "model.depth=4", "expr=a=b", "empty="]) == (
        ("lr", "0.01"),
        ("model.depth", "4"),
        ("expr", "a=b"),
        ("empty", ""),
    )
    for bad in ("lr", "=0.01", ""):
        with pytest.raises(ValueError, match="must be key=value"):
            parse_params([bad])
    with pytest.raises(ValueError, match="at most 20"):
        parse_params(["a=1"] * 21)
