"""The JSON Schema verdict on an OpenLineage event: the reference Pedigree's validator must match.

jsonschema's Draft 2020-12 validator on ``../shared/openlineage/spec/OpenLineage.json``, patched
in memory so that each facet container (``run.facets``, ``job.facets``, dataset ``facets``,
``inputFacets``, ``outputFacets``) checks a standard facet against its own schema by its key,
and any other key against the container's base facet, as the core schema does.  Which key
belongs to which container is read from ``spec/facets/*.json``: each facet definition extends
(``allOf``) one of the core ``RunFacet`` / ``JobFacet`` / ``DatasetFacet`` /
``InputDatasetFacet`` / ``OutputDatasetFacet``.  References resolve from the local files only.

Formats asserted: ``uuid`` and ``date-time`` (jsonschema's own checks; ``date-time`` is
``rfc3339-validator``, a dev dependency).  ``uri`` stays an annotation, as it is for jsonschema
without ``rfc3987`` / ``rfc3986-validator``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from emitters.errors import InvalidEvent
from emitters.validation import validate_event
from tests.openlineage_corpus import FACET_SCHEMAS, SPEC, load_json

KEYED_ID = "urn:pedigree:openlineage-keyed.json"
BASES = {
    "RunFacet": "run",
    "JobFacet": "job",
    "DatasetFacet": "dataset",
    "InputDatasetFacet": "inputDataset",
    "OutputDatasetFacet": "outputDataset",
}
# Where the core schema holds each container: (definition, path to the facets' "anyOf" owner).
CONTAINERS = {
    "run": ("Run", ("properties", "facets")),
    "job": ("Job", ("properties", "facets")),
    "dataset": ("Dataset", ("properties", "facets")),
    "inputDataset": ("InputDataset", ("allOf", 1, "properties", "inputFacets")),
    "outputDataset": ("OutputDataset", ("allOf", 1, "properties", "outputFacets")),
}


def format_checker() -> FormatChecker:
    if "date-time" not in FormatChecker.checkers:  # pragma: no cover - a broken dev install
        raise RuntimeError("jsonschema checks date-time only with rfc3339-validator installed")
    return FormatChecker(formats=["uuid", "date-time"])


def facet_keys() -> dict[str, dict[str, str]]:
    """container -> facet key -> URI of the facet's definition, from ``spec/facets/*.json``."""
    found: dict[str, dict[str, str]] = {container: {} for container in CONTAINERS}
    for path in sorted(FACET_SCHEMAS.glob("*.json")):
        schema = load_json(path)
        defs = schema["$defs"]

        def containers_of(ref: str, defs: dict[str, Any] = defs) -> Iterator[tuple[str, str]]:
            name = ref.removeprefix("#/$defs/")
            definition = defs[name]
            if "oneOf" in definition:
                for branch in definition["oneOf"]:
                    yield from containers_of(branch["$ref"])
                return
            base = definition["allOf"][0]["$ref"].rsplit("/", 1)[-1]
            yield BASES[base], name

        for key, prop in schema["properties"].items():
            refs = [prop["$ref"]] if "$ref" in prop else [b["$ref"] for b in prop["anyOf"]]
            for ref in refs:
                for container, name in containers_of(ref):
                    assert key not in found[container], (container, key)
                    found[container][key] = f"{schema['$id']}#/$defs/{name}"
    return found


@cache
def reference() -> tuple[Draft202012Validator, dict[str, Draft202012Validator]]:
    """The validator for whole events, and one per oneOf branch (RunEvent, ...)."""
    core = load_json(SPEC)
    keyed = copy.deepcopy(core)
    keyed["$id"] = KEYED_ID
    for container, facets in facet_keys().items():
        definition, where = CONTAINERS[container]
        owner = keyed["$defs"][definition]
        for step in where:
            owner = owner[step]
        (only,) = owner["anyOf"]
        base = only["additionalProperties"]
        owner["anyOf"] = [
            {
                "type": "object",
                "properties": {key: {"$ref": uri} for key, uri in facets.items()},
                "additionalProperties": base,
            }
        ]
    resources = [(core["$id"], Resource.from_contents(core))]
    for path in sorted(FACET_SCHEMAS.glob("*.json")):
        schema = load_json(path)
        resources.append((schema["$id"], Resource.from_contents(schema)))
    resources.append((KEYED_ID, Resource.from_contents(keyed)))
    registry: Registry[Any] = Registry().with_resources(resources)
    checker = format_checker()
    whole = Draft202012Validator(keyed, registry=registry, format_checker=checker)
    branches = {
        kind: Draft202012Validator(
            {"$ref": f"{KEYED_ID}#/$defs/{name}"}, registry=registry, format_checker=checker
        )
        for kind, name in (("run", "RunEvent"), ("dataset", "DatasetEvent"), ("job", "JobEvent"))
    }
    return whole, branches


def verdicts(event: object) -> tuple[str | None, str | None, str]:
    """(kind JSON Schema says, or None if invalid; kind we say, or None; our error)."""
    whole, branches = reference()
    expected = None
    if whole.is_valid(event):
        (expected,) = (kind for kind, branch in branches.items() if branch.is_valid(event))
    try:
        return expected, validate_event(event), ""
    except InvalidEvent as err:
        return expected, None, str(err)
