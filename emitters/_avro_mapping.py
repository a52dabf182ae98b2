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

:func:`compile_reader` generates, from the same schema, a reader that decodes an Avro body
straight into the OpenLineage JSON ``RecordMapping.from_avro`` gives for fastavro's record.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DoesNotFit",
    "NotPlain",
    "Reader",
    "RecordMapping",
    "Unsupported",
    "compile_mapping",
    "compile_reader",
]

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


# --- Reading: Avro binary straight to OpenLineage JSON ----------------------------------------
#
# ``fastavro.schemaless_reader`` followed by ``RecordMapping.from_avro`` walks the schema tree
# twice per message and builds an intermediate record.  ``compile_reader`` instead generates one
# Python function per record type of the schema, with every field's read written out inline, that
# decodes the Avro binary body directly into the OpenLineage JSON ``from_avro`` returns.
#
# The generated reader is a fast path, not a second source of truth: it handles only the plain,
# canonical encodings Pedigree's writer produces (single-byte union indexes 0/2, booleans 0/1,
# varints of at most 9 bytes, non-negative block counts, ...) and raises on anything else -- a
# truncated body, bad UTF-8, an unusual but legal encoding, a key both typed and in ``_extra``.
# The caller then decodes the message the authoritative way (fastavro + ``from_avro``), which
# either returns the same value or names the error.  Whenever the fast reader returns, its value
# is exactly the one fastavro + ``from_avro`` give.

Reader = Callable[[bytes, int], tuple[dict[str, Any], int]]
"""``reader(message, offset) -> (event, end)``: the record encoded from ``offset`` and where it
ends; any exception means "decode this message the authoritative way"."""


class Unsupported(ValueError):
    """A schema construct :func:`compile_reader` has no fast path for."""


class NotPlain(Exception):
    """The body is not in the plain encoding the fast reader handles (or is not valid at all)."""


def _long(data: bytes, pos: int) -> tuple[int, int]:
    """The zig-zag varint at ``pos`` (at most 9 bytes, so within a signed 64-bit long)."""
    byte = data[pos]
    n = byte & 0x7F
    shift = 7
    while byte & 0x80:
        if shift > 56:
            raise NotPlain("varint longer than 9 bytes")
        pos += 1
        byte = data[pos]
        n |= (byte & 0x7F) << shift
        shift += 7
    return (n >> 1) ^ -(n & 1), pos + 1


def _length(data: bytes, pos: int) -> tuple[int, int]:
    """A string length or a block count at ``pos``: a non-negative varint."""
    byte = data[pos]
    n = byte & 0x7F
    shift = 7
    while byte & 0x80:
        if shift > 56:
            raise NotPlain("varint longer than 9 bytes")
        pos += 1
        byte = data[pos]
        n |= (byte & 0x7F) << shift
        shift += 7
    if n & 1:  # a negative block count (items plus a byte size): left to fastavro
        raise NotPlain("negative length or block count")
    return n >> 1, pos + 1


# The scanner json.loads uses (a decoder with default settings); typeshed does not declare it.
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _json(text: str) -> Any:
    """``json.loads(text)`` for compact JSON text (as ``dump_json`` writes it)."""
    try:
        value, end = _scan_json(text, 0)
    except StopIteration as err:  # not a JSON value at 0 (invalid, or leading space or BOM)
        raise NotPlain("not compact JSON text") from err
    if end != len(text):  # trailing text, valid (space) or not: left to json.loads
        raise NotPlain("not compact JSON text")
    return value


def _read_extra(data: bytes, pos: int, out: dict[str, Any]) -> int:
    """Read a non-empty ``_extra`` map (``map<string>``) at ``pos`` into ``out`` as
    ``RecordMapping.from_avro`` merges it, for a record whose last field it is."""
    count, pos = _length(data, pos)
    while count:
        for _ in range(count):
            n, pos = _length(data, pos)
            end = pos + n
            key = data[pos:end].decode()
            if key in out:  # typed and in _extra, or twice in _extra: left to from_avro
                raise NotPlain("key already present")
            n, pos = _length(data, end)
            end = pos + n
            out[key] = _json(data[pos:end].decode())
            pos = end
        count, pos = _length(data, pos)
    return pos


_READER_HELPERS: dict[str, object] = {
    "NotPlain": NotPlain,
    "_long": _long,
    "_length": _length,
    "_read_extra": _read_extra,
    "_json": _json,
    "_double": struct.Struct("<d").unpack_from,
}


