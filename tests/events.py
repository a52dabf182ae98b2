"""Events the project's own tests use, built with the official ``openlineage-python`` client.

These need nothing from ``../shared/``: they are real OpenLineage events (the official client
serializes them) plus Pedigree's ML facets, covering every facet the Avro schema types.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from openlineage.client import event_v2 as ev
from openlineage.client import facet_v2 as fv
from openlineage.client.serde import Serde

from emitters.facets import facet

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"


def _dict(obj: Any) -> dict[str, Any]:
    """The JSON the official client would send (serialize, then parse)."""
    return json.loads(Serde.to_json(obj))  # type: ignore[no-any-return]


def simple_run_event(
    event_type: str = "START", job: str = "etl.load", namespace: str = "tests"
) -> dict[str, Any]:
    """A minimal RunEvent from the official client."""
    event = ev.RunEvent(
        eventType=ev.RunState[event_type],
        eventTime="2026-11-28T10:00:00.000Z",
        producer=PRODUCER,
        run=ev.Run(runId=str(uuid.UUID(int=7))),
        job=ev.Job(namespace=namespace, name=job),
    )
    return _dict(event)


def child_run_event(root_job: str, parent_job: str, job: str) -> dict[str, Any]:
    """A RunEvent whose parent facet names a root job (as nested pipeline steps do)."""
    parent = fv.parent_run.ParentRunFacet(
        run=fv.parent_run.Run(runId=str(uuid.UUID(int=2))),
        job=fv.parent_run.Job(namespace="tests", name=parent_job),
        root=fv.parent_run.Root(
            run=fv.parent_run.RootRun(runId=str(uuid.UUID(int=1))),
            job=fv.parent_run.RootJob(namespace="tests", name=root_job),
        ),
    )
    event = ev.RunEvent(
        eventType=ev.RunState.START,
        eventTime="2026-11-28T10:00:00Z",
        producer=PRODUCER,
        run=ev.Run(runId=str(uuid.UUID(int=3)), facets={"parent": parent}),
        job=ev.Job(namespace="tests", name=job),
    )
    return _dict(event)


def dataset_event() -> dict[str, Any]:
    event = ev.DatasetEvent(
        eventTime="2026-11-28T10:00:00Z",
        producer=PRODUCER,
        dataset=ev.StaticDataset(
            namespace="s3://bucket",
            name="features/train",
            facets={"version": fv.dataset_version_dataset.DatasetVersionDatasetFacet("v7")},
        ),
    )
    return _dict(event)


def job_event() -> dict[str, Any]:
    event = ev.JobEvent(
        eventTime="2026-11-28T10:00:00Z",
        producer=PRODUCER,
        job=ev.Job(
            namespace="tests",
            name="nightly",
            facets={
                "jobType": fv.job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration="PEDIGREE", jobType="JOB"
                )
            },
        ),
        inputs=[ev.InputDataset(namespace="s3://bucket", name="raw")],
        outputs=[ev.OutputDataset(namespace="s3://bucket", name="clean")],
    )
    return _dict(event)


def _standard_facets() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(run facets, job facets, dataset facets) of the standard kinds the Avro schema types."""
    schema_field = fv.schema_dataset.SchemaDatasetFacetFields
    run_facets = {
        "parent": fv.parent_run.ParentRunFacet(
            run=fv.parent_run.Run(runId=str(uuid.UUID(int=1))),
            job=fv.parent_run.Job(namespace="vision", name="pipeline"),
            root=fv.parent_run.Root(
                run=fv.parent_run.RootRun(runId=str(uuid.UUID(int=1))),
                job=fv.parent_run.RootJob(namespace="vision", name="pipeline"),
            ),
        ),
        "errorMessage": fv.error_message_run.ErrorMessageRunFacet(
            message="CUDA out of memory", programmingLanguage="python", stackTrace="Traceback..."
        ),
    }
    job_facets = {
        "sourceCodeLocation": fv.source_code_location_job.SourceCodeLocationJobFacet(
            type="git", url="https://example.com/repo/blob/abc/train.py", version="abc123"
        ),
        "ownership": fv.ownership_job.OwnershipJobFacet(
            owners=[fv.ownership_job.Owner(name="team:vision", type="MAINTAINER")]
        ),
        "jobType": fv.job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="PEDIGREE", jobType="JOB"
        ),
    }
    dataset_facets = {
        "version": fv.dataset_version_dataset.DatasetVersionDatasetFacet("sha256:00ff"),
        "schema": fv.schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_field(name="image", type="bytes", ordinal_position=1),
                schema_field(
                    name="bbox",
                    type="struct",
                    fields=[schema_field(name="x", type="float"), schema_field(name="y")],
                ),
            ]
        ),
        "storage": fv.storage_dataset.StorageDatasetFacet(storageLayer="s3", fileFormat="parquet"),
        "columnLineage": fv.column_lineage_dataset.ColumnLineageDatasetFacet(
            fields={
                "label": fv.column_lineage_dataset.Fields(
                    inputFields=[
                        fv.column_lineage_dataset.InputField(
                            namespace="s3://bucket",
                            name="raw",
                            field="annotation",
                            transformations=[
                                fv.column_lineage_dataset.Transformation(
                                    type="DIRECT", subtype="IDENTITY", masking=False
                                )
                            ],
                        )
                    ]
                )
            }
        ),
    }
    return (
        {k: _dict(v) for k, v in run_facets.items()},
        {k: _dict(v) for k, v in job_facets.items()},
        {k: _dict(v) for k, v in dataset_facets.items()},
    )


