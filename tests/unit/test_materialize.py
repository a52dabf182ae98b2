"""Event -> rows, pure: specific values in specific columns, for every kind of event."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import pedigree
from consumers.materialize import (
    EventMeta,
    Row,
    canonical_json,
    event_id,
    parse_time,
    rows_for_events,
)
from consumers.tables import COLUMNS
from emitters.codec import encode, encode_json
from emitters.errors import InvalidEvent
from emitters.facets import facet
from emitters.testing import record_lineage
from tests.events import dataset_event, job_event, ml_run_event, simple_run_event

RECEIVED = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ML_RUN = "00000000-0000-0000-0000-00000000002a"


def meta(offset: int = 0, message: bytes = b"{}") -> EventMeta:
    return EventMeta("lineage", 0, offset, message, RECEIVED)


def table(rows: dict[str, list[Row]], name: str) -> list[dict[str, Any]]:
    """The rows of one table as dicts by column name."""
    return [dict(zip(COLUMNS[name], row, strict=True)) for row in rows[name]]


def materialize(*events: dict[str, Any]) -> dict[str, list[Row]]:
    return rows_for_events((meta(i), e) for i, e in enumerate(events))


def training_lifecycle() -> list[dict[str, Any]]:
    """START, RUNNING (with usage samples) and COMPLETE of one training run, built by hand
    around ``ml_run_event`` (the COMPLETE); START has its own code and parameters."""
    complete = ml_run_event()
    start = copy.deepcopy(complete)
    start.update(eventType="START", eventTime="2026-11-28T09:00:00Z", outputs=[])
    for key in ("errorMessage", "pedigree_resources"):
        del start["run"]["facets"][key]
    running = copy.deepcopy(start)
    running.update(eventType="RUNNING", eventTime="2026-11-28T09:01:00Z", inputs=[])
    running["run"]["facets"] = {
        "pedigree_resources": facet(
            "pedigree_resources",
            samples=[
                {
                    "time": "2026-11-28T09:00:30Z",
                    "host": "gpu-node-3",
                    "device": "gpu1",
                    "gpuUtilPercent": 88.0,
                    "gpuMemoryBytes": 40 * 2**30,
                },
                {"time": "2026-11-28T09:00:30Z", "device": "cpu", "rssBytes": 2**30},
            ],
        )
    }
    del complete["run"]["facets"]["errorMessage"]  # a successful run
    return [start, running, complete]


def deploy_event() -> dict[str, Any]:
    """A deployment: job deploy/<service>, input = the model version, output = the endpoint."""
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-28T11:00:00Z",
        "producer": "https://pedigree.dev/pedigree/0.1.0",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {
            "runId": "00000000-0000-0000-0000-0000000000d0",
            "facets": {"pedigree_ownership": facet("pedigree_ownership", deployer="carol")},
        },
        "job": {"namespace": "vision", "name": "deploy/detector"},
        "inputs": [
            {
                "namespace": "s3://models",
                "name": "detector",
                "facets": {
                    "version": {
                        "_producer": "https://pedigree.dev/pedigree/0.1.0",
                        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
                        "datasetVersion": "sha256:model12",
                    },
                    "pedigree_model": facet(
                        "pedigree_model", name="detector", version="12", stage="production"
                    ),
                },
            }
        ],
        "outputs": [{"namespace": "https://serving.example.com", "name": "detector"}],
    }


def sdk_pipeline(tmp_path: Path) -> list[dict[str, Any]]:
    """A two-step pipeline as the SDK emits it (through the real Avro codec)."""
    weights = tmp_path / "model.bin"
    with record_lineage(namespace="vision") as lineage, pedigree.run("pipeline"):
        with pedigree.run("prepare") as prepare:
            prepare.input("s3://raw/images", version="v1")
            prepare.output("s3://datasets/clean", version="v2")
        with pedigree.run("train", params={"optimizer": {"lr": 0.01}, "epochs": 3}) as train:
            train.input("s3://datasets/clean", version="v2")
            train.input("s3://datasets/unversioned")
            train.model(weights, name="detector", version="13", metrics={"mAP": 0.7})
            weights.write_bytes(b"weights")
    return lineage.events


# ---------------------------------------------------------------------------------------------


def test_every_row_has_one_value_per_column_for_every_kind_of_event(tmp_path: Path) -> None:
    events = [*training_lifecycle(), deploy_event(), dataset_event(), job_event()]
    rows = materialize(*events, *sdk_pipeline(tmp_path))
    assert set(rows) == set(COLUMNS)
    for name, table_rows in rows.items():
        for row in table_rows:
            assert len(row) == len(COLUMNS[name]), name
    assert len(rows["events"]) == len(events) + 6


def test_the_event_id_is_a_content_hash_independent_of_key_order_and_offset() -> None:
    event = ml_run_event()
    reordered = json.loads(json.dumps(dict(reversed(list(event.items())))))
    assert event_id(event) == event_id(reordered)
    assert len(event_id(event)) == 64
    changed = ml_run_event()
    changed["eventTime"] = "2026-11-28T10:05:00.124+01:00"
    assert event_id(changed) != event_id(event)
    # 1 and 1.0 are different JSON texts, hence different events
    assert canonical_json({"a": 1}) != canonical_json({"a": 1.0})
    first = rows_for_events([(meta(1), event)])
    again = rows_for_events([(meta(99), reordered)])
    assert first["runs"] == again["runs"]
    assert first["events"][0][0] == again["events"][0][0]


def test_a_training_run_has_its_code_image_parameters_owner_and_resources() -> None:
    [run] = table(materialize(ml_run_event()), "runs")
    assert run["run_id"] == ML_RUN
    assert (run["event_type"], run["state_rank"]) == ("COMPLETE", 3)
    assert run["event_time"] == datetime(2026, 11, 28, 9, 5, 0, 123000, tzinfo=UTC)
    assert run["start_time"] is None
    assert run["end_time"] == run["event_time"]
    assert (run["job_namespace"], run["job_name"]) == ("vision", "train")
    assert run["git_commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert (run["git_branch"], run["git_dirty"]) == ("main", True)
    assert run["image_digest"] == "sha256:" + "ab" * 32
    assert run["arguments"] == ["--epochs", "3"]
    assert run["parameters"] == {
        "optimizer.lr": "0.001",
        "model.layers": "[64,64]",
        "seed": "7",
        "amp": "true",
    }
    assert (run["submitter"], run["code_author"], run["team"]) == ("alice", "bob", "vision")
    assert run["error_message"] == "CUDA out of memory"
    assert run["requested_cpu_count"] == 8.0
    assert run["requested_memory_bytes"] == 32 * 2**30
    assert run["requested_gpu_count"] == 2
    assert run["observed_gpu_model"] == "NVIDIA A100"
    assert (run["parent_run_id"], run["parent_job_name"]) == (str_uuid(1), "pipeline")
    assert (run["root_run_id"], run["root_job_name"]) == (str_uuid(1), "pipeline")
    assert (run["host"], run["k8s_pod"]) == ("gpu-node-3", "train-abc")


def str_uuid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012x}"


def test_edges_name_exact_dataset_versions_in_both_orderings() -> None:
    rows = materialize(ml_run_event())
    inputs = {
        (e["dataset_namespace"], e["dataset_name"], e["dataset_version"])
        for e in table(rows, "run_inputs")
    }
    assert inputs == {
        ("s3://datasets", "images/train", "sha256:00ff"),
        ("s3://datasets", "labels/boxes", "sha256:00ff"),
    }
    [output] = table(rows, "run_outputs")
    assert (output["run_id"], output["dataset_name"], output["dataset_version"]) == (
        ML_RUN,
        "detector",
        "sha256:model12",
    )
    assert rows["run_inputs_by_dataset"] == rows["run_inputs"]
    assert rows["run_outputs_by_dataset"] == rows["run_outputs"]


def test_a_dataset_without_a_version_facet_is_version_empty(tmp_path: Path) -> None:
    rows = materialize(*sdk_pipeline(tmp_path))
    versions = {
        (e["dataset_name"], e["dataset_version"])
        for e in table(rows, "run_inputs")
        if e["dataset_namespace"] == "s3://datasets"
    }
    assert versions == {("clean", "v2"), ("unversioned", "")}


def test_models_dataset_versions_labels_and_statistics() -> None:
    rows = materialize(ml_run_event())
    [model] = table(rows, "model_versions")
    assert (model["model_name"], model["model_version"], model["stage"]) == (
        "detector",
        "12",
        "candidate",
    )
    assert model["metrics"] == {"mAP": 0.61, "loss": 0.25}
    assert (model["dataset_namespace"], model["dataset_version"]) == (
        "s3://models",
        "sha256:model12",
    )
    assert (model["run_id"], model["role"], model["framework"]) == (ML_RUN, "output", "pytorch")
    by_name = {(v["dataset_name"], v["role"]): v for v in table(rows, "dataset_versions")}
    produced = by_name["detector", "output"]
    assert (produced["run_id"], produced["row_count"], produced["size_bytes"]) == (ML_RUN, 1, 1024)
    labels = by_name["labels/boxes", "input"]
    assert (labels["label_set"], labels["label_version"], labels["label_task"]) == (
        "boxes",
        "2026-11-01",
        "detection",
    )
    image, bbox = by_name["images/train", "input"]["schema_fields"]
    assert image == ("image", "bytes", "", "[]")
    assert json.loads(bbox[3])[0]["name"] == "x"
    storage = {
        (d["dataset_name"], d["storage_layer"], d["file_format"]) for d in table(rows, "datasets")
    }
    assert ("images/train", "s3", "parquet") in storage


def test_usage_samples_become_a_time_series_per_host_and_device() -> None:
    rows = materialize(*training_lifecycle())
    samples = {(s["host"], s["device"]): s for s in table(rows, "resource_samples")}
    assert set(samples) == {
        ("gpu-node-3", "gpu0"),
        ("gpu-node-3", "cpu"),
        ("gpu-node-3", "gpu1"),
        ("", "cpu"),  # no host in the sample and no environment facet on that event
    }
    gpu1 = samples["gpu-node-3", "gpu1"]
    assert gpu1["sample_time"] == datetime(2026, 11, 28, 9, 0, 30, tzinfo=UTC)
    assert (gpu1["gpu_util_percent"], gpu1["gpu_memory_bytes"]) == (88.0, 40 * 2**30)
    assert samples["", "cpu"]["rss_bytes"] == 2**30
    assert samples["gpu-node-3", "cpu"]["cpu_percent"] == 312.0


def test_start_and_end_times_come_from_the_event_types() -> None:
    start, running, complete = table(materialize(*training_lifecycle()), "runs")
    assert start["start_time"] == datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    assert start["end_time"] is None
    assert (running["start_time"], running["end_time"], running["state_rank"]) == (None, None, 2)
    assert complete["end_time"] == complete["event_time"]
    assert complete["start_time"] is None


def test_facets_without_columns_of_their_own_are_kept_as_json() -> None:
    facets = {
        (f["container"], f["dataset_name"], f["facet_key"]): f
        for f in table(materialize(ml_run_event()), "facets")
    }
    assert set(facets) == {
        ("run", "", "pedigree_environment"),
        ("inputs.facets", "images/train", "columnLineage"),
    }
    env = json.loads(facets["run", "", "pedigree_environment"]["facet_json"])
    assert env["packages"] == ["numpy==2.1.0", "torch==2.5.0"]


def test_a_deployment_reads_the_model_version_and_names_the_deployer() -> None:
    rows = materialize(deploy_event())
    [run] = table(rows, "runs")
    assert (run["job_name"], run["deployer"]) == ("deploy/detector", "carol")
    assert (run["root_run_id"], run["parent_run_id"]) == ("", "")  # no parent: its own root
    [edge] = table(rows, "run_inputs")
    assert (edge["dataset_name"], edge["dataset_version"]) == ("detector", "sha256:model12")
    [model] = table(rows, "model_versions")
    assert (model["role"], model["stage"], model["metrics"]) == ("input", "production", {})


def test_dataset_and_job_events_have_no_run_and_no_edges() -> None:
    rows = materialize(dataset_event(), job_event())
    assert (rows["runs"], rows["run_inputs"], rows["run_outputs"]) == ([], [], [])
    kinds = [(e["event_kind"], e["run_id"]) for e in table(rows, "events")]
    assert kinds == [("dataset", ""), ("job", "")]
    [version] = [v for v in table(rows, "dataset_versions") if v["role"] == "dataset"]
    assert (version["dataset_name"], version["dataset_version"]) == ("features/train", "v7")
    [job] = table(rows, "jobs")
    assert (job["job_name"], job["processing_type"], job["job_type"]) == ("nightly", "BATCH", "JOB")
    declared = {(d["dataset_name"], d["role"]) for d in table(rows, "datasets")}
    assert declared == {("features/train", "dataset"), ("raw", "input"), ("clean", "output")}


def test_the_raw_event_keeps_the_message_and_its_position() -> None:
    event = simple_run_event()
    avro, plain = encode(event), encode_json(event)
    rows = rows_for_events([(EventMeta("t", 3, 17, avro, RECEIVED), event)])
    raw = table(rows, "events")[0]
    assert (raw["topic"], raw["partition"], raw["offset"]) == ("t", 3, 17)
    assert (raw["message_format"], raw["message"]) == ("avro", avro)
    assert raw["received_time"] == RECEIVED
    assert (
        table(rows_for_events([(meta(0, plain), event)]), "events")[0]["message_format"] == "json"
    )


def test_typed_facet_values_of_the_wrong_type_become_null_not_errors() -> None:
    event = ml_run_event()
    event["run"]["facets"]["pedigree_code"]["gitDirty"] = 1  # rides as JSON in _extra
    event["run"]["facets"]["pedigree_resources"]["requested"]["gpuCount"] = "two"
    [run] = table(materialize(event), "runs")
    assert run["git_dirty"] is None
    assert run["requested_gpu_count"] is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T10:05:00.123+01:00", datetime(2026, 11, 28, 9, 5, 0, 123000, tzinfo=UTC)),
        ("2024-08-06T13:26:49.98Z", datetime(2024, 8, 6, 13, 26, 49, 980000, tzinfo=UTC)),
        ("2024-08-06T13:26:49.123456789Z", datetime(2024, 8, 6, 13, 26, 49, 123456, tzinfo=UTC)),
        ("2024-08-06T13:26:49", datetime(2024, 8, 6, 13, 26, 49, tzinfo=UTC)),
        ("2024-08-06T13:26:49-0230", datetime(2024, 8, 6, 15, 56, 49, tzinfo=UTC)),
    ],
)
def test_event_times_are_parsed_to_utc(text: str, expected: datetime) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


def test_a_bad_event_time_is_an_invalid_event_naming_the_field() -> None:
    event = simple_run_event()
    event["eventTime"] = "yesterday"
    with pytest.raises(InvalidEvent) as raised:
        materialize(event)
    assert raised.value.field == "eventTime"


def test_a_batch_is_inserted_raw_events_first_and_run_state_last() -> None:
    """Readers poll a run's state: it must become visible only after everything else of its
    batch (edges, dataset and model versions), so ``runs`` is the last table inserted."""
    from consumers.tables import COLUMNS, TABLES

    assert sorted(TABLES) == sorted(COLUMNS)
    assert TABLES[0] == "events"
    assert TABLES[-1] == "runs"