class _ReaderCompiler:
    """Generates the source of the reader functions of a schema: one per record type used in
    several places; a record type used in one place is read inline, where it is used."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.namespace = str(schema.get("namespace", ""))
        self.uses: dict[str, int] = {}  # record fullname -> how many places use it
        self.count_uses(dict(schema))
        self.named: dict[str, Any] = {}  # fullname -> the record or enum definition
        self.functions: dict[str, str] = {}  # record fullname -> its reader's name
        self.constants: dict[str, object] = {}  # enum symbol tuples
        self.sources: list[str] = []
        self.top = self.function(dict(schema))

    def fullname(self, name: str) -> str:
        return name if "." in name or not self.namespace else f"{self.namespace}.{name}"

    def count_uses(self, avro_type: Any) -> None:
        if isinstance(avro_type, list):
            for branch in avro_type:
                self.count_uses(branch)
        elif isinstance(avro_type, str):
            if self.fullname(avro_type) in self.uses:
                self.uses[self.fullname(avro_type)] += 1
        elif avro_type["type"] == "record":
            self.uses[self.fullname(avro_type["name"])] = 1
            for f in avro_type["fields"]:
                self.count_uses(f["type"])
        elif avro_type["type"] in ("array", "map"):
            self.count_uses(avro_type["items" if avro_type["type"] == "array" else "values"])

    def define(self, definition: Mapping[str, Any]) -> str:
        fullname = self.fullname(definition["name"])
        if fullname in self.named:  # e.g. one short name in two namespaces
            raise Unsupported(f"{fullname} is defined twice")
        self.named[fullname] = definition
        return fullname

    def function(self, definition: Mapping[str, Any]) -> str:
        """Define the reader function of a record type; return its name."""
        fullname = self.define(definition)
        function = f"_read_{len(self.functions)}_{fullname.rsplit('.', 1)[-1]}"
        self.functions[fullname] = function
        lines = [f"def {function}(data, pos):", "    out = {}"]
        lines += self.fields(definition, "out", "    ", 0)
        lines.append("    return out, pos")
        self.sources.append("\n".join(lines))
        return function

    def fields(self, definition: Mapping[str, Any], out: str, pad: str, depth: int) -> list[str]:
        """Lines that read a record's fields into the dict ``out``."""
        fullname = self.fullname(definition["name"])
        lines = [f"{pad}# record {fullname}"]
        for index, f in enumerate(definition["fields"], 1):
            name, avro_type = f["name"], f["type"]
            lines.append(f"{pad}# {name}: {json.dumps(avro_type)[:60]}")
            if name == _EXTRA:
                if avro_type != {"type": "map", "values": "string"}:
                    raise Unsupported(f"{fullname}.{_EXTRA} must be a map<string>")
                if index != len(definition["fields"]):
                    raise Unsupported(f"{fullname}.{_EXTRA} must be the last field")
                lines += [
                    f"{pad}if data[pos]:",
                    f"{pad}    pos = _read_extra(data, pos, {out})",
                    f"{pad}else:",
                    f"{pad}    pos += 1",
                ]
                continue
            target = f"{out}[{name!r}]"
            as_json = bool(f.get("pedigree.json"))
            if isinstance(avro_type, list):
                if len(avro_type) != 2 or "null" not in avro_type or avro_type[0] == avro_type[1]:
                    raise Unsupported(f"only [null, T] unions are supported, got {avro_type}")
                null_byte = 2 * avro_type.index("null")  # the zig-zag varint of the index
                branch = avro_type[1] if null_byte == 0 else avro_type[0]
                lines += [f"{pad}b = data[pos]", f"{pad}pos += 1", f"{pad}if b == {2 - null_byte}:"]
                lines += self.value(branch, target, pad + "    ", depth, as_json)
                lines += [f"{pad}elif b != {null_byte}:", f"{pad}    raise NotPlain('union index')"]
            else:
                lines += self.value(avro_type, target, pad, depth, as_json)
        return lines

    def value(self, avro_type: Any, target: str, pad: str, depth: int, as_json: bool) -> list[str]:
        """Lines that read one value of ``avro_type`` at ``pos`` into ``target``."""
        if isinstance(avro_type, dict) and avro_type["type"] in ("array", "map"):
            return self.container(avro_type, target, pad, depth, as_json)
        if isinstance(avro_type, dict) and avro_type["type"] == "record":
            if self.uses[self.fullname(avro_type["name"])] == 1:  # read it here
                self.define(avro_type)
                record = f"r{depth}"
                return [
                    f"{pad}{record} = {{}}",
                    *self.fields(avro_type, record, pad, depth + 1),
                    f"{pad}{target} = {record}",
                ]
            self.function(avro_type)
            avro_type = avro_type["name"]
        elif isinstance(avro_type, dict) and avro_type["type"] == "enum":
            self.define(avro_type)
            avro_type = avro_type["name"]
        elif isinstance(avro_type, dict):
            avro_type = avro_type["type"]
        if not isinstance(avro_type, str):
            raise Unsupported(f"no fast path for {avro_type}")
        if as_json and avro_type != "string":
            raise Unsupported("pedigree.json applies to string slots")
        if avro_type == "string":
            text = "_json(data[pos:end].decode())" if as_json else "data[pos:end].decode()"
            # No bounds check: a string running past the end leaves ``pos`` beyond it, so the
            # next read raises IndexError or the caller's end-of-body check fails.
            return [
                *self.length("n", pad),
                f"{pad}end = pos + n",
                f"{pad}{target} = {text}",
                f"{pad}pos = end",
            ]
        if avro_type == "boolean":
            return [
                f"{pad}b = data[pos]",
                f"{pad}pos += 1",
                f"{pad}if b > 1:",
                f"{pad}    raise NotPlain('boolean')",
                f"{pad}{target} = b == 1",
            ]
        if avro_type in ("int", "long"):
            slow = [f"{pad}    n, pos = _long(data, pos - 1)"]
            if avro_type == "int":
                low, high = _INT_RANGE
                slow += [f"{pad}    if not {low} <= n <= {high}:", f"{pad}        raise NotPlain()"]
            return [
                f"{pad}n = data[pos]",
                f"{pad}pos += 1",
                f"{pad}if n & 0x80:",
                *slow,
                f"{pad}else:",
                f"{pad}    n = (n >> 1) ^ -(n & 1)",
                f"{pad}{target} = n",
            ]
        if avro_type == "double":
            return [f"{pad}{target}, = _double(data, pos)", f"{pad}pos += 8"]
        fullname = self.fullname(avro_type)
        definition = self.named.get(fullname) or self.named.get(avro_type)
        if definition is None:
            raise Unsupported(f"no fast path for {avro_type!r}")
        if definition["type"] == "record":
            function = self.functions[self.fullname(definition["name"])]
            return [f"{pad}{target}, pos = {function}(data, pos)"]
        symbols = f"_SYMBOLS_{len(self.constants)}"
        self.constants[symbols] = tuple(definition["symbols"])
        return [*self.length("n", pad), f"{pad}{target} = {symbols}[n]"]

    def container(
        self, avro_type: Mapping[str, Any], target: str, pad: str, depth: int, as_json: bool
    ) -> list[str]:
        """An array or a map: blocks of items until a zero count."""
        count, items, item = f"c{depth}", f"a{depth}", f"v{depth}"
        inner = pad + "        "
        if avro_type["type"] == "array":
            body = self.value(avro_type["items"], item, inner, depth + 1, as_json)
            body.append(f"{inner}{items}.append({item})")
            start = f"{pad}{items} = []"
        else:
            key = f"k{depth}"
            body = self.value("string", key, inner, depth + 1, False)
            body += self.value(avro_type["values"], f"{items}[{key}]", inner, depth + 1, as_json)
            start = f"{pad}{items} = {{}}"
        return [
            start,
            *self.length(count, pad),
            f"{pad}while {count}:",
            f"{pad}    for _ in range({count}):",
            *body,
            *self.length(count, pad + "    "),
            f"{pad}{target} = {items}",
        ]

    @staticmethod
    def length(var: str, pad: str) -> list[str]:
        """Lines reading a non-negative varint (a length, count or index) into ``var``."""
        return [
            f"{pad}{var} = data[pos]",
            f"{pad}pos += 1",
            f"{pad}if {var} & 0x81:",  # negative, or more than one byte
            f"{pad}    if {var} & 1 or data[pos] & 0x80:",
            f"{pad}        {var}, pos = _length(data, pos - 1)",
            f"{pad}    else:",  # two bytes, the common case for strings of 64 to 8191 bytes
            f"{pad}        {var} = (({var} & 0x7F) | data[pos] << 7) >> 1",
            f"{pad}        pos += 1",
            f"{pad}else:",
            f"{pad}    {var} >>= 1",
        ]


def compile_reader(schema: Mapping[str, Any]) -> tuple[Reader, str]:
    """The fast reader of a top-level record schema (a parsed ``.avsc`` JSON document) and its
    generated source; :class:`Unsupported` when the schema uses something it does not handle."""
    compiler = _ReaderCompiler(schema)
    source = "\n\n\n".join(compiler.sources) + "\n"
    namespace: dict[str, Any] = {**_READER_HELPERS, **compiler.constants}
    exec(compile(source, f"<avro reader {compiler.top}>", "exec"), namespace)  # noqa: S102
    return namespace[compiler.top], source
