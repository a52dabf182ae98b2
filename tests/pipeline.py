"""A small ML pipeline's OpenLineage events, with exact values the API tests assert on.

``pipeline_events(team)`` is three runs of team ``team`` (job namespace ``team``, datasets in
``s3://<team>-data``): *prepare* reads ``raw/images@v1`` and writes ``features@<features>``;
*train* reads that exact features version and ``labels/boxes@v3`` and writes the model
``models/detector`` whose ``pedigree_model`` facet names model ``<team>-detector`` version
``model_version``; *deploy* reads the model and writes ``serving/detector``.  Each run has a
START and a COMPLETE; train carries code, parameters, resources and ownership facets.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from emitters.facets import facet

PRODUCER = "https://github.com/pedigree/tests"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


@dataclass(frozen=True)
class Pipeline:
    team: str
    prepare: str
    train: str
    deploy: str
    features: str
    model_version: str
    lr: float
    events: list[dict[str, Any]]

    @property
    def data_ns(self) -> str:
        return f"s3://{self.team}-data"

    @property
    def model(self) -> str:
        return f"{self.team}-detector"

    def node(self, name: str, version: str) -> str:
        return f"dataset:{self.data_ns}:{name}#{version}"


def _version(value: str) -> dict[str, Any]:
    return {
        "version": {
            "_producer": PRODUCER,
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json",
            "datasetVersion": value,
        }
    }


def _event(
    kind: str, time: str, run_id: str, namespace: str, job: str, **parts: Any
) -> dict[str, Any]:
    return {
        "eventType": kind,
        "eventTime": time,
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT,
        "run": {"runId": run_id, "facets": parts.get("run_facets", {})},
        "job": {"namespace": namespace, "name": job},
        "inputs": parts.get("inputs", []),
        "outputs": parts.get("outputs", []),
    }


def pipeline_events(
    team: str = "vision",
    *,
    seed: int = 1,
    lr: float = 0.01,
    model_version: str = "1",
    extra_input: dict[str, Any] | None = None,
) -> Pipeline:
    ids = [str(uuid.UUID(int=seed * 1000 + i)) for i in range(3)]
    prepare, train, deploy = ids
    data_ns = f"s3://{team}-data"
    features = f"sha256:features-{seed}"
    raw = {"namespace": data_ns, "name": "raw/images", "facets": _version("v1")}
    feats = {"namespace": data_ns, "name": "features", "facets": _version(features)}
    labels = {
        "namespace": data_ns,
        "name": "labels/boxes",
        "facets": {
            **_version("v3"),
            "pedigree_annotations": facet(
                "pedigree_annotations", labelSet="boxes", labelVersion="v3", task="detection"
            ),
        },
    }
    model = {
        "namespace": data_ns,
        "name": "models/detector",
        "facets": {
            **_version(f"sha256:model-{seed}"),
            "pedigree_model": facet(
                "pedigree_model",
                name=f"{team}-detector",
                version=model_version,
                framework="numpy",
                stage="production",
                metrics={"accuracy": 0.9 + seed / 1000},
            ),
        },
    }
    endpoint = {"namespace": data_ns, "name": "serving/detector", "facets": _version(f"e{seed}")}
    train_facets = {
        "pedigree_code": facet(
            "pedigree_code",
            gitRepo=f"https://git.example.com/{team}/models.git",
            gitCommit=f"{seed:040x}",
            gitBranch="main",
            gitDirty=False,
            image=f"registry.example.com/{team}/train:1",
            imageDigest="sha256:" + f"{seed:02x}" * 32,
            entryPoint="train.py",
            arguments=["--lr", str(lr)],
        ),
        "pedigree_parameters": facet(
            "pedigree_parameters", parameters={"lr": lr, "epochs": 3, "model.depth": 4}
        ),
        "pedigree_resources": facet(
            "pedigree_resources",
            requested={
                "cpuCount": 4.0,
                "memoryBytes": 8 * 2**30,
                "gpuCount": 1,
                "gpuModel": "NVIDIA A100",
            },
        ),
        "pedigree_ownership": facet(
            "pedigree_ownership", submitter="alice", codeAuthor="bob", team=team
        ),
    }
    deploy_facets = {"pedigree_ownership": facet("pedigree_ownership", deployer="carol")}
    train_inputs = [feats, labels, *([extra_input] if extra_input else [])]
    events = [
        _event("START", "2026-11-28T10:00:00Z", prepare, team, "prepare", inputs=[raw]),
        _event(
            "COMPLETE",
            "2026-11-28T10:01:00Z",
            prepare,
            team,
            "prepare",
            inputs=[raw],
            outputs=[feats],
        ),
        _event(
            "START",
            "2026-11-28T10:02:00Z",
            train,
            team,
            "train",
            run_facets=train_facets,
            inputs=train_inputs,
        ),
        _event(
            "COMPLETE",
            "2026-11-28T10:30:00Z",
            train,
            team,
            "train",
            inputs=train_inputs,
            outputs=[model],
        ),
        _event(
            "START",
            "2026-11-28T11:00:00Z",
            deploy,
            team,
            "deploy/detector",
            run_facets=deploy_facets,
            inputs=[model],
        ),
        _event(
            "COMPLETE",
            "2026-11-28T11:01:00Z",
            deploy,
            team,
            "deploy/detector",
            run_facets=deploy_facets,
            inputs=[model],
            outputs=[endpoint],
        ),
    ]
    return Pipeline(team, prepare, train, deploy, features, model_version, lr, events)
