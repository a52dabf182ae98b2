"""``validate_event`` decides exactly as a JSON Schema validator does on the OpenLineage schemas.

The reference is jsonschema's Draft 2020-12 validator on ``spec/OpenLineage.json``, patched in
memory so that each facet container (``run.facets``, ``job.facets``, dataset ``facets``,
``inputFacets``, ``outputFacets``) checks a standard facet against its own schema by its key,
and any other key against the container's base facet, as the core schema does.  Which key
belongs to which container is read from ``spec/facets/*.json``: each facet definition extends
(``allOf``) one of the core ``RunFacet`` / ``JobFacet`` / ``DatasetFacet`` /
``InputDatasetFacet`` / ``OutputDatasetFacet``.  References resolve from the local files only.

Formats asserted: ``uuid`` (jsonschema's own check) and ``date-time`` (jsonschema's check,
which is ``rfc3339-validator``; when that optional package is absent, the same check transcribed
below).  ``uri`` stays an annotation, as it is for jsonschema without ``rfc3987`` /
``rfc3986-validator``.

Every corpus file is compared, then thousands of deterministic mutants of corpus events and of
events carrying each standard facet example (dropped fields, wrong types, tricky formats, extra
keys, RunEvent/DatasetEvent/JobEvent confusions).
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emitters._facet_specs import STANDARD_FACETS
from emitters.errors import InvalidEvent
from emitters.validation import event_kind, validate_event
from tests.jsonschema_reference import facet_keys, verdicts
from tests.openlineage_corpus import (
    SHARED,
    corpus_id,
    event_files,
    is_known_invalid,
    load_json,
    requires_shared,
)

pytestmark = requires_shared

# --- Mutants ----------------------------------------------------------------------------------

UUID = "3f5e83fa-3480-44ff-99c5-ff943904e5e8"
TRICKY_STRINGS = (
    "",
    "not-a-uuid",
    UUID.replace("-", ""),
    "{" + UUID + "}",
    "urn:uuid:" + UUID,
    UUID.upper(),
    UUID[:-1] + "g",
    "2020-01-01",
    "2020-01-01T00:00:00",
    "2020-01-01 00:00:00Z",
    "2020-01-01t00:00:00z",
    "2020-01-01T00:00:00Z\n",
    "2020-02-29T23:59:59.123456789+14:00",
    "2021-02-29T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "2020-01-01T24:00:00Z",
    "2020-01-01T23:59:60Z",
    "2020-01-01T00:00:00+24:00",
    "2020-01-01T00:00:00.Z",
    "\uff12\uff10\uff12\uff10-01-01T00:00:00Z",  # fullwidth digits: not ASCII digits
    "START",
    "FINISH",
    "binary",
    "compare",
    "literal",
    "DATASET",
    "JOB",
    "RENAME",
)
OTHER_TYPES: tuple[Any, ...] = (None, True, 0, 7, 2.5, 1.0, "x", [], {}, {"a": 1}, [1])
PYTHON_ONLY: tuple[Any, ...] = ((1, 2), Decimal("1"), float("inf"), b"x")
A_FACET = {"_producer": "https://example.com/p", "_schemaURL": "https://example.com/s"}


def nodes(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nodes(item, (*path, index))


def _replace(event: Any, path: tuple[Any, ...], new: Callable[[Any], Any]) -> Any:
    mutant = copy.deepcopy(event)
    parent = mutant
    for step in path[:-1]:
        parent = parent[step]
    result = new(parent[path[-1]])
    if result is _DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = result
    return mutant


_DELETE = object()


def mutations(value: Any) -> Iterator[tuple[str, Callable[[Any], Any]]]:
    """The mutations that make sense at one node (deleting it, retyping it, and so on)."""
    yield "delete", lambda _: _DELETE
    for other in OTHER_TYPES:
        yield f"= {other!r}", lambda _, other=other: copy.deepcopy(other)
    if isinstance(value, str):
        for text in TRICKY_STRINGS:
            yield f"= {text!r}", lambda _, text=text: text
    if isinstance(value, int | float) and not isinstance(value, bool):
        for number in (-1, 0, 1, 3.0, 3.5, -(2**70)):
            yield f"= {number!r}", lambda _, number=number: number
    if isinstance(value, dict):
        yield "+ extra key", lambda v: {**v, "unexpected": 1}
        yield "+ _deleted", lambda v: {**v, "_deleted": "yes"}
        yield "+ _deleted bool", lambda v: {**v, "_deleted": True}
        yield "+ custom facet", lambda v: {**v, "myCustom": dict(A_FACET)}
        yield "+ bad custom facet", lambda v: {**v, "myCustom": {"_producer": "p"}}
        yield "+ non-str key", lambda v: {**v, 1: {}}
        yield "+ type binary", lambda v: {**v, "type": "binary"}
    if isinstance(value, list):
        yield "empty", lambda _: []
        yield "+ {}", lambda v: [*v, {}]
        yield "+ 'x'", lambda v: [*v, "x"]
        yield "duplicate", lambda v: [*v, *copy.deepcopy(v)]
        yield "tuple", tuple
    for other in PYTHON_ONLY:
        yield f"= {other!r}", lambda _, other=other: other


def structural(event: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Mutants that move an event between RunEvent, DatasetEvent and JobEvent."""
    dataset = {"namespace": "ns", "name": "ds", "facets": {"schema": dict(A_FACET)}}
    run = {"runId": UUID}
    job = {"namespace": "ns", "name": "job"}
    for add in ("run", "job", "dataset"):
        for value in ({"run": run, "job": job, "dataset": dataset}[add], "x", {}):
            yield f"+ {add}={value!r}", {**event, add: copy.deepcopy(value)}
    for drop in ({"run"}, {"job"}, {"run", "job"}, {"dataset"}):
        yield f"- {drop}", {k: v for k, v in event.items() if k not in drop}
    yield (
        "dataset instead of job",
        {
            **{k: v for k, v in event.items() if k not in ("run", "job")},
            "dataset": dataset,
        },
    )
    yield "everything", {**event, "run": run, "job": job, "dataset": dataset}


