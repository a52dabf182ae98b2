"""Flattening a job's configuration into the ``pedigree_parameters`` facet."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import decimal
import doctest
import enum
import json
import math
import sys
import threading
import types
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import pydantic
import pytest

import emitters.parameters
from emitters import codec
from emitters.facets import PRODUCER, schema_url
from emitters.parameters import (
    MAX_DEPTH,
    TRUNCATED_KEYS,
    flatten_parameters,
    parameters_facet,
)
from emitters.validation import validate_event
from tests.avro_records import plain
from tests.json_equality import strictly_equal

CYCLE = "<cycle: refers back to an enclosing object>"


def _is_json(value: object) -> bool:
    """Whether ``value`` is made of JSON values only (and dumps without NaN)."""
    json.dumps(value, allow_nan=False)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


def test_the_module_docstring_examples_hold() -> None:
    result = doctest.testmod(emitters.parameters, extraglobs={"Path": Path})
    assert result.attempted >= 5
    assert result.failed == 0


# -- shapes ----------------------------------------------------------------------------------


def test_nested_mappings_become_dotted_keys_in_sorted_order() -> None:
    flat = flatten_parameters({"optimizer": {"lr": 0.1, "name": "adam"}, "epochs": 3})
    assert flat == {"epochs": 3, "optimizer.lr": 0.1, "optimizer.name": "adam"}
    assert list(flat) == sorted(flat)


def test_lists_of_plain_values_stay_json_arrays() -> None:
    flat = flatten_parameters({"betas": (0.9, 0.999), "sizes": [[1, 2], [3]], "tags": ["a"]})
    assert flat == {"betas": [0.9, 0.999], "sizes": [[1, 2], [3]], "tags": ["a"]}


def test_sets_become_sorted_arrays() -> None:
    assert flatten_parameters({"s": {3, 1, 2}, "f": frozenset({"b", "a"})}) == {
        "f": ["a", "b"],
        "s": [1, 2, 3],
    }


def test_lists_holding_mappings_are_flattened_by_index() -> None:
    config = {
        "layers": [{"units": 64, "act": "relu"}, {"units": 10}],
        "mixed": [1, {"a": 2}],
        "deep": [[{"x": 1}]],
    }
    assert flatten_parameters(config) == {
        "deep.0.0.x": 1,
        "layers.0.act": "relu",
        "layers.0.units": 64,
        "layers.1.units": 10,
        "mixed.0": 1,
        "mixed.1.a": 2,
    }


def test_empty_containers_are_kept() -> None:
    assert flatten_parameters({"scheduler": {}, "callbacks": [], "x": {"y": {}}}) == {
        "callbacks": [],
        "scheduler": {},
        "x.y": {},
    }


def test_keys_with_dots_are_kept_and_a_colliding_key_is_not_lost() -> None:
    flat = flatten_parameters({"a.b": 1, "a": {"b": 2}})
    assert flat == {"a.b": 1, "a.b#2": 2}


def test_non_string_keys_become_their_json_text() -> None:
    flat = flatten_parameters({1: "one", None: "nil", 2.5: "x", (1, 2): "t", Color.RED: "r"})
    assert flat == {"1": "one", "null": "nil", "2.5": "x", "[1,2]": "t", "red": "r"}
    assert flatten_parameters({True: "yes", float("nan"): "n"}) == {"true": "yes", "NaN": "n"}


def test_none_is_no_parameters_and_a_top_level_list_is_flattened_by_index() -> None:
    assert flatten_parameters(None) == {}
    assert flatten_parameters([0.1, {"a": 1}]) == {"0": 0.1, "1.a": 1}
    assert flatten_parameters(5) == {"_pedigree.value": 5}


# -- configuration objects -------------------------------------------------------------------


@dataclasses.dataclass
class Optimizer:
    lr: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)


@dataclasses.dataclass
class TrainConfig:
    optimizer: Optimizer = dataclasses.field(default_factory=Optimizer)
    data: Path = Path("/data/train.csv")
    lock: Any = dataclasses.field(default_factory=threading.Lock)  # not deep-copyable


def test_dataclasses_are_flattened_field_by_field_without_deep_copies() -> None:
    flat = flatten_parameters(TrainConfig())
    assert flat["optimizer.lr"] == 0.1
    assert flat["optimizer.betas"] == [0.9, 0.99]
    assert flat["data"] == "/data/train.csv"
    assert flat["lock"] == "<unlocked _thread.lock>"  # repr, with its address removed


class Scheduler(pydantic.BaseModel):
    name: str = "cosine"
    warmup: int = 100


class ModelConfig(pydantic.BaseModel):
    scheduler: Scheduler = Scheduler()
    loss: float = math.nan
    path: Path = Path("/models")


def test_pydantic_v2_models_are_dumped_in_json_mode() -> None:
    assert flatten_parameters(ModelConfig()) == {
        "loss": "NaN",
        "path": "/models",
        "scheduler.name": "cosine",
        "scheduler.warmup": 100,
    }
    assert flatten_parameters({"model": ModelConfig()})["model.scheduler.warmup"] == 100


class PydanticV1Like:
    """What a pydantic v1 model looks like from outside: ``__fields__`` and ``.dict()``."""

    __fields__: dict[str, object] = {"lr": None, "nested": None}  # noqa: RUF012

    def dict(self) -> dict[str, Any]:
        return {"lr": 0.01, "nested": {"depth": 3}}

    def __repr__(self) -> str:
        return "PydanticV1Like()"


def test_pydantic_v1_models_are_read_with_dict() -> None:
    assert flatten_parameters({"m": PydanticV1Like()}) == {"m.lr": 0.01, "m.nested.depth": 3}


class FailingModel(pydantic.BaseModel):
    size: int = 3

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("no")


def test_a_pydantic_model_whose_dump_fails_is_read_field_by_field() -> None:
    assert flatten_parameters(FailingModel()) == {"size": 3}


def test_namespaces_are_read_with_vars() -> None:
    args = argparse.Namespace(lr=1e-3, data=PurePosixPath("d/x"), _private=1)
    assert flatten_parameters(args) == {"_private": 1, "data": "d/x", "lr": 0.001}
    assert flatten_parameters(types.SimpleNamespace(a=types.SimpleNamespace(b=2))) == {"a.b": 2}


class Hyper(NamedTuple):
    lr: float
    steps: int


class AttrsLike:
    """What an attrs class looks like from outside: ``__attrs_attrs__``."""

    __attrs_attrs__ = (types.SimpleNamespace(name="width"), types.SimpleNamespace(name="depth"))

    def __init__(self) -> None:
        self.width, self.depth = 4, 2

    def __repr__(self) -> str:
        return "AttrsLike(width=4, depth=2)"


class FrozenMapping(Mapping[str, Any]):
    def __init__(self, **items: Any) -> None:
        self._items = items

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def test_named_tuples_attrs_classes_and_any_mapping_are_flattened() -> None:
    config = {
        "hyper": Hyper(0.1, 10),
        "attrs": AttrsLike(),
        "proxy": types.MappingProxyType({"k": 1}),
        "custom": FrozenMapping(a=FrozenMapping(b=1)),
    }
    assert flatten_parameters(config) == {
        "attrs.depth": 2,
        "attrs.width": 4,
        "custom.a.b": 1,
        "hyper.lr": 0.1,
        "hyper.steps": 10,
        "proxy.k": 1,
    }


class PlainConfig:
    lr = 0.5  # a class-level default
    name = "base"

    def method(self) -> None:  # callables are not parameters
        pass

    def __init__(self) -> None:
        self.name = "run-1"
        self._secret = "hidden"
        self.sub = PlainSub()
        self.model = ModelWithRepr()


class PlainSub:
    def __init__(self) -> None:
        self.depth = 3


class ModelWithRepr:
    def __repr__(self) -> str:
        return "ModelWithRepr(layers=12)"


def test_a_plain_object_gives_its_public_data_attributes() -> None:
    assert flatten_parameters(PlainConfig()) == {
        "lr": 0.5,
        "model": "ModelWithRepr(layers=12)",  # a custom repr says what it is
        "name": "run-1",
        "sub.depth": 3,  # object.__repr__ would only say an address: flattened instead
    }


def test_a_class_used_as_the_configuration_gives_its_class_attributes() -> None:
    class Base:
        lr = 0.1
        epochs = 1

    class Config(Base):
        epochs = 5
        _internal = "x"

        @staticmethod
        def helper() -> None:
            pass

    assert flatten_parameters(Config) == {"epochs": 5, "lr": 0.1}
    assert str(flatten_parameters({"cls": Config})["cls"]).endswith("Config")  # nested: a name


class FakeDictConfig:
    """An OmegaConf ``DictConfig`` as far as Pedigree can tell (its module is omegaconf)."""

    def __init__(self, content: dict[str, Any], broken: bool = False) -> None:
        self.content = content
        self.broken = broken


FakeDictConfig.__module__ = "omegaconf.dictconfig"


@pytest.fixture
def fake_omegaconf(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    class OmegaConf:
        @staticmethod
        def to_container(cfg: FakeDictConfig, **kwargs: Any) -> dict[str, Any]:
            calls.append(kwargs)
            if cfg.broken and kwargs.get("resolve"):
                raise ValueError("interpolation to a missing key")
            return cfg.content

    module = types.ModuleType("omegaconf")
    module.OmegaConf = OmegaConf  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "omegaconf", module)
    return calls


def test_omegaconf_configs_are_converted_resolved_without_importing_omegaconf(
    fake_omegaconf: list[dict[str, Any]],
) -> None:
    flat = flatten_parameters(FakeDictConfig({"model": {"depth": 4}, "data": "???"}))
    assert flat == {"data": "???", "model.depth": 4}
    assert fake_omegaconf == [{"resolve": True, "throw_on_missing": False}]


def test_an_omegaconf_config_with_a_broken_interpolation_is_kept_unresolved(
    fake_omegaconf: list[dict[str, Any]],
) -> None:
    cfg = FakeDictConfig({"out": "${missing}"}, broken=True)
    assert flatten_parameters({"cfg": cfg}) == {"cfg.out": "${missing}"}
    assert fake_omegaconf[-1] == {"resolve": False}


# -- values ----------------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    PAIR = (1, 2)


class Level(enum.IntEnum):
    HIGH = 3


def activation(x: float) -> float:
    return x


class FakeScalar:
    """A numpy / torch scalar as Pedigree sees it."""

    shape = ()
    dtype = "float32"

    def item(self) -> float:
        return 0.25


class FakeArray:
    """A small numpy array as Pedigree sees it."""

    dtype = "int64"
    size = 3

    def tolist(self) -> list[int]:
        return [1, 2, 3]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (-0.0, -0.0),
        (True, True),
        (2**70, 2**70),
        (10**5000, "<integer of 16610 bits>"),
        (Path("/a/b"), "/a/b"),
        (Color.RED, "red"),
        (Color.PAIR, [1, 2]),
        (Level.HIGH, 3),
        (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "2026-01-02T03:04:05+00:00"),
        (dt.date(2026, 1, 2), "2026-01-02"),
        (dt.time(3, 4), "03:04:00"),
        (dt.timedelta(minutes=2), 120.0),
        (b"\x00\x01\x02", "<3 bytes>"),
        (bytearray(5), "<5 bytes>"),
        (memoryview(b"abcd"), "<4 bytes>"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (decimal.Decimal("1.10"), "1.10"),
        (1 + 2j, "(1+2j)"),
        (activation, "tests.unit.test_parameters.activation"),
        (Optimizer, "tests.unit.test_parameters.Optimizer"),
        (len, "builtins.len"),
        (FakeScalar(), 0.25),
        (FakeArray(), [1, 2, 3]),
        ("\udc80bad", "\\udc80bad"),
        (range(3), [0, 1, 2]),
    ],
    ids=lambda v: type(v).__name__,
)
def test_values_become_json_values(value: object, expected: object) -> None:
    flat = flatten_parameters({"v": value})
    assert strictly_equal(flat["v"], expected)


def test_other_objects_are_recorded_by_repr_without_memory_addresses() -> None:
    class Opaque:
        __slots__ = ()

    def config() -> dict[str, object]:
        return {"o": Opaque(), "f": lambda: 0, "g": iter(range(3)), "m": [].append}

    first = flatten_parameters(config())
    assert first == flatten_parameters(config())
    assert "0x" not in json.dumps(first)
    assert str(first["o"]).startswith("<tests.unit.test_parameters")


def test_every_result_is_plain_json() -> None:
    config = {
        "a": [float("nan"), {1, 2}, (Path("x"), Color.RED)],
        "b": {"c": dt.datetime(2026, 1, 1), "d": b"x"},
        "e": TrainConfig(),
        "f": ModelConfig(),
    }
    flat = flatten_parameters(config)
    assert _is_json(flat)
    assert json.loads(json.dumps(flat, allow_nan=False)) == flat


# -- limits ----------------------------------------------------------------------------------


def test_an_oversized_value_is_replaced_by_a_marker_with_its_size_and_a_prefix() -> None:
    flat = flatten_parameters({"ids": list(range(2000))}, max_value_bytes=100)
    marker = flat["ids"]
    size = len(json.dumps(list(range(2000)), separators=(",", ":")))
    assert isinstance(marker, str)
    assert marker.startswith(f"<truncated: {size} bytes> [0,1,2,3,")
    assert marker.endswith("…")
    assert len(json.dumps(marker, ensure_ascii=False).encode()) <= 100


@pytest.mark.parametrize("text", ["é" * 3000, '"quoted"\\' * 500, "\U0001f600" * 2000])
def test_the_marker_stays_within_the_limit_whatever_the_characters(text: str) -> None:
    marker = flatten_parameters({"t": text}, max_value_bytes=200)["t"]
    assert isinstance(marker, str)
    assert marker.startswith("<truncated: ")
    assert len(json.dumps(marker, ensure_ascii=False).encode()) <= 200


def test_a_value_exactly_at_the_limit_is_kept() -> None:
    text = "x" * 98  # JSON text: 100 bytes with the quotes
    assert flatten_parameters({"t": text}, max_value_bytes=100) == {"t": text}
    assert flatten_parameters({"t": text + "x"}, max_value_bytes=100)["t"] != text + "x"


def test_a_huge_sequence_is_cut_before_conversion() -> None:
    marker = flatten_parameters({"r": range(10**9)})["r"]
    assert isinstance(marker, str)
    assert marker.startswith("<truncated: 1000000000 items> [0,1,2,")


def test_more_keys_than_the_limit_keeps_the_first_in_sorted_order_and_says_how_many_dropped() -> (
    None
):
    config = {f"k{i:03d}": i for i in range(250)}
    flat = flatten_parameters(config, max_keys=100)
    assert flat[TRUNCATED_KEYS] == 150
    assert [k for k in flat if k != TRUNCATED_KEYS] == [f"k{i:03d}" for i in range(100)]
    assert flatten_parameters(config, max_keys=0) == {TRUNCATED_KEYS: 250}
    assert TRUNCATED_KEYS not in flatten_parameters(config, max_keys=250)


def test_a_dict_containing_itself_is_marked_not_walked_forever() -> None:
    config: dict[str, Any] = {"a": 1, "inner": {}}
    config["self"] = config
    config["inner"]["up"] = config
    assert flatten_parameters(config) == {"a": 1, "inner.up": CYCLE, "self": CYCLE}


def test_a_list_containing_itself_is_marked() -> None:
    items: list[Any] = [1]
    items.append(items)
    assert flatten_parameters({"l": items}) == {"l": [1, CYCLE]}
    nodes: list[Any] = [{"a": 1}]
    nodes.append(nodes)
    assert flatten_parameters({"n": nodes}) == {"n.0.a": 1, "n.1": CYCLE}


def test_an_object_referring_to_itself_is_marked() -> None:
    @dataclasses.dataclass
    class Node:
        name: str
        parent: Any = None

    root = Node("root")
    root.parent = root
    assert flatten_parameters(root) == {"name": "root", "parent": CYCLE}


def test_a_value_shared_by_two_keys_is_not_a_cycle() -> None:
    shared = {"lr": 0.1}
    assert flatten_parameters({"a": shared, "b": shared, "c": [shared, shared]}) == {
        "a.lr": 0.1,
        "b.lr": 0.1,
        "c.0.lr": 0.1,
        "c.1.lr": 0.1,
    }


def test_nesting_deeper_than_the_limit_is_marked() -> None:
    config: dict[str, Any] = {}
    node = config
    for _ in range(MAX_DEPTH * 3):
        node["n"] = {}
        node = node["n"]
    ((key, value),) = flatten_parameters(config).items()
    assert key.count(".") == MAX_DEPTH
    assert value == f"<nested deeper than {MAX_DEPTH} levels>"
    deep: list[Any] = []
    for _ in range(MAX_DEPTH * 3):
        deep = [deep]
    assert "nested deeper" in json.dumps(flatten_parameters({"l": deep}))


# -- never raises ----------------------------------------------------------------------------


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("boom")


class BrokenSequence(Sequence[int]):
    def __getitem__(self, index: Any) -> Any:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[int]:
        raise RuntimeError("boom")


class BrokenItem:
    shape = ()
    dtype = "x"

    def item(self) -> float:
        raise RuntimeError("boom")

    def __repr__(self) -> str:
        return "BrokenItem()"


@pytest.mark.parametrize(
    "config",
    [
        BrokenRepr(),
        {"x": BrokenRepr()},
        {"x": BrokenSequence()},
        BrokenSequence(),
        {"x": BrokenItem()},
        object(),
        "just a string",
        b"bytes",
        float("nan"),
        json,  # a module
        int,  # a class
        iter([1, 2]),
    ],
    ids=lambda c: type(c).__name__,
)
def test_odd_input_gives_markers_never_an_exception(config: object) -> None:
    flat = flatten_parameters(config)
    assert isinstance(flat, dict)
    assert _is_json(flat)


def test_a_broken_repr_is_named_in_the_marker() -> None:
    assert flatten_parameters({"x": BrokenRepr()}) == {
        "x": "<unrepresentable BrokenRepr: RuntimeError>"
    }


def test_a_value_that_fails_to_convert_becomes_a_marker_and_the_rest_is_kept() -> None:
    assert flatten_parameters({"x": BrokenSequence(), "y": 1}) == {
        "x": "<unrepresentable BrokenSequence: RuntimeError>",
        "y": 1,
    }
    assert flatten_parameters(BrokenSequence()) == {
        "_pedigree.error": "<cannot flatten parameters: RuntimeError>"
    }


def test_limits_too_small_to_hold_a_marker_are_raised_to_the_minimum() -> None:
    marker = flatten_parameters({"t": "x" * 500}, max_value_bytes=1)["t"]
    assert isinstance(marker, str)
    assert marker.startswith("<truncated: 502 bytes> ")
    assert flatten_parameters({"a": 1}, max_keys=-5) == {TRUNCATED_KEYS: 1}


# -- the facet on the wire -------------------------------------------------------------------


def _run_event(run_facets: dict[str, Any]) -> dict[str, Any]:
    return {
        "eventType": "START",
        "eventTime": "2026-11-28T10:00:00Z",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.UUID(int=9)), "facets": run_facets},
        "job": {"namespace": "tests", "name": "train"},
    }


def test_parameters_facet_is_the_pedigree_parameters_facet() -> None:
    body = parameters_facet({"a": {"b": 1}}, max_keys=10, max_value_bytes=100)
    assert body == {
        "_producer": PRODUCER,
        "_schemaURL": schema_url("pedigree_parameters"),
        "parameters": {"a.b": 1},
    }


def test_the_facet_validates_and_round_trips_typed_through_the_codec() -> None:
    config = {
        "optimizer": Optimizer(),
        "model": ModelConfig(),
        "layers": [{"units": 64}, {"units": 10}],
        "weird": [float("inf"), None, True, 1, 1.0, "1"],
        "big": "x" * 10_000,
        "self": None,
    }
    config["self"] = config
    event = _run_event({"pedigree_parameters": parameters_facet(config)})
    assert validate_event(event) == "run"
    assert strictly_equal(codec.decode(codec.encode(event)), event)
    record = plain(codec.to_record(event))
    assert record["run"]["facets"]["_extra"] == {}
    typed = record["run"]["facets"]["pedigree_parameters"]["parameters"]
    assert json.loads(typed["weird"]) == ["Infinity", None, True, 1, 1.0, "1"]
