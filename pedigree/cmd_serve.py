"""``pedigree serve``: the HTTP API, with the consumer beside it on the embedded engine.

Embedded (the default, one machine): ingest writes the spool, the spool consumer in the same
process materializes it into ``chdb://`` on local disk, and the API reads it.  Bus mode
(``--bootstrap``): ingest produces to the Kafka topic; with ``chdb://`` the Kafka consumer runs
in this process too (a chdb directory belongs to one process), with a ClickHouse server it runs
separately (``pedigree consume``) unless ``--consume`` is given.

Authentication: bearer tokens from ``--tokens FILE`` (see ``pedigree token``).  Without a token
file the embedded default turns authentication off and says so; every other set-up refuses to
start without one unless ``--no-auth`` is given.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Any

from emitters.capture.code import strip_credentials
from pedigree.cmd_migrate import DEFAULT_CLICKHOUSE_URL, _dsn

__all__ = ["add_parser"]

_EPILOG = """\
examples:
  pedigree serve                                   # embedded: ./pedigree-data, port 8080
  pedigree serve --tokens tokens.json --port 9000
  pedigree serve --bootstrap kafka:9092 --clickhouse http://clickhouse:8123 --tokens t.json
  curl 'localhost:8080/api/v1/lineage?nodeId=job:vision:train&depth=2'

environment: PEDIGREE_CLICKHOUSE_URL, PEDIGREE_CLICKHOUSE_DATABASE, PEDIGREE_SPOOL_DIR,
PEDIGREE_KAFKA_BOOTSTRAP, PEDIGREE_KAFKA_TOPIC (and the emitter's PEDIGREE_KAFKA_SECURITY_*,
SASL_*, SSL_* settings), PEDIGREE_API_TOKENS_FILE, PEDIGREE_API_AUTH=off, PEDIGREE_API_HOST,
PEDIGREE_API_PORT, and the limits PEDIGREE_API_MAX_BODY_BYTES, PEDIGREE_API_MAX_BATCH_EVENTS,
PEDIGREE_API_MAX_DEPTH, PEDIGREE_API_MAX_NODES, PEDIGREE_API_MAX_PAGE_SIZE,
PEDIGREE_API_QUERY_SECONDS. OpenAPI docs at /docs; OTEL_* variables configure telemetry.
"""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the HTTP API (and, on the embedded engine, the consumer)",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default=os.environ.get("PEDIGREE_API_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=os.environ.get("PEDIGREE_API_PORT", "8080"))
    parser.add_argument(
        "--clickhouse",
        default=os.environ.get("PEDIGREE_CLICKHOUSE_URL", DEFAULT_CLICKHOUSE_URL),
        metavar="URL",
        help="chdb://PATH or http(s)://host:8123 (default: %(default)s)",
    )
    parser.add_argument(
        "--database", default=os.environ.get("PEDIGREE_CLICKHOUSE_DATABASE", "pedigree")
    )
    parser.add_argument(
        "--spool",
        default=os.environ.get("PEDIGREE_SPOOL_DIR"),
        metavar="DIR",
        help="embedded mode: the spool ingest writes and the consumer tails "
        "(default: $PEDIGREE_SPOOL_DIR or the emitter's default spool)",
    )
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("PEDIGREE_KAFKA_BOOTSTRAP"),
        metavar="HOST:PORT",
        help="bus mode: ingest produces to Kafka (default: $PEDIGREE_KAFKA_BOOTSTRAP)",
    )
    parser.add_argument(
        "--topic",
        default=None,
        help="Kafka topic (default: $PEDIGREE_KAFKA_TOPIC or openlineage.events)",
    )
    consume = parser.add_mutually_exclusive_group()
    consume.add_argument(
        "--consume", dest="consume", action="store_true", default=None,
        help="run the consumer in this process (the default with chdb://)",
    )  # fmt: skip
    consume.add_argument(
        "--no-consume", dest="consume", action="store_false",
        help="API only (the default with a ClickHouse server)",
    )  # fmt: skip
    parser.add_argument(
        "--tokens",
        default=os.environ.get("PEDIGREE_API_TOKENS_FILE"),
        metavar="FILE",
        help="the token file (JSON of sha256 hashes and namespace scopes; `pedigree token`)",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        default=os.environ.get("PEDIGREE_API_AUTH", "").lower() == "off",
        help="let every request read and write every namespace (PEDIGREE_API_AUTH=off)",
    )
    parser.set_defaults(handler=run)


def _fail(message: str, code: int = 1) -> int:
    print(f"pedigree serve: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from api.serve import ServeOptions, Service
        from api.settings import ApiSettings
    except ImportError:
        return _fail("needs the server extra: pip install 'pedigree[server]'", 2)
    from emitters.config import EmitterConfig
    from emitters.errors import PedigreeError

    try:
        emitter = EmitterConfig.from_env()
        limits = ApiSettings.limits_from_environment()
    except (PedigreeError, ValueError) as err:
        return _fail(str(err), 2)
    embedded = args.clickhouse.startswith("chdb://") and not args.bootstrap
    auth = not args.no_auth
    if auth and args.tokens is None:
        if not embedded:
            return _fail(
                "no token file: give --tokens FILE (see `pedigree token`), or --no-auth to let "
                "anyone read and write every namespace",
                2,
            )
        auth = False
    if not 0 < args.port < 65536:
        return _fail(f"--port {args.port} is not a TCP port", 2)
    kafka = emitter.kafka_settings()
    kafka.pop("bootstrap.servers", None)
    options = ServeOptions(
        clickhouse_dsn=_dsn(args.clickhouse),
        database=args.database,
        spool_dir=None if args.bootstrap else str(args.spool or emitter.spool_dir),
        bootstrap=args.bootstrap,
        topic=args.topic or emitter.kafka_topic,
        kafka_settings=kafka,
        tokens_file=args.tokens,
        auth=auth,
        consume=args.consume if args.consume is not None else args.clickhouse.startswith("chdb"),
        limits=limits,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        service = Service(options)
    except (ValueError, OSError) as err:
        return _fail(str(err))
    except Exception as err:  # noqa: BLE001 - ClickHouse or Kafka unreachable: one line
        return _fail(f"cannot start: {err}")
    if not auth:
        print(
            "pedigree serve: WARNING authentication is OFF: anyone who can reach "
            f"{args.host}:{args.port} may read and write every namespace",
            file=sys.stderr,
        )
    where = options.spool_dir if options.spool_dir else f"Kafka {args.bootstrap} {options.topic}"
    print(
        f"pedigree serve: http://{args.host}:{args.port}  (docs: /docs)  ingest -> {where}; "
        f"warehouse {strip_credentials(args.clickhouse)} database {args.database}"
        + ("; consumer in this process" if options.consume else ""),
        file=sys.stderr,
    )
    from consumers.telemetry import setup_from_environment, shutdown

    providers = setup_from_environment(service_name="pedigree-api")
    service.start_consumer()
    config = uvicorn.Config(
        service.app, host=args.host, port=args.port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    try:
        server.run()
    finally:
        service.close()
        shutdown(providers)
    return 0
