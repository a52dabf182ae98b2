"""Flatten a training job's configuration into the ``pedigree_parameters`` run facet.

``flatten_parameters(config)`` turns whatever a job keeps its configuration in into one flat
``{dotted key: JSON value}`` dict, bounded in size, and never raises: a value it cannot
represent becomes a marker string (``"<cycle: ...>"``, ``"<truncated: ...>"``) instead.

>>> flatten_parameters({"optimizer": {"name": "adam", "lr": 0.1}, "epochs": 3})
{'epochs': 3, 'optimizer.lr': 0.1, 'optimizer.name': 'adam'}
>>> flatten_parameters({"layers": [{"units": 64}, {"units": 10}], "betas": (0.9, 0.999)})
{'betas': [0.9, 0.999], 'layers.0.units': 64, 'layers.1.units': 10}
>>> flatten_parameters({"loss": float("nan"), "data": Path("/data/train.csv")})
{'data': '/data/train.csv', 'loss': 'NaN'}

What it accepts (the first rule that matches wins):

- OmegaConf ``DictConfig`` / ``ListConfig``: converted with ``OmegaConf.to_container`` (values
  resolved, ``???`` kept as the string ``"???"``); recognised by their module, and omegaconf
  is never imported here (it is loaded already if such an object exists);
- any ``Mapping`` (``dict``, ``MappingProxyType``, ...);
- pydantic v2 models (``model_dump(mode="json")``) and v1 models (``.dict()``), duck-typed;
- dataclass instances, attrs instances and named tuples, field by field (shallow: nothing is
  deep-copied, so unpicklable fields are fine);
- ``argparse.Namespace`` and ``types.SimpleNamespace`` (``vars()``, every attribute);
- as a last resort, a plain object's public attributes (class-level defaults, then instance
  attributes; names starting with ``_`` and callables are skipped).  At the top level any such
  object is flattened; *nested*, only objects whose class keeps ``object.__repr__`` are (their
  ``repr`` would say nothing but an address) -- others, such as a model or a tensor, are
  recorded by their ``repr()``.  A class passed as the whole configuration (``class Config:
  lr = 0.1``) gives its public class attributes;
- ``None`` gives ``{}``; a top-level list is flattened by index; any other top-level value is
  recorded under the key ``"_pedigree.value"``.

Flattening rules:

- nested mappings (and the objects above) become dotted keys; an empty one stays as ``{}``;
- a list, tuple or set of plain values stays one JSON array (sets sorted); a list holding any
  mapping-like item, at any depth, is flattened by index instead (``layers.0.units``);
- keys that contain dots are kept as they are, so ``{"a.b": 1}`` and ``{"a": {"b": 1}}`` both
  give ``a.b``: the flat form cannot tell them apart.  When two paths give the same key, the
  later one is stored as ``key#2`` (``#3``, ...) rather than lost;
- non-string keys become their JSON text (``1`` -> ``"1"``, ``True`` -> ``"true"``).

Values become JSON values: ``str``/``int``/``float``/``bool``/``None`` as they are; NaN and
infinities become ``"NaN"``, ``"Infinity"``, ``"-Infinity"``; ``Enum`` -> its value; ``Path``
-> ``str``; ``datetime``/``date``/``time`` -> ISO 8601 text; ``timedelta`` -> seconds;
``bytes`` -> ``"<N bytes>"``; ``UUID``/``Decimal``/``complex`` -> ``str``; classes and
functions -> ``module.QualifiedName``; numpy-style scalars -> ``.item()``, small arrays ->
``.tolist()``; anything else -> ``repr()`` with memory addresses removed (so two runs with the
same configuration record the same text).

Limits, so one odd value cannot blow up an event: a value whose JSON text is longer than
``max_value_bytes`` (UTF-8) becomes ``"<truncated: 123456 bytes> [1,2,3,…"`` -- the original
size, then as much of the JSON text as fits; with more than ``max_keys`` keys, the first
``max_keys`` in sorted order are kept and ``"_pedigree.truncated_keys"`` says how many were
dropped (``max_value_bytes`` under 64 is raised to 64: a marker needs the room).  A container
that contains itself is recorded as ``"<cycle: ...>"`` where it recurs;
nesting deeper than ``MAX_DEPTH`` levels as ``"<nested deeper than ...>"``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import decimal
import enum
import itertools
import json
import math
import re
import sys
import types
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from collections.abc import Set as AbstractSet
from pathlib import PurePath
from typing import Any, Final, TypeAlias, cast

from emitters.facets import facet

__all__ = [
    "DEFAULT_MAX_KEYS",
    "DEFAULT_MAX_VALUE_BYTES",
    "MAX_DEPTH",
    "TRUNCATED_KEYS",
    "JSONValue",
    "flatten_parameters",
    "parameters_facet",
]

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None
"""A value as JSON holds it (what ``json.loads`` returns)."""

DEFAULT_MAX_KEYS: Final = 1000
DEFAULT_MAX_VALUE_BYTES: Final = 4096
MIN_VALUE_BYTES: Final = 64
"""``max_value_bytes`` below this is raised to it: a truncation marker needs the room."""
MAX_DEPTH: Final = 64
"""The deepest nesting that is walked; deeper values are recorded as a marker."""
TRUNCATED_KEYS: Final = "_pedigree.truncated_keys"
"""The key that says how many keys were dropped over ``max_keys``."""
_VALUE_KEY: Final = "_pedigree.value"
_ERROR_KEY: Final = "_pedigree.error"

_CYCLE: Final = "<cycle: refers back to an enclosing object>"
_TOO_DEEP: Final = f"<nested deeper than {MAX_DEPTH} levels>"
_MAX_ARRAY_ITEMS: Final = 10_000  # larger numpy-style arrays are recorded by their repr()
_MAX_SEQUENCE_ITEMS: Final = 100_000  # longer sequences are cut before conversion
_MAX_INT_BITS: Final = 13_000  # ~3900 digits: under Python's int -> str limit (4300 digits)
_ADDRESS = re.compile(r" (?:object )?at 0x[0-9A-Fa-f]+")
_Node = Mapping[Any, Any]


def flatten_parameters(
    config: object,
    *,
    max_keys: int = DEFAULT_MAX_KEYS,
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
) -> dict[str, JSONValue]:
    """``config`` as ``{dotted key: JSON value}``, sorted by key; see the module docstring.

    >>> flatten_parameters({"a": {"b": [1, 2]}, "c": None})
    {'a.b': [1, 2], 'c': None}
    >>> flatten_parameters({"x": "y" * 100}, max_value_bytes=64)["x"][:26]
    '<truncated: 102 bytes> "yy'
    >>> flatten_parameters({f"k{i}": i for i in range(5)}, max_keys=2)
    {'_pedigree.truncated_keys': 3, 'k0': 0, 'k1': 1}

    Never raises: what cannot be represented becomes a marker string.
    """
    flattener = _Flattener(max(int(max_value_bytes), MIN_VALUE_BYTES))
    try:
        flat = flattener.run(config)
    except RecursionError:  # the caller's own stack was nearly exhausted
        flat = {_ERROR_KEY: "<cannot flatten parameters: nested too deeply>"}
    # User objects' hooks (__repr__, model_dump, properties) may raise anything; the training
    # job must never see it, so the whole configuration degrades to one marker.
    except Exception as err:  # noqa: BLE001
        flat = {_ERROR_KEY: f"<cannot flatten parameters: {type(err).__name__}>"}
    keys = sorted(flat)
    limit = max(int(max_keys), 0)
    result = {key: flat[key] for key in keys[:limit]}
    if len(keys) > limit:
        result[TRUNCATED_KEYS] = len(keys) - limit
        result = dict(sorted(result.items()))
    return result


def parameters_facet(
    config: object,
    *,
    max_keys: int = DEFAULT_MAX_KEYS,
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
) -> dict[str, Any]:
    """The ``pedigree_parameters`` run facet of ``config`` (see :func:`flatten_parameters`)."""
    parameters = flatten_parameters(config, max_keys=max_keys, max_value_bytes=max_value_bytes)
    return facet("pedigree_parameters", parameters=parameters)


class _Flattener:
    """One flattening pass: the output so far and the containers being walked (for cycles)."""

    def __init__(self, max_value_bytes: int) -> None:
        self.max_value_bytes = max_value_bytes
        self.out: dict[str, JSONValue] = {}
        self.walking: set[int] = set()

    def run(self, config: object) -> dict[str, JSONValue]:
        config = _from_omegaconf(config)
        if config is None:
            return {}
        node = _as_node(config, top=True)
        if node is not None:
            self.walk_items("", _items(node), config, 0)
        elif _is_sequence(config):
            self.walk_items("", enumerate(_sequence_items(config)), config, 0)
        else:
            self.put(_VALUE_KEY, self.leaf(config, 0))
        return self.out

    def walk(self, key: str, value: object, depth: int) -> None:
        try:
            self.walk_value(key, value, depth)
        except RecursionError:
            raise
        # A user object's hook failed (__iter__, __len__, a property...): that value, and only
        # that value, becomes a marker.
        except Exception as err:  # noqa: BLE001
            self.put(key, f"<unrepresentable {type(value).__name__}: {type(err).__name__}>")

    def walk_value(self, key: str, value: object, depth: int) -> None:
        if depth > MAX_DEPTH:
            self.put(key, _TOO_DEEP)
            return
        value = _from_omegaconf(value)
        node = _as_node(value, top=False)
        if node is not None:
            self.walk_items(key, _items(node), value, depth)
        elif _is_sequence(value) and self.holds_node(value, depth):
            self.walk_items(key, enumerate(_sequence_items(value)), value, depth)
        else:
            self.put(key, self.leaf(value, depth))

    def walk_items(
        self, prefix: str, items: Iterator[tuple[Any, Any]], owner: object, depth: int
    ) -> None:
        if id(owner) in self.walking:
            self.put(prefix, _CYCLE)
            return
        self.walking.add(id(owner))
        try:
            empty = True
            for key, value in items:
                empty = False
                name = _key_text(key)
                self.walk(f"{prefix}.{name}" if prefix else name, value, depth + 1)
            if empty and depth > 0:
                self.put(prefix, [] if _is_sequence(owner) else {})
        finally:
            self.walking.discard(id(owner))

    def holds_node(self, sequence: object, depth: int) -> bool:
        """Whether a sequence holds a mapping-like item at any depth (then it is flattened)."""
        if depth > MAX_DEPTH or id(sequence) in self.walking:
            return False
        self.walking.add(id(sequence))
        try:
            for item in itertools.islice(_iterate(sequence), _MAX_SEQUENCE_ITEMS):
                if _as_node(item, top=False) is not None:
                    return True
                if _is_sequence(item) and self.holds_node(item, depth + 1):
                    return True
            return False
        finally:
            self.walking.discard(id(sequence))

    def put(self, key: str, value: JSONValue) -> None:
        key = _clean_text(key)
        if key in self.out:
            n = 2
            while f"{key}#{n}" in self.out:
                n += 1
            key = f"{key}#{n}"
        self.out[key] = _bounded(value, self.max_value_bytes)

    def leaf(self, value: object, depth: int) -> JSONValue:
        """A value that is not flattened further, as a JSON value."""
        if depth > MAX_DEPTH:
            return _TOO_DEEP
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, enum.Enum):  # before int and str: IntEnum, StrEnum
            return self.leaf(value.value, depth + 1)
        if isinstance(value, int):
            if value.bit_length() > _MAX_INT_BITS:
                return f"<integer of {value.bit_length()} bits>"
            return int(value)
        if isinstance(value, float):
            return _float(float(value))
        if isinstance(value, str):
            return _clean_text(str.__str__(value))
        scalar = _plain_scalar(value)
        if not isinstance(scalar, _Nothing):
            return scalar
        array = _array_items(value)
        if array is not None:
            return self.leaf(array, depth)
        if _is_sequence(value):
            if id(value) in self.walking:
                return _CYCLE
            self.walking.add(id(value))
            try:
                head = itertools.islice(_iterate(value), _MAX_SEQUENCE_ITEMS + 1)
                items = [self.leaf(item, depth + 1) for item in head]
            finally:
                self.walking.discard(id(value))
            if isinstance(value, AbstractSet):
                items.sort(key=_sort_key)
            if len(items) > _MAX_SEQUENCE_ITEMS:  # over any value limit: skip the rest
                size = len(value) if isinstance(value, Sized) else f"over {_MAX_SEQUENCE_ITEMS}"
                text = _json_text(items[:_MAX_SEQUENCE_ITEMS])
                return _truncated(f"{size} items", text, self.max_value_bytes)
            return items
        if isinstance(value, Mapping):  # only reached past the depth limit of walk()
            return _TOO_DEEP
        return _clean_text(_safe_repr(value))


class _Nothing:
    pass


_NOTHING: Final = _Nothing()


def _plain_scalar(value: object) -> JSONValue | _Nothing:
    """The JSON value of a well-known non-container type, or ``_NOTHING``."""
    if isinstance(value, PurePath):
        return _clean_text(str(value))
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if isinstance(value, memoryview):
        return f"<{value.nbytes} bytes>"
    if isinstance(value, uuid.UUID | decimal.Decimal | complex):
        return str(value)
    if isinstance(value, type | types.FunctionType | types.BuiltinFunctionType):
        module = getattr(value, "__module__", None)
        qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", "?")
        return f"{module}.{qualname}" if module else str(qualname)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == () and hasattr(value, "dtype"):
        try:  # a numpy / torch scalar
            scalar = item()
        except Exception:  # noqa: BLE001 - a foreign object's hook; fall back to repr()
            return _NOTHING
        if scalar is None or isinstance(scalar, bool | int | str):
            return scalar
        if isinstance(scalar, float):
            return _float(scalar)
    return _NOTHING


def _array_items(value: object) -> list[Any] | None:
    """A small numpy-style array's items (``.tolist()``), or ``None``."""
    tolist = getattr(value, "tolist", None)
    size = getattr(value, "size", None)
    if not callable(tolist) or not hasattr(value, "dtype") or not isinstance(size, int):
        return None
    if size > _MAX_ARRAY_ITEMS:
        return None
    try:
        items = tolist()
    except Exception:  # noqa: BLE001 - a foreign object's hook; fall back to repr()
        return None
    return items if isinstance(items, list) else None


