"""Batch ranges, forced replays and deduplication tokens: the pure part of exactly-once."""

from __future__ import annotations

import pytest

from consumers.batching import Batch, BatchLimits, dedup_token, inflight_metadata, parse_inflight

LIMITS = BatchLimits(max_events=3, max_bytes=100, max_seconds=1.0)


def filled(batch: Batch, offsets: range, size: int = 10, now: float = 0.0) -> Batch:
    for offset in offsets:
        batch.add(object(), offset, size, now=now)
    return batch


def test_inflight_metadata_round_trips_only_at_its_own_start() -> None:
    metadata = inflight_metadata(40, 59)
    assert parse_inflight(metadata, 40) == 59
    assert parse_inflight(metadata, 60) is None  # the group moved past it: batch freely
    assert parse_inflight(metadata, 39) is None
    for other in (None, "", "consumer-x:state", "pedigree:inflight=5-2", "pedigree:inflight=a-b"):
        assert parse_inflight(other, 5) is None


def test_tokens_name_topic_partition_range_and_table() -> None:
    token = dedup_token("lineage", 3, 100, 199, "runs")
    assert token == "kafka:lineage:3:100-199:runs"
    assert len({dedup_token("t", p, f, 9, tb) for p in (0, 1) for f in (0, 1)
                for tb in ("runs", "events")}) == 8  # fmt: skip


def test_a_free_batch_is_due_by_count_bytes_or_age() -> None:
    assert not Batch("t", 0).due(LIMITS, now=99.0)  # empty: never
    assert filled(Batch("t", 0), range(3)).due(LIMITS, now=0.0)
    assert filled(Batch("t", 0), range(1), size=100).due(LIMITS, now=0.0)
    young = filled(Batch("t", 0), range(2), now=10.0)
    assert not young.due(LIMITS, now=10.5)
    assert young.due(LIMITS, now=11.0)
    assert young.deadline(LIMITS) == 11.0
    assert young.range == (0, 1)


def test_a_resumed_batch_ends_exactly_at_the_recorded_range_whatever_the_limits() -> None:
    batch = Batch.resuming("t", 0, 10, inflight_metadata(10, 14))
    assert batch.range == (10, 14)
    filled(batch, range(10, 13))  # 3 messages: a free batch would be full here
    assert not batch.full(LIMITS)
    assert not batch.due(LIMITS, now=1e9)  # nor old enough to matter
    assert batch.accepts(14)
    assert not batch.accepts(15)
    batch.add(object(), 14, 10, now=0.0)
    assert batch.due(LIMITS, now=0.0)
    assert batch.range == (10, 14)


def test_a_resumed_range_whose_last_offsets_never_come_keeps_its_recorded_range() -> None:
    # e.g. offsets 13-14 are transaction markers: the partition ends before them
    batch = filled(Batch.resuming("t", 0, 10, inflight_metadata(10, 14)), range(11, 13))
    assert not batch.due(LIMITS, now=0.0)
    assert batch.due(LIMITS, now=0.0, at_end=True)
    assert batch.range == (10, 14)  # the tokens of the first attempt, not (11, 12)


def test_without_recorded_metadata_a_partition_batches_freely() -> None:
    batch = Batch.resuming("t", 0, 10, None)
    assert batch.forced_end is None
    assert filled(batch, range(10, 13)).full(LIMITS)


@pytest.mark.parametrize(
    "limits", [{"max_events": 0}, {"max_bytes": 0}, {"max_seconds": 0}, {"max_seconds": -1}]
)
def test_limits_refuse_nonsense(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="max_"):
        BatchLimits(**limits)  # type: ignore[arg-type]