ESSENTIAL = {"delete", "= None", "= 7", "= 'x'", "+ extra key", "+ _deleted", "+ {}", "empty"}


def mutants(event: Any, seed: str, limit: int, *, essential: bool) -> Iterator[tuple[str, Any]]:
    """Every essential mutation at every node (if asked), plus ``limit`` others drawn at random."""
    chosen, others = [], []
    for path, value in nodes(event):
        if not path:
            continue
        for label, change in mutations(value):
            if label == "delete" and isinstance(path[-1], int):
                continue
            (chosen if essential and label in ESSENTIAL else others).append((path, label, change))
    chosen += random.Random(seed).sample(others, min(limit, len(others)))
    for path, label, change in chosen:
        yield f"{'/'.join(map(str, path))} {label}", _replace(event, path, change)
    if isinstance(event, dict):
        yield from structural(event)


# Standard facets the spec ships no example of, or only a partial one: every property filled in.
EXTRA_FACETS: dict[str, Any] = {
    "executionParameters": {
        **A_FACET,
        "parameters": [
            {"key": "k", "name": "n", "description": "d", "value": "3600"},
            {"key": "k2"},
        ],
    },
    "jobDependencies": {
        **A_FACET,
        "upstream": [
            {
                "job": {"namespace": "ns", "name": "up"},
                "run": {"runId": UUID},
                "dependency_type": "DIRECT",
                "sequence_trigger_rule": "FIRST",
                "status_trigger_rule": "SUCCESS",
                "extra": {"any": "thing"},
            }
        ],
        "downstream": [{"job": {"namespace": "ns", "name": "down"}}],
        "trigger_rule": "ALL_SUCCESS",
    },
    "test": {
        **A_FACET,
        "tests": [
            {
                "name": "t",
                "status": "pass",
                "severity": "error",
                "type": "unique",
                "description": "d",
                "expected": "1",
                "actual": "1",
                "content": "c",
                "contentType": "sql",
                "params": {"a": [1]},
            }
        ],
    },
    "catalog": {
        **A_FACET,
        "framework": "iceberg",
        "type": "rest",
        "name": "c",
        "metadataUri": "http://m",
        "warehouseUri": "s3://w",
        "source": "spark",
        "catalogProperties": {"a": "b"},
    },
    "inputStatistics": {**A_FACET, "rowCount": 1, "size": 2, "fileCount": 3},
    "outputStatistics": {**A_FACET, "rowCount": 1, "size": 2, "fileCount": 3},
    "subset": {
        **A_FACET,
        "inputCondition": {"type": "location", "locations": ["s3://a"]},
        "outputCondition": {
            "type": "binary",
            "operator": "OR",
            "left": {"type": "partition", "partitions": [{"dimensions": {"d": 1}}]},
            "right": {
                "type": "compare",
                "comparison": "EQUAL",
                "left": {"type": "field", "field": "f"},
                "right": {"type": "literal", "value": "v"},
            },
        },
    },
    "parent": {
        **A_FACET,
        "run": {"runId": UUID, "facets": {"custom": {**A_FACET, "_deleted": "run facets may"}}},
        "job": {
            "namespace": "ns",
            "name": "p",
            "facets": {"custom": {**A_FACET, "_deleted": True}},
        },
        "root": {"run": {"runId": UUID, "facets": {}}, "job": {"namespace": "ns", "name": "r"}},
    },
    "schema": {
        **A_FACET,
        "_deleted": False,
        "fields": [
            {
                "name": "a",
                "type": "struct",
                "description": "d",
                "ordinal_position": 1,
                "fields": [{"name": "b", "fields": [{"name": "c", "type": "int"}]}],
            }
        ],
    },
    "jobType": {
        **A_FACET,
        "processingType": "STREAMING",
        "integration": "FLINK",
        "jobType": "JOB",
        "emissionPattern": {
            "eventTrigger": "PERIODIC",
            "eventContentMode": "DELTA",
            "windowDuration": 1,
        },
    },
    "lineage": {
        **A_FACET,
        "entries": [{"type": "JOB", "namespace": "ns", "name": "j", "inputs": [{"type": "JOB"}]}],
        "inputs": [{"type": "DATASET", "namespace": "ns", "name": "d", "field": "f"}],
        "fields": {
            "f": {"inputs": [{"type": "JOB", "runId": UUID, "namespace": "n", "name": "j"}]}
        },
    },
}


