"""``pedigree topics create``: the events topic and its dead-letter topic, idempotently.

Creates the topic the emitters produce to and ``pedigree consume`` reads (``--topic``), and the
dead-letter topic the consumer writes refused messages to (``<topic>.dlq``), with their
partitions, replication factor, ``min.insync.replicas`` and retention.  A topic that exists is
reported, never altered; one that differs from what was asked (partitions, replication factor,
one of the configs) is reported as ``differs`` and the exit status is 1.  ``--dry-run`` prints
the plan without connecting.  Exit status: 0 (created, or already as wanted), 1 (a topic
differs, or the cluster refused), 2 (bad arguments or settings).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["add_parser"]

_EPILOG = """\
examples:
  pedigree topics create --bootstrap kafka:9092 --dry-run
  pedigree topics create --bootstrap kafka:9092 --partitions 12 --replication-factor 3 \\
      --min-insync-replicas 2 --retention-ms 604800000
  pedigree topics create --bootstrap localhost:9092 --replication-factor 1 --min-insync-replicas 1

Producers must use acks=all (the emitters do) for min.insync.replicas to protect a write.
PEDIGREE_KAFKA_BOOTSTRAP, PEDIGREE_KAFKA_TOPIC and the PEDIGREE_KAFKA_SECURITY_*, SASL_* and
SSL_* variables set the defaults and the connection.
"""


def add_parser(commands: Any) -> None:
    from consumers.topics import (
        DEFAULT_DEAD_LETTER_PARTITIONS,
        DEFAULT_DEAD_LETTER_RETENTION_MS,
        DEFAULT_MIN_INSYNC_REPLICAS,
        DEFAULT_PARTITIONS,
        DEFAULT_REPLICATION_FACTOR,
        DEFAULT_RETENTION_MS,
    )

    parser = commands.add_parser(
        "topics",
        help="create the Kafka topics (events and dead letters), idempotently",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        help="create the events topic and its dead-letter topic",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument(
        "--bootstrap",
        default=os.environ.get("PEDIGREE_KAFKA_BOOTSTRAP"),
        metavar="HOST:PORT",
        help="Kafka bootstrap servers (default: $PEDIGREE_KAFKA_BOOTSTRAP)",
    )
    create.add_argument(
        "--topic", help="the events topic (default: $PEDIGREE_KAFKA_TOPIC or openlineage.events)"
    )
    create.add_argument(
        "--dead-letter-topic", metavar="TOPIC", help="the dead-letter topic (default: <topic>.dlq)"
    )
    create.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS,
                        help="partitions of the events topic: the most consumer workers that "
                        "share it (default: %(default)s)")  # fmt: skip
    create.add_argument("--replication-factor", type=int, default=DEFAULT_REPLICATION_FACTOR,
                        help="copies of each partition (default: %(default)s)")  # fmt: skip
    create.add_argument("--min-insync-replicas", type=int,
                        default=DEFAULT_MIN_INSYNC_REPLICAS,
                        help="copies an acks=all write needs (default: %(default)s)")  # fmt: skip
    create.add_argument("--retention-ms", type=int, default=DEFAULT_RETENTION_MS,
                        help="events topic retention, -1 keeps forever (default: %(default)s, "
                        "a week)")  # fmt: skip
    create.add_argument("--dead-letter-partitions", type=int,
                        default=DEFAULT_DEAD_LETTER_PARTITIONS,
                        help="dead-letter topic partitions (default: %(default)s)")  # fmt: skip
    create.add_argument("--dead-letter-retention-ms", type=int,
                        default=DEFAULT_DEAD_LETTER_RETENTION_MS,
                        help="dead-letter retention (default: %(default)s, 30 days)")  # fmt: skip
    create.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    create.add_argument("--dry-run", action="store_true", help="print the plan, connect to nothing")
    create.set_defaults(handler=run)


def _fail(message: str, code: int) -> int:
    print(f"pedigree topics: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from consumers.topics import TopicError, ensure, plan
    from emitters.config import ConfigError, EmitterConfig

    try:
        emitter = EmitterConfig.from_env()
    except ConfigError as err:
        return _fail(str(err), 2)
    try:
        specs = plan(
            args.topic or emitter.kafka_topic,
            dead_letter_topic=args.dead_letter_topic,
            partitions=args.partitions,
            replication_factor=args.replication_factor,
            min_insync_replicas=args.min_insync_replicas,
            retention_ms=args.retention_ms,
            dead_letter_partitions=args.dead_letter_partitions,
            dead_letter_retention_ms=args.dead_letter_retention_ms,
        )
    except ValueError as err:
        return _fail(str(err), 2)
    if args.dry_run:
        for spec in specs:
            print(f"would create {spec.name}: {spec.describe()}")
        return 0
    if not args.bootstrap:
        return _fail("needs --bootstrap HOST:PORT (or PEDIGREE_KAFKA_BOOTSTRAP)", 2)
    if not args.timeout > 0:
        return _fail("--timeout must be positive", 2)
    from confluent_kafka.admin import AdminClient

    settings = emitter.kafka_settings()
    settings["bootstrap.servers"] = args.bootstrap
    admin = AdminClient({**settings, "log_level": 3})
    try:
        outcomes = ensure(admin, specs, timeout=args.timeout)
    except TopicError as err:
        return _fail(str(err), 1)
    for outcome in outcomes:
        print(outcome.line())
    return 1 if any(o.status == "differs" for o in outcomes) else 0
