"""Where the consumer's resident memory goes (issue 4, memory target): two probes.

Run:  .venv/bin/python bench/memory_probe.py inserts [--events 60000] [--batch 14000]
          [--chdb-option KEY=VALUE ...]                                  (~20 s per 60k events)
      .venv/bin/python bench/memory_probe.py consumer [--events 60000] [--variant "ARGS"] ...
          (starts the local broker of deploy/local/; one `pedigree consume` per variant)

``inserts``: no Kafka.  Decodes the typical event's backlog (ingest_bench's) a batch at a time,
maps it with ``rows_for_events`` and inserts every table as the consumer does (same tokens,
``TABLES`` order) into a fresh ``chdb://`` directory, with the given chDB start-up options
(server settings, e.g. ``background_pool_size=2``; ``system.server_settings`` shows them
applied).  Prints the resident set after start-up, after every third batch, and the peak
(sampled every 50 ms and ``ru_maxrss``).  The backlog itself is held in memory: subtract the
"after migrate" figure's share of it (about 2.3 kB per event).

``consumer``: the real ``pedigree consume --exit-when-idle`` on a backlog of ``--events`` typical
events in 2 partitions, once per ``--variant`` (extra CLI arguments, e.g. ``"-X
queued.max.messages.kbytes=8192"`` or ``"--batch-bytes 33554432"``; the word ``nomerge`` first
turns background merges off in the warehouse beforehand, ``tables:SETTINGS`` first migrates it
and applies ``ALTER TABLE ... MODIFY SETTING SETTINGS`` to every table; a word ``env:NAME=VALUE``
sets an environment variable of that consumer, e.g. ``env:JE_MALLOC_CONF=dirty_decay_ms:0``); prints
``/usr/bin/time``'s maximum resident set.  Results: bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import ingest_bench  # noqa: E402


def rss_mib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return 0


def inserts(args: argparse.Namespace) -> None:
    import clickhouse_connect

    from consumers.batching import dedup_token
    from consumers.migrate import migrate
    from consumers.tables import COLUMNS, TABLES

    options = dict(option.split("=", 1) for option in args.chdb_option)
    backlog = ingest_bench.build_backlog("typical", args.events)
    peak = [0]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], rss_mib())

    threading.Thread(target=watch, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="memory-probe-") as directory:
        client = clickhouse_connect.get_client(
            dsn=f"chdb://{directory}", chdb_options=options or None
        )
        migrate(client, "pedigree")
        gc.freeze()  # as pedigree consume does
        gc.set_threshold(50_000, 50, 100)
        print(f"after migrate (backlog held): {rss_mib()} MiB", flush=True)
        started = time.monotonic()
        for number, first in enumerate(range(0, args.events, args.batch)):
            messages = backlog.avro[first : first + args.batch]
            last = first + len(messages) - 1
            rows = ingest_bench.consumer_rows(messages, "probe", first)
            for table in TABLES:
                if rows[table]:
                    client.insert(
                        f"pedigree.{table}",
                        rows[table],
                        column_names=COLUMNS[table],
                        settings={
                            "insert_deduplication_token": dedup_token(
                                "probe", 0, first, last, table
                            )
                        },
                    )
                    rows[table] = []
            if number % 3 == 0:
                print(f"after {last + 1:,} events: {rss_mib()} MiB", flush=True)
        elapsed = time.monotonic() - started
        time.sleep(3)  # merges after the last insert
        done.set()
        print(json.dumps({
            "chdb_options": options, "events": args.events, "batch": args.batch,
            "events_per_s": round(args.events / elapsed),
            "peak_sampled_mib": peak[0],
            "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
            "end_mib": rss_mib(),
        }))  # fmt: skip


_ALTER = """
import sys
import clickhouse_connect
from consumers.migrate import migrate
client = clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1])
migrate(client, "pedigree")
for (table,) in client.query(
    "SELECT name FROM system.tables WHERE database = 'pedigree' AND engine LIKE '%MergeTree'"
).result_rows:
    client.command(f"ALTER TABLE pedigree.{table} MODIFY SETTING {sys.argv[2]}")
"""


def consumer(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="memory-probe-"))
    broker = ingest_bench.load_kafka_local().LocalKafka(work / "kafka")
    broker.start()
    backlog = ingest_bench.build_backlog("typical", args.events)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEDIGREE_", "OTEL_"))}
    try:
        for variant in args.variant or [""]:
            extra = variant.split()
            settings = [word.removeprefix("env:") for word in extra if word.startswith("env:")]
            if any("=" not in setting for setting in settings):
                raise SystemExit(f"--variant {variant!r}: write env:NAME=VALUE")
            variant_env = dict(setting.split("=", 1) for setting in settings)
            extra = [word for word in extra if not word.startswith("env:")]
            topic = f"memory-probe-{uuid.uuid4().hex[:8]}"
            ingest_bench.create_topic(broker.bootstrap, topic, 2)
            ingest_bench.produce_backlog(broker.bootstrap, topic, 2, backlog)
            directory = work / topic
            if extra[:1] == ["nomerge"]:
                from tests.integration.test_kafka_consumer_crashes import prepare_without_merges

                extra = extra[1:]
                prepare_without_merges(directory)
            elif extra[:1] and extra[0].startswith("tables:"):  # MergeTree settings, all tables
                settings, extra = extra[0].removeprefix("tables:"), extra[1:]
                subprocess.run(
                    [sys.executable, "-c", _ALTER, str(directory), settings],
                    cwd=ROOT, check=True, capture_output=True, text=True,
                )  # fmt: skip
            command = [
                "/usr/bin/time", "-f", "%M", sys.executable, "-m", "pedigree.cli", "consume",
                "--bootstrap", broker.bootstrap, "--topic", topic, "--group", topic,
                "--clickhouse", f"chdb://{directory}", "--exit-when-idle", *extra,
            ]  # fmt: skip
            done = subprocess.run(
                command, cwd=ROOT, env=env | variant_env, capture_output=True, text=True,
                check=True,
            )  # fmt: skip
            peak = int(done.stderr.strip().splitlines()[-1]) // 1024
            print(f"{variant or 'defaults'}: peak RSS {peak} MiB; {done.stdout.strip()}")
    finally:
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="probe", required=True)
    one = sub.add_parser("inserts", help="rows into chdb in process, no Kafka")
    one.add_argument("--events", type=int, default=60_000)
    one.add_argument("--batch", type=int, default=14_000, help="events per insert round")
    one.add_argument("--chdb-option", action="append", default=[], metavar="KEY=VALUE")
    two = sub.add_parser("consumer", help="pedigree consume on a local broker")
    two.add_argument("--events", type=int, default=60_000)
    two.add_argument("--variant", action="append", metavar="ARGS")
    args = parser.parse_args()
    if args.probe == "inserts":
        inserts(args)
    else:
        consumer(args)


if __name__ == "__main__":
    main()
