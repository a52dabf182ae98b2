"""CPU cost per event of the consumer's Python path: decoding a message (``codec.decode``: size
check, Avro read, mapping to OpenLineage JSON, validation) and turning events into warehouse
rows (``consumers.materialize.rows_for_events``), for the typical and the full training event
of ``bench/codec_bench.py``.

Run:  .venv/bin/python bench/consumer_cpu_bench.py [--seconds 3]
Results are recorded in bench/RESULTS.md with the machine they ran on.

Batches are of 1000 distinct events (each its own run id and event time), as a consumer sees
them; single-message figures repeat one message.  Every figure is the best of three windows.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codec_bench import facet_count, rate, typical_event

from consumers.materialize import EventMeta, rows_for_events
from emitters import codec
from emitters.validation import validate_event
from tests.events import ml_run_event

BATCH = 1000
START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def variants(event: dict[str, Any], count: int) -> list[bytes]:
    """``count`` Avro messages of ``event``, each with its own run id and event time."""
    messages = []
    for i in range(count):
        variant = copy.deepcopy(event)
        variant["run"]["runId"] = f"00000000-0000-4000-8000-{i:012x}"
        time_ = START + timedelta(seconds=i, microseconds=i * 1001)
        variant["eventTime"] = time_.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        messages.append(codec.encode(variant))
    return messages


def batch_rate(fn: Callable[[], object], events: int, seconds: float) -> float:
    """Events per second of fn, which handles ``events`` events per call; best of three."""
    best = 0.0
    for _ in range(3):
        count, start = 0, time.perf_counter()
        deadline = start + seconds / 3
        while (now := time.perf_counter()) < deadline:
            fn()
            count += events
        best = max(best, count / (now - start))
    return best


def bench(name: str, event: dict[str, Any], seconds: float) -> None:
    message = codec.encode(event)
    decoded = codec.decode(message)
    messages = variants(event, BATCH)
    received = START + timedelta(hours=1)
    metas = [EventMeta("lineage", 0, i, m, received) for i, m in enumerate(messages)]
    pairs = [(meta, codec.decode(meta.message)) for meta in metas]

    def decode_and_rows() -> object:
        return rows_for_events([(meta, codec.decode(meta.message)) for meta in metas])

    cases: dict[str, float] = {
        "codec.decode (read + map + validate)": rate(lambda: codec.decode(message), seconds),
        "codec.decode, no validation": rate(lambda: codec.decode(message, validate=False), seconds),
        "validate_event alone": rate(lambda: validate_event(decoded), seconds),
        f"rows_for_events (batch of {BATCH})": batch_rate(
            lambda: rows_for_events(pairs), BATCH, seconds
        ),
        f"total: decode + rows_for_events (batch of {BATCH})": batch_rate(
            decode_and_rows, BATCH, seconds
        ),
    }
    print(f"\n## {name}: {facet_count(event)} facets, Avro {len(message)} B\n")
    print("| stage | events/s | µs/event |")
    print("|---|---:|---:|")
    for label, events_per_second in cases.items():
        print(f"| {label} | {events_per_second:,.0f} | {1e6 / events_per_second:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()
    print(
        f"# consumer CPU benchmark — {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores"
    )
    bench("typical training event", typical_event(), args.seconds)
    bench("full training event (every typed facet)", ml_run_event(), args.seconds)


if __name__ == "__main__":
    main()
