"""``pedigree migrate``: create or upgrade the ClickHouse warehouse, idempotently.

Applies the pending versioned migrations of ``consumers/schema/`` to the database and records
them in ``schema_migrations``; running it again changes nothing.  ``--print`` shows the SQL
instead of running it; with ``--cluster NAME`` that SQL is the ClickHouse-cluster variant
(``ON CLUSTER``, ``Replicated*MergeTree``).  Run it before rolling out consumers of a newer
version (see ``docs/warehouse.md``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from emitters.capture.code import strip_credentials

__all__ = ["DEFAULT_CLICKHOUSE_URL", "add_parser"]

DEFAULT_CLICKHOUSE_URL = "chdb://pedigree-data/clickhouse"

_EPILOG = """\
examples:
  pedigree migrate                                    # the embedded engine in ./pedigree-data
  pedigree migrate --clickhouse http://ch:8123 --database lineage
  pedigree migrate --cluster lineage_cluster --print > warehouse.sql

PEDIGREE_CLICKHOUSE_URL and PEDIGREE_CLICKHOUSE_DATABASE set the defaults. chdb:// paths are
relative to the current directory unless absolute (chdb:///var/lib/pedigree).
"""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "migrate",
        help="create or upgrade the ClickHouse warehouse (idempotent)",
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
        help="database name (default: %(default)s)",
    )
    parser.add_argument(
        "--cluster",
        metavar="NAME",
        help="the ClickHouse-cluster variant (ON CLUSTER, Replicated*); default "
        "$PEDIGREE_CLICKHOUSE_CLUSTER, which consume, serve and rebuild migrate with too",
    )
    parser.add_argument("--print", action="store_true", help="print the SQL, run nothing")
    parser.set_defaults(handler=run)


def _dsn(url: str) -> str:
    """chdb:// with a relative path -> an absolute one (the embedded engine needs it)."""
    if url.startswith("chdb://") and not url.startswith("chdb:///"):
        path = Path(url.removeprefix("chdb://")).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return f"chdb://{path}"
    return url


def run(args: argparse.Namespace) -> int:
    from consumers.errors import ConsumerError
    from consumers.migrate import cluster_ddl, cluster_from_env, load_migrations, migrate, render

    args.cluster = args.cluster or cluster_from_env()
    if args.print:
        try:
            for migration in load_migrations():
                sql = cluster_ddl(migration.sql, args.cluster) if args.cluster else migration.sql
                print(f"-- {migration.version:04d}_{migration.name}")
                print(render(sql, args.database).strip() + "\n")
        except (ConsumerError, ValueError) as err:
            print(f"pedigree migrate: {err}", file=sys.stderr)
            return 2
        return 0
    try:
        from consumers.engine_memory import connect

        client = connect(_dsn(args.clickhouse))
    except ImportError:
        print("pedigree migrate: needs the server extra: pip install 'pedigree[server]'",
              file=sys.stderr)  # fmt: skip
        return 2
    except Exception as err:  # noqa: BLE001 - any connection failure: one line, no traceback
        print(
            f"pedigree migrate: cannot connect to {strip_credentials(args.clickhouse)}: {err}",
            file=sys.stderr,
        )
        return 1
    try:
        applied = migrate(client, args.database, cluster=args.cluster)
    except (ConsumerError, ValueError) as err:
        print(f"pedigree migrate: {err}", file=sys.stderr)
        return 1
    for migration in applied:
        print(f"applied {migration.version:04d}_{migration.name} to {args.database}")
    if not applied:
        print(f"{args.database} is up to date")
    return 0
