"""``pedigree consume``: materialize events into ClickHouse, from Kafka or from the spool.

From Kafka (``--bootstrap``), it is a consumer-group worker: start as many as the topic has
partitions and they share them.  Each batch is committed to Kafka only after ClickHouse
acknowledged its rows; messages that do not decode or validate go to the dead-letter topic
(``<topic>.dlq``) with headers naming their origin and the reason; while ClickHouse is away the
worker pauses, retries with backoff and resumes where it stopped.  A crash at any point followed
by a restart leaves the tables as if it had not happened (``docs/delivery.md``).

From the spool (``--from-spool DIR``, the embedded deployment): every complete spool file is
inserted and then deleted; ``--follow`` keeps tailing the directory.

The warehouse is migrated first (idempotent).  SIGTERM or Ctrl-C stops cleanly: the open
batches are flushed, offsets committed, exit status 0.  Telemetry: the standard OTEL_*
variables (e.g. OTEL_METRICS_EXPORTER=console); off by default.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading
from typing import Any

from consumers.batching import BatchLimits
from emitters.capture.code import strip_credentials
from pedigree.cmd_migrate import DEFAULT_CLICKHOUSE_URL, _dsn

__all__ = ["add_parser"]

_EPILOG = """\
examples:
  pedigree consume --bootstrap localhost:9092
  pedigree consume --bootstrap kafka:9092 --topic openlineage.events --group lineage \\
      --clickhouse http://clickhouse:8123 --database pedigree
  pedigree consume --bootstrap localhost:9092 --exit-when-idle   # catch up, then stop
  pedigree consume --from-spool ~/.local/share/pedigree/spool --follow

