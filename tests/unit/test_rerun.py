"""api.rerun: a run's state and inputs -> the rerun spec (every warning case) -> a Kubernetes Job
that the kubernetes client reads back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client import ApiClient, V1Job

from api.nodes import NodeRef
from api.rerun import (
    WARNING_CODES,
    environment_from_facets,
    image_reference,
    job_manifest,
    manifest_json,
    rerun_spec,
)
from api.store import RUN_STATE_COLUMNS

RUN_ID = "5f0c2b7e-9a43-4c1e-8d2f-1b6a3e9c7d10"
DIGEST = "sha256:" + "01" * 32
COMMIT = f"{1:040x}"
INPUTS = [
    NodeRef.dataset_version("s3://vision-data", "features", "sha256:features-1"),
    NodeRef.dataset_version("s3://vision-data", "labels/boxes", "v3"),
]
CAPTURED = {
    "host": "gpu-node-3",
    "pythonVersion": "3.11.7",
    "packagesHash": "sha256:1234",
    "envVars": {"CUDA_VISIBLE_DEVICES": "0,1", "OMP_NUM_THREADS": "8"},
}


def state(**changes: Any) -> dict[str, Any]:
    """A finished, fully recorded run (the shape of ``Warehouse.runs``' values)."""
    base: dict[str, Any] = dict.fromkeys(RUN_STATE_COLUMNS, "")
    base.update(
        run_id=RUN_ID,
        status="COMPLETE",
        last_event_time=None,
        start_time=None,
        end_time=None,
        job_namespace="vision",
        job_name="train",
        git_repo="https://git.example.com/vision/models.git",
        git_commit=COMMIT,
        git_branch="main",
        git_dirty=False,
        image="registry.example.com/vision/train:1",
        image_digest=DIGEST,
        entry_point="train.py",
        arguments=["--lr", "0.01"],
        parameters={
            "lr": "0.01",
            "epochs": "3",
            "model.depth": "4",
            "name": '"resnet"',
            "layers": "[64,64]",
        },
        requested_cpu_count=4.0,
        requested_memory_bytes=8 * 2**30,
        requested_gpu_count=1,
        requested_gpu_model="NVIDIA A100",
        requested_gpu_memory_bytes=None,
        k8s_namespace="ml",
    )
    for column in RUN_STATE_COLUMNS:
        if column.startswith(("observed_", "requested_")) and column not in base:
            base[column] = None
    base.update(changes)
    assert set(base) == set(RUN_STATE_COLUMNS)
    return base


def spec_of(
    environment: dict[str, Any] | None = CAPTURED,
    inputs: list[NodeRef] = INPUTS,
    **changes: Any,
) -> dict[str, Any]:
    return rerun_spec(state(**changes), inputs, environment=environment)


def codes(spec: dict[str, Any]) -> list[str]:
    return [w["code"] for w in spec["warnings"]]


def round_trip(spec: dict[str, Any]) -> tuple[dict[str, Any], V1Job]:
    """The manifest as JSON, and as the kubernetes client reads it back."""
    manifest = manifest_json(job_manifest(spec))
    text = json.dumps(manifest)
    job = getattr(ApiClient(), "_ApiClient__deserialize")(json.loads(text), "V1Job")  # noqa: B009
    assert isinstance(job, V1Job)
    return manifest, job


# -- the spec -----------------------------------------------------------------------------------


def test_a_fully_recorded_run_has_an_exact_spec_and_no_warnings() -> None:
    spec = spec_of()
    assert spec["warnings"] == []
    assert spec["reproducible"] is True
    assert spec["runId"] == RUN_ID
    assert spec["job"] == {"namespace": "vision", "name": "train"}
    assert spec["image"] == {
        "reference": f"registry.example.com/vision/train@{DIGEST}",
        "name": "registry.example.com/vision/train:1",
        "digest": DIGEST,
        "pinned": True,
    }
    assert spec["entryPoint"] == "train.py"
    assert spec["arguments"] == ["--lr", "0.01"]
    assert spec["command"] == ["python", "train.py"]
    assert spec["git"] == {
        "repo": "https://git.example.com/vision/models.git",
        "commit": COMMIT,
        "branch": "main",
        "dirty": False,
        "diffHash": None,
    }
    # the warehouse's canonical JSON, decoded back to the values posted
    assert spec["parameters"] == {"lr": 0.01, "epochs": 3, "model.depth": 4, "name": "resnet",
                                  "layers": [64, 64]}  # fmt: skip
    assert spec["inputs"] == [
        {"namespace": "s3://vision-data", "name": "features", "version": "sha256:features-1"},
        {"namespace": "s3://vision-data", "name": "labels/boxes", "version": "v3"},
    ]
    assert spec["resources"] == {
        "cpuCount": 4.0,
        "memoryBytes": 8 * 2**30,
        "gpuCount": 1,
        "gpuModel": "NVIDIA A100",
        "gpuMemoryBytes": None,
    }
    assert spec["environment"] == {
        "variables": {"CUDA_VISIBLE_DEVICES": "0,1", "OMP_NUM_THREADS": "8"},
        "pythonVersion": "3.11.7",
        "packagesHash": "sha256:1234",
    }
    assert spec["kubernetesNamespace"] == "ml"
    json.dumps(spec)  # JSON-ready as it is


@pytest.mark.parametrize(
    ("changes", "code", "said"),
    [
        ({"git_dirty": True, "git_diff_hash": "sha256:d1ff"}, "git_dirty", "sha256:d1ff"),
        ({"git_dirty": None}, "git_clean_unknown", COMMIT),
        ({"git_commit": ""}, "no_git_commit", "models.git"),
        ({"git_repo": ""}, "no_git_repo", COMMIT),
        ({"image_digest": ""}, "no_image_digest", "registry.example.com/vision/train:1"),
        ({"image_digest": "latest"}, "no_image_digest", "'latest' is not an OCI digest"),
        ({"image": "", "image_digest": ""}, "no_image", "no container image"),
        ({"image": ""}, "no_image", DIGEST),
        ({"entry_point": ""}, "no_entry_point", "ENTRYPOINT"),
        ({"entry_point": "python -c"}, "code_not_captured", "python -c"),
        ({"arguments": ["--token", "<redacted>"]}, "redacted_arguments", "positions 1"),
        ({"status": "RUNNING"}, "run_not_finished", "status RUNNING"),
        ({"status": "START"}, "run_not_finished", "status START"),
        ({"status": "FAIL"}, "run_not_completed", "ended FAIL"),
        ({"status": "ABORT"}, "run_not_completed", "ended ABORT"),
        (
            {
                "requested_cpu_count": None,
                "requested_memory_bytes": None,
                "requested_gpu_count": None,
                "requested_gpu_model": "",
            },
            "no_resources_requested",
            "requested no CPU, memory or GPU",
        ),
        ({"requested_gpu_count": None}, "gpu_count_unknown", "'NVIDIA A100'"),
        (
            {"requested_gpu_model": "NVIDIA A100, NVIDIA H100"},
            "gpu_model_not_selectable",
            "NVIDIA A100, NVIDIA H100",
        ),
    ],
)
def test_each_thing_that_cannot_be_reproduced_is_a_warning(
    changes: dict[str, Any], code: str, said: str
) -> None:
    spec = spec_of(**changes)
    assert codes(spec) == [code]
    assert said in spec["warnings"][0]["message"]
    assert spec["reproducible"] is False


def test_an_input_without_a_version_is_a_warning_naming_it() -> None:
    unversioned = NodeRef.dataset_version("s3://vision-data", "scratch/tmp", "")
    spec = spec_of(inputs=[*INPUTS, unversioned])
    assert spec["inputs"][-1] == {"namespace": "s3://vision-data", "name": "scratch/tmp",
                                  "version": None}  # fmt: skip
    assert codes(spec) == ["unversioned_input"]
    assert "s3://vision-data:scratch/tmp" in spec["warnings"][0]["message"]


def test_unreadable_and_truncated_inputs_are_said_never_silent() -> None:
    spec = rerun_spec(state(), INPUTS, environment=CAPTURED, hidden_inputs=2, inputs_truncated=True)
    assert codes(spec) == ["unreadable_inputs", "inputs_truncated"]
    assert spec["warnings"][0]["message"].startswith("2 input(s)")
    assert "s3://" not in spec["warnings"][0]["message"]  # no names across tenants


def test_environment_variables_are_omitted_and_said_when_not_captured() -> None:
    for environment in (None, {"kubernetes": {"namespace": "ml", "pod": "train-abc"}}):
        spec = spec_of(environment=environment)
        assert spec["environment"]["variables"] is None
        assert codes(spec) == ["no_environment_variables"]


def test_a_capture_with_no_allow_listed_variable_is_an_empty_set_not_a_warning() -> None:
    spec = spec_of(environment={"pythonVersion": "3.11.7", "packagesHash": "sha256:1234"})
    assert spec["environment"]["variables"] == {}
    assert spec["warnings"] == []


def test_captured_variables_that_look_secret_are_left_out_and_cut_ones_said() -> None:
    env = {
        "envVars": {
            "HF_TOKEN": "hf_" + "a" * 34,
            "DATABASE_URL": "postgres://user:hunter2@db/x",
            "OMP_NUM_THREADS": "8",
            "LONG": "x" * 4096 + "...(truncated)",
        }
    }
    spec = spec_of(environment=env)
    assert spec["environment"]["variables"] == {"LONG": env["envVars"]["LONG"],
                                                "OMP_NUM_THREADS": "8"}  # fmt: skip
    assert codes(spec) == ["secret_environment_variables", "truncated_environment_variables"]
    assert "DATABASE_URL, HF_TOKEN" in spec["warnings"][0]["message"]
    assert "hunter2" not in json.dumps(spec)
    assert "LONG" in spec["warnings"][1]["message"]


def test_environment_facets_merge_keeping_what_a_later_event_leaves_out() -> None:
    start = json.dumps({**CAPTURED, "_producer": "x"})
    complete = json.dumps({"kubernetes": {"namespace": "ml"}, "envVars": None})
    merged = environment_from_facets([start, complete, "not json", "[1]"])
    assert merged is not None
    assert merged["envVars"] == CAPTURED["envVars"]
    assert merged["kubernetes"] == {"namespace": "ml"}
    assert environment_from_facets([]) is None


def test_every_warning_code_is_documented() -> None:
    assert all(WARNING_CODES.values())


@pytest.mark.parametrize(
    ("image", "digest", "reference", "pinned"),
    [
        ("registry.example.com/t:1", DIGEST, f"registry.example.com/t@{DIGEST}", True),
        ("localhost:5000/team/t:1", DIGEST, f"localhost:5000/team/t@{DIGEST}", True),
        ("localhost:5000/team/t", DIGEST, f"localhost:5000/team/t@{DIGEST}", True),
        (f"t@{DIGEST}", None, f"t@{DIGEST}", True),
        ("t:1", "01" * 32, f"t@{DIGEST}", True),  # bare hex gets its sha256: prefix
        ("t:1", None, "t:1", False),
        (None, DIGEST, None, False),
    ],
)
def test_image_reference_pins_by_digest_and_drops_the_tag(
    image: str | None, digest: str | None, reference: str | None, pinned: bool
) -> None:
    ref = image_reference(image, digest)
    assert ref["reference"] == reference
    assert ref["pinned"] is pinned


@pytest.mark.parametrize(
    ("entry_point", "command"),
    [
        ("train.py", ["python", "train.py"]),
        ("python -m pkg.train", ["python", "-m", "pkg.train"]),
        ("/usr/local/bin/trainer", ["/usr/local/bin/trainer"]),
        ("", None),
    ],
)
def test_the_command_an_entry_point_runs_as(entry_point: str, command: list[str] | None) -> None:
    assert spec_of(entry_point=entry_point)["command"] == command


# -- the Kubernetes Job -------------------------------------------------------------------------


def test_the_job_manifest_round_trips_through_the_kubernetes_client() -> None:
    spec = spec_of(git_dirty=True, requested_gpu_memory_bytes=80 * 2**30)
    manifest, job = round_trip(spec)
    assert manifest["apiVersion"] == "batch/v1"
    assert manifest["kind"] == "Job"
    assert job.api_version == "batch/v1"
    assert job.kind == "Job"
    assert job.metadata is not None
    assert job.metadata.name == "rerun-train-1b6a3e9c7d10"
    assert job.metadata.namespace == "ml"
    assert job.spec is not None
    assert job.spec.backoff_limit == 0
    pod = job.spec.template.spec
    assert pod is not None
    assert pod.restart_policy == "Never"
    assert pod.node_selector == {"nvidia.com/gpu.product": "NVIDIA-A100"}
    [container] = pod.containers
    assert container.image == f"registry.example.com/vision/train@{DIGEST}"  # pinned by digest
    assert container.command == ["python", "train.py"]
    assert container.args == ["--lr", "0.01"]
    assert [(e.name, e.value) for e in container.env or []] == [
        ("CUDA_VISIBLE_DEVICES", "0,1"),
        ("OMP_NUM_THREADS", "8"),
    ]
    assert container.resources is not None
    assert container.resources.requests == {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"}
    assert container.resources.limits == {"nvidia.com/gpu": "1"}

    labels = {"pedigree.dev/rerun-of": RUN_ID, "pedigree.dev/git-commit": COMMIT}
    assert job.metadata.labels == labels
    template_meta = job.spec.template.metadata
    assert template_meta is not None
    assert template_meta.labels == labels
    annotations = job.metadata.annotations or {}
    assert template_meta.annotations == annotations
    assert annotations["pedigree.dev/rerun-of"] == RUN_ID
    assert annotations["pedigree.dev/git-commit"] == COMMIT
    assert annotations["pedigree.dev/image-digest"] == DIGEST
    assert annotations["pedigree.dev/job"] == "train"
    assert annotations["pedigree.dev/namespace"] == "vision"
    assert annotations["pedigree.dev/gpu-model"] == "NVIDIA A100"
    assert annotations["pedigree.dev/gpu-memory-bytes"] == str(80 * 2**30)
    assert json.loads(annotations["pedigree.dev/input-versions"]) == spec["inputs"]
    assert json.loads(annotations["pedigree.dev/rerun-warnings"]) == spec["warnings"]
    assert [w["code"] for w in spec["warnings"]] == ["git_dirty"]


def test_a_sparse_run_gives_a_job_that_says_what_it_lacks() -> None:
    spec = spec_of(
        environment=None,
        image_digest="",
        entry_point="",
        arguments=["/bin/train", "--lr", "0.1"],
        requested_cpu_count=0.5,
        requested_memory_bytes=1500 * 2**20,
        requested_gpu_count=None,
        requested_gpu_model="",
        k8s_namespace="",
        run_id="run/ä",
    )
    manifest, job = round_trip(spec)
    assert job.metadata is not None
    assert job.metadata.namespace is None
    assert job.metadata.name == "rerun-train-run"
    # the run id is no valid label value: annotated only
    assert job.metadata.labels == {"pedigree.dev/git-commit": COMMIT}
    assert (job.metadata.annotations or {})["pedigree.dev/rerun-of"] == "run/ä"
    assert job.spec is not None
    pod = job.spec.template.spec
    assert pod is not None
    assert pod.node_selector is None
    [container] = pod.containers
    assert container.image == "registry.example.com/vision/train:1"
    assert container.command is None  # the image's ENTRYPOINT runs the recorded command line
    assert container.args == ["/bin/train", "--lr", "0.1"]
    assert container.env is None
    assert container.resources is not None
    assert container.resources.requests == {"cpu": "500m", "memory": "1500Mi"}
    assert container.resources.limits is None
    listed = json.loads(manifest["metadata"]["annotations"]["pedigree.dev/rerun-warnings"])
    assert [w["code"] for w in listed] == [
        "no_image_digest",
        "no_entry_point",
        "no_environment_variables",
    ]


def test_a_huge_input_list_is_cut_in_the_annotation_and_said() -> None:
    many = [NodeRef.dataset_version("s3://b", f"part-{i:05}", "v" * 40) for i in range(2000)]
    spec = spec_of(inputs=many)
    manifest, _ = round_trip(spec)
    annotations = manifest["metadata"]["annotations"]
    listed = json.loads(annotations["pedigree.dev/input-versions"])
    assert listed[-1].startswith("...(+")
    assert len(annotations["pedigree.dev/input-versions"]) <= 64 * 1024
    warnings = json.loads(annotations["pedigree.dev/rerun-warnings"])
    assert warnings[-1]["code"] == "input_versions_annotation_truncated"
    assert spec["warnings"] == []  # the JSON spec lists all of them