def _from_omegaconf(value: object) -> object:
    """A plain container for an OmegaConf ``DictConfig`` / ``ListConfig``, else ``value``."""
    if not type(value).__module__.startswith("omegaconf"):
        return value
    omegaconf = getattr(sys.modules.get("omegaconf"), "OmegaConf", None)
    to_container = getattr(omegaconf, "to_container", None)
    if not callable(to_container):
        return value
    try:
        return to_container(value, resolve=True, throw_on_missing=False)
    except Exception:  # noqa: BLE001 - a broken interpolation: keep it unresolved
        try:
            return to_container(value, resolve=False)
        except Exception:  # noqa: BLE001 - fall back to walking the object itself
            return value


def _as_node(value: object, *, top: bool) -> _Node | None:
    """The ``{name: value}`` view of a mapping-like value, or ``None`` for a leaf/sequence."""
    value = _from_omegaconf(value)
    if isinstance(value, Mapping):
        return value
    if isinstance(value, type) and top and value.__module__ != "builtins":
        return _public_attributes(value)  # ``class Config: lr = 0.1`` passed as the config
    if isinstance(value, type | types.ModuleType) or value is None:
        return None
    cls = type(value)
    if callable(getattr(cls, "model_dump", None)) and hasattr(cls, "model_fields"):
        return _pydantic_v2(value)
    if hasattr(cls, "__fields__") and callable(getattr(value, "dict", None)):
        dumped = _call(value.dict)  # type: ignore[attr-defined]
        if isinstance(dumped, Mapping):
            return dumped
    if dataclasses.is_dataclass(value):
        return {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
    attrs_fields = getattr(cls, "__attrs_attrs__", None)
    if attrs_fields is not None:
        return {a.name: getattr(value, a.name, None) for a in attrs_fields}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return dict(zip(value._fields, value, strict=False))
    if isinstance(value, types.SimpleNamespace | argparse.Namespace):
        return dict(vars(value))
    if callable(value) or not hasattr(value, "__dict__") or _is_sequence(value):
        return None
    if hasattr(value, "dtype"):  # a numpy / torch scalar or array: a value, not a config
        return None
    if top or cls.__repr__ is object.__repr__:
        return _public_attributes(value)
    return None


def _pydantic_v2(value: Any) -> _Node:
    dumped = _call(lambda: value.model_dump(mode="json"))
    if isinstance(dumped, Mapping):
        return dumped
    return {name: getattr(value, name, None) for name in type(value).model_fields}


def _call(function: Any) -> object:
    try:
        return function()
    except Exception:  # noqa: BLE001 - a foreign object's hook; the caller falls back
        return None


def _public_attributes(value: object) -> dict[str, Any]:
    """Class-level defaults (along the MRO), then instance attributes; public data only."""
    cls = value if isinstance(value, type) else type(value)
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__[:-1]):
        for name, attr in vars(klass).items():
            if _is_public_data(name, attr):
                found[name] = attr
    if not isinstance(value, type):
        for name, attr in vars(value).items():
            if _is_public_data(name, attr):
                found[name] = attr
    return found


