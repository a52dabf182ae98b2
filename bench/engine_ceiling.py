"""How many events/s the embedded engine can *write*, whatever computes the rows (issue 4).

Run:  .venv/bin/python bench/engine_ceiling.py [--events 50000] [--repeat 3]   (~2 min)

The 50,000 events/s target of one consumer process asks the warehouse to take the rows of
50,000 events a second.  This measures the cost of writing exactly those rows, with nothing in
front of it: no Kafka, no Avro decoding, no validation, no Python row mapping.

1. ``--events`` copies of the typical event of ``bench/ingest_bench.py`` (9 facets, 2 inputs,
   1 output, each with its own run id) are decoded and mapped with ``rows_for_events`` (timed:
   the Python row path, for context) and inserted once, through clickhouse-connect, into a
   staging database with the warehouse's own DDL (timed: today's insert path).
2. Then, ``--repeat`` times, into a fresh database migrated like the warehouse, every table is
   filled with ``INSERT INTO <db>.<table> SELECT * FROM stage.<table>`` with the consumer's
   deduplication token, table by table in the consumer's order.  That is the engine copying
   already-typed columns between tables of the same schema: parsing, sorting by the table's key,
   compressing, writing the parts, deduplication bookkeeping.  Any design that computes the
   rows inside ClickHouse (its Avro reader, materialized views, ``INSERT ... SELECT`` with
   JSON functions) pays this and more; its events/s is an upper bound for one process here.

Prints one JSON object: per-table times and rows, the totals and the events/s each stage
allows.  Results: bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import ingest_bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000, help="events per round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the engine copy")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a ClickHouse setting for the copies' inserts, e.g. optimize_on_insert=0",
    )
    args = parser.parse_args()

    import clickhouse_connect

    from consumers.batching import dedup_token
    from consumers.migrate import migrate
    from consumers.tables import COLUMNS, TABLES

    backlog = ingest_bench.build_backlog("typical", args.events)
    started = time.perf_counter()
    rows = ingest_bench.consumer_rows(backlog.avro, "ceiling", 0)
    python_s = time.perf_counter() - started
    del backlog

    extra = dict(setting.split("=", 1) for setting in args.setting)
    report: dict[str, Any] = {"events": args.events, "settings": extra}
    with tempfile.TemporaryDirectory(prefix="engine-ceiling-") as directory:
        client = clickhouse_connect.get_client(dsn=f"chdb://{directory}")
        migrate(client, "stage")
        connect_s: dict[str, float] = {}
        for table in TABLES:
            started = time.perf_counter()
            if rows[table]:
                client.insert(
                    f"stage.{table}",
                    rows[table],
                    column_names=COLUMNS[table],
                    settings={"insert_deduplication_token": dedup_token("s", 0, 0, 1, table)},
                )
            connect_s[table] = time.perf_counter() - started
        row_counts = {table: len(rows[table]) for table in TABLES}
        del rows

        rounds: list[dict[str, float]] = []
        for number in range(args.repeat):
            database = f"copy{number}"
            migrate(client, database)
            times: dict[str, float] = {}
            for table in TABLES:
                started = time.perf_counter()
                client.command(
                    f"INSERT INTO {database}.{table} SELECT * FROM stage.{table}",
                    settings={
                        "insert_deduplication_token": dedup_token("c", 0, 0, number, table),
                        **extra,
                    },
                )
                times[table] = time.perf_counter() - started
            rounds.append(times)
            print(f"round {number + 1}: {sum(times.values()):.2f} s", file=sys.stderr, flush=True)
            client.command(f"DROP DATABASE {database} SYNC")

    engine = {table: statistics.median(r[table] for r in rounds) for table in TABLES}
    engine_s = sum(engine.values())
    connect_total = sum(connect_s.values())
    report |= {
        "rows_per_event": round(sum(row_counts.values()) / args.events, 2),
        "python_rows_s": round(python_s, 2),
        "python_rows_events_per_s": round(args.events / python_s),
        "clickhouse_connect_insert_s": round(connect_total, 2),
        "clickhouse_connect_insert_events_per_s": round(args.events / connect_total),
        "engine_copy_s_median": round(engine_s, 2),
        "engine_copy_s_rounds": [round(sum(r.values()), 2) for r in rounds],
        "engine_copy_events_per_s": round(args.events / engine_s),
        "events_table_alone_events_per_s": round(args.events / engine["events"]),
        "per_table": {
            table: {
                "rows": row_counts[table],
                "connect_ms": round(connect_s[table] * 1000),
                "engine_ms": round(engine[table] * 1000),
            }
            for table in TABLES
        },
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
