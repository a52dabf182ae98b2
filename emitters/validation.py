"""Validate OpenLineage events: Pedigree's own checker for the OpenLineage 2-0-x JSON Schema.

``validate_event(event)`` takes a decoded JSON event (a ``dict``) and returns its kind
(``"run"``, ``"dataset"`` or ``"job"``), or raises ``InvalidEvent`` naming the first offending
field (``run.runId``, ``inputs[0].facets.schema.fields[1].name``) and why.  It is pure code with
no dependency beyond the standard library; the model it checks against is the hand-written
transcription in ``emitters._facet_specs``, compiled at import into one Python function per
object, array and map of the model (see "The spec model compiled to Python" below).

Its verdict is the one a JSON Schema Draft 2020-12 validator gives for ``spec/OpenLineage.json``
with each standard facet also checked against its own schema, chosen by its key in its
container (``run.facets``, ``job.facets``, dataset ``facets``, ``inputFacets``,
``outputFacets``): a facet's ``_schemaURL`` is not trusted to resolve.  Custom facets (any other
key) get the base facet checks of the core schema only: an object with string ``_producer``
and ``_schemaURL``, and a boolean ``_deleted`` if present on job and dataset facets.  The event
is a ``oneOf`` of RunEvent (``run`` and ``job``), DatasetEvent (``dataset``, and not both
``job`` and ``run``) and JobEvent (``job`` and no ``run``), decided as JSON Schema decides it:
an event with ``dataset`` and ``job`` but no ``run`` matches two branches and is invalid.

Formats are checked as jsonschema's ``FormatChecker`` checks them:

- ``uuid``: ``uuid.UUID`` accepts it and it has hyphens at offsets 8, 13, 18 and 23;
- ``date-time``: RFC 3339 section 5.6, as the ``rfc3339-validator`` package (jsonschema's
  checker for it) decides: ``T`` and ``Z`` in any case, a fraction of any length, an offset
  required, no leap seconds, real calendar days;
- ``uri`` is *not* enforced: jsonschema only checks it when ``rfc3987`` or
  ``rfc3986-validator`` is installed, and producers routinely send plain names.

Nesting deeper than ``MAX_DEPTH`` levels (e.g. schema facet ``fields`` in ``fields``) is
rejected with an ``InvalidEvent`` rather than walked: a JSON Schema validator would accept it,
but no real event nests that deep and the walk stays bounded.
"""

from __future__ import annotations

import calendar
import json
import numbers
import re
import uuid
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Literal, TypeGuard

from emitters._facet_specs import (
    DEFS,
    EVENTS,
    STANDARD_FACETS,
    AnyValue,
    Arr,
    Bool,
    Const,
    Facets,
    Int,
    MapOf,
    Num,
    Obj,
    OneOf,
    Ref,
    Spec,
    Str,
    facet_base,
)
from emitters.errors import InvalidEvent

__all__ = ["MAX_DEPTH", "EventKind", "event_kind", "validate_event"]

EventKind = Literal["run", "dataset", "job"]

MAX_DEPTH = 64
"""The deepest nesting (objects and arrays, counted from the event) that is validated."""

_Path = tuple[str | int, ...]

_RFC3339 = re.compile(
    r"^(\d{4})-(0[1-9]|1[0-2])-(\d{2})T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$",
    re.ASCII,
)
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_PLAIN_KEY = re.compile(r"[^.\[\]\"\s]+")
_BASES = {container: facet_base(container) for container in STANDARD_FACETS}