def ml_run_event() -> dict[str, Any]:
    """A training RunEvent carrying every typed facet: standard ones and Pedigree's ML facets."""
    run_facets, job_facets, dataset_facets = _standard_facets()
    run_facets.update(
        pedigree_code=facet(
            "pedigree_code",
            gitRepo="https://example.com/vision.git",
            gitCommit="0123456789abcdef0123456789abcdef01234567",
            gitBranch="main",
            gitDirty=True,
            gitDiffHash="sha256:feed",
            image="registry.example.com/train:1.4",
            imageDigest="sha256:" + "ab" * 32,
            entryPoint="train.py",
            arguments=["--epochs", "3"],
        ),
        pedigree_parameters=facet(
            "pedigree_parameters",
            parameters={"optimizer.lr": 0.001, "model.layers": [64, 64], "seed": 7, "amp": True},
        ),
        pedigree_environment=facet(
            "pedigree_environment",
            host="gpu-node-3",
            pythonVersion="3.11.7",
            packagesHash="sha256:1234",
            packages=["numpy==2.1.0", "torch==2.5.0"],
            envVars={"CUDA_VISIBLE_DEVICES": "0,1"},
            kubernetes={"namespace": "ml", "pod": "train-abc", "node": "gpu-node-3"},
        ),
        pedigree_resources=facet(
            "pedigree_resources",
            requested={"cpuCount": 8.0, "memoryBytes": 32 * 2**30, "gpuCount": 2},
            observed={"cpuCount": 16.0, "gpuModel": "NVIDIA A100", "gpuMemoryBytes": 80 * 2**30},
            samples=[
                {"time": "2026-11-28T10:00:15Z", "device": "gpu0", "gpuUtilPercent": 97.5},
                {"time": "2026-11-28T10:00:15Z", "device": "cpu", "cpuPercent": 312.0},
            ],
        ),
        pedigree_ownership=facet(
            "pedigree_ownership", submitter="alice", codeAuthor="bob", team="vision"
        ),
    )
    labels = {
        "pedigree_annotations": facet(
            "pedigree_annotations", labelSet="boxes", labelVersion="2026-11-01", task="detection"
        ),
        "version": dataset_facets["version"],
    }
    model = {
        "pedigree_model": facet(
            "pedigree_model",
            name="detector",
            version="12",
            framework="pytorch",
            stage="candidate",
            metrics={"mAP": 0.61, "loss": 0.25},
        ),
        "version": {**dataset_facets["version"], "datasetVersion": "sha256:model12"},
    }
    event = _dict(
        ev.RunEvent(
            eventType=ev.RunState.COMPLETE,
            eventTime="2026-11-28T10:05:00.123+01:00",
            producer=PRODUCER,
            run=ev.Run(runId=str(uuid.UUID(int=42))),
            job=ev.Job(namespace="vision", name="train"),
        )
    )
    event["run"]["facets"] = run_facets
    event["job"]["facets"] = job_facets
    event["inputs"] = [
        {"namespace": "s3://datasets", "name": "images/train", "facets": dataset_facets},
        {"namespace": "s3://datasets", "name": "labels/boxes", "facets": labels},
    ]
    event["outputs"] = [
        {
            "namespace": "s3://models",
            "name": "detector",
            "facets": model,
            "outputFacets": {
                "outputStatistics": _dict(
                    fv.output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                        rowCount=1, size=1024
                    )
                )
            },
        }
    ]
    return event


def all_project_events() -> dict[str, dict[str, Any]]:
    """Every fixture event of this module, by name."""
    return {
        "simple_run": simple_run_event(),
        "child_run": child_run_event("pipeline", "step", "step.sub"),
        "dataset_event": dataset_event(),
        "job_event": job_event(),
        "ml_run": ml_run_event(),
    }
