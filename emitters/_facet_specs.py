"""The OpenLineage 2-0-x event model, written down by hand as data for ``emitters.validation``.

A compact declarative transcription of ``spec/OpenLineage.json`` (the core events) and of every
standard facet in ``spec/facets/*.json``: which properties an object has, which are required,
and what type (and format) each one must be.  Nothing here reads the schema files at run time;
``tests/unit/test_validation_matches_jsonschema.py`` checks the transcription against them.

The node types mirror the JSON Schema keywords the OpenLineage schemas use:

- ``Str`` / ``Int`` / ``Num`` / ``Bool``: ``type`` (with ``format``, ``enum``, ``minimum``);
- ``Const``: ``const`` with no ``type`` (the ``type`` tags of subset conditions);
- ``Arr``: ``type: array`` + ``items``;
- ``Obj``: ``type: object`` + ``properties`` / ``required`` / ``additionalProperties`` /
  ``dependentRequired``, and ``not: {required: [...]}`` as ``forbid_all``;
- ``MapOf``: ``type: object`` + ``additionalProperties: <schema>``;
- ``OneOf``: ``oneOf`` over branches told apart by a ``type`` tag;
- ``Ref``: a named definition (``DEFS``), for the recursive ones;
- ``Facets``: a facet container (``run.facets``, ``job.facets``, dataset ``facets``,
  ``inputFacets``, ``outputFacets``).  With ``keyed`` the standard facets are checked by key
  (``STANDARD_FACETS``); any other key only gets the base facet checks of its container.

A facet is one ``Obj``: the base facet properties (``_producer``, ``_schemaURL``, and
``_deleted`` for job and dataset facets) merged with the facet's own.  That is exactly the
``allOf`` of the schema: no facet reuses a base property name and none forbids extra keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DEFS",
    "EVENTS",
    "STANDARD_FACETS",
    "AnyValue",
    "Arr",
    "Bool",
    "Const",
    "Container",
    "Facets",
    "Int",
    "MapOf",
    "Num",
    "Obj",
    "OneOf",
    "Ref",
    "Spec",
    "Str",
    "facet_base",
]

Container = Literal["run", "job", "dataset", "inputDataset", "outputDataset"]
Format = Literal["uuid", "date-time", "uri"]


@dataclass(frozen=True, slots=True)
class AnyValue:
    """No constraint at all (``additionalProperties: true``, or no schema)."""


@dataclass(frozen=True, slots=True)
class Str:
    format: Format | None = None
    enum: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Int:
    minimum: int | None = None


@dataclass(frozen=True, slots=True)
class Num:
    pass


@dataclass(frozen=True, slots=True)
class Bool:
    pass


@dataclass(frozen=True, slots=True)
class Const:
    value: str


@dataclass(frozen=True, slots=True)
class Arr:
    items: Spec = AnyValue()


@dataclass(frozen=True, slots=True)
class Obj:
    props: Mapping[str, Spec] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    extra: Spec | None = AnyValue()  # None: additionalProperties false
    dependent: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    forbid_all: tuple[str, ...] = ()  # not: {required: forbid_all}


@dataclass(frozen=True, slots=True)
class MapOf:
    values: Spec


@dataclass(frozen=True, slots=True)
class OneOf:
    tag: str  # the property whose value names the branch, for error messages only
    branches: Mapping[str, Spec]


@dataclass(frozen=True, slots=True)
class Ref:
    name: str


@dataclass(frozen=True, slots=True)
class Facets:
    container: Container
    keyed: bool


Spec = AnyValue | Str | Int | Num | Bool | Const | Arr | Obj | MapOf | OneOf | Ref | Facets

S = Str()
ANY_OBJECT = Obj()
URI = Str("uri")


def obj(required: tuple[str, ...] = (), /, **props: Spec) -> Obj:
    return Obj(props, required)


def facet_base(container: Container) -> Obj:
    """The base facet of a container: BaseFacet, plus ``_deleted`` on job and dataset facets."""
    props: dict[str, Spec] = {"_producer": URI, "_schemaURL": URI}
    if container in ("job", "dataset"):
        props["_deleted"] = Bool()
    return Obj(props, ("_producer", "_schemaURL"))


def _facet(container: Container, required: tuple[str, ...] = (), /, **props: Spec) -> Obj:
    base = facet_base(container)
    return Obj({**base.props, **props}, base.required + required)


# --- Recursive and shared definitions ---------------------------------------------------------

_RUN_REF = obj(("runId",), runId=Str("uuid"), facets=Facets("run", keyed=False))
_JOB_REF = obj(("namespace", "name"), namespace=S, name=S, facets=Facets("job", keyed=False))
_TAGS = Arr(obj(("key", "value"), key=S, value=S, source=S))
_OWNERS = Arr(obj(("name",), name=S, type=S))
_STATISTICS: dict[str, Spec] = {"rowCount": Int(), "size": Int(), "fileCount": Int()}
_COLUMN_METRICS = MapOf(
    Obj(
        {
            "nullCount": Int(),
            "distinctCount": Int(),
            "sum": Num(),
            "count": Num(),
            "min": Num(),
            "max": Num(),
            "quantiles": MapOf(Num()),
        }
    )
)
_QUALITY_METRICS: dict[str, Spec] = {
    "rowCount": Int(),
    "bytes": Int(),
    "fileCount": Int(),
    "lastUpdated": Str("date-time"),
    "columnMetrics": _COLUMN_METRICS,
}
_JOB_DEPENDENCY = Obj(
    {
        "job": obj(("namespace", "name"), namespace=S, name=S),
        "run": obj(("runId",), runId=Str("uuid")),
        "dependency_type": S,
        "sequence_trigger_rule": S,
        "status_trigger_rule": S,
    },
    ("job",),
)
_COLUMN_INPUT_FIELD = obj(
    ("namespace", "name", "field"),
    namespace=S,
    name=S,
    field=S,
    transformations=Arr(obj(("type",), type=S, subtype=S, description=S, masking=Bool())),
)
_LINEAGE_TRANSFORMATIONS = Arr(obj(("type",), type=S, subtype=S, description=S, masking=Bool()))
_BOTH_OR_NEITHER = {"namespace": ("name",), "name": ("namespace",)}

DEFS: Mapping[str, Spec] = {
    "SchemaDatasetFacetFields": obj(
        ("name",),
        name=S,
        type=S,
        description=S,
        ordinal_position=Int(),
        fields=Arr(Ref("SchemaDatasetFacetFields")),
    ),
    "BaseSubsetCondition": OneOf(
        "type",
        {
            "location": obj(("locations", "type"), type=Const("location"), locations=Arr(S)),
            "partition": obj(
                ("partitions", "type"),
                type=Const("partition"),
                partitions=Arr(obj(("dimensions",), identifier=S, dimensions=ANY_OBJECT)),
            ),
            "binary": obj(
                ("left", "right", "operator", "type"),
                type=Const("binary"),
                left=Ref("BaseSubsetCondition"),
                right=Ref("BaseSubsetCondition"),
                operator=S,
            ),
            "compare": obj(
                ("left", "right", "comparison", "type"),
                type=Const("compare"),
                left=Ref("CompareExpression"),
                right=Ref("CompareExpression"),
                comparison=S,
            ),
        },
    ),
    "CompareExpression": OneOf(
        "type",
        {
            "field": obj(("field", "type"), type=Const("field"), field=S),
            "literal": obj(("value", "type"), type=Const("literal"), value=S),
        },
    ),
    "LineageEntry": OneOf(
        "type",
        {
            "DATASET": obj(
                ("namespace", "name", "type"),
                namespace=S,
                name=S,
                type=Str(enum=("DATASET",)),
                inputs=Arr(Ref("LineageInput")),
                fields=MapOf(Ref("LineageFieldEntry")),
            ),
            "JOB": Obj(
                {
                    "namespace": S,
                    "name": S,
                    "type": Str(enum=("JOB",)),
                    "runId": Str("uuid"),
                    "inputs": Arr(Ref("LineageInput")),
                },
                ("type",),
                dependent=_BOTH_OR_NEITHER,
            ),
        },
    ),
    "LineageInput": OneOf(
        "type",
        {
            "DATASET": obj(
                ("namespace", "name", "type"),
                namespace=S,
                name=S,
                type=Str(enum=("DATASET",)),
                field=S,
                transformations=_LINEAGE_TRANSFORMATIONS,
            ),
            "JOB": Obj(
                {
                    "namespace": S,
                    "name": S,
                    "type": Str(enum=("JOB",)),
                    "runId": Str("uuid"),
                    "transformations": _LINEAGE_TRANSFORMATIONS,
                },
                ("type",),
                dependent=_BOTH_OR_NEITHER,
            ),
        },
    ),
    "LineageFieldEntry": obj(("inputs",), inputs=Arr(Ref("LineageInput"))),
}

# --- Standard facets, by container and key ----------------------------------------------------

STANDARD_FACETS: Mapping[Container, Mapping[str, Obj]] = {
    "run": {
        "environmentVariables": _facet(
            "run",
            ("environmentVariables",),
            environmentVariables=Arr(obj(("name", "value"), name=S, value=S)),
        ),
        "errorMessage": _facet(
            "run",
            ("message", "programmingLanguage"),
            message=S,
            programmingLanguage=S,
            stackTrace=S,
        ),
        "executionParameters": _facet(
            "run",
            parameters=Arr(
                Obj({"key": S, "name": S, "description": S, "value": S}, ("key",), extra=None)
            ),
        ),
        "externalQuery": _facet("run", ("externalQueryId", "source"), externalQueryId=S, source=S),
        "extractionError": _facet(
            "run",
            ("totalTasks", "failedTasks", "errors"),
            totalTasks=Int(),
            failedTasks=Int(),
            errors=Arr(
                obj(("errorMessage",), errorMessage=S, stackTrace=S, task=S, taskNumber=Int())
            ),
        ),
        "jobDependencies": _facet(
            "run",
            upstream=Arr(_JOB_DEPENDENCY),
            downstream=Arr(_JOB_DEPENDENCY),
            trigger_rule=S,
        ),
        "nominalTime": _facet(
            "run",
            ("nominalStartTime",),
            nominalStartTime=Str("date-time"),
            nominalEndTime=Str("date-time"),
        ),
        "parent": _facet(
            "run",
            ("run", "job"),
            run=_RUN_REF,
            job=_JOB_REF,
            root=obj(("run", "job"), run=_RUN_REF, job=_JOB_REF),
        ),
        "processing_engine": _facet(
            "run", ("version",), version=S, name=S, openlineageAdapterVersion=S
        ),
        "tags": _facet("run", tags=_TAGS),
        "test": _facet(
            "run",
            ("tests",),
            tests=Arr(
                obj(
                    ("name", "status"),
                    name=S,
                    status=S,
                    severity=S,
                    type=S,
                    description=S,
                    expected=S,
                    actual=S,
                    content=S,
                    contentType=S,
                    params=ANY_OBJECT,
                )
            ),
        ),
    },
    "job": {
        "documentation": _facet("job", ("description",), description=S, contentType=S),
        "jobType": _facet(
            "job",
            ("processingType", "integration"),
            processingType=S,
            integration=S,
            jobType=S,
            emissionPattern=obj(
                ("eventTrigger", "eventContentMode"),
                eventTrigger=S,
                eventContentMode=S,
                windowDuration=Int(minimum=1),
            ),
        ),
        "lineage": _facet("job", ("entries",), entries=Arr(Ref("LineageEntry"))),
        "ownership": _facet("job", owners=_OWNERS),
        "sourceCode": _facet("job", ("language", "sourceCode"), language=S, sourceCode=S),
        "sourceCodeLocation": _facet(
            "job",
            ("type", "url"),
            type=S,
            url=URI,
            repoUrl=S,
            path=S,
            version=S,
            tag=S,
            branch=S,
            pullRequestNumber=S,
        ),
        "sql": _facet("job", ("query",), query=S, dialect=S),
        "tags": _facet("job", tags=_TAGS),
    },
    "dataset": {
        "catalog": _facet(
            "dataset",
            ("framework", "type", "name"),
            framework=S,
            type=S,
            name=S,
            metadataUri=S,
            warehouseUri=S,
            source=S,
            catalogProperties=MapOf(S),
        ),
        "columnLineage": _facet(
            "dataset",
            ("fields",),
            fields=MapOf(
                obj(
                    ("inputFields",),
                    inputFields=Arr(_COLUMN_INPUT_FIELD),
                    transformationDescription=S,
                    transformationType=S,
                )
            ),
            dataset=Arr(_COLUMN_INPUT_FIELD),
        ),
        "dataQualityMetrics": _facet("dataset", ("columnMetrics",), **_QUALITY_METRICS),
        "dataSource": _facet("dataset", name=S, uri=URI),
        "datasetType": _facet("dataset", ("datasetType",), datasetType=S, subType=S),
        "documentation": _facet("dataset", ("description",), description=S, contentType=S),
        "hierarchy": _facet(
            "dataset", ("hierarchy",), hierarchy=Arr(obj(("type", "name"), type=S, name=S))
        ),
        "lifecycleStateChange": _facet(
            "dataset",
            ("lifecycleStateChange",),
            lifecycleStateChange=Str(
                enum=("ALTER", "CREATE", "DROP", "OVERWRITE", "RENAME", "TRUNCATE")
            ),
            previousIdentifier=obj(("name", "namespace"), name=S, namespace=S),
        ),
        "lineage": _facet(
            "dataset",
            inputs=Arr(Ref("LineageInput")),
            fields=MapOf(Ref("LineageFieldEntry")),
        ),
        "ownership": _facet("dataset", owners=_OWNERS),
        "schema": _facet("dataset", fields=Arr(Ref("SchemaDatasetFacetFields"))),
        "storage": _facet("dataset", ("storageLayer",), storageLayer=S, fileFormat=S),
        "symlinks": _facet(
            "dataset",
            identifiers=Arr(obj(("namespace", "name", "type"), namespace=S, name=S, type=S)),
        ),
        "tags": _facet(
            "dataset", tags=Arr(obj(("key", "value"), key=S, value=S, source=S, field=S))
        ),
        "version": _facet("dataset", ("datasetVersion",), datasetVersion=S),
    },
    "inputDataset": {
        "dataQualityAssertions": _facet(
            "inputDataset",
            ("assertions",),
            assertions=Arr(
                obj(
                    ("assertion", "success"),
                    assertion=S,
                    success=Bool(),
                    column=S,
                    severity=S,
                    name=S,
                    description=S,
                    expected=S,
                    actual=S,
                    content=S,
                    contentType=S,
                    params=ANY_OBJECT,
                )
            ),
        ),
        "dataQualityMetrics": _facet("inputDataset", ("columnMetrics",), **_QUALITY_METRICS),
        "inputStatistics": _facet("inputDataset", **_STATISTICS),
        "subset": _facet(
            "inputDataset", ("inputCondition",), inputCondition=Ref("BaseSubsetCondition")
        ),
    },
    "outputDataset": {
        "outputStatistics": _facet("outputDataset", **_STATISTICS),
        "subset": _facet(
            "outputDataset", ("outputCondition",), outputCondition=Ref("BaseSubsetCondition")
        ),
    },
}

# --- The core events --------------------------------------------------------------------------

_BASE_EVENT: dict[str, Spec] = {"eventTime": Str("date-time"), "producer": URI, "schemaURL": URI}
_BASE_REQUIRED = ("eventTime", "producer", "schemaURL")
_RUN = obj(("runId",), runId=Str("uuid"), facets=Facets("run", keyed=True))
_JOB = obj(("namespace", "name"), namespace=S, name=S, facets=Facets("job", keyed=True))
_DATASET: dict[str, Spec] = {"namespace": S, "name": S, "facets": Facets("dataset", keyed=True)}
_INPUTS = Arr(
    Obj({**_DATASET, "inputFacets": Facets("inputDataset", keyed=True)}, ("namespace", "name"))
)
_OUTPUTS = Arr(
    Obj({**_DATASET, "outputFacets": Facets("outputDataset", keyed=True)}, ("namespace", "name"))
)
_EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")

EVENTS: Mapping[Literal["run", "dataset", "job"], Obj] = {
    "run": Obj(
        {
            **_BASE_EVENT,
            "eventType": Str(enum=_EVENT_TYPES),
            "run": _RUN,
            "job": _JOB,
            "inputs": _INPUTS,
            "outputs": _OUTPUTS,
        },
        (*_BASE_REQUIRED, "run", "job"),
    ),
    "dataset": Obj(
        {**_BASE_EVENT, "dataset": Obj(_DATASET, ("namespace", "name"))},
        (*_BASE_REQUIRED, "dataset"),
        forbid_all=("job", "run"),
    ),
    "job": Obj(
        {**_BASE_EVENT, "job": _JOB, "inputs": _INPUTS, "outputs": _OUTPUTS},
        (*_BASE_REQUIRED, "job"),
        forbid_all=("run",),
    ),
}
