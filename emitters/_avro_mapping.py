"""OpenLineage JSON values <-> Avro records of Pedigree's event schema, exactly.

The mapping is compiled from the ``.avsc`` schema itself, so the schema file is the only place
that says which facets are typed.  Two rules make OpenLineage JSON -> Avro -> OpenLineage JSON an
identity (equal as JSON values, with ``true``/``1``/``1.0`` told apart):

* A value fits a typed slot only if it comes back *exactly*: strings in string slots, ``bool``
  in boolean slots, ``int`` (in range) in int/long slots, ``float`` in double slots, no explicit
  ``null`` where absence would be decoded, no unknown keys in a typed record.
* A record with an ``_extra`` field (the event, run, job, datasets and every facet container)
  keeps each key that has no typed slot, or whose value does not fit it, as JSON text in
  ``_extra``.  So an unusual standard facet is carried as JSON rather than squeezed.

Fields marked ``"pedigree.json": true`` in the schema hold JSON text on the wire and any JSON
value in OpenLineage JSON (a ``map<string>`` so marked holds one JSON text per key).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DoesNotFit", "RecordMapping", "compile_mapping"]

_INT_RANGE = (-(2**31), 2**31 - 1)
_LONG_RANGE = (-(2**63), 2**63 - 1)
_EXTRA = "_extra"


class DoesNotFit(Exception):
    """A JSON value has no exact typed representation in its slot."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def dump_json(value: object) -> str:
    """JSON text as the wire carries it: compact, UTF-8, no NaN/Infinity."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class _Node:
    def to_avro(self, value: object, path: str) -> object:
        raise NotImplementedError

    def from_avro(self, value: Any) -> object:
        raise NotImplementedError


@dataclass(frozen=True)
class _Primitive(_Node):
    kind: str

    def to_avro(self, value: object, path: str) -> object:
        kind = self.kind
        if kind == "string":
            ok = isinstance(value, str)
        elif kind == "boolean":
            ok = type(value) is bool
        elif kind in ("int", "long"):
            low, high = _INT_RANGE if kind == "int" else _LONG_RANGE
            ok = type(value) is int and low <= value <= high
        elif kind == "double":
            ok = type(value) is float
        else:  # pragma: no cover - the schema loader only compiles the kinds above
            raise AssertionError(kind)
        if not ok:
            raise DoesNotFit(path, f"{type(value).__name__} is not an exact {kind}")
        return value

    def from_avro(self, value: Any) -> object:
        return value


def _json_text(value: object, path: str) -> str:
    try:
        return dump_json(value)
    except (TypeError, ValueError) as err:
        raise DoesNotFit(path, f"not a JSON value ({err})") from err


class _JsonText(_Node):
    def to_avro(self, value: object, path: str) -> object:
        return _json_text(value, path)

    def from_avro(self, value: Any) -> object:
        return json.loads(value)


@dataclass(frozen=True)
class _Enum(_Node):
    symbols: frozenset[str]

    def to_avro(self, value: object, path: str) -> object:
        if not isinstance(value, str) or value not in self.symbols:
            raise DoesNotFit(path, f"{value!r} is not one of {sorted(self.symbols)}")
        return value

    def from_avro(self, value: Any) -> object:
        return value


@dataclass(frozen=True)
class _Array(_Node):
    items: _Node

    def to_avro(self, value: object, path: str) -> object:
        if not isinstance(value, list):
            raise DoesNotFit(path, "not an array")
        return [self.items.to_avro(item, f"{path}[{i}]") for i, item in enumerate(value)]

    def from_avro(self, value: Any) -> object:
        return [self.items.from_avro(item) for item in value]


@dataclass(frozen=True)
class _Map(_Node):
    values: _Node

    def to_avro(self, value: object, path: str) -> object:
        if not isinstance(value, dict):
            raise DoesNotFit(path, "not an object")
        return {k: self.values.to_avro(v, f"{path}.{k}") for k, v in value.items()}

    def from_avro(self, value: Any) -> object:
        return {k: self.values.from_avro(v) for k, v in value.items()}


@dataclass
class _Field:
    name: str
    node: _Node
    nullable: bool
    branch: str  # fastavro's name for the non-null branch of a ["null", T] union


@dataclass
class RecordMapping(_Node):
    """One Avro record type and how JSON objects map onto it."""

    name: str
    fields: list[_Field] = field(default_factory=list)
    has_extra: bool = False

    def to_avro(self, value: object, path: str) -> dict[str, object]:
        if not isinstance(value, dict):
            raise DoesNotFit(path, "not an object")
        out: dict[str, object] = {}
        extra: dict[str, str] = {}
        present = 0
        for f in self.fields:
            fpath = f"{path}.{f.name}" if path else f.name
            if f.name not in value:
                if not f.nullable:
                    raise DoesNotFit(fpath, "required field is missing")
                out[f.name] = None
                continue
            present += 1
            item = value[f.name]
            try:
                if item is None:
                    raise DoesNotFit(fpath, "explicit null")
                converted = f.node.to_avro(item, fpath)
                # fastavro's tuple notation names the union branch; without it fastavro picks
                # the branch by validating the value against each branch, deeply, every time.
                out[f.name] = (f.branch, converted) if f.nullable else converted
            except DoesNotFit:
                if not (self.has_extra and f.nullable):
                    raise
                out[f.name] = None
                extra[f.name] = _json_text(item, fpath)
        if len(value) > present:  # keys without a typed field
            known = {f.name for f in self.fields}
            for key, item in value.items():
                if key not in known:
                    kpath = f"{path}.{key}" if path else key
                    if not self.has_extra:
                        raise DoesNotFit(kpath, "no such field in the typed record")
                    extra[key] = _json_text(item, kpath)
        if self.has_extra:
            out[_EXTRA] = extra
        return out

    def from_avro(self, value: Any) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in self.fields:
            item = value[f.name]
            if item is not None:
                out[f.name] = f.node.from_avro(item)
        if self.has_extra:
            for key, text in value[_EXTRA].items():
                if key in out:
                    raise ValueError(f"{key!r} is both a typed field and in {_EXTRA}")
                out[key] = json.loads(text)
        return out


_JSON = _JsonText()


def compile_mapping(schema: Mapping[str, Any]) -> RecordMapping:
    """Compile the mapping for a top-level record schema (a parsed ``.avsc`` JSON document)."""
    named: dict[str, _Node] = {}
    namespace = str(schema.get("namespace", ""))

    def fullname(name: str) -> str:
        return name if "." in name or not namespace else f"{namespace}.{name}"

    def branch_name(avro_type: Any) -> str:
        if isinstance(avro_type, str):
            return fullname(avro_type) if fullname(avro_type) in named else avro_type
        if avro_type["type"] in ("record", "enum"):
            return fullname(avro_type["name"])
        return str(avro_type["type"])

    def compile_type(avro_type: Any, as_json: bool) -> tuple[_Node, bool]:
        """Return (node, nullable) for a field type."""
        if isinstance(avro_type, list):
            branches = [b for b in avro_type if b != "null"]
            if len(branches) != 1 or len(avro_type) != 2:
                raise ValueError(f"only [null, T] unions are supported, got {avro_type}")
            node, _ = compile_type(branches[0], as_json)
            return node, True
        if isinstance(avro_type, str):
            if avro_type in named or fullname(avro_type) in named:
                return named.get(avro_type) or named[fullname(avro_type)], False
            if as_json:
                if avro_type != "string":
                    raise ValueError("pedigree.json applies to string slots")
                return _JSON, False
            return _Primitive(avro_type), False
        kind = avro_type["type"]
        if kind == "record":
            record = RecordMapping(name=avro_type["name"])
            named[fullname(avro_type["name"])] = record
            for f in avro_type["fields"]:
                if f["name"] == _EXTRA:
                    record.has_extra = True
                    continue
                node, nullable = compile_type(f["type"], bool(f.get("pedigree.json")))
                branch = next(b for b in f["type"] if b != "null") if nullable else f["type"]
                record.fields.append(_Field(f["name"], node, nullable, branch_name(branch)))
            return record, False
        if kind == "enum":
            node = _Enum(frozenset(avro_type["symbols"]))
            named[fullname(avro_type["name"])] = node
            return node, False
        if kind == "array":
            return _Array(compile_type(avro_type["items"], as_json)[0]), False
        if kind == "map":
            return _Map(compile_type(avro_type["values"], as_json)[0]), False
        return compile_type(kind, as_json)

    top, _ = compile_type(dict(schema), False)
    if not isinstance(top, RecordMapping):
        raise ValueError("the event schema must be a record")
    return top
