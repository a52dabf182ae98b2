"""Pedigree's custom OpenLineage facets: their keys, schema URLs and a builder.

Each custom facet is described by a JSON Schema shipped in ``avro/facets/`` (its ``$id`` is the
facet's ``_schemaURL`` without the fragment) and by a typed record of the Avro event schema.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["FACETS", "PRODUCER", "SCHEMA_BASE_URL", "facet", "schema_url"]

PRODUCER: Final = "https://pedigree.dev/pedigree/0.1.0"
"""The ``producer`` / ``_producer`` URI of everything Pedigree emits."""

SCHEMA_BASE_URL: Final = "https://pedigree.dev/spec/facets/1-0-0"

FACETS: Final[dict[str, str]] = {
    # run facets
    "pedigree_code": "CodeRunFacet",
    "pedigree_parameters": "ParametersRunFacet",
    "pedigree_environment": "EnvironmentRunFacet",
    "pedigree_resources": "ResourcesRunFacet",
    "pedigree_ownership": "RunOwnershipRunFacet",
    "pedigree_trace": "TraceRunFacet",
    # dataset facets
    "pedigree_model": "ModelDatasetFacet",
    "pedigree_annotations": "AnnotationsDatasetFacet",
}
"""Facet key -> schema (definition) name."""


def schema_url(key: str) -> str:
    """The ``_schemaURL`` of a Pedigree facet key (a JSON pointer into the shipped schema)."""
    name = FACETS[key]
    return f"{SCHEMA_BASE_URL}/{name}.json#/$defs/{name}"


def facet(key: str, **fields: Any) -> dict[str, Any]:
    """A Pedigree facet as OpenLineage JSON; fields whose value is ``None`` are left out."""
    body: dict[str, Any] = {"_producer": PRODUCER, "_schemaURL": schema_url(key)}
    body.update((k, v) for k, v in fields.items() if v is not None)
    return body
