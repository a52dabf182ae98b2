"""``emitters.validation``: which OpenLineage events Pedigree accepts, and what it says if not.

Valid events come from the official ``openlineage-python`` client (``event_v2`` / ``facet_v2``,
serialized by its ``Serde``), so these tests need nothing but the dev dependencies.  The
comparison with the JSON Schemas themselves is in ``test_validation_matches_jsonschema.py``.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attr
import pytest
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import (
    RunFacet,
    column_lineage_dataset,
    data_quality_metrics_input_dataset,
    dataset_version_dataset,
    datasource_dataset,
    error_message_run,
    nominal_time_run,
    output_statistics_output_dataset,
    ownership_job,
    parent_run,
    schema_dataset,
    source_code_location_job,
    sql_job,
    storage_dataset,
)
from openlineage.client.serde import Serde

from emitters.errors import InvalidEvent
from emitters.validation import MAX_DEPTH, event_kind, validate_event

NOW = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC).isoformat()
RUN_ID = "0190a8b4-3c1e-7d2a-9b7f-5e4d3c2b1a00"
PARENT_RUN_ID = "3f5e83fa-3480-44ff-99c5-ff943904e5e8"


@attr.define
class TrainingRunFacet(RunFacet):
    """A custom facet, as a team would write one: only the base facet is checked."""

    epochs: int = 3
    optimizer: dict[str, Any] = attr.field(factory=lambda: {"name": "adam", "lr": 1e-3})


def schema_facet() -> schema_dataset.SchemaDatasetFacet:
    fields = schema_dataset.SchemaDatasetFacetFields
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            fields(name="id", type="BIGINT", ordinal_position=1),
            fields(name="features", type="STRUCT", fields=[fields(name="x", type="DOUBLE")]),
        ]
    )


def run_event() -> dict[str, Any]:
    event = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=NOW,
        run=Run(
            runId=RUN_ID,
            facets={
                "parent": parent_run.ParentRunFacet(
                    run=parent_run.Run(runId=PARENT_RUN_ID),
                    job=parent_run.Job(namespace="pedigree", name="pipeline"),
                    root=parent_run.Root(
                        run=parent_run.RootRun(runId=PARENT_RUN_ID),
                        job=parent_run.RootJob(namespace="pedigree", name="pipeline"),
                    ),
                ),
                "nominalTime": nominal_time_run.NominalTimeRunFacet(nominalStartTime=NOW),
                "errorMessage": error_message_run.ErrorMessageRunFacet(
                    message="CUDA out of memory", programmingLanguage="python"
                ),
                "training": TrainingRunFacet(),
            },
        ),
        job=Job(
            namespace="pedigree",
            name="train.resnet",
            facets={
                "sql": sql_job.SQLJobFacet(query="SELECT * FROM images"),
                "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet(
                    type="git", url="https://github.com/acme/train", version="4f1c2e9"
                ),
                "ownership": ownership_job.OwnershipJobFacet(
                    owners=[ownership_job.Owner(name="user:ada", type="MAINTAINER")]
                ),
            },
        ),
        inputs=[
            InputDataset(
                namespace="s3://datasets",
                name="images/train",
                facets={
                    "schema": schema_facet(),
                    "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                        datasetVersion="v7"
                    ),
                    "dataSource": datasource_dataset.DatasourceDatasetFacet(
                        name="s3", uri="s3://datasets"
                    ),
                },
                inputFacets={
                    "dataQualityMetrics": (
                        data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
                            rowCount=10,
                            columnMetrics={
                                "x": data_quality_metrics_input_dataset.ColumnMetrics(
                                    nullCount=0, min=0.5, max=2.0
                                )
                            },
                        )
                    )
                },
            )
        ],
        outputs=[
            OutputDataset(
                namespace="s3://models",
                name="resnet/7",
                facets={
                    "storage": storage_dataset.StorageDatasetFacet(
                        storageLayer="s3", fileFormat="safetensors"
                    ),
                    "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(
                        fields={
                            "y": column_lineage_dataset.Fields(
                                inputFields=[
                                    column_lineage_dataset.InputField(
                                        namespace="s3://datasets", name="images/train", field="x"
                                    )
                                ]
                            )
                        }
                    ),
                },
                outputFacets={
                    "outputStatistics": (
                        output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                            rowCount=1, size=4096
                        )
                    )
                },
            )
        ],
    )
    return Serde.to_dict(event)


def dataset_event() -> dict[str, Any]:
    dataset = StaticDataset(
        namespace="s3://datasets", name="images", facets={"schema": schema_facet()}
    )
    return Serde.to_dict(DatasetEvent(eventTime=NOW, dataset=dataset))


def job_event() -> dict[str, Any]:
    job = Job(namespace="pedigree", name="train.resnet")
    inputs = [InputDataset(namespace="s3://datasets", name="images")]
    return Serde.to_dict(JobEvent(eventTime=NOW, job=job, inputs=inputs))


def rejected(event: object) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        validate_event(event)
    return caught.value


# --- Valid events -----------------------------------------------------------------------------


def test_run_event_from_the_official_client_is_a_run() -> None:
    event = run_event()
    assert validate_event(event) == "run"
    assert event_kind(event) == "run"


def test_dataset_event_from_the_official_client_is_a_dataset() -> None:
    assert validate_event(dataset_event()) == "dataset"


def test_job_event_from_the_official_client_is_a_job() -> None:
    assert validate_event(job_event()) == "job"


def test_run_event_without_event_type_is_valid_as_the_schema_says() -> None:
    event = run_event()
    del event["eventType"]
    assert validate_event(event) == "run"


def test_job_event_does_not_check_event_type_because_the_schema_does_not() -> None:
    assert validate_event({**job_event(), "eventType": "FINISH"}) == "job"


def test_dataset_event_with_a_run_but_no_job_is_still_a_dataset_event() -> None:
    assert validate_event({**dataset_event(), "run": {"anything": 1}}) == "dataset"


def test_run_event_ignores_a_dataset_key_like_the_schema() -> None:
    assert validate_event({**run_event(), "dataset": "ignored"}) == "run"


@pytest.mark.parametrize(
    "event_time",
    [
        "2024-05-06T07:08:09Z",
        "2024-05-06t07:08:09z",
        "2024-05-06T07:08:09.123456789-03:30",
        "2024-02-29T23:59:59+14:00",
    ],
)
def test_rfc3339_date_times_are_accepted(event_time: str) -> None:
    assert validate_event({**run_event(), "eventTime": event_time}) == "run"


def test_uppercase_uuid_is_accepted() -> None:
    event = run_event()
    event["run"]["runId"] = RUN_ID.upper()
    assert validate_event(event) == "run"


def test_integral_float_counts_as_integer_as_in_json_schema() -> None:
    event = run_event()
    event["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] = 5.0
    assert validate_event(event) == "run"


def test_standard_facet_key_in_another_container_is_a_custom_facet() -> None:
    event = run_event()
    event["run"]["facets"]["schema"] = {
        "_producer": "p",
        "_schemaURL": "s",
        "fields": "a run facet named schema is not the dataset schema facet",
    }
    assert validate_event(event) == "run"


def test_run_facets_may_carry_any_deleted_value_but_job_facets_need_a_boolean() -> None:
    event = run_event()
    event["run"]["facets"]["training"]["_deleted"] = "yes"
    assert validate_event(event) == "run"
    event["job"]["facets"]["sql"]["_deleted"] = "yes"
    error = rejected(event)
    assert (error.field, error.reason) == (
        "job.facets.sql._deleted",
        "must be a boolean, got string",
    )


# --- Invalid events: the field and the reason -------------------------------------------------


def test_unknown_event_type_is_rejected_with_the_allowed_values() -> None:
    error = rejected({**run_event(), "eventType": "FINISH"})
    assert error.field == "eventType"
    assert error.reason == (
        "must be one of START, RUNNING, COMPLETE, ABORT, FAIL, OTHER, got 'FINISH'"
    )
    assert str(error) == f"eventType: {error.reason}"


@pytest.mark.parametrize(
    "run_id",
    [
        "run_id",
        RUN_ID.replace("-", ""),
        "{" + RUN_ID + "}",
        f"urn:uuid:{RUN_ID}",
        RUN_ID[:-1] + "g",
    ],
)
def test_bad_run_id_is_not_a_valid_uuid(run_id: str) -> None:
    event = run_event()
    event["run"]["runId"] = run_id
    error = rejected(event)
    assert (error.field, error.reason) == ("run.runId", "is not a valid UUID")


@pytest.mark.parametrize(
    "event_time",
    [
        "yesterday",
        "2024-05-06",
        "2024-05-06T07:08:09",  # no offset: what datetime.now().isoformat() gives
        "2024-05-06 07:08:09Z",
        "2023-02-29T00:00:00Z",
        "2024-05-06T24:00:00Z",
        "2024-05-06T23:59:60Z",
        "0000-01-01T00:00:00Z",
    ],
)
def test_bad_event_time_is_not_an_rfc3339_date_time(event_time: str) -> None:
    error = rejected({**run_event(), "eventTime": event_time})
    assert (error.field, error.reason) == ("eventTime", "is not an RFC 3339 date-time")


def test_naive_nominal_time_is_rejected_where_it_is() -> None:
    event = run_event()
    event["run"]["facets"]["nominalTime"]["nominalEndTime"] = "2024-05-06"
    error = rejected(event)
    assert error.field == "run.facets.nominalTime.nominalEndTime"
    assert error.reason == "is not an RFC 3339 date-time"


def test_missing_run_id_is_required() -> None:
    event = run_event()
    del event["run"]["runId"]
    error = rejected(event)
    assert (error.field, error.reason) == ("run.runId", "is required")


def test_missing_event_time_is_required() -> None:
    event = job_event()
    del event["eventTime"]
    assert (rejected(event).field, rejected(event).reason) == ("eventTime", "is required")


def test_dataset_event_with_a_job_is_both_kinds_and_rejected() -> None:
    error = rejected({**dataset_event(), "job": {"namespace": "pedigree", "name": "j"}})
    assert error.field == "job"
    assert error.reason == (
        "a DatasetEvent must not have a job (this event is both a DatasetEvent and a JobEvent)"
    )


def test_event_with_neither_run_job_nor_dataset_says_what_it_needs() -> None:
    event = {k: v for k, v in run_event().items() if k not in ("run", "job")}
    error = rejected(event)
    assert error.field == "run"
    assert error.reason == "is required: an event has a run and a job, a dataset, or a job"


def test_run_event_without_job_says_job_is_required() -> None:
    event = run_event()
    del event["job"]
    assert (rejected(event).field, rejected(event).reason) == ("job", "is required")


def test_facet_without_producer_is_rejected() -> None:
    event = run_event()
    del event["run"]["facets"]["training"]["_producer"]
    error = rejected(event)
    assert (error.field, error.reason) == ("run.facets.training._producer", "is required")


def test_facet_that_is_not_an_object_is_rejected() -> None:
    event = run_event()
    event["inputs"][0]["inputFacets"]["custom"] = ["not", "a", "facet"]
    error = rejected(event)
    assert error.field == "inputs[0].inputFacets.custom"
    assert error.reason == "must be an object, got array"


def test_dotted_facet_key_is_quoted_in_the_path() -> None:
    event = run_event()
    event["run"]["facets"]["spark.logicalPlan"] = {"_schemaURL": "s"}
    assert rejected(event).field == 'run.facets["spark.logicalPlan"]._producer'


def test_schema_facet_with_a_wrong_typed_field_names_it() -> None:
    event = run_event()
    event["inputs"][0]["facets"]["schema"]["fields"][1]["name"] = 42
    error = rejected(event)
    assert error.field == "inputs[0].facets.schema.fields[1].name"
    assert error.reason == "must be a string, got integer"


def test_nested_schema_field_error_has_the_full_path() -> None:
    event = run_event()
    event["inputs"][0]["facets"]["schema"]["fields"][1]["fields"][0]["ordinal_position"] = "1"
    error = rejected(event)
    assert error.field == "inputs[0].facets.schema.fields[1].fields[0].ordinal_position"
    assert error.reason == "must be an integer, got string"


def test_boolean_is_not_an_integer() -> None:
    event = run_event()
    event["outputs"][0]["outputFacets"]["outputStatistics"]["size"] = True
    error = rejected(event)
    assert error.field == "outputs[0].outputFacets.outputStatistics.size"
    assert error.reason == "must be an integer, got boolean"


def test_output_facet_is_checked_by_its_key() -> None:
    event = run_event()
    event["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] = "wrong"
    assert rejected(event).field == "outputs[0].outputFacets.outputStatistics.rowCount"


def test_parent_facet_without_run_id_is_rejected() -> None:
    event = run_event()
    del event["run"]["facets"]["parent"]["run"]["runId"]
    assert rejected(event).field == "run.facets.parent.run.runId"


def test_execution_parameters_allow_no_extra_keys() -> None:
    event = run_event()
    event["run"]["facets"]["executionParameters"] = {
        "_producer": "p",
        "_schemaURL": "s",
        "parameters": [{"key": "lr", "value": "0.001", "unit": "1"}],
    }
    error = rejected(event)
    assert error.field == "run.facets.executionParameters.parameters[0].unit"
    assert error.reason == "is not an allowed property"


def test_subset_condition_error_follows_the_type_tag() -> None:
    event = run_event()
    compare = {"type": "compare", "left": {"type": "field"}, "right": {}, "comparison": "EQ"}
    event["inputs"][0]["inputFacets"]["subset"] = {
        "_producer": "p",
        "_schemaURL": "s",
        "inputCondition": {"type": "binary", "operator": "AND", "left": compare, "right": compare},
    }
    error = rejected(event)
    assert error.field == "inputs[0].inputFacets.subset.inputCondition.left.left.field"
    assert error.reason == "is required"


def test_lineage_job_input_with_a_namespace_needs_a_name() -> None:
    event = run_event()
    event["job"]["facets"]["lineage"] = {
        "_producer": "p",
        "_schemaURL": "s",
        "entries": [{"type": "JOB", "inputs": [{"type": "JOB", "namespace": "airflow"}]}],
    }
    error = rejected(event)
    assert error.field == "job.facets.lineage.entries[0].inputs[0].name"
    assert error.reason == "is required when 'namespace' is present"


def test_window_duration_has_a_minimum() -> None:
    event = run_event()
    event["job"]["facets"]["jobType"] = {
        "_producer": "p",
        "_schemaURL": "s",
        "processingType": "STREAMING",
        "integration": "FLINK",
        "emissionPattern": {
            "eventTrigger": "PERIODIC",
            "eventContentMode": "DELTA",
            "windowDuration": 0,
        },
    }
    error = rejected(event)
    assert error.field == "job.facets.jobType.emissionPattern.windowDuration"
    assert error.reason == "must be at least 1, got 0"


# --- Robustness: never another exception, never unbounded recursion ---------------------------


@pytest.mark.parametrize("event", [None, [], "{}", b"{}", 42, ("run",), object()])
def test_non_object_input_is_an_invalid_event(event: object) -> None:
    error = rejected(event)
    assert error.field is None
    assert error.reason.startswith("an event must be a JSON object, got ")


def test_ten_thousand_levels_of_schema_fields_are_rejected_not_recursed() -> None:
    innermost: dict[str, Any] = {"name": "leaf"}
    for level in range(10_000):
        innermost = {"name": f"f{level}", "fields": [innermost]}
    event = run_event()
    event["inputs"][0]["facets"]["schema"]["fields"] = [innermost]
    error = rejected(event)
    assert error.reason == f"is nested deeper than {MAX_DEPTH} levels"
    assert error.field is not None
    assert error.field.startswith("inputs[0].facets.schema.fields[0].fields[0].fields[0]")
    assert error.field.count("[") == MAX_DEPTH // 2 - 1


def test_deep_nesting_inside_a_custom_facet_is_not_walked() -> None:
    payload: dict[str, Any] = {}
    for _ in range(10_000):
        payload = {"child": payload}
    event = run_event()
    event["run"]["facets"]["training"]["tree"] = payload
    assert validate_event(event) == "run"


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nodes(item, (*path, index))


ODD_VALUES: tuple[Any, ...] = (
    None,
    object(),
    {1, 2},
    (1, 2),
    b"bytes",
    float("nan"),
    float("inf"),
    Decimal("1.5"),
    complex(1, 2),
    {1: "non-string key"},
    {"_producer": object(), "_schemaURL": None},
    "\ud800",
)


@pytest.mark.parametrize("make", [run_event, dataset_event, job_event])
def test_any_value_anywhere_gives_a_kind_or_invalid_event_and_nothing_else(make: Any) -> None:
    event = make()
    outcomes = set()
    for path in _nodes(event):
        if not path:
            continue
        for odd in ODD_VALUES:
            mutant = copy.deepcopy(event)
            parent = mutant
            for step in path[:-1]:
                parent = parent[step]
            parent[path[-1]] = odd
            try:
                outcomes.add(validate_event(mutant))
            except InvalidEvent as err:
                outcomes.add("invalid" if err.reason else "invalid without a reason")
    assert "invalid" in outcomes
    assert "invalid without a reason" not in outcomes


def test_a_fresh_uuid4_and_now_in_utc_are_valid() -> None:
    event = job_event()
    event["eventTime"] = datetime.now(UTC).isoformat()
    event = {**event, "run": {"runId": str(uuid.uuid4())}}
    event["eventType"] = "START"
    assert validate_event(event) == "run"
