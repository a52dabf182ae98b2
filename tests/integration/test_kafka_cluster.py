"""Three Apache Kafka brokers (KRaft, replication factor 3, ``min.insync.replicas=2``): one is
killed with SIGKILL while events flow and a ``pedigree consume`` worker reads them, then
restarted.  Every event the cluster acknowledged (``acks=all``) is in ClickHouse exactly once,
and nothing else is.

The cluster is ``deploy/local/kafka_local.py``'s, three nodes that are each broker and
controller (three voters, so the quorum survives one), from the same jars as the single test
broker.  The topics are made by ``pedigree topics create``, as the deployment guide says.
Background merges are off in the warehouse, so a duplicate row would be seen, not collapsed
(see ``test_kafka_consumer_crashes.py``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers.materialize import event_id
from emitters.codec import decode, encode
from pedigree.cli import main
from tests.integration.conftest import load_kafka_local, running
from tests.integration.test_cmd_topics import topic_configs
from tests.integration.test_kafka_consumer import variants
from tests.integration.test_kafka_consumer_crashes import (
    ROOT,
    committed,
    consumer,
    prepare_without_merges,
)

TOPIC = "lineage.cluster"
PARTITIONS = 3
BURST, PAUSE = 20, 0.3  # 1,000 events over about 15 s
DOWN_SECONDS = 8.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    kafka_local = load_kafka_local()
    kafka = kafka_local.LocalKafka(
        tmp_path_factory.mktemp("kafka3"),
        nodes=3,
        heap="384m",
        start_timeout=150,
        # a dead broker is fenced, and its partitions led elsewhere, after 4 s instead of 9 s
        extra_config={"broker.session.timeout.ms": "4000", "broker.heartbeat.interval.ms": "1000"},
    )
    yield from running(kafka, "the three-node cluster")


class AckedFlow:
    """Produces events with ``acks=all`` from a thread, recording each acknowledgement."""

    def __init__(self, bootstrap: str, events: list[dict[str, Any]]) -> None:
        from confluent_kafka import Producer

        self.events = events
        self.acked: dict[str, float] = {}  # event id -> when the cluster acknowledged it
        self.failed: list[str] = []
        self.ids = [event_id(decode(encode(e))) for e in events]  # as the consumer computes it
        self._producer = Producer({
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "message.timeout.ms": 90_000,
            "linger.ms": 5,
        })  # fmt: skip
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for start in range(0, len(self.events), BURST):
            for i in range(start, min(start + BURST, len(self.events))):
                self._producer.produce(
                    TOPIC,
                    key=str(i % 11).encode(),
                    value=encode(self.events[i]),
                    on_delivery=self._delivered(self.ids[i]),
                )
            self._producer.poll(0)
            time.sleep(PAUSE)
        self._producer.flush(120)

    def _delivered(self, ident: str) -> Any:
        def report(err: Any, _message: Any) -> None:
            if err is None:
                self.acked[ident] = time.monotonic()
            else:
                self.failed.append(f"{ident}: {err}")

        return report


_EVENT_IDS = textwrap.dedent(
    """
    import json, sys
    import clickhouse_connect
    client = clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1])
    rows = client.query("SELECT event_id, count() FROM pedigree.events GROUP BY event_id")
    print(json.dumps(dict(rows.result_rows)))
    """
)


def warehouse_event_ids(data: Path) -> dict[str, int]:
    """event id -> rows in the ``events`` table (read by another process: chdb is per process)."""
    done = subprocess.run(
        [sys.executable, "-c", _EVENT_IDS, str(data)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    counts: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return counts


def high_watermarks(bootstrap: str) -> list[int]:
    from confluent_kafka import Consumer, TopicPartition

    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        return [
            reader.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=30)[1]
            for p in range(PARTITIONS)
        ]
    finally:
        reader.close()


def test_a_broker_killed_and_restarted_mid_flow_loses_and_doubles_nothing(
    cluster: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bootstrap = cluster.bootstrap
    created = main(["topics", "create", "--bootstrap", bootstrap, "--topic", TOPIC,
                    "--partitions", str(PARTITIONS), "--replication-factor", "3",
                    "--min-insync-replicas", "2"])  # fmt: skip
    assert created == 0, capsys.readouterr().err
    for name in (TOPIC, f"{TOPIC}.dlq"):
        partitions, replicas, configs = topic_configs(bootstrap, name)
        assert partitions == (PARTITIONS if name == TOPIC else 1)
        assert (replicas, configs["min.insync.replicas"]) == (3, "2")

    from confluent_kafka.admin import AdminClient

    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    victim = metadata.topics[TOPIC].partitions[0].leader  # the leader of partition 0

    prepare_without_merges(tmp_path)
    worker = consumer(bootstrap, TOPIC, tmp_path)
    # drain its output as it comes: librdkafka logs every refused connection while a broker is
    # down, and a full pipe would block the worker in a write
    lines: list[bytes] = []
    stdout = worker.stdout
    assert stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, b"")))
    reader.start()
    flow = AckedFlow(bootstrap, variants(250))  # 1,000 distinct events
    try:
        flow.thread.start()
        while len(flow.acked) < 200:  # a fifth acknowledged: kill a broker mid-flow
            assert flow.thread.is_alive()
            assert worker.poll() is None
            time.sleep(0.05)
        cluster.kill(victim)
        killed_at = time.monotonic()
        time.sleep(DOWN_SECONDS)
        restarted_at = time.monotonic()
        cluster.restart(victim)
        flow.thread.join(150)
        assert not flow.thread.is_alive(), "the producer did not finish"

        # the worker that lived through it all catches up: its commits reach the end
        ends = high_watermarks(bootstrap)
        deadline = time.monotonic() + 90
        while (done := committed(bootstrap, f"g-{TOPIC}", TOPIC, PARTITIONS)) != ends:
            log = b"".join(lines[-40:]).decode(errors="replace")
            assert time.monotonic() < deadline, f"no catch-up in 90 s: {done} of {ends}\n{log}"
            assert worker.poll() is None, log
            time.sleep(1)
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        reader.join(10)
    assert worker.returncode == 0, b"".join(lines[-60:]).decode(errors="replace")

    acked = set(flow.acked)
    during = sum(killed_at < t < restarted_at for t in flow.acked.values())
    counts = warehouse_event_ids(tmp_path)
    duplicates = {ident: n for ident, n in counts.items() if n != 1}
    summary = (
        f"produced {len(flow.events)}, acknowledged {len(acked)} ({during} while broker "
        f"{victim} was down), failed {len(flow.failed)}, in ClickHouse {len(counts)} distinct "
        f"/ {sum(counts.values())} rows, duplicates {len(duplicates)}"
    )
    print(summary)
    assert flow.failed == [], summary
    assert len(acked) == len(flow.events), summary
    assert during > 0, f"no write was acknowledged with one broker down: {summary}"
    assert duplicates == {}, summary
    assert set(counts) == acked, summary  # nothing lost, and no phantom
    assert sum(ends) == len(flow.events)  # the log holds each message once (idempotence)
