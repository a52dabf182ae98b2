"""``pedigree run -- COMMAND``: lineage for any command, without changing its code.

Emits START, runs the command, then COMPLETE (exit code 0) or FAIL (anything else, with the
exit code or signal in the error message) — with code, environment, resources and owners
captured as for the SDK, the command's arguments recorded as parameters, and the resource
sampler watching the command's process.  The exit code is passed through unchanged (a command
killed by signal N gives 128+N, as a shell does).  SIGTERM and SIGINT are forwarded to the
command; a command that ends because of them is recorded as ABORT.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "command_parameters"]

_EPILOG = """\
examples:
  pedigree run -- python train.py --lr 0.01 --epochs 3
  pedigree run --job train --namespace vision \\
      --input s3://datasets/images@v42 --input data/labels.csv \\
      --output models/detector.pt -- python train.py
  PEDIGREE_KAFKA_BOOTSTRAP=kafka:9092 pedigree run -- ./nightly.sh

--input/--output take a local path (versioned by its content) or a URI with an optional
@VERSION (object version, commit, snapshot id). Outputs are fingerprinted after the command.
"""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="wrap any command: emit its lineage, pass its exit code through",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="pedigree run [options] -- COMMAND [ARG ...]",
    )
    parser.add_argument("--job", help="job name (default: the program's name)")
    parser.add_argument("--namespace", help="job namespace (default: PEDIGREE_NAMESPACE)")
    parser.add_argument(
        "--input", action="append", default=[], metavar="URI[@VERSION]", help="an input dataset"
    )
    parser.add_argument(
        "--output", action="append", default=[], metavar="URI[@VERSION]", help="an output dataset"
    )
    parser.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="an extra parameter"
    )
    parser.add_argument(
        "--sample-interval", type=float, help="seconds between resource samples (0: off)"
    )
    parser.add_argument(
        "--kill-after",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="after forwarding SIGTERM, SIGKILL the command if it is still running (default 30)",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    parser.set_defaults(handler=run)


def command_parameters(command: list[str]) -> dict[str, Any]:
    """The command line as parameters: ``command`` plus each ``--flag value`` / ``--flag=v``,
    secrets redacted as in the code facet (``--password X``, tokens, credentials in URLs)."""
    from emitters.capture.code import redact_arguments

    command = [command[0], *redact_arguments(command[1:])]
    params: dict[str, Any] = {"command": list(command)}
    args = command[1:]
    if Path(command[0]).name.startswith("python") and args and not args[0].startswith("-"):
        args = args[1:]  # python script.py --flags: the flags are the script's
    index = 0
    while index < len(args):
        word = args[index]
        if word.startswith("--") and len(word) > 2:
            name, eq, value = word[2:].partition("=")
            if not eq:
                has_value = index + 1 < len(args) and not args[index + 1].startswith("--")
                value = args[index + 1] if has_value else "true"
                index += 1 if has_value else 0
            params[f"args.{name}"] = value
        index += 1
    return params


def _job_name(command: list[str]) -> str:
    program = Path(command[0]).name
    if program.startswith("python") and len(command) > 1:
        if command[1] == "-m" and len(command) > 2:
            return command[2]
        if not command[1].startswith("-"):
            return Path(command[1]).name
    return program


def _terminal_already_told(pid: int) -> bool:
    """Whether a Ctrl-C reached the command directly: it is in our foreground process group."""
    try:
        return os.getpgid(pid) == os.getpgrp() == os.tcgetpgrp(sys.stdin.fileno())
    except OSError:
        return False


def _wait(process: subprocess.Popen[bytes], received: list[int], kill_after: float) -> int:
    """Wait for the command; once SIGTERM was forwarded, SIGKILL it after ``kill_after`` s."""
    while True:
        try:
            return process.wait(timeout=0.5 if signal.SIGTERM not in received else kill_after)
        except subprocess.TimeoutExpired:
            if signal.SIGTERM in received:
                print("pedigree run: the command ignored SIGTERM; killing it", file=sys.stderr)
                process.kill()
                process.wait()
                return -signal.SIGTERM  # ended because it was told to stop: an ABORT


def _fail(message: str) -> int:
    print(f"pedigree run: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from emitters.datasets import parse_dataset_arg
    from emitters.sdk import Run

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        return _fail("nothing to run: pedigree run [options] -- COMMAND [ARG ...]")
    params = command_parameters(command)
    for item in args.param:
        key, eq, value = item.partition("=")
        if not eq or not key:
            return _fail(f"--param {item!r}: expected KEY=VALUE")
        params[key] = value
    try:
        inputs = [parse_dataset_arg(text) for text in args.input]
    except (ValueError, OSError) as err:
        return _fail(f"--input: {err}")

    received: list[int] = []
    with Run(
        args.job or _job_name(command),
        namespace=args.namespace,
        params=params,
        inputs=inputs,
        sample_interval=args.sample_interval,
        command=command,
    ) as lineage:
        try:
            process = subprocess.Popen(command)
        except OSError as err:
            lineage.fail(f"could not start {command[0]!r}: {err}")
            print(f"pedigree run: could not start {command[0]!r}: {err.strerror}", file=sys.stderr)
            return 126 if isinstance(err, PermissionError) else 127  # as a shell does

        def forward(signum: int, _frame: Any) -> None:
            received.append(signum)
            if signum == signal.SIGINT and _terminal_already_told(process.pid):
                return  # Ctrl-C went to the whole foreground group, the command included
            process.send_signal(signum)

        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
        lineage.track_process(process.pid)
        try:
            code = _wait(process, received, args.kill_after)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        for text in args.output:
            try:
                lineage.output(parse_dataset_arg(text))
            except (ValueError, OSError) as err:
                print(f"pedigree run: --output {text}: {err}", file=sys.stderr)
        if code < 0 and -code in received:
            lineage.abort()
        elif code < 0:
            name = signal.strsignal(-code) or f"signal {-code}"
            lineage.fail(f"command killed by signal {-code} ({name})")
        elif code > 0:
            lineage.fail(f"command exited with code {code}")
    return 128 - code if code < 0 else code
