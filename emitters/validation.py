"""Validate OpenLineage events: Pedigree's own checker for the OpenLineage 2-0-x JSON Schema.

``validate_event(event)`` takes a decoded JSON event (a ``dict``) and returns its kind
(``"run"``, ``"dataset"`` or ``"job"``), or raises ``InvalidEvent`` naming the first offending
field (``run.runId``, ``inputs[0].facets.schema.fields[1].name``) and why.  It is pure code with
no dependency beyond the standard library; the model it checks against is the hand-written
transcription in ``emitters._facet_specs``.

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
from collections.abc import Mapping
from typing import Literal, TypeGuard

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
_Error = tuple[_Path, str]

_RFC3339 = re.compile(
    r"^(\d{4})-(0[1-9]|1[0-2])-(\d{2})T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?"
    r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)$",
    re.ASCII,
)
_PLAIN_KEY = re.compile(r"[^.\[\]\"\s]+")
_BASES = {container: facet_base(container) for container in STANDARD_FACETS}


def validate_event(event: object) -> EventKind:
    """Return the kind of a valid OpenLineage event; raise ``InvalidEvent`` otherwise."""
    if not isinstance(event, dict):
        raise InvalidEvent(f"an event must be a JSON object, got {_type_name(event)}")
    try:
        errors = {kind: _check(spec, event, ()) for kind, spec in EVENTS.items()}
    except RecursionError as err:  # only if the caller's own stack is nearly exhausted
        raise InvalidEvent("is nested too deeply to validate") from err
    valid = [kind for kind, error in errors.items() if error is None]
    if len(valid) == 1:
        return valid[0]
    if valid:  # dataset and job, no run: both DatasetEvent and JobEvent
        raise InvalidEvent(
            "a DatasetEvent must not have a job (this event is both a DatasetEvent and a JobEvent)",
            "job",
        )
    error = errors[_intended_kind(event)]
    if error is None:  # pragma: no cover - the chosen branch failed, by construction
        raise AssertionError(error)
    path, reason = error
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


def _check(spec: Spec, value: object, path: _Path) -> _Error | None:
    """The first error of ``value`` against ``spec``, or ``None`` if it is valid."""
    while isinstance(spec, Ref):
        spec = DEFS[spec.name]
    if isinstance(spec, AnyValue):
        return None
    if isinstance(spec, Str):
        return _check_str(spec, value, path)
    if isinstance(spec, Int):
        if not _is_integer(value):
            return path, _type_error("an integer", value)
        if spec.minimum is not None and value < spec.minimum:
            return path, f"must be at least {spec.minimum}, got {value!r}"
        return None
    if isinstance(spec, Num):
        if isinstance(value, bool) or not isinstance(value, numbers.Number):
            return path, _type_error("a number", value)
        return None
    if isinstance(spec, Bool):
        return None if isinstance(value, bool) else (path, _type_error("a boolean", value))
    if isinstance(spec, Const):
        if isinstance(value, str) and value == spec.value:
            return None
        return path, f"must be {spec.value!r}, got {_show(value)}"
    if isinstance(value, dict | list) and len(path) >= MAX_DEPTH:
        return path, f"is nested deeper than {MAX_DEPTH} levels"
    if isinstance(spec, Arr):
        if not isinstance(value, list):
            return path, _type_error("an array", value)
        for index, item in enumerate(value):
            if error := _check(spec.items, item, (*path, index)):
                return error
        return None
    if not isinstance(value, dict):
        return path, _type_error("an object", value)
    if isinstance(spec, Obj):
        return _check_obj(spec, value, path)
    if isinstance(spec, MapOf):
        for key, item in value.items():
            if error := _check(spec.values, item, (*path, _key(key))):
                return error
        return None
    if isinstance(spec, Facets):
        standard = STANDARD_FACETS[spec.container] if spec.keyed else {}
        base = _BASES[spec.container]
        for key, item in value.items():
            facet = standard.get(key, base) if isinstance(key, str) else base
            if error := _check(facet, item, (*path, _key(key))):
                return error
        return None
    return _check_one_of(spec, value, path)


def _check_str(spec: Str, value: object, path: _Path) -> _Error | None:
    if not isinstance(value, str):
        return path, _type_error("a string", value)
    if spec.enum and value not in spec.enum:
        return path, f"must be one of {', '.join(spec.enum)}, got {value!r}"
    if spec.format == "uuid" and not _is_uuid(value):
        return path, "is not a valid UUID"
    if spec.format == "date-time" and not _is_rfc3339(value):
        return path, "is not an RFC 3339 date-time"
    return None


def _check_obj(spec: Obj, value: dict[object, object], path: _Path) -> _Error | None:
    for name in spec.required:
        if name not in value and name not in spec.props:
            return (*path, name), "is required"
    for name, prop in spec.props.items():
        if name in value:
            if error := _check(prop, value[name], (*path, name)):
                return error
        elif name in spec.required:
            return (*path, name), "is required"
    for name, needs in spec.dependent.items():
        for need in needs:
            if name in value and need not in value:
                return (*path, need), f"is required when {name!r} is present"
    if spec.forbid_all and all(name in value for name in spec.forbid_all):
        return (*path, spec.forbid_all[0]), "is not allowed in this event"
    if not isinstance(spec.extra, AnyValue):
        for key, item in value.items():
            if isinstance(key, str) and key in spec.props:
                continue
            if spec.extra is None:
                return (*path, _key(key)), "is not an allowed property"
            if error := _check(spec.extra, item, (*path, _key(key))):
                return error
    return None


def _check_one_of(spec: OneOf, value: dict[object, object], path: _Path) -> _Error | None:
    errors = {name: _check(branch, value, path) for name, branch in spec.branches.items()}
    matched = [name for name, error in errors.items() if error is None]
    if len(matched) == 1:
        return None
    if matched:
        return path, f"matches more than one of {', '.join(matched)}"
    tag = value.get(spec.tag)
    if isinstance(tag, str) and tag in errors:
        return errors[tag]
    if spec.tag not in value:
        return (*path, spec.tag), "is required"
    return (*path, spec.tag), f"must be one of {', '.join(spec.branches)}, got {_show(tag)}"


def _is_integer(value: object) -> TypeGuard[int | float]:
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return all(value[position] == "-" for position in (8, 13, 18, 23))


def _is_rfc3339(value: str) -> bool:
    match = _RFC3339.match(value.upper())
    if match is None:
        return False
    year, month, day = (int(group) for group in match.groups())
    return year != 0 and 1 <= day <= calendar.monthrange(year, month)[1]


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