def validate_event(event: object) -> EventKind:
    """Return the kind of a valid OpenLineage event; raise ``InvalidEvent`` otherwise."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"an event must be a JSON object, got {_type_name(event)}")
    try:
        # Only the branches an event could match are checked: RunEvent needs run and job,
        # DatasetEvent needs dataset and forbids run with job, JobEvent needs job and forbids
        # run.  Any other branch fails whatever the rest of the event holds, and its error is
        # only reported (below) when it is the intended kind, so it is checked only then.
        has_run, has_job = "run" in event, "job" in event
        candidates: tuple[tuple[EventKind, bool], ...] = (
            ("run", has_run and has_job),
            ("dataset", "dataset" in event and not (has_run and has_job)),
            ("job", has_job and not has_run),
        )
        errors: dict[EventKind, _Fail] = {}
        valid: list[EventKind] = []
        for kind, possible in candidates:
            if possible:
                if (fail := _first_error(kind, event)) is None:
                    valid.append(kind)
                else:
                    errors[kind] = fail
        if len(valid) == 1:
            return valid[0]
        if valid:  # dataset and job, no run: both DatasetEvent and JobEvent
            raise InvalidEvent(
                "a DatasetEvent must not have a job "
                "(this event is both a DatasetEvent and a JobEvent)",
                "job",
            )
        intended = _intended_kind(event)
        error = errors[intended] if intended in errors else _first_error(intended, event)
    except RecursionError as err:  # only if the caller's own stack is nearly exhausted
        raise InvalidEvent("is nested too deeply to validate") from err
    if error is None:  # pragma: no cover - the chosen branch failed, by construction
        raise AssertionError(error)
    path = tuple(reversed(error.rev))
    reason = error.reason
    if path == ("run",) and "job" not in event and "dataset" not in event:
        reason = "is required: an event has a run and a job, a dataset, or a job"
    raise InvalidEvent(reason, _format_path(path))


def event_kind(event: Mapping[str, object]) -> EventKind:
    """The kind an event claims by its keys, without validating it.

    ``run`` (with ``job``, or without ``dataset``) makes a RunEvent, else ``dataset`` a
    DatasetEvent, else a JobEvent; ``validate_event`` returns the same kind for a valid event.
    """
    return _intended_kind(event)


def _intended_kind(event: Mapping[str, object]) -> EventKind:
    """The branch whose error explains best why an event matched no branch."""
    if "run" in event and ("job" in event or "dataset" not in event):
        return "run"
    if "dataset" in event:
        return "dataset"
    if "job" in event:
        return "job"
    return "run"


def _first_error(kind: EventKind, event: dict[object, object]) -> _Fail | None:
    try:
        _checkers()[kind](event, 0)
    except _Fail as fail:
        return fail
    return None


# --- The spec model compiled to Python ------------------------------------------------------
#
# Each spec node that holds other values (Obj, Arr, MapOf, Facets, OneOf) becomes one generated
# function ``check(value, depth)`` that returns on success and raises ``_Fail`` with the first
# error, exactly as a walk of the model in the order below would find it; the checks of strings,
# numbers, booleans and constants are written out inline in their parent's function.  ``depth``
# is the number of path segments down to ``value``; the path itself is only built on failure,
# innermost segment first, as ``_Fail`` propagates out through each parent.
#
# The order of the checks, which decides which error is the first:
#
# - a value that holds others: nested deeper than ``MAX_DEPTH`` (a dict or a list), then its type;
# - ``Obj``: required properties that have no schema, then each property in declaration order
#   (missing when required, or its own error), then ``dependent``, ``forbid_all``, and the
#   additional properties in the value's order;
# - ``Arr``, ``MapOf``, ``Facets``: the items in order;
# - ``OneOf``: every branch; one match is valid, several are an error, none reports the error of
#   the branch named by the tag (or the tag being missing or unknown);
# - ``Str``: type, ``enum``, ``format``; ``Int``: type, ``minimum``.


class _Fail(Exception):
    """The first error found under a value: why, and the path to it (innermost first)."""

    def __init__(self, reason: str, *rev: str | int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rev = list(rev)


_Checker = Callable[[object, int], None]


class _Compiler:
    """Generates the source of the checking functions of the spec model."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}  # id(spec) -> its function's name
        self.specs: list[Spec] = []  # keeps every compiled spec alive (ids stay unique)
        self.constants: dict[str, object] = {}
        self.tables: dict[str, dict[str, str]] = {}  # key -> function name, bound after exec
        self.sources: list[str] = []

    def constant(self, value: object) -> str:
        """The name the generated code uses for ``value``."""
        name = f"_K{len(self.constants) + len(self.tables)}"
        self.constants[name] = value
        return name

    def late(self, functions: dict[str, str]) -> str:
        """The name of a table of functions by key, filled in once every function is defined."""
        name = f"_K{len(self.constants) + len(self.tables)}"
        self.tables[name] = functions
        return name

    def function(self, spec: Spec) -> str:
        """The name of the function that checks ``spec`` (generated on first use)."""
        while isinstance(spec, Ref):
            spec = DEFS[spec.name]
        if id(spec) in self.names:
            return self.names[id(spec)]
        name = f"_check_{len(self.names)}_{type(spec).__name__}"
        self.names[id(spec)] = name  # before the body: recursive definitions call themselves
        self.specs.append(spec)
        lines = [
            f"def {name}(value, depth):",
            "    if depth >= MAX_DEPTH and isinstance(value, (dict, list)):",
            "        raise _Fail(_TOO_DEEP)",
        ]
        if isinstance(spec, Arr):
            lines += [
                "    if not isinstance(value, list):",
                "        raise _Fail(_type_error('an array', value))",
            ]
        else:
            lines += [
                "    if not isinstance(value, dict):",
                "        raise _Fail(_type_error('an object', value))",
            ]
        if isinstance(spec, Obj):
            lines += self.obj(spec)
        elif isinstance(spec, Arr):
            if not isinstance(spec.items, AnyValue):
                lines += ["    depth += 1", "    for index, item in enumerate(value):"]
                lines += self.check(spec.items, "item", "index", "        ")
        elif isinstance(spec, MapOf):
            lines += ["    depth += 1", "    for key, item in value.items():"]
            lines += self.check(spec.values, "item", "_key(key)", "        ")
        elif isinstance(spec, Facets):
            standard = STANDARD_FACETS[spec.container] if spec.keyed else {}
            table = self.late({key: self.function(facet) for key, facet in standard.items()})
            base = self.function(_BASES[spec.container])
            lines += [
                "    depth += 1",
                "    for key, item in value.items():",
                f"        check = {table}.get(key, {base}) if isinstance(key, str) else {base}",
                "        try:",
                "            check(item, depth)",
                "        except _Fail as fail:",
                "            fail.rev.append(_key(key))",
                "            raise",
            ]
        elif isinstance(spec, OneOf):
            branches = self.late({tag: self.function(b) for tag, b in spec.branches.items()})
            lines.append(f"    _one_of({spec.tag!r}, {branches}, value, depth)")
        else:  # pragma: no cover - AnyValue and the scalars are checked inline
            raise AssertionError(spec)
        self.sources.append("\n".join(lines))
        return name

    def obj(self, spec: Obj) -> list[str]:
        lines: list[str] = []
        unschemed = tuple(name for name in spec.required if name not in spec.props)
        if unschemed:
            lines += [
                f"    for name in {unschemed!r}:",
                "        if name not in value:",
                "            raise _Fail('is required', name)",
            ]
        if spec.props:
            lines.append("    depth += 1")
        for name, prop in spec.props.items():
            lines.append(f"    if {name!r} in value:")
            lines += self.check(prop, f"value[{name!r}]", repr(name), "        ")
            if name in spec.required:
                lines += ["    else:", f"        raise _Fail('is required', {name!r})"]
        for name, needs in spec.dependent.items():
            for need in needs:
                reason = f"is required when {name!r} is present"
                lines += [
                    f"    if {name!r} in value and {need!r} not in value:",
                    f"        raise _Fail({reason!r}, {need!r})",
                ]
        if spec.forbid_all:
            present = " and ".join(f"{name!r} in value" for name in spec.forbid_all)
            lines += [
                f"    if {present}:",
                f"        raise _Fail('is not allowed in this event', {spec.forbid_all[0]!r})",
            ]
        if spec.extra is None or not isinstance(spec.extra, AnyValue):
            props = self.constant(frozenset(spec.props))
            if not spec.props:
                lines.append("    depth += 1")
            lines += [
                "    for key, item in value.items():",
                f"        if isinstance(key, str) and key in {props}:",
                "            continue",
            ]
            if spec.extra is None:
                lines.append("        raise _Fail('is not an allowed property', _key(key))")
            else:
                lines += self.check(spec.extra, "item", "_key(key)", "        ")
        return lines

    def check(self, spec: Spec, value: str, segment: str, pad: str) -> list[str]:
        """Lines that check the value of expression ``value`` (at path segment ``segment``
        below the current function's value, at ``depth``)."""
        while isinstance(spec, Ref):
            spec = DEFS[spec.name]
        if isinstance(spec, AnyValue):
            return [f"{pad}pass"]
        if isinstance(spec, Arr | Obj | MapOf | Facets | OneOf):
            return [
                f"{pad}try:",
                f"{pad}    {self.function(spec)}({value}, depth)",
                f"{pad}except _Fail as fail:",
                f"{pad}    fail.rev.append({segment})",
                f"{pad}    raise",
            ]
        lines = [f"{pad}v = {value}"]

        def fail_if(condition: str, reason: str) -> None:
            lines.extend([f"{pad}if {condition}:", f"{pad}    raise _Fail({reason}, {segment})"])

        if isinstance(spec, Str):
            fail_if("not isinstance(v, str)", "_type_error('a string', v)")
            if spec.enum:
                prefix = f"must be one of {', '.join(spec.enum)}, got "
                fail_if(f"v not in {self.constant(frozenset(spec.enum))}", f"{prefix!r} + repr(v)")
            if spec.format == "uuid":
                fail_if("not _is_uuid(v)", "'is not a valid UUID'")
            elif spec.format == "date-time":
                fail_if("not _is_rfc3339(v)", "'is not an RFC 3339 date-time'")
        elif isinstance(spec, Int):
            fail_if("type(v) is not int and not _is_integer(v)", "_type_error('an integer', v)")
            if spec.minimum is not None:
                prefix = f"must be at least {spec.minimum}, got "
                fail_if(f"v < {spec.minimum!r}", f"{prefix!r} + repr(v)")
        elif isinstance(spec, Num):
            fail_if(
                "type(v) is not float and type(v) is not int"
                " and (isinstance(v, bool) or not isinstance(v, numbers.Number))",
                "_type_error('a number', v)",
            )
        elif isinstance(spec, Bool):
            fail_if("not isinstance(v, bool)", "_type_error('a boolean', v)")
        elif isinstance(spec, Const):
            prefix = f"must be {spec.value!r}, got "
            fail_if(f"not (isinstance(v, str) and v == {spec.value!r})", f"{prefix!r} + _show(v)")
        else:  # pragma: no cover - every kind of spec is handled above
            raise AssertionError(spec)
        return lines