environment: PEDIGREE_KAFKA_BOOTSTRAP, PEDIGREE_KAFKA_TOPIC and the PEDIGREE_KAFKA_SECURITY_*,
SASL_* and SSL_* variables of the emitter; PEDIGREE_CLICKHOUSE_URL, PEDIGREE_CLICKHOUSE_DATABASE.
"""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "consume",
        help="materialize events into ClickHouse (Kafka consumer group, or the spool)",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--bootstrap",
        default=os.environ.get("PEDIGREE_KAFKA_BOOTSTRAP"),
        metavar="HOST:PORT",
        help="Kafka bootstrap servers (default: $PEDIGREE_KAFKA_BOOTSTRAP)",
    )
    source.add_argument("--from-spool", metavar="DIR", help="consume this spool directory")
    parser.add_argument(
        "--clickhouse",
        default=os.environ.get("PEDIGREE_CLICKHOUSE_URL", DEFAULT_CLICKHOUSE_URL),
        metavar="URL",
        help="chdb://PATH or http(s)://host:8123 (default: %(default)s)",
    )
    parser.add_argument(
        "--database", default=os.environ.get("PEDIGREE_CLICKHOUSE_DATABASE", "pedigree")
    )
    kafka = parser.add_argument_group("Kafka")
    kafka.add_argument(
        "--topic",
        action="append",
        metavar="TOPIC",
        help="topic to consume, repeatable (default: $PEDIGREE_KAFKA_TOPIC or openlineage.events)",
    )
    kafka.add_argument("--group", default="pedigree-consumer", help="consumer group id")
    kafka.add_argument(
        "--dead-letter-topic", metavar="TOPIC", help="where refused messages go (<topic>.dlq)"
    )
    kafka.add_argument(
        "--batch-bytes",
        type=int,
        default=BatchLimits().max_bytes,
        help="flush at this many bytes of messages, all open batches together (default: 8 MiB)",
    )
    kafka.add_argument(
        "--batch-seconds",
        type=float,
        default=BatchLimits().max_seconds,
        help="flush a batch at most this old (default: 1 s)",
    )
    kafka.add_argument(
        "--instance-id",
        default=os.environ.get("PEDIGREE_CONSUMER_INSTANCE_ID"),
        help="static group membership (e.g. the pod name of a StatefulSet): a restarted "
        "worker takes its partitions back at once, without a rebalance",
    )
    kafka.add_argument(
        "-X",
        dest="kafka_options",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a librdkafka consumer setting, repeatable (e.g. -X session.timeout.ms=10000)",
    )
    kafka.add_argument(
        "--exit-when-idle",
        action="store_true",
        help="stop once every assigned partition is caught up (a catch-up job)",
    )
    kafka.add_argument(  # the crash tests' negative control: turns the protection off
        "--no-deduplicate", dest="deduplicate", action="store_false", help=argparse.SUPPRESS
    )
    kafka.add_argument(
        "--health-port",
        type=int,
        metavar="PORT",
        help="serve GET /healthz (the loop turns) and /readyz (consuming, no flush failing) "
        "on this port, for Kubernetes probes",
    )
    kafka.add_argument(
        "--health-stale-seconds",
        type=float,
        default=120.0,
        help="/healthz fails once the loop has not turned this long (default: %(default)s)",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="flush at this many events")
    parser.add_argument("--follow", action="store_true", help="keep tailing the spool")
    parser.set_defaults(handler=run)


def _fail(message: str, code: int = 1) -> int:
    print(f"pedigree consume: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from consumers.errors import ConsumerError
    from consumers.migrate import cluster_from_env, migrate

    if args.bootstrap is None and args.from_spool is None:
        return _fail("name a source: --bootstrap HOST:PORT (Kafka) or --from-spool DIR", 2)
    if args.batch_size is not None and args.batch_size < 1:
        return _fail("--batch-size must be at least 1", 2)
    if args.batch_bytes < 1 or not args.batch_seconds > 0:
        return _fail("--batch-bytes and --batch-seconds must be positive", 2)
    if args.health_port is not None and not 0 < args.health_port < 65536:
        return _fail(f"--health-port {args.health_port} is not a TCP port", 2)
    if args.health_port is not None and args.from_spool is not None:
        return _fail("--health-port serves the Kafka worker's probes: use it with --bootstrap", 2)
    if not args.health_stale_seconds > 0:
        return _fail("--health-stale-seconds must be positive", 2)
    for option in args.kafka_options:
        if "=" not in option or not option.partition("=")[0].strip():
            return _fail(f"-X wants KEY=VALUE, got {option!r}", 2)
    args.kafka_options = [
        (k.strip(), v.strip()) for k, _, v in (o.partition("=") for o in args.kafka_options)
    ]
    try:
        from consumers.engine_memory import connect

        client = connect(_dsn(args.clickhouse))
        migrate(client, args.database, cluster=cluster_from_env())
    except ImportError:
        return _fail("needs the server extra: pip install 'pedigree[server]'", 2)
    except ConsumerError as err:
        return _fail(str(err))
    except Exception as err:  # noqa: BLE001 - a connection failure: one line, no traceback
        return _fail(f"cannot use {strip_credentials(args.clickhouse)}: {err}")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.from_spool is not None:
        return _consume_spool(args, client, stop)
    return _consume_kafka(args, client, stop)


def _consume_spool(args: argparse.Namespace, client: Any, stop: threading.Event) -> int:
    from consumers.spool_consumer import consume_spool

    try:
        report = consume_spool(
            args.from_spool, client, args.database,
            batch_size=args.batch_size or 5000, follow=args.follow, stop=stop,
        )  # fmt: skip
    except Exception as err:  # noqa: BLE001 - one line; the spool is untouched past the error
        return _fail(str(err))
    print(f"materialized {report.events} events from {report.files} spool files"
          f" into {args.database}; {report.rejected} rejected")  # fmt: skip
    return 0


def _consume_kafka(args: argparse.Namespace, client: Any, stop: threading.Event) -> int:
    from consumers.health import serve_health
    from consumers.kafka_consumer import ConsumerConfig, KafkaConsumerWorker
    from consumers.telemetry import setup_from_environment, shutdown
    from emitters.config import EmitterConfig
    from emitters.errors import PedigreeError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        emitter = EmitterConfig.from_env()
    except PedigreeError as err:
        return _fail(str(err), 2)
    connection = emitter.kafka_settings()
    connection.pop("bootstrap.servers", None)
    options = dict(args.kafka_options)
    if args.instance_id:
        options["group.instance.id"] = args.instance_id
    config = ConsumerConfig(
        bootstrap=args.bootstrap,
        topics=tuple(args.topic or [emitter.kafka_topic]),
        database=args.database,
        group=args.group,
        dead_letter_topic=args.dead_letter_topic,
        limits=BatchLimits(
            max_events=args.batch_size or BatchLimits().max_events,
            max_bytes=args.batch_bytes,
            max_seconds=args.batch_seconds,
        ),
        exit_when_idle=args.exit_when_idle,
        deduplicate=args.deduplicate,
        connection=connection,
        kafka=options,
    )
    providers = setup_from_environment()
    # The loop allocates millions of short-lived dicts and no cycles worth collecting often:
    # move start-up objects out of the collector's sight and collect the young generation less
    # often (10-15 % of the per-event CPU, bench/RESULTS.md).
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    health = None
    try:
        worker = KafkaConsumerWorker(config, client, stop=stop)
        if args.health_port is not None:
            try:
                health = serve_health(
                    worker.state, args.health_port, stale_after=args.health_stale_seconds
                )
            except OSError as err:  # the health port is taken (only this: not the run's errors)
                return _fail(f"--health-port {args.health_port}: {err}")
        stats = worker.run()
    except Exception as err:  # noqa: BLE001 - a fatal Kafka error: one line
        return _fail(f"{type(err).__name__}: {err}")
    finally:
        if health is not None:
            health.shutdown()
        shutdown(providers)
    print(f"materialized {stats.events} events in {stats.batches} batches into {args.database};"
          f" {stats.dead_letters} dead-lettered")  # fmt: skip
    return 0