def carriers() -> Iterator[tuple[str, dict[str, Any]]]:
    """Minimal events carrying each standard facet example, in every container of its key."""
    base = {
        "eventTime": "2024-01-01T00:00:00Z",
        "producer": "https://example.com/producer",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    }
    examples = [
        (path.relative_to(SHARED / "spec" / "facet-examples").as_posix(), load_json(path))
        for path in sorted((SHARED / "spec" / "facet-examples").glob("*/*.json"))
    ]
    examples += [(f"synthetic/{key}", {key: facet}) for key, facet in EXTRA_FACETS.items()]
    for name, example in examples:
        if not (isinstance(example, dict) and len(example) == 1):
            continue
        ((key, facet),) = example.items()
        for container, facets in STANDARD_FACETS.items():
            if key not in facets:
                continue
            event: dict[str, Any] = {
                **base,
                "eventType": "START",
                "run": {"runId": UUID},
                "job": {"namespace": "ns", "name": "job"},
            }
            holder = {"namespace": "ns", "name": "ds"}
            if container == "run":
                event["run"]["facets"] = {key: facet}
            elif container == "job":
                event["job"]["facets"] = {key: facet}
            elif container == "dataset":
                event["outputs"] = [{**holder, "facets": {key: facet}}]
                yield f"{name} in dataset", {**base, "dataset": {**holder, "facets": {key: facet}}}
            elif container == "inputDataset":
                event["inputs"] = [{**holder, "inputFacets": {key: facet}}]
            else:
                event["outputs"] = [{**holder, "outputFacets": {key: facet}}]
            yield f"{name} in {container}", event


# --- Tests ------------------------------------------------------------------------------------

CORPUS = event_files()


def test_the_corpus_is_there() -> None:
    assert len(CORPUS) >= 50
    assert sum(map(is_known_invalid, CORPUS)) == 6


