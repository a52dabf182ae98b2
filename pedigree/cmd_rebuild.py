"""``pedigree rebuild``: recreate every derived table from the raw ``events`` table.

The raw events are the source of truth; after a fix in the event -> rows mapping or a schema
change, this re-decodes every stored message and fills the derived tables again.  By default
it rebuilds in place: the derived tables are truncated first, so queries see partial data until
it ends.  ``--into NEW_DB`` is the safe way: NEW_DB (new or empty) is migrated, receives a copy
of the raw events and then its derived tables, and the source database is only read.

``--from-kafka`` goes back to the log itself: the topic is re-read from its earliest offset by a
throwaway consumer group into NEW_DB (``--into``, new or empty), exactly as ``pedigree consume``
would have materialized it.  Messages it refuses go to ``<topic>.rebuild.dlq``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from emitters.capture.code import strip_credentials
from pedigree.cmd_migrate import DEFAULT_CLICKHOUSE_URL, _dsn

__all__ = ["add_parser"]

_EPILOG = """\
examples:
  pedigree rebuild                                    # in place, in ./pedigree-data
  pedigree rebuild --into pedigree_v2                 # into a new database: the safe way
  pedigree rebuild --clickhouse http://ch:8123 --database lineage --batch-size 20000
  pedigree rebuild --from-kafka --bootstrap kafka:9092 --into pedigree_replayed

PEDIGREE_CLICKHOUSE_URL and PEDIGREE_CLICKHOUSE_DATABASE set the defaults.
"""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "rebuild",
        help="recreate every derived table from the raw events table",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--clickhouse",
        default=os.environ.get("PEDIGREE_CLICKHOUSE_URL", DEFAULT_CLICKHOUSE_URL),
        metavar="URL",
        help="chdb://PATH (embedded) or http(s)://host:8123 (default: %(default)s)",
    )
    parser.add_argument(
        "--database",
        default=os.environ.get("PEDIGREE_CLICKHOUSE_DATABASE", "pedigree"),
        help="the database whose raw events are read (default: %(default)s)",
    )
    parser.add_argument(
        "--into", metavar="NEW_DB", help="rebuild into this new or empty database instead"
    )
    parser.add_argument("--batch-size", type=int, default=5000, help="events per batch")
    kafka = parser.add_argument_group("from Kafka")
    kafka.add_argument(
        "--from-kafka",
        action="store_true",
        help="re-read the topic from its earliest offset into --into NEW_DB",
    )
    kafka.add_argument(
        "--bootstrap",
        default=os.environ.get("PEDIGREE_KAFKA_BOOTSTRAP"),
        metavar="HOST:PORT",
        help="Kafka bootstrap servers (default: $PEDIGREE_KAFKA_BOOTSTRAP)",
    )
    kafka.add_argument(
        "--topic",
        default=os.environ.get("PEDIGREE_KAFKA_TOPIC", "openlineage.events"),
        help="the event topic (default: %(default)s)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from consumers.errors import ConsumerError
    from consumers.rebuild import rebuild

    if args.batch_size < 1:
        print("pedigree rebuild: --batch-size must be at least 1", file=sys.stderr)
        return 2
    if args.from_kafka and not (args.bootstrap and args.into):
        print("pedigree rebuild: --from-kafka needs --bootstrap HOST:PORT and --into NEW_DB",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        from consumers.engine_memory import connect

        client = connect(_dsn(args.clickhouse))
    except ImportError:
        print("pedigree rebuild: needs the server extra: pip install 'pedigree[server]'",
              file=sys.stderr)  # fmt: skip
        return 2
    except Exception as err:  # noqa: BLE001 - any connection failure: one line, no traceback
        print(
            f"pedigree rebuild: cannot connect to {strip_credentials(args.clickhouse)}: {err}",
            file=sys.stderr,
        )
        return 1
    if args.from_kafka:
        return _from_kafka(args, client)
    try:
        report = rebuild(client, args.database, batch_size=args.batch_size, target=args.into)
    except ConsumerError as err:
        print(f"pedigree rebuild: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - one line; rerun the rebuild, it starts over
        print(f"pedigree rebuild: {err}", file=sys.stderr)
        return 1
    for skipped in report.skipped:
        print(f"pedigree rebuild: skipped {skipped}", file=sys.stderr)
    rows = sum(report.rows.values())
    print(f"rebuilt {len(report.rows)} tables of {report.database} from {report.events} events"
          f" ({rows} rows); {len(report.skipped)} skipped")  # fmt: skip
    return 0


def _from_kafka(args: argparse.Namespace, client: Any) -> int:
    from consumers.batching import BatchLimits
    from consumers.errors import ConsumerError
    from consumers.kafka_consumer import ConsumerConfig
    from consumers.rebuild import rebuild_from_kafka
    from emitters.config import EmitterConfig

    connection = EmitterConfig.from_env().kafka_settings()
    connection.pop("bootstrap.servers", None)
    config = ConsumerConfig(
        bootstrap=args.bootstrap,
        topics=(args.topic,),
        database=args.into,
        limits=BatchLimits(max_events=args.batch_size),
        connection=connection,
    )
    try:
        stats = rebuild_from_kafka(client, config)
    except ConsumerError as err:
        print(f"pedigree rebuild: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - one line; the target can be dropped and rebuilt
        print(f"pedigree rebuild: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(f"rebuilt {args.into} from {args.topic}: {stats.events} events in {stats.batches}"
          f" batches; {stats.dead_letters} refused (in {args.topic}.rebuild.dlq)")  # fmt: skip
    return 0
