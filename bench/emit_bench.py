"""Cost of emit() in the job's thread: p50/p99 µs per event, broker up and broker down, for
Pedigree's emitter and for the official openlineage-python Kafka transport sending equivalent
events (its default settings, and with ``flush`` off).

Run:  .venv/bin/python bench/emit_bench.py [--events 20000] [--bootstrap HOST:PORT]
(without --bootstrap it starts the local Apache Kafka broker of deploy/local/).
Results are recorded in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emitters.client import Emitter  # noqa: E402
from emitters.config import EmitterConfig  # noqa: E402

logging.disable(logging.WARNING)  # librdkafka's connection errors when the broker is down


def percentiles(samples_ns: list[int]) -> tuple[float, float, float]:
    ordered = sorted(samples_ns)
    p50 = ordered[len(ordered) // 2] / 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000
    return p50, p99, statistics.fmean(ordered) / 1000


def timed(calls: list[Callable[[], object]]) -> list[int]:
    out = []
    for call in calls:
        start = time.perf_counter_ns()
        call()
        out.append(time.perf_counter_ns() - start)
    return out


def pedigree_events(count: int) -> list[dict[str, Any]]:
    base = {
        "eventType": "RUNNING",
        "eventTime": "2026-11-28T10:00:00Z",
        "producer": "https://pedigree.dev/bench",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "job": {"namespace": "bench", "name": "train"},
        "inputs": [{"namespace": "s3://datasets", "name": "images/train"}],
        "outputs": [],
    }
    return [{**base, "run": {"runId": str(uuid.uuid4()), "facets": {}}} for _ in range(count)]


def openlineage_events(count: int) -> list[Any]:
    from openlineage.client import event_v2 as ev

    return [
        ev.RunEvent(
            eventType=ev.RunState.RUNNING,
            eventTime="2026-11-28T10:00:00Z",
            producer="https://pedigree.dev/bench",
            run=ev.Run(runId=str(uuid.uuid4())),
            job=ev.Job(namespace="bench", name="train"),
            inputs=[ev.InputDataset(namespace="s3://datasets", name="images/train")],
        )
        for _ in range(count)
    ]


def bench_pedigree(bootstrap: str, topic: str, count: int, spool: Path) -> list[int]:
    config = EmitterConfig(
        transport="kafka",
        kafka_bootstrap=bootstrap,
        kafka_topic=topic,
        spool_dir=spool,
        sample_interval=0.0,
        queue_size=10_000,
        flush_timeout=5.0,
    )
    emitter = Emitter(config)
    events = pedigree_events(count)
    samples = timed([lambda e=e: emitter.emit(e) for e in events])
    emitter.close()
    return samples


def bench_openlineage(bootstrap: str, topic: str, count: int, flush: bool) -> list[int]:
    from openlineage.client.transport.kafka import KafkaConfig, KafkaTransport

    config = {"bootstrap.servers": bootstrap, "message.timeout.ms": "2000"}
    transport = KafkaTransport(KafkaConfig(config=config, topic=topic, flush=flush))
    events = openlineage_events(count)
    samples = timed([lambda e=e: transport.emit(e) for e in events])
    transport.close(timeout=5)
    return samples


def dead_address() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5_000, help="events per case")
    parser.add_argument("--burst", type=int, default=60_000, help="events in the burst case")
    parser.add_argument("--bootstrap", help="an existing broker (default: start a local one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    broker = None
    bootstrap = args.bootstrap
    if not bootstrap:
        spec = importlib.util.spec_from_file_location(
            "kafka_local", ROOT / "deploy" / "local" / "kafka_local.py"
        )
        assert spec is not None
        assert spec.loader is not None
        kafka_local = importlib.util.module_from_spec(spec)
        sys.modules["kafka_local"] = kafka_local
        spec.loader.exec_module(kafka_local)
        broker = kafka_local.LocalKafka(Path(tempfile.mkdtemp(prefix="emit-bench-")))
        broker.start()
        bootstrap = broker.bootstrap
    down = dead_address()
    n, few = args.events, 20
    results: dict[str, tuple[int, list[int]]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            spool = Path(tmp)
            results["pedigree, broker up"] = (
                n,
                bench_pedigree(bootstrap, "bench-p", n, spool / "a"),
            )
            results["pedigree, broker down"] = (n, bench_pedigree(down, "bench-p", n, spool / "b"))
            burst = bench_pedigree(bootstrap, "bench-p", args.burst, spool / "c")
            results["pedigree, broker up, burst of 6x the queue (overflow spills)"] = (
                args.burst,
                burst,
            )
            results["openlineage-python (flush=True, default), broker up"] = (
                n // 10,
                bench_openlineage(bootstrap, "bench-o", n // 10, flush=True),
            )
            results["openlineage-python (flush=False), broker up"] = (
                n,
                bench_openlineage(bootstrap, "bench-o", n, flush=False),
            )
            results["openlineage-python (flush=True, default), broker down"] = (
                few,
                bench_openlineage(down, "bench-o", few, flush=True),
            )
            results["openlineage-python (flush=False), broker down"] = (
                n,
                bench_openlineage(down, "bench-o", n, flush=False),
            )
    finally:
        if broker is not None:
            broker.stop()
    rows = {name: (count, *percentiles(s)) for name, (count, s) in results.items()}
    if args.json:
        print(json.dumps(rows))
        return
    print("| emitter, broker | events | p50 µs | p99 µs | mean µs |")
    print("|---|---:|---:|---:|---:|")
    for name, (count, p50, p99, mean) in rows.items():
        print(f"| {name} | {count} | {p50:,.1f} | {p99:,.1f} | {mean:,.1f} |")


if __name__ == "__main__":
    main()
