"""The spool: Kafka messages kept as Avro container files; readers only see complete files."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from emitters import codec
from emitters.errors import InvalidEvent
from emitters.kafka_key import kafka_key
from emitters.spool import (
    SpooledMessage,
    SpoolFull,
    SpoolWriter,
    closed_files,
    read_events,
    read_file,
    read_spool,
    recover_orphans,
)
from tests.events import all_project_events, simple_run_event
from tests.json_equality import strictly_equal


def test_events_come_back_exactly_and_in_order_with_their_keys(tmp_path: Path) -> None:
    events = list(all_project_events().values())
    with SpoolWriter(tmp_path, max_messages_per_file=2) as spool:
        for event in events:
            spool.write_event(event)
    assert len(closed_files(tmp_path)) == 3  # 2 + 2 + 1
    back = list(read_events(tmp_path))
    assert all(strictly_equal(a, b) for a, b in zip(back, events, strict=True))
    assert [m.key for m in read_spool(tmp_path)] == [kafka_key(e) for e in events]


def test_messages_are_kept_byte_for_byte_with_headers(tmp_path: Path) -> None:
    json_message = codec.encode_json(simple_run_event())
    sent = SpooledMessage(value=json_message, key=None, headers=(("traceparent", b"00-ab"),))
    with SpoolWriter(tmp_path) as spool:
        spool.write(sent)
    [back] = read_spool(tmp_path)
    assert back == sent


def test_an_open_file_is_invisible_until_rotated(tmp_path: Path) -> None:
    spool = SpoolWriter(tmp_path)
    spool.write_event(simple_run_event())
    assert list(read_spool(tmp_path)) == []
    assert len(list(tmp_path.glob("*.avro.open"))) == 1
    spool.close()
    assert [e["eventType"] for e in read_events(tmp_path)] == ["START"]
    assert list(tmp_path.glob("*.avro.open")) == []


def test_files_rotate_by_size_too(tmp_path: Path) -> None:
    with SpoolWriter(tmp_path, max_bytes_per_file=2000) as spool:
        for _ in range(20):
            spool.write_event(simple_run_event())
    assert len(closed_files(tmp_path)) > 2
    assert len(list(read_spool(tmp_path))) == 20


def test_invalid_events_are_refused_and_not_spooled(tmp_path: Path) -> None:
    bad = simple_run_event()
    bad["eventType"] = "FINISH"
    with SpoolWriter(tmp_path) as spool:
        with pytest.raises(InvalidEvent, match="eventType"):
            spool.write_event(bad)
        spool.write_event(simple_run_event())
    assert len(list(read_spool(tmp_path))) == 1


def test_a_full_spool_refuses_new_messages_loudly(tmp_path: Path) -> None:
    message = SpooledMessage.for_event(simple_run_event())
    size = len(message.value) + len(message.key or b"") + 64  # what the writer accounts
    with SpoolWriter(tmp_path, max_total_bytes=10 * size) as spool:
        for _ in range(10):
            spool.write(message)
        with pytest.raises(SpoolFull, match="PEDIGREE_SPOOL_MAX_BYTES"):
            spool.write(message)
    assert len(list(read_spool(tmp_path))) == 10


def test_a_forked_child_writes_its_own_file_and_the_parent_keeps_its_own(tmp_path: Path) -> None:
    spool = SpoolWriter(tmp_path)
    spool.write_event(simple_run_event("START"))
    pid = os.fork()
    if pid == 0:  # the child: write, close, and leave without running pytest's teardown
        try:
            spool.write_event(simple_run_event("RUNNING"))
            spool.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    spool.write_event(simple_run_event("COMPLETE"))
    spool.close()
    per_file = sorted(
        [codec.decode(m.value)["eventType"] for m in read_file(path)]
        for path in closed_files(tmp_path)
    )
    assert per_file == [["RUNNING"], ["START", "COMPLETE"]]


def test_files_of_a_writer_that_died_are_recovered_not_lost(tmp_path: Path) -> None:
    pid = os.fork()
    if pid == 0:  # a writer killed before it could close its file (SIGKILL, OOM, os._exit)
        spool = SpoolWriter(tmp_path)
        spool.write_event(simple_run_event("START"))
        spool.write_event(simple_run_event("RUNNING"))
        os._exit(0)
    os.waitpid(pid, 0)
    assert len(list(tmp_path.glob("*.avro.open"))) == 1
    live = SpoolWriter(tmp_path)  # a live writer's open file is left alone
    live.write_event(simple_run_event("COMPLETE"))
    assert [e["eventType"] for e in read_events(tmp_path)] == ["START", "RUNNING"]
    assert len(list(tmp_path.glob("*.avro.open"))) == 1
    live.close()
    assert len(list(read_events(tmp_path))) == 3


def _recover_until(directory: Path, stop: Any, stolen: Any) -> None:
    while not stop.is_set():
        stolen.value += recover_orphans(directory)


def test_a_live_writers_file_is_never_taken_for_an_orphan(tmp_path: Path) -> None:
    """A consumer recovering orphans (another process, in a tight loop) while a writer opens
    and rotates file after file: the writer's file is locked from before it is visible as
    ``.open`` until after it is renamed, so none is stolen, no write fails, nothing is lost."""
    context = multiprocessing.get_context("fork")
    stop, stolen = context.Event(), context.Value("i", 0)
    recoverer = context.Process(target=_recover_until, args=(tmp_path, stop, stolen))
    recoverer.start()
    try:
        spool = SpoolWriter(tmp_path)
        for index in range(600):
            spool.write(SpooledMessage(value=b"%d" % index))
            spool.rotate()
    finally:
        stop.set()
        recoverer.join()
    assert stolen.value == 0
    values = [m.value for path in closed_files(tmp_path) for m in read_file(path)]
    assert sorted(values) == sorted(b"%d" % index for index in range(600))


def test_a_cut_short_last_block_loses_only_that_block(tmp_path: Path) -> None:
    with SpoolWriter(tmp_path) as spool:
        for _ in range(3):
            spool.write_event(simple_run_event())
    [path] = closed_files(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-20])  # the last message's block cut short
    assert len(list(read_file(path))) == 2