def test_the_transcription_has_exactly_the_standard_facets_of_each_container() -> None:
    derived = {container: set(keys) for container, keys in facet_keys().items()}
    assert derived == {container: set(keys) for container, keys in STANDARD_FACETS.items()}


@pytest.mark.parametrize("path", CORPUS, ids=corpus_id)
def test_corpus_event_verdict_matches_jsonschema(path: Path) -> None:
    expected, ours, error = verdicts(load_json(path))
    assert ours == expected, error
    if is_known_invalid(path):
        assert expected is None


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("event_no_run_id", "run.runId"),
        ("event_invalid_run_facet", "run.facets.parent.run.runId"),
        ("event_invalid_job_facet", "job.facets.ownership.owners[0].name"),
        ("event_invalid_dataset_facet", "outputs[0].facets.ownership.owners[0].name"),
        (
            "event_invalid_input_dataset_facet",
            "inputs[0].inputFacets.dataQualityMetrics.columnMetrics",
        ),
        ("event_invalid_output_dataset_facet", "outputs[0].outputFacets.outputStatistics.rowCount"),
    ],
)
def test_known_invalid_event_names_the_broken_field(name: str, field: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        validate_event(load_json(SHARED / "events" / "fluentd-proxy" / f"{name}.json"))
    assert caught.value.field == field


def _compare(
    sources: list[tuple[str, Any]], limit: int, *, essential: bool
) -> tuple[int, list[str], set[str]]:
    compared, disagreements, verdicts_seen = 0, [], set()
    for source, event in sources:
        for label, mutant in mutants(event, source, limit, essential=essential):
            expected, ours, error = verdicts(mutant)
            compared += 1
            verdicts_seen.add(str(expected))
            if ours != expected:
                disagreements.append(
                    f"{source} {label}: jsonschema {expected}, ours {ours} {error}"
                )
            elif expected is not None and event_kind(mutant) != expected:
                disagreements.append(f"{source} {label}: event_kind is not {expected}")
    return compared, disagreements, verdicts_seen


def test_mutants_of_corpus_events_get_the_jsonschema_verdict() -> None:
    sources = [(corpus_id(path), load_json(path)) for path in CORPUS]
    compared, disagreements, seen = _compare(sources, limit=60, essential=False)
    assert not disagreements, "\n".join(disagreements[:20])
    assert compared >= 3000
    assert seen == {"None", "run", "dataset", "job"}


def test_mutants_of_events_carrying_each_standard_facet_get_the_jsonschema_verdict() -> None:
    sources = list(carriers())
    assert len(sources) >= 50
    compared, disagreements, seen = _compare(sources, limit=40, essential=True)
    assert not disagreements, "\n".join(disagreements[:20])
    assert compared >= 10000
    assert {"None", "run"} <= seen


def test_facet_examples_in_their_containers_get_the_jsonschema_verdict() -> None:
    for source, event in carriers():
        expected, ours, error = verdicts(event)
        assert ours == expected, f"{source}: {error}"


def test_deeply_nested_subset_conditions_and_schema_fields_agree_below_the_depth_limit() -> None:
    condition: dict[str, Any] = {"type": "location", "locations": ["s3://a"]}
    fields: list[Any] = [{"name": "leaf"}]
    for _ in range(8):
        condition = {"type": "binary", "operator": "AND", "left": condition, "right": condition}
        fields = [{"name": "f", "fields": fields}]
    event = {
        "eventTime": "2024-01-01T00:00:00Z",
        "producer": "p",
        "schemaURL": "s",
        "run": {"runId": UUID},
        "job": {"namespace": "ns", "name": "j"},
        "inputs": [
            {
                "namespace": "ns",
                "name": "d",
                "facets": {"schema": {**A_FACET, "fields": fields}},
                "inputFacets": {"subset": {**A_FACET, "inputCondition": condition}},
            }
        ],
    }
    assert verdicts(event)[:2] == ("run", "run")
    broken = json.loads(json.dumps(event).replace('"s3://a"', "1", 1))
    assert verdicts(broken)[:2] == (None, None)