def _one_of(
    tag: str, branches: dict[str, _Checker], value: dict[object, object], depth: int
) -> None:
    """A ``OneOf``'s verdict: exactly one branch matches, or the error that explains why not."""
    errors: dict[str, _Fail] = {}
    matched: list[str] = []
    for name, branch in branches.items():
        try:
            branch(value, depth)
        except _Fail as fail:
            errors[name] = fail
        else:
            matched.append(name)
    if len(matched) == 1:
        return
    if matched:
        raise _Fail(f"matches more than one of {', '.join(matched)}")
    found = value.get(tag)
    if isinstance(found, str) and found in errors:
        raise errors[found]
    if tag not in value:
        raise _Fail("is required", tag)
    raise _Fail(f"must be one of {', '.join(branches)}, got {_show(found)}", tag)


@cache
def _checkers() -> dict[EventKind, _Checker]:
    """The checking function of each event kind, compiled on first use (not at import: the
    emitter imports this module in the training job's process)."""
    return _compile()[0]


def _compile() -> tuple[dict[EventKind, _Checker], str]:
    """The checking function of each event kind, and the generated source (for reading)."""
    compiler = _Compiler()
    tops = {kind: compiler.function(spec) for kind, spec in EVENTS.items()}
    source = "\n\n\n".join(compiler.sources) + "\n"
    namespace: dict[str, Any] = {
        "MAX_DEPTH": MAX_DEPTH,
        "_TOO_DEEP": f"is nested deeper than {MAX_DEPTH} levels",
        "_Fail": _Fail,
        "_key": _key,
        "_type_error": _type_error,
        "_show": _show,
        "_is_uuid": _is_uuid,
        "_is_rfc3339": _is_rfc3339,
        "_is_integer": _is_integer,
        "_one_of": _one_of,
        "numbers": numbers,
        **compiler.constants,
    }
    exec(compile(source, "<emitters.validation checks>", "exec"), namespace)  # noqa: S102
    for name, table in compiler.tables.items():
        namespace[name] = {key: namespace[function] for key, function in table.items()}
    return {kind: namespace[function] for kind, function in tops.items()}, source


