"""How warehouse rows are shown in responses: pure functions from rows to JSON-ready dicts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.nodes import NodeRef

__all__ = ["dataset_version_view", "node_type", "run_view"]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def run_view(state: Mapping[str, Any]) -> dict[str, Any]:
    """One run's latest state (a row of ``api.store.RUNS_STATE``), grouped as people ask:
    what ran (job, code), with what (parameters, resources), by whom, and how it ended."""
    return {
        "runId": state["run_id"],
        "status": state["status"],
        "job": {"namespace": state["job_namespace"], "name": state["job_name"]},
        "startTime": state["start_time"],
        "endTime": state["end_time"],
        "lastEventTime": state["last_event_time"],
        "parentRunId": _text(state["parent_run_id"]),
        "rootRunId": _text(state["root_run_id"]) or state["run_id"],
        "code": {
            "gitRepo": _text(state["git_repo"]),
            "gitCommit": _text(state["git_commit"]),
            "gitBranch": _text(state["git_branch"]),
            "dirty": state["git_dirty"],
            "diffHash": _text(state["git_diff_hash"]),
            "image": _text(state["image"]),
            "imageDigest": _text(state["image_digest"]),
            "entryPoint": _text(state["entry_point"]),
            "arguments": list(state["arguments"] or []),
        },
        "parameters": dict(state["parameters"] or {}),
        "resources": {
            "requested": {
                "cpuCount": state["requested_cpu_count"],
                "memoryBytes": state["requested_memory_bytes"],
                "gpuCount": state["requested_gpu_count"],
                "gpuModel": _text(state["requested_gpu_model"]),
                "gpuMemoryBytes": state["requested_gpu_memory_bytes"],
            },
            "observed": {
                "cpuCount": state["observed_cpu_count"],
                "memoryBytes": state["observed_memory_bytes"],
                "gpuCount": state["observed_gpu_count"],
                "gpuModel": _text(state["observed_gpu_model"]),
                "gpuMemoryBytes": state["observed_gpu_memory_bytes"],
                "host": _text(state["host"]),
            },
        },
        "owners": {
            "submitter": _text(state["submitter"]),
            "codeAuthor": _text(state["code_author"]),
            "deployer": _text(state["deployer"]),
            "team": _text(state["team"]),
        },
        "kubernetes": {
            "namespace": _text(state["k8s_namespace"]),
            "pod": _text(state["k8s_pod"]),
        },
        "errorMessage": _text(state["error_message"]),
    }


def dataset_version_view(node: NodeRef, details: Mapping[str, Any] | None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "namespace": node.namespace,
        "name": node.name,
        "version": node.version or None,
    }
    if node.version == "":
        view["unversioned"] = True
    if details:
        view.update(details)
    return view


def node_type(node: NodeRef) -> str:
    """Marquez's node ``type``: JOB and DATASET, plus RUN for the run-level graph."""
    return {"job": "JOB", "dataset": "DATASET", "run": "RUN"}[node.kind]
