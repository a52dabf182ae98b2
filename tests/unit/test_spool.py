"""The spool: events kept as Avro container files; readers only see complete files."""

from __future__ import annotations

from pathlib import Path

import pytest

from emitters.errors import InvalidEvent
from emitters.spool import SpoolWriter, closed_files, read_spool
from tests.events import all_project_events, simple_run_event
from tests.json_equality import strictly_equal


def test_events_come_back_exactly_and_in_order(tmp_path: Path) -> None:
    events = list(all_project_events().values())
    with SpoolWriter(tmp_path, max_events_per_file=2) as spool:
        for event in events:
            spool.write(event)
    assert len(closed_files(tmp_path)) == 3  # 2 + 2 + 1
    back = list(read_spool(tmp_path))
    assert len(back) == len(events)
    assert all(strictly_equal(a, b) for a, b in zip(back, events, strict=True))


def test_an_open_file_is_invisible_until_rotated(tmp_path: Path) -> None:
    spool = SpoolWriter(tmp_path)
    spool.write(simple_run_event())
    assert list(read_spool(tmp_path)) == []
    assert len(list(tmp_path.glob("*.avro.open"))) == 1
    spool.close()
    assert [e["eventType"] for e in read_spool(tmp_path)] == ["START"]
    assert list(tmp_path.glob("*.avro.open")) == []


def test_invalid_events_are_refused_and_not_spooled(tmp_path: Path) -> None:
    bad = simple_run_event()
    bad["eventType"] = "FINISH"
    with SpoolWriter(tmp_path) as spool:
        with pytest.raises(InvalidEvent, match="eventType"):
            spool.write(bad)
        spool.write(simple_run_event())
    assert len(list(read_spool(tmp_path))) == 1
