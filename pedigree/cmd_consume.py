"""``pedigree consume --from-spool DIR``: materialize the embedded spool into ClickHouse.

Migrates the warehouse first (idempotent), then inserts every complete spool file in batches
and deletes it once it is in the warehouse; ``--follow`` keeps tailing the directory (retrying
with backoff while ClickHouse is unavailable) until SIGTERM/Ctrl-C.  A crash at any point
followed by a restart leaves the tables as if it had not happened (see
``consumers/spool_consumer.py``).  The Kafka consumer group (``--bootstrap``) is not built yet.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from pedigree.cmd_migrate import DEFAULT_CLICKHOUSE_URL, _dsn

__all__ = ["add_parser"]

_EPILOG = """\
examples:
  pedigree consume --from-spool ~/.local/share/pedigree/spool
  pedigree consume --from-spool /var/spool/pedigree --follow --clickhouse chdb:///var/lib/pedigree
"""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "consume",
        help="materialize events into ClickHouse (from the spool; Kafka: coming)",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--from-spool", required=True, metavar="DIR", help="the spool directory to consume"
    )
    parser.add_argument(
        "--clickhouse",
        default=os.environ.get("PEDIGREE_CLICKHOUSE_URL", DEFAULT_CLICKHOUSE_URL),
        metavar="URL",
        help="chdb://PATH or http(s)://host:8123 (default: %(default)s)",
    )
    parser.add_argument(
        "--database", default=os.environ.get("PEDIGREE_CLICKHOUSE_DATABASE", "pedigree")
    )
    parser.add_argument("--batch-size", type=int, default=5000, help="events per insert")
    parser.add_argument("--follow", action="store_true", help="keep tailing the spool")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from consumers.errors import ConsumerError
    from consumers.migrate import migrate
    from consumers.spool_consumer import consume_spool

    if args.batch_size < 1:
        print("pedigree consume: --batch-size must be at least 1", file=sys.stderr)
        return 2
    try:
        import clickhouse_connect

        client = clickhouse_connect.get_client(dsn=_dsn(args.clickhouse))
        migrate(client, args.database)
    except ImportError:
        print("pedigree consume: needs the server extra: pip install 'pedigree[server]'",
              file=sys.stderr)  # fmt: skip
        return 2
    except ConsumerError as err:
        print(f"pedigree consume: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - a connection failure: one line, no traceback
        print(f"pedigree consume: cannot use {args.clickhouse}: {err}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        report = consume_spool(
            args.from_spool, client, args.database,
            batch_size=args.batch_size, follow=args.follow, stop=stop,
        )  # fmt: skip
    except Exception as err:  # noqa: BLE001 - one line; the spool is untouched past the error
        print(f"pedigree consume: {err}", file=sys.stderr)
        return 1
    print(f"materialized {report.events} events from {report.files} spool files"
          f" into {args.database}; {report.rejected} rejected")  # fmt: skip
    return 0
