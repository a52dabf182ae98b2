"""GET /api/v1/runs/{id}/rerun on the real embedded engine: what went in over HTTP comes out as
the rerun spec (and its Kubernetes Job) with the exact values posted, tenancy as everywhere."""

from __future__ import annotations

import json

from emitters.facets import facet

# pytest finds fixtures imported into a test module: these are test_api's
from tests.integration.test_api import ADMIN, NLP, VISION, Api, api, vision  # noqa: F401
from tests.pipeline import Pipeline, pipeline_events

DIGEST = "sha256:" + "01" * 32


def test_the_rerun_spec_carries_the_exact_values_posted(
    api: Api,  # noqa: F811 - the fixture
    vision: Pipeline,  # noqa: F811
) -> None:
    response = api.get(f"/api/v1/runs/{vision.train}/rerun")
    assert response.status_code == 200, response.text
    spec = response.json()
    assert spec["runId"] == vision.train
    assert spec["status"] == "COMPLETE"
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
    assert spec["git"]["repo"] == "https://git.example.com/vision/models.git"
    assert spec["git"]["commit"] == f"{1:040x}"
    assert spec["git"]["dirty"] is False
    assert spec["parameters"] == {"lr": 0.01, "epochs": 3, "model.depth": 4}
    assert spec["inputs"] == [
        {"namespace": vision.data_ns, "name": "features", "version": "sha256:features-1"},
        {"namespace": vision.data_ns, "name": "labels/boxes", "version": "v3"},
    ]
    assert spec["resources"] == {
        "cpuCount": 4.0,
        "memoryBytes": 8 * 2**30,
        "gpuCount": 1,
        "gpuModel": "NVIDIA A100",
        "gpuMemoryBytes": None,
    }
    # the pipeline posts no pedigree_environment facet: no variables, and that is said
    assert spec["environment"]["variables"] is None
    assert [w["code"] for w in spec["warnings"]] == ["no_environment_variables"]
    assert spec["reproducible"] is False
    assert api.get(f"/api/v1/runs/{vision.train}/rerun", ADMIN).json() == spec


def test_the_kubernetes_job_runs_the_same_image_code_and_inputs(
    api: Api,  # noqa: F811
    vision: Pipeline,  # noqa: F811
) -> None:
    response = api.get(f"/api/v1/runs/{vision.train}/rerun", format="k8s")
    assert response.status_code == 200, response.text
    assert response.headers["x-pedigree-rerun-warnings"] == "no_environment_variables"
    job = response.json()
    assert job["apiVersion"] == "batch/v1"
    assert job["kind"] == "Job"
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-A100"}
    [container] = pod["containers"]
    assert container["image"] == f"registry.example.com/vision/train@{DIGEST}"
    assert container["command"] == ["python", "train.py"]
    assert container["args"] == ["--lr", "0.01"]
    assert container["resources"] == {
        "requests": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"},
        "limits": {"nvidia.com/gpu": "1"},
    }
    assert "env" not in container
    assert job["metadata"]["labels"] == {
        "pedigree.dev/rerun-of": vision.train,
        "pedigree.dev/git-commit": f"{1:040x}",
    }
    annotations = job["metadata"]["annotations"]
    assert json.loads(annotations["pedigree.dev/input-versions"]) == [
        {"namespace": vision.data_ns, "name": "features", "version": "sha256:features-1"},
        {"namespace": vision.data_ns, "name": "labels/boxes", "version": "v3"},
    ]
    assert annotations["pedigree.dev/image-digest"] == DIGEST


def test_captured_environment_variables_come_from_the_facets_table(
    api: Api,  # noqa: F811
) -> None:
    pipeline = pipeline_events("vision", seed=7)
    start, complete = pipeline.events[2], pipeline.events[3]
    start["run"]["facets"]["pedigree_environment"] = facet(
        "pedigree_environment",
        pythonVersion="3.11.7",
        packagesHash="sha256:1234",
        envVars={"CUDA_VISIBLE_DEVICES": "0", "API_TOKEN": "hunter2"},
    )
    # a later event that knows only the pod keeps what START captured
    complete["run"]["facets"] = {
        "pedigree_environment": facet("pedigree_environment", kubernetes={"namespace": "ml"})
    }
    api.ingest(pipeline, VISION)
    api.wait_for_run(pipeline.deploy, "COMPLETE")
    spec = api.get(f"/api/v1/runs/{pipeline.train}/rerun").json()
    assert spec["environment"] == {
        "variables": {"CUDA_VISIBLE_DEVICES": "0"},
        "pythonVersion": "3.11.7",
        "packagesHash": "sha256:1234",
    }
    assert [w["code"] for w in spec["warnings"]] == ["secret_environment_variables"]
    assert "hunter2" not in json.dumps(spec)
    job = api.get(f"/api/v1/runs/{pipeline.train}/rerun", format="k8s").json()
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [{"name": "CUDA_VISIBLE_DEVICES", "value": "0"}]


def test_other_tenants_and_unknown_runs_get_404_and_bad_formats_422(
    api: Api,  # noqa: F811
    vision: Pipeline,  # noqa: F811
) -> None:
    for params in ({}, {"format": "k8s"}):
        refused = api.get(f"/api/v1/runs/{vision.train}/rerun", NLP, **params)
        assert refused.status_code == 404, refused.text
        unknown = api.get(f"/api/v1/runs/{'0' * 8}-0000-0000-0000-{'0' * 12}/rerun", **params)
        assert unknown.status_code == 404
        assert refused.json()["detail"] == unknown.json()["detail"].replace(
            f"{'0' * 8}-0000-0000-0000-{'0' * 12}", vision.train
        )  # the same answer: nothing leaks across tenants
    bad = api.get(f"/api/v1/runs/{vision.train}/rerun", format="yaml")
    assert bad.status_code == 422
    assert "json, k8s" in bad.json()["detail"]
    assert api.get(f"/api/v1/runs/{vision.train}/rerun", token=None).status_code == 401
