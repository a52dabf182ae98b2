"""The emitter against a real broker: up, down (everything spooled), and back (sent once)."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from emitters import codec
from emitters.client import Emitter
from emitters.config import EmitterConfig
from emitters.kafka_key import kafka_key
from emitters.spool import read_spool
from emitters.spool_flush import flush_spool
from pedigree.cli import main
from tests.events import simple_run_event


def _events(count: int) -> list[dict[str, Any]]:
    events = []
    for i in range(count):
        event = simple_run_event("START", job=f"job-{i % 7}")
        event["run"]["runId"] = str(uuid.uuid4())
        events.append(event)
    return events


def _drain(bootstrap: str, topic: str, expect: int, idle_rounds: int = 6) -> list[Any]:
    """Everything on the topic: read until `expect` messages and then a few idle polls
    (or, short of `expect`, until nothing came for 30 s: the caller's assertion then says)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"drain-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    received: list[Any] = []
    idle = 0
    try:
        for _ in range(400):
            batch = consumer.consume(num_messages=1000, timeout=0.5)
            received += [m for m in batch if m.error() is None]
            idle = 0 if batch else idle + 1
            if idle >= (idle_rounds if len(received) >= expect else 60):
                break
    finally:
        consumer.close()
    return received


def _dead_address() -> str:
    """A loopback port nobody listens on: the broker is 'down'."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def _config(tmp_path: Path, bootstrap: str, topic: str, **kw: Any) -> EmitterConfig:
    return EmitterConfig(
        transport="kafka",
        kafka_bootstrap=bootstrap,
        kafka_topic=topic,
        spool_dir=tmp_path / "spool",
        sample_interval=0.0,
        **kw,
    )


def test_events_reach_the_topic_keyed_by_root_job(
    tmp_path: Path, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=3)
    events = _events(200)
    emitter = Emitter(_config(tmp_path, kafka_bootstrap, topic))
    for event in events:
        emitter.emit(event)
    assert emitter.close(timeout=30)
    assert (emitter.stats.sent, emitter.stats.spooled, emitter.stats.lost) == (200, 0, 0)
    received = _drain(kafka_bootstrap, topic, 200)
    by_run = {codec.decode(m.value())["run"]["runId"]: m for m in received}
    assert len(received) == len(by_run) == 200
    for event in events:
        assert by_run[event["run"]["runId"]].key() == kafka_key(event)


def test_broker_down_spools_everything_and_flush_later_sends_each_once(
    tmp_path: Path, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=2)
    events = _events(3000)
    down = Emitter(_config(tmp_path, _dead_address(), topic, queue_size=500))
    for event in events:
        down.emit(event)  # never raises, never blocks on the network
    assert down.close(timeout=2) is False
    assert down.stats.lost == 0
    assert down.stats.spooled == 3000
    spooled = {codec.decode(m.value)["run"]["runId"] for m in read_spool(tmp_path / "spool")}
    assert spooled == {e["run"]["runId"] for e in events}

    # the broker is back: `pedigree spool flush` sends each spooled event exactly once
    code = main(
        [
            "spool", "flush", "--dir", str(tmp_path / "spool"),
            "--bootstrap", kafka_bootstrap, "--topic", topic,
        ]
    )  # fmt: skip
    assert code == 0
    assert list(read_spool(tmp_path / "spool")) == []
    assert main(["spool", "flush", "--dir", str(tmp_path / "spool"),
                 "--bootstrap", kafka_bootstrap, "--topic", topic]) == 0  # fmt: skip
    received = _drain(kafka_bootstrap, topic, 3000)
    run_ids = [codec.decode(m.value())["run"]["runId"] for m in received]
    assert len(run_ids) == 3000
    assert set(run_ids) == spooled


def test_the_next_emitter_start_sends_what_an_earlier_one_spooled(
    tmp_path: Path, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    earlier = _events(50)
    down = Emitter(_config(tmp_path, _dead_address(), topic))
    for event in earlier:
        down.emit(event)
    down.close(timeout=1)
    assert down.stats.spooled == 50

    later = Emitter(_config(tmp_path, kafka_bootstrap, topic))
    later.emit(_events(1)[0])
    deadline = time.monotonic() + 30
    while list((tmp_path / "spool").glob("*.avro*")) and time.monotonic() < deadline:
        time.sleep(0.1)  # the start-up flush runs in the background while the job works
    later.close(timeout=30)
    received = _drain(kafka_bootstrap, topic, 51)
    run_ids = [codec.decode(m.value())["run"]["runId"] for m in received]
    assert len(run_ids) == 51
    assert {e["run"]["runId"] for e in earlier} <= set(run_ids)


def test_closing_during_the_start_up_flush_records_progress_and_loses_or_repeats_nothing(
    tmp_path: Path, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    earlier = _events(3000)
    down = Emitter(_config(tmp_path, _dead_address(), topic, queue_size=500))
    for event in earlier:
        down.emit(event)
    down.close(timeout=1)
    later = Emitter(_config(tmp_path, kafka_bootstrap, topic))
    later.close(timeout=5)  # a short job: its start-up flush is stopped mid-way
    assert not list((tmp_path / "spool").glob("*.sending-*"))  # claims given back
    report = flush_spool(tmp_path / "spool", _config(tmp_path, kafka_bootstrap, topic))
    assert report.files_left == 0
    run_ids = [
        codec.decode(m.value())["run"]["runId"] for m in _drain(kafka_bootstrap, topic, 3000)
    ]
    assert len(run_ids) == 3000
    assert set(run_ids) == {e["run"]["runId"] for e in earlier}


def test_flush_resumes_after_the_acknowledged_prefix(
    tmp_path: Path, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    down = Emitter(_config(tmp_path, _dead_address(), topic))
    for event in _events(10):
        down.emit(event)
    down.close(timeout=1)
    [spool_file] = (tmp_path / "spool").glob("*.avro")
    spool_file.with_name(spool_file.name.removesuffix(".avro") + ".acked").write_text("4")
    report = flush_spool(tmp_path / "spool", _config(tmp_path, kafka_bootstrap, topic))
    assert (report.files, report.messages, report.files_left) == (1, 6, 0)
    assert len(_drain(kafka_bootstrap, topic, 6)) == 6
