"""The ``pedigree`` command: one entry point, one subcommand per part.

Subcommands import their part only when they run, so ``pedigree --help`` and the emitter-side
commands start fast and work with the light ``pedigree[emit]`` install.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pedigree import (
    __version__,
    cmd_consume,
    cmd_demo,
    cmd_events,
    cmd_migrate,
    cmd_query,
    cmd_rebuild,
    cmd_run,
    cmd_serve,
    cmd_spool,
    cmd_token,
    cmd_topics,
    cmd_watch_k8s,
)

__all__ = ["main"]

_EPILOG = """\
examples:
  pedigree demo                         run the demo pipeline on the embedded default
  pedigree provenance demo-classifier 2 where did that model version come from?
  pedigree rerun RUN_ID --format k8s    a Kubernetes Job that runs it again
  pedigree events validate event.json   check OpenLineage JSON against the spec
  pedigree events encode event.json > event.avro
  pedigree events decode event.avro

Every subcommand has its own --help.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pedigree",
        description=(
            "Pedigree: lineage for ML models. Emit OpenLineage events from training jobs, "
            "materialize them in ClickHouse, and ask where a model came from."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pedigree {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    cmd_run.add_parser(commands)
    cmd_events.add_parser(commands)
    cmd_spool.add_parser(commands)
    cmd_watch_k8s.add_parser(commands)
    cmd_migrate.add_parser(commands)
    cmd_consume.add_parser(commands)
    cmd_topics.add_parser(commands)
    cmd_rebuild.add_parser(commands)
    cmd_serve.add_parser(commands)
    cmd_token.add_parser(commands)
    cmd_query.add_parsers(commands)
    cmd_demo.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        print("pedigree: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `pedigree events decode x | head`
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
