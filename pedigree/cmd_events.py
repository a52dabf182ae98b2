"""``pedigree events validate|encode|decode``: debug events by hand.

* ``validate FILE...`` checks OpenLineage JSON (one event, or a JSON array of events, per file)
  with Pedigree's validator; one line per bad event, exit status 1 if any is bad.
* ``encode FILE...`` turns OpenLineage JSON into Avro single-object bytes (what emitters send).
* ``decode FILE...`` turns a message (Avro single-object, or OpenLineage JSON) back into JSON.

``-`` reads standard input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]

_EPILOG = """\
examples:
  pedigree events validate run.json more/*.json
  pedigree events encode run.json > run.avro          (or -o run.avro)
  pedigree events encode a.json b.json --out-dir wire/ (writes wire/a.avro, wire/b.avro)
  pedigree events decode run.avro --pretty
  cat run.json | pedigree events encode - | pedigree events decode -
"""


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "events",
        help="validate, encode and decode OpenLineage events",
        description=__doc__,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    validate = actions.add_parser(
        "validate",
        help="check OpenLineage JSON files against the spec",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("files", nargs="+", metavar="FILE", help="JSON file, or - for stdin")
    validate.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    validate.set_defaults(handler=_validate)
    encode = actions.add_parser(
        "encode",
        help="OpenLineage JSON -> Avro single-object bytes",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    encode.add_argument("files", nargs="+", metavar="FILE", help="JSON file, or - for stdin")
    encode.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout)")
    encode.add_argument(
        "--out-dir", metavar="DIR", help="with several files: write DIR/<name>.avro"
    )
    encode.set_defaults(handler=_encode)
    decode = actions.add_parser(
        "decode",
        help="Avro single-object (or JSON) message -> OpenLineage JSON",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    decode.add_argument("files", nargs="+", metavar="FILE", help="message file, or - for stdin")
    decode.add_argument("--pretty", action="store_true", help="indent the JSON")
    decode.set_defaults(handler=_decode)


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


def _fail(name: str, reason: object) -> None:
    print(f"{name}: {reason}", file=sys.stderr)


def _events_in(name: str) -> list[tuple[str, Any]]:
    """(label, event) pairs of a JSON file holding one event or an array of events."""
    from emitters.codec import parse_json
    from emitters.errors import InvalidEvent

    data = _read(name)
    stripped = data.lstrip()
    if stripped.startswith(b"["):
        try:
            items = json.loads(stripped)
        except ValueError as err:
            raise InvalidEvent(f"not valid JSON: {err}") from err
        return [(f"{name}[{i}]", item) for i, item in enumerate(items)]
    return [(name, parse_json(data))]


def _validate(args: argparse.Namespace) -> int:
    from emitters.errors import InvalidEvent
    from emitters.validation import validate_event

    bad = 0
    for name in args.files:
        try:
            events = _events_in(name)
        except (OSError, InvalidEvent) as err:
            _fail(name, err)
            bad += 1
            continue
        for label, event in events:
            try:
                kind = validate_event(event)
            except InvalidEvent as err:
                _fail(label, err)
                bad += 1
            else:
                if not args.quiet:
                    event_type = event.get("eventType", "") if kind == "run" else ""
                    print(f"{label}: ok ({kind} event {event_type})".rstrip())
    return 1 if bad else 0


def _encode(args: argparse.Namespace) -> int:
    from emitters.codec import encode
    from emitters.errors import InvalidEvent

    if len(args.files) > 1 and not args.out_dir:
        _fail("pedigree events encode", "several files need --out-dir DIR")
        return 2
    bad = 0
    for name in args.files:
        try:
            events = _events_in(name)
            if len(events) != 1:
                raise InvalidEvent(f"holds {len(events)} events; encode takes one per file")
            message = encode(events[0][1])
        except (OSError, InvalidEvent) as err:
            _fail(name, err)
            bad += 1
            continue
        if args.out_dir:
            out_dir = Path(args.out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            stem = "stdin" if name == "-" else Path(name).stem
            (out_dir / f"{stem}.avro").write_bytes(message)
        elif args.output and args.output != "-":
            Path(args.output).write_bytes(message)
        else:
            sys.stdout.buffer.write(message)
            sys.stdout.buffer.flush()
    return 1 if bad else 0


def _decode(args: argparse.Namespace) -> int:
    from emitters.codec import decode
    from emitters.errors import InvalidEvent

    bad = 0
    for name in args.files:
        try:
            event = decode(_read(name))
        except (OSError, InvalidEvent) as err:
            _fail(name, err)
            bad += 1
            continue
        print(json.dumps(event, indent=2 if args.pretty else None, ensure_ascii=False))
    return 1 if bad else 0
