"""Codec throughput: encode/decode events per second, beside json.dumps/json.loads of the same
event, for a typical training RunEvent (~10 facets, 2 inputs, 1 output) and for the full one
(every typed facet).

Run:  make bench        (or: .venv/bin/python bench/codec_bench.py [--seconds 3])
Results are recorded in bench/RESULTS.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def typical_event() -> dict[str, Any]:
    """A ~10-facet training event: the yardstick of the issue (2 inputs, 1 output)."""
    event = ml_run_event()
    keep = {
        "run": {"parent", "pedigree_code", "pedigree_parameters", "pedigree_ownership"},
        "job": {"sourceCodeLocation"},
        "inputs": {"version"},
        "outputs": {"version", "pedigree_model"},
    }
    for part in ("run", "job"):
        event[part]["facets"] = {k: v for k, v in event[part]["facets"].items() if k in keep[part]}
    for part in ("inputs", "outputs"):
        for dataset in event[part]:
            dataset["facets"] = {k: v for k, v in dataset["facets"].items() if k in keep[part]}
            dataset.pop("outputFacets", None)
    return event


def facet_count(event: dict[str, Any]) -> int:
    parts = [event["run"], event["job"], *event["inputs"], *event["outputs"]]
    return sum(len(p.get("facets", {})) + len(p.get("outputFacets", {})) for p in parts)


def bench(name: str, event: dict[str, Any], seconds: float) -> None:
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
    print(f"\n## {name}: {facet_count(event)} facets, Avro {len(avro)} B, JSON {len(text)} B\n")
    print("| operation | events/s | µs/event |")
    print("|---|---:|---:|")
    for label, fn in cases.items():
        r = rate(fn, seconds)
        print(f"| {label} | {r:,.0f} | {1e6 / r:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()
    print(
        f"# codec benchmark — {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} cores"
    )
    bench("typical training event", typical_event(), args.seconds)
    bench("full training event (every typed facet)", ml_run_event(), args.seconds)


if __name__ == "__main__":
    main()