def _is_public_data(name: object, value: object) -> bool:
    if not isinstance(name, str) or name.startswith("_"):
        return False
    return not (callable(value) or isinstance(value, staticmethod | classmethod | property))


def _items(node: _Node) -> Iterator[tuple[Any, Any]]:
    return iter(list(node.items()))


def _is_sequence(value: object) -> bool:
    if isinstance(value, str | bytes | bytearray | memoryview):
        return False
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return False
    return isinstance(value, list | tuple | Sequence | AbstractSet)


def _sequence_items(value: object) -> list[Any]:
    return list(cast(Iterable[Any], value))


def _iterate(value: object) -> Iterator[Any]:
    return iter(cast(Iterable[Any], value))


def _key_text(key: object) -> str:
    if isinstance(key, str) and not isinstance(key, enum.Enum):
        return str.__str__(key)
    if isinstance(key, enum.Enum):
        return _key_text(key.value)
    if isinstance(key, float):
        number = _float(key)
        return number if isinstance(number, str) else json.dumps(number)
    if key is None or isinstance(key, bool | int):
        return json.dumps(key)
    if isinstance(key, tuple):
        return _json_text(_Flattener(DEFAULT_MAX_VALUE_BYTES).leaf(key, 0))
    scalar = _plain_scalar(key)
    if isinstance(scalar, str):
        return scalar
    return _safe_repr(key)


def _float(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _safe_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception as err:  # noqa: BLE001 - a broken __repr__ must not reach the job
        return f"<unrepresentable {type(value).__name__}: {type(err).__name__}>"
    return _ADDRESS.sub("", text)


def _clean_text(text: str) -> str:
    """``text`` as valid UTF-8 (lone surrogates become backslash escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _json_text(value: JSONValue) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _sort_key(value: JSONValue) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _bounded(value: JSONValue, max_bytes: int) -> JSONValue:
    """``value``, or a truncation marker if its JSON text is over ``max_bytes`` (UTF-8)."""
    text = _json_text(value)
    size = len(text.encode("utf-8"))
    if size <= max_bytes:
        return value
    return _truncated(f"{size} bytes", text, max_bytes)


def _truncated(size: str, text: str, max_bytes: int) -> str:
    """``"<truncated: SIZE> PREFIX…"``, with as much of ``text`` as keeps it to ``max_bytes``."""
    head = f"<truncated: {size}> "
    keep = max_bytes
    while keep > 0:
        marker = f"{head}{text[:keep]}…"
        excess = len(_json_text(marker).encode("utf-8")) - max_bytes
        if excess <= 0:
            return marker
        keep -= max(excess // 4, 1)
    return f"{head}…"
