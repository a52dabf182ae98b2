"""``pedigree demo``: a real, small ML pipeline end to end, and where its model came from.

It starts Pedigree on the embedded default (the API and the consumer in this process, the
ClickHouse engine on local disk, the spool as the bus), runs an instrumented pipeline —
generate a dataset, prepare features, train a model (numpy), evaluate, register and deploy it —
then a second training with other hyperparameters, and prints:

* the provenance of the newest model version, as a tree: every run with its parameters,
  code and machine, every dataset version exactly as it was consumed;
* its training run's rerun spec, with what cannot be reproduced exactly;
* how the two model versions differ (parameters, inputs, metrics);

and keeps the API up with the URLs to open, until Ctrl-C (``--no-serve`` exits instead).
``--bus kafka://HOST:PORT`` runs the same through a Kafka broker and the consumer group.
Running it again appends new runs and model versions; ``--reset`` starts clean.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]

_EPILOG = """\
examples:
  pedigree demo                          # run, print, then serve on http://127.0.0.1:8080
  pedigree demo --no-serve               # run, print, exit (CI)
  pedigree demo --reset --dir /tmp/demo  # start clean in another directory
  pedigree demo --bus kafka://localhost:9092 --no-serve
"""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="run a small instrumented ML pipeline end to end and show its model's provenance",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dir",
        default=os.environ.get("PEDIGREE_HOME", "pedigree-demo"),
        help="where data, models, the spool and the warehouse go "
        "(default: $PEDIGREE_HOME or ./pedigree-demo)",
    )
    parser.add_argument("--reset", action="store_true", help="delete the directory first")
    parser.add_argument(
        "--no-serve", dest="serve", action="store_false", help="exit after printing"
    )
    parser.add_argument("--port", type=int, default=8080, help="API port (default: 8080)")
    parser.add_argument(
        "--bus",
        metavar="kafka://HOST:PORT",
        help="go through this Kafka broker and the consumer group instead of the spool",
    )
    parser.add_argument("--topic", default="pedigree.demo", help="Kafka topic with --bus")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON")
    parser.set_defaults(handler=run)


def _fail(message: str, code: int = 1) -> int:
    print(f"pedigree demo: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    bootstrap = None
    if args.bus is not None:
        if not args.bus.startswith("kafka://") or len(args.bus) <= len("kafka://"):
            return _fail(f"--bus wants kafka://HOST:PORT, got {args.bus!r}", 2)
        bootstrap = args.bus.removeprefix("kafka://")
    if not 0 < args.port < 65536:
        return _fail(f"--port {args.port} is not a TCP port", 2)
    try:
        import numpy  # noqa: F401

        from api.serve import ServeOptions, running
    except ImportError:
        return _fail("needs the server extra: pip install 'pedigree[server]'", 2)
    workdir = Path(args.dir).resolve()
    if args.reset and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    def say(text: str) -> None:
        if not args.json:
            print(text, flush=True)

    options = ServeOptions(
        clickhouse_dsn=f"chdb://{workdir / 'clickhouse'}",
        database="pedigree",
        spool_dir=None if bootstrap else str(workdir / "spool"),
        bootstrap=bootstrap,
        topic=args.topic,
        auth=False,
        poll_seconds=0.2,
    )
    started = time.monotonic()
    say(f"Pedigree demo in {workdir}")
    say("[1/5] starting Pedigree: warehouse " + options.clickhouse_dsn + ", bus "
        + (f"Kafka {bootstrap} topic {args.topic}" if bootstrap else "the spool"))  # fmt: skip
    try:
        with running(options, port=args.port if args.serve else 0) as (_service, base):
            from pedigree.demo_report import Demo

            demo = Demo(workdir, base, options, say)
            report = demo.run_all()
            say(f"done in {time.monotonic() - started:.1f} s")
            if args.json:
                print(json.dumps(report, indent=2, default=str))
            if args.serve:
                demo.print_urls(report)
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    say("stopping")
    except OSError as err:
        return _fail(f"cannot start the API on port {args.port}: {err.strerror}")
    except RuntimeError as err:
        return _fail(str(err))
    return 0
