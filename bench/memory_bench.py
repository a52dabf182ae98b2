"""Memory of a job with Pedigree: resident memory growth with the SDK imported, a run active
and the sampler on (against the same script without Pedigree), and whether it stays bounded
when the broker is down for the whole run while the job emits many events.

Run:  .venv/bin/python bench/memory_bench.py [--events 200000]
Each case runs in a fresh Python process and reports its peak RSS (ru_maxrss).
Results are recorded in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap

PEAK = "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)"

BASELINE = f"""
import time
end = time.time() + 2
while time.time() < end:
    sum(range(10000))
{PEAK}
"""

WITH_RUN = f"""
import time, pedigree
with pedigree.run("bench", params={{"lr": 0.1}}, sample_interval=0.2):
    end = time.time() + 2
    while time.time() < end:
        sum(range(10000))
{PEAK}
"""

BROKER_DOWN = """
import resource, time, uuid, pedigree
from pedigree import emitter
base = {{"eventType": "RUNNING", "eventTime": "2026-11-28T10:00:00Z",
        "producer": "https://pedigree.dev/bench",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "job": {{"namespace": "bench", "name": "train"}}}}
peaks = []
with pedigree.run("bench", sample_interval=0.5):
    out = emitter()
    for i in range({events}):
        out.emit({{**base, "run": {{"runId": str(uuid.uuid4())}}}})
        if i % 20000 == 0:
            peaks.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
print(" ".join(str(p) for p in peaks))
print(out.stats.emitted, out.stats.spooled, out.stats.lost)
{peak}
"""


def run(script: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        spool = {"PEDIGREE_SPOOL_DIR": f"{tmp}/spool", "PEDIGREE_FLUSH_TIMEOUT": "2"}
        base = int(run(BASELINE, {}))
        spool_run = int(run(WITH_RUN, spool))
        kafka = {**spool, "PEDIGREE_KAFKA_BOOTSTRAP": dead}
        kafka_run = int(run(WITH_RUN, kafka))
        down = run(BROKER_DOWN.format(events=args.events, peak=PEAK), kafka).splitlines()
    mib = 1024 * 1024
    rows = {
        "baseline script (no Pedigree)": base,
        "pedigree.run + sampler, spool transport": spool_run,
        "pedigree.run + sampler, kafka transport (broker down)": kafka_run,
        f"same, emitting {args.events} events with the broker down": int(down[-1]),
    }
    print("| case | peak RSS MiB | growth over baseline MiB |")
    print("|---|---:|---:|")
    for name, value in rows.items():
        print(f"| {name} | {value / mib:.1f} | {(value - base) / mib:+.1f} |")
    peaks = [int(p) / mib for p in down[0].split()]
    print(f"\npeak RSS every 20,000 events (MiB): {', '.join(f'{p:.0f}' for p in peaks)}")
    print(f"emitted, spooled, lost: {down[1]}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
