"""``pedigree token``: a new API token and the entry that grants it, for the token file.

The token is printed once, to give to its user; the file keeps only its SHA-256.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser"]

_EPILOG = """\
examples:
  pedigree token --name vision-team --read vision --read 's3://vision-*' --write vision
  pedigree token --name auditors --read '*'
  pedigree token --name ci --write ci --json | jq -r .token

Add the printed entry to the "tokens" list of the file `pedigree serve --tokens FILE` reads
({"tokens": [...]}); give the token to its user, who sends 'Authorization: Bearer <token>'.
"""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "token",
        help="create an API token scoped to namespaces (prints the token and its file entry)",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--name", required=True, help="who the token is for (shown in logs)")
    parser.add_argument(
        "--read", action="append", default=[], metavar="PATTERN",
        help="a namespace (or glob) it may read, repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--write", action="append", default=[], metavar="PATTERN",
        help="a namespace (or glob) it may write (and read), repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--json", action="store_true", help='print {"token": ..., "entry": {...}} for scripts'
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from api.auth import hash_token, new_token

    if not args.read and not args.write:
        print("pedigree token: give at least one --read or --write namespace", file=sys.stderr)
        return 2
    token = new_token()
    entry = {"name": args.name, "sha256": hash_token(token), "read": args.read,
             "write": args.write}  # fmt: skip
    if args.json:
        print(json.dumps({"token": token, "entry": entry}))
        return 0
    print(f"token (give it to {args.name}; it is not stored anywhere): {token}")
    print("entry for the token file:")
    print(json.dumps(entry, indent=2))
    return 0