def _is_integer(value: object) -> TypeGuard[int | float]:
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


def _is_uuid(value: str) -> bool:
    if _CANONICAL_UUID.fullmatch(value):  # the usual spelling, which the check below accepts
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return all(value[position] == "-" for position in (8, 13, 18, 23))


def _is_rfc3339(value: str) -> bool:
    match = _RFC3339.match(value.upper())
    if match is None:
        return False
    year, month, day = match.groups()
    number = int(day)
    if number <= 28:  # every month has 28 days: the calendar is only needed beyond
        return number >= 1 and year != "0000"
    return year != "0000" and number <= calendar.monthrange(int(year), int(month))[1]


def _key(key: object) -> str | int:
    return key if isinstance(key, str) else repr(key)


def _format_path(path: _Path) -> str:
    parts: list[str] = []
    for segment in path:
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
        elif _PLAIN_KEY.fullmatch(segment):
            parts.append(f".{segment}" if parts else segment)
        else:
            parts.append(f"[{json.dumps(segment, ensure_ascii=False)}]")
    return "".join(parts)


def _type_error(expected: str, value: object) -> str:
    return f"must be {expected}, got {_type_name(value)}"


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    for kind, name in ((str, "string"), (int, "integer"), (float, "number")):
        if isinstance(value, kind):
            return name
    if isinstance(value, dict):
        return "object"
    return "array" if isinstance(value, list) else type(value).__name__


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."
