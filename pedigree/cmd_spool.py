"""``pedigree spool list|flush``: look at the local spool, and send it to Kafka (or over HTTP).

The spool holds lineage events that could not be sent yet (Kafka or the API unreachable, queue
full, the job ended before delivery) — and, on the embedded default, every event.  ``flush``
sends each complete spool file to the topic (``--http URL``: POSTs each event to a Pedigree API
or any OpenLineage endpoint) and deletes it once every message in it was acknowledged; run it
again at any time: nothing is sent twice.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser"]

_EPILOG = """\
examples:
  pedigree spool list
  pedigree spool flush --bootstrap kafka:9092 --topic openlineage.events
  PEDIGREE_KAFKA_BOOTSTRAP=kafka:9092 pedigree spool flush --dir /var/spool/pedigree
  PEDIGREE_HTTP_TOKEN=... pedigree spool flush --http https://pedigree.example.com

Defaults come from PEDIGREE_SPOOL_DIR, PEDIGREE_KAFKA_BOOTSTRAP, PEDIGREE_KAFKA_TOPIC (and the
PEDIGREE_KAFKA_SASL_* / SSL settings); with PEDIGREE_TRANSPORT=http and no --bootstrap, flush
POSTs to PEDIGREE_HTTP_URL with PEDIGREE_HTTP_TOKEN.
"""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "spool",
        help="list the local spool, or send it to Kafka",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, handler, text in (
        ("list", _list, "show the spool's files and how many events they hold"),
        ("flush", _flush, "send every complete spool file to Kafka (or --http), each event once"),
    ):
        action = actions.add_parser(
            name, help=text, description=text, epilog=_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )  # fmt: skip
        action.add_argument("--dir", help="spool directory (default: PEDIGREE_SPOOL_DIR)")
        action.add_argument("--json", action="store_true", help="print a JSON report")
        action.set_defaults(handler=handler)
        if name == "flush":
            target = action.add_mutually_exclusive_group()
            target.add_argument("--bootstrap", help="Kafka bootstrap servers host:port[,...]")
            target.add_argument(
                "--http",
                metavar="URL",
                help="POST each event to this OpenLineage endpoint or Pedigree API base URL "
                "instead (token: PEDIGREE_HTTP_TOKEN)",
            )
            action.add_argument("--topic", help="topic (default: PEDIGREE_KAFKA_TOPIC)")
            action.add_argument(
                "--timeout", type=float, default=300.0, help="give up after this many seconds"
            )


def _config(args: argparse.Namespace, **extra: Any) -> Any:
    from emitters.config import ConfigError, EmitterConfig

    try:
        return EmitterConfig.from_env(spool_dir=args.dir, **extra)
    except ConfigError as err:
        print(f"pedigree spool: {err}", file=sys.stderr)
        return None


def _list(args: argparse.Namespace) -> int:
    from emitters.spool import closed_files, read_file

    config = _config(args)
    if config is None:
        return 2
    files: list[dict[str, Any]] = []
    for path in closed_files(config.spool_dir) if config.spool_dir.is_dir() else []:
        files.append(
            {
                "file": path.name,
                "events": sum(1 for _ in read_file(path)),
                "bytes": path.stat().st_size,
            }
        )
    if args.json:
        print(json.dumps({"dir": str(config.spool_dir), "files": files}))
        return 0
    print(f"{config.spool_dir}: {len(files)} files, {sum(f['events'] for f in files)} events")
    for f in files:
        print(f"  {f['file']}  {f['events']} events  {f['bytes']} bytes")
    return 0


def _flush(args: argparse.Namespace) -> int:
    from emitters.spool_flush import flush_spool
    from emitters.transports.http import endpoint

    config = _config(args, kafka_bootstrap=args.bootstrap, kafka_topic=args.topic,
                     http_url=args.http)  # fmt: skip
    if config is None:
        return 2
    http = bool(args.http) or (not args.bootstrap and config.transport == "http")
    if http:
        try:
            target = endpoint(config.http_url or "")
        except ValueError as err:
            print(f"pedigree spool flush: {err}", file=sys.stderr)
            return 2
    elif not config.kafka_bootstrap:
        print("pedigree spool flush: nowhere to send: pass --bootstrap HOST:PORT or --http URL "
              "(or set PEDIGREE_KAFKA_BOOTSTRAP)", file=sys.stderr)  # fmt: skip
        return 2
    else:
        target = config.kafka_topic

    def progress(report: Any) -> None:
        if not args.json:
            print(f"  sent {report.files} files, {report.messages} events", file=sys.stderr)

    report = flush_spool(
        config.spool_dir, config, timeout=args.timeout, progress=progress, http=http
    )
    if args.json:
        print(json.dumps(report.__dict__))
    else:
        print(f"sent {report.messages} events from {report.files} files to {target};"
              f" {report.rejected} refused for good (kept in rejected/); {report.files_left}"
              " files left")  # fmt: skip
        for error in report.errors[:5]:
            print(f"  error: {error}", file=sys.stderr)
    return 0 if report.files_left == 0 else 1
