"""Codec throughput: encode/decode events per second for a training RunEvent with ~10 facets,
beside json.dumps/json.loads of the same event.

Run:  make bench        (or: .venv/bin/python bench/codec_bench.py [--seconds 2])
Results are recorded in bench/RESULTS.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emitters import codec
from emitters.validation import validate_event
from tests.events import ml_run_event


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of fn, best of three windows."""
    best = 0.0
    for _ in range(3):
        count, start = 0, time.perf_counter()
        deadline = start + seconds / 3
        while (now := time.perf_counter()) < deadline:
            for _ in range(100):
                fn()
            count += 100
        best = max(best, count / (now - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()
    event = ml_run_event()
    facets = sum(
        len(part.get("facets", {}))
        + len(part.get("inputFacets", {}) or part.get("outputFacets", {}))
        for part in [event["run"], event["job"], *event["inputs"], *event["outputs"]]
    )
    avro = codec.encode(event)
    text = json.dumps(event).encode()
    cases: dict[str, Callable[[], object]] = {
        "avro encode (validate + map + write)": lambda: codec.encode(event),
        "avro encode, no validation": lambda: codec.encode(event, validate=False),
        "avro decode (read + map + validate)": lambda: codec.decode(avro),
        "avro decode, no validation": lambda: codec.decode(avro, validate=False),
        "validate_event alone": lambda: validate_event(event),
        "json.dumps": lambda: json.dumps(event),
        "json.loads": lambda: json.loads(text),
        "codec.decode of the JSON message (parse + validate)": lambda: codec.decode(text),
    }
    print(
        f"# codec benchmark — {platform.python_implementation()} {platform.python_version()},"
        f" {platform.machine()}, event with {facets} facets: Avro {len(avro)} B, JSON {len(text)} B"
    )
    print("| operation | events/s | µs/event |")
    print("|---|---:|---:|")
    for name, fn in cases.items():
        r = rate(fn, args.seconds)
        print(f"| {name} | {r:,.0f} | {1e6 / r:.1f} |")


if __name__ == "__main__":
    main()
