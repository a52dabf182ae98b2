"""SIGKILL the consumer at every crash point, many times, with events flowing: after a restart
the warehouse holds every event exactly once (``docs/delivery.md``).

Each consumer is a real ``pedigree consume`` process with its own embedded ClickHouse directory
(chdb opens one directory per process), killed by the fault-injection hook
``PEDIGREE_TEST_CRASH_AT=<point>:<n>`` -- a real SIGKILL the n-th time the process reaches the
point.  The warehouse is read afterwards by another process.  The negative control turns
deduplication off and must find duplicates: it shows the check can fail.

Background merges are turned off in these warehouses (:func:`prepare_without_merges`): the
ReplacingMergeTree tables would otherwise collapse duplicate rows at merge -- the second line of
defence -- and hide from the check whether the insert deduplication worked.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from consumers.kafka_consumer import CRASH_ENV
from emitters.codec import encode
from tests.integration.conftest import TopicFactory
from tests.integration.test_kafka_consumer import produce, variants

ROOT = Path(__file__).resolve().parents[2]
POINTS = ("before-insert", "between-inserts", "before-commit")
CRASHES = 4  # per crash point


def consumer(
    bootstrap: str, topic: str, data: Path, *extra: str, crash: str | None = None
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEDIGREE_", "OTEL_"))}
    if crash:
        env[CRASH_ENV] = crash
    command = [
        sys.executable, "-m", "pedigree.cli", "consume",
        "--bootstrap", bootstrap, "--topic", topic, "--group", f"g-{topic}",
        "--clickhouse", f"chdb://{data}", "--database", "pedigree",
        "--batch-size", "40", "--batch-seconds", "0.2",
        "--instance-id", "worker-0",  # a restart takes the partitions back without waiting
        "-X", "session.timeout.ms=6000",
        *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


_REPORT = textwrap.dedent(
    """
    import json, sys
    import clickhouse_connect
    client = clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1])
    report = {}
    for (table, key) in client.query(
        "SELECT name, sorting_key FROM system.tables WHERE database = 'pedigree' "
        "AND engine LIKE '%MergeTree' AND name != 'schema_migrations'"
    ).result_rows:
        rows, distinct = client.query(
            f"SELECT count(), uniqExact({key}) FROM pedigree.{table}"
        ).result_rows[0]
        report[table] = {"rows": rows, "distinct": distinct}
    print(json.dumps(report))
    """
)


_PREPARE = textwrap.dedent(
    """
    import sys
    import clickhouse_connect
    from consumers.migrate import migrate
    client = clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1])
    migrate(client, "pedigree")
    for (table,) in client.query(
        "SELECT name FROM system.tables WHERE database = 'pedigree' AND engine LIKE '%MergeTree'"
    ).result_rows:
        client.command(
            f"ALTER TABLE pedigree.{table} MODIFY SETTING "
            "max_bytes_to_merge_at_max_space_in_pool = 1, "
            "max_bytes_to_merge_at_min_space_in_pool = 1"
        )
    """
)


def prepare_without_merges(data: Path) -> None:
    """Create the warehouse in ``data`` with background merges off (see the module doc)."""
    done = subprocess.run(
        [sys.executable, "-c", _PREPARE, str(data)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def warehouse_report(data: Path) -> dict[str, dict[str, int]]:
    """Per table: rows, and distinct sorting keys (read without FINAL, before any merge)."""
    done = subprocess.run(
        [sys.executable, "-c", _REPORT, str(data)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report: dict[str, dict[str, int]] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


class Flow:
    """Events produced in small bursts from a thread while consumers come and go."""

    def __init__(self, bootstrap: str, topic: str, events: list[dict[str, Any]]) -> None:
        self.messages = [(str(i % 7).encode(), encode(e), []) for i, e in enumerate(events)]
        self._thread = threading.Thread(target=self._run, args=(bootstrap, topic), daemon=True)

    def _run(self, bootstrap: str, topic: str) -> None:
        for start in range(0, len(self.messages), 60):
            produce(bootstrap, topic, self.messages[start : start + 60])  # type: ignore[arg-type]
            time.sleep(0.3)

    def __enter__(self) -> Flow:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._thread.join(120)


def crash_repeatedly(
    bootstrap: str, topic: str, data: Path, point: str, *extra: str, at_most: int = 5
) -> int:
    """Start consumers that SIGKILL themselves at ``point`` the n-th time they reach it
    (n random in 1..``at_most``); returns how many crashed."""
    crashed = 0
    rng = random.Random(f"{topic}:{point}")
    for _ in range(CRASHES):
        crash = f"{point}:{rng.randint(1, at_most)}"
        process = consumer(bootstrap, topic, data, *extra, crash=crash)
        try:
            output, _ = process.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        # a crash point not reached (no more events) ends in a clean exit of --exit-when-idle
        assert process.returncode in (-signal.SIGKILL, 0), output.decode()[-3000:]
        crashed += process.returncode == -signal.SIGKILL
    return crashed


def finish(bootstrap: str, topic: str, data: Path, *extra: str) -> None:
    process = consumer(bootstrap, topic, data, "--exit-when-idle", *extra)
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 0, output.decode()[-3000:]


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_a_crash_point_loses_and_doubles_nothing(
    kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path, point: str
) -> None:
    topic = new_topic(partitions=2)
    events = variants(180)  # 720 distinct events: more than 4 crashes can take
    prepare_without_merges(tmp_path)
    with Flow(kafka_bootstrap, topic, events):
        crashed = crash_repeatedly(kafka_bootstrap, topic, tmp_path, point, "--exit-when-idle")
    finish(kafka_bootstrap, topic, tmp_path)

    assert crashed >= CRASHES - 1  # the hook really killed the consumers
    report = warehouse_report(tmp_path)
    assert report["events"]["rows"] == len(events)
    runs = sum(1 for e in events if "run" in e)
    assert report["runs"]["rows"] == runs
    for table, figures in report.items():
        assert figures["rows"] == figures["distinct"], f"{table} has duplicates: {figures}"


def test_negative_control_without_deduplication_a_crash_doubles_rows(
    kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path
) -> None:
    topic = new_topic(partitions=1)
    events = variants(30)
    produce(kafka_bootstrap, topic, [encode(e) for e in events])
    prepare_without_merges(tmp_path)
    off = "--no-deduplicate"
    crashed = crash_repeatedly(
        kafka_bootstrap, topic, tmp_path, "before-commit", off, "--exit-when-idle", at_most=1
    )
    finish(kafka_bootstrap, topic, tmp_path, off)

    assert crashed == CRASHES  # each attempt crashed after inserting its first batch
    report = warehouse_report(tmp_path)
    assert report["events"]["rows"] > report["events"]["distinct"] == len(events)


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    from confluent_kafka import Consumer, TopicPartition

    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = reader.committed([TopicPartition(topic, p) for p in range(partitions)], 30)
        return [tp.offset for tp in found]
    finally:
        reader.close()


def test_sigterm_flushes_commits_and_exits_zero(
    kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path
) -> None:
    topic = new_topic(partitions=2)
    events = variants(25)
    messages = [(str(i).encode(), encode(e), []) for i, e in enumerate(events)]
    produce(kafka_bootstrap, topic, messages)  # type: ignore[arg-type]
    # batches larger than the backlog and a long age limit: only SIGTERM flushes them
    process = consumer(
        kafka_bootstrap, topic, tmp_path, "--batch-size", "100000", "--batch-seconds", "600"
    )
    lines: list[bytes] = []
    stdout = process.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, b"")))
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any(b"assigned" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2.0)  # the fetch of a few kB
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        reader.join(10)
    output = b"".join(lines)
    assert process.returncode == 0, output.decode()[-3000:]
    assert f"materialized {len(events)} events" in output.decode()
    assert warehouse_report(tmp_path)["events"]["rows"] == len(events)
    ends = committed(kafka_bootstrap, f"g-{topic}", topic, 2)
    assert sum(ends) == len(events)  # every offset committed, by the shutdown flush
