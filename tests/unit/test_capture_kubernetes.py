"""The pod a run executes in, read by the real ``kubernetes`` client from a fake API server.

The server (``tests/k8s_fake_api.py``) serves recorded Pod and Node JSON from
``tests/fixtures/k8s/`` over HTTP on 127.0.0.1; nothing of the client is mocked.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from emitters.capture.kubernetes_pod import (
    PodInfo,
    Resources,
    cpu_cores,
    image_digest,
    memory_bytes,
    parse_quantity,
    pod_info_from_json,
    read_pod,
)
from tests.k8s_fake_api import FakeKubernetesApi, fixture, status_body

POD_PATH = "/api/v1/namespaces/ml/pods/train-123-x7k2p"
NODE_PATH = "/api/v1/nodes/gpu-node-3"
ENV = {"POD_NAME": "train-123-x7k2p", "POD_NAMESPACE": "ml"}
TRAIN_DIGEST = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


@pytest.fixture
def api() -> Iterator[FakeKubernetesApi]:
    routes = {
        POD_PATH: (200, fixture("pod-gpu-job.json")),
        NODE_PATH: (200, fixture("node-gpu.json")),
    }
    with FakeKubernetesApi(routes) as server:
        yield server


# --- quantities -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        ("3500m", Decimal("3.5")),
        ("0.25", Decimal("0.25")),
        (".5", Decimal("0.5")),
        ("100n", Decimal("1E-7")),
        ("250u", Decimal("0.00025")),
        ("512Mi", Decimal(512 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("64Ki", Decimal(65536)),
        ("2Ti", Decimal(2 * 2**40)),
        ("1G", Decimal(10**9)),
        ("4G", Decimal(4 * 10**9)),
        ("129M", Decimal(129 * 10**6)),
        ("1k", Decimal(1000)),
        ("1E", Decimal(10**18)),
        ("1Ei", Decimal(2**60)),
        ("1e3", Decimal(1000)),
        ("12E-1", Decimal("1.2")),
        ("+1", Decimal(1)),
        ("-1", Decimal(-1)),
    ],
)
def test_parse_quantity(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "1Mb", "Mi", "1.2.3", "one", "1 Gi", "1KI", "0x10", "1e"])
def test_parse_quantity_refuses_what_kubernetes_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(text)


@pytest.mark.parametrize(
    "text", ["500m", "2", "512Mi", "1G", "1.5Gi", "129e6", "100n", "1Ei", "12E-1"]
)
def test_parse_quantity_agrees_with_the_kubernetes_client(text: str) -> None:
    from kubernetes.utils.quantity import parse_quantity as client_parse_quantity

    assert parse_quantity(text) == client_parse_quantity(text)


def test_cpu_and_memory_have_the_avro_types() -> None:
    assert cpu_cores("500m") == 0.5
    assert type(cpu_cores("2")) is float
    assert memory_bytes("512Mi") == 536_870_912
    assert type(memory_bytes("1G")) is int
    assert memory_bytes("1.5") == 2  # fractional bytes round up, as Kubernetes does
    assert cpu_cores("-1") is None
    assert memory_bytes("lots") is None
    assert cpu_cores(None) is None
    assert memory_bytes(3) is None  # not a quantity string
    assert memory_bytes("10E") is None  # more than an Avro long holds


@pytest.mark.parametrize(
    ("image_id", "digest"),
    [
        (f"docker-pullable://registry.example.com/train@{TRAIN_DIGEST}", TRAIN_DIGEST),
        (f"registry.example.com/vision/train@{TRAIN_DIGEST}", TRAIN_DIGEST),
        (TRAIN_DIGEST, None),  # a local image ID, not a registry digest
        (f"docker://{TRAIN_DIGEST}", None),
        ("registry.example.com/train@sha256:short", None),
        ("", None),
        (None, None),
    ],
)
def test_image_digest(image_id: str | None, digest: str | None) -> None:
    assert image_digest(image_id) == digest


# --- reading the pod over HTTP ----------------------------------------------------------------


def test_gpu_job_pod_and_its_node(api: FakeKubernetesApi) -> None:
    pod = read_pod(ENV, api_client=api.api_client())
    assert pod == PodInfo(
        namespace="ml",
        pod="train-123-x7k2p",
        node="gpu-node-3",
        service_account="trainer",
        container="trainer",
        image="registry.example.com/vision/train:1.4",
        image_digest=TRAIN_DIGEST,
        requests=Resources(cpu=3.5, memory_bytes=24 * 2**30, gpus=2),
        limits=Resources(cpu=4.0, memory_bytes=32 * 2**30, gpus=2),
        gpu_product="NVIDIA-A100-SXM4-80GB",
        gpu_count=8,
        gpu_memory_bytes=81920 * 2**20,
        owner_kind="Job",
        owner_name="train-123",
    )
    assert api.paths() == [POD_PATH, NODE_PATH]
    assert all(r.method == "GET" for r in api.requests)


def test_placement_and_requested_resources_fit_the_facet_records(api: FakeKubernetesApi) -> None:
    pod = read_pod(ENV, api_client=api.api_client())
    assert pod is not None
    assert pod.placement() == {
        "namespace": "ml",
        "pod": "train-123-x7k2p",
        "node": "gpu-node-3",
        "serviceAccount": "trainer",
        "ownerKind": "Job",
        "ownerName": "train-123",
    }
    requested = pod.requested_resources()
    assert requested == {
        "cpuCount": 3.5,
        "memoryBytes": 24 * 2**30,
        "gpuCount": 2,
        "gpuModel": "NVIDIA-A100-SXM4-80GB",
        "gpuMemoryBytes": 80 * 2**30,
    }
    assert [type(requested[k]) for k in ("cpuCount", "memoryBytes", "gpuCount")] == [
        float,
        int,
        int,
    ]


def test_forbidden_node_keeps_the_rest(api: FakeKubernetesApi) -> None:
    api.routes[NODE_PATH] = (403, fixture("node-forbidden.json"))
    pod = read_pod(ENV, api_client=api.api_client())
    assert pod is not None
    assert (pod.gpu_product, pod.gpu_count, pod.gpu_memory_bytes) == (None, None, None)
    assert pod.node == "gpu-node-3"
    assert pod.image_digest == TRAIN_DIGEST
    assert pod.requested_resources() == {"cpuCount": 3.5, "memoryBytes": 24 * 2**30, "gpuCount": 2}


@pytest.mark.parametrize("status", [500, 404, 401, 403])
def test_pod_read_errors_give_none(api: FakeKubernetesApi, status: int) -> None:
    api.routes[POD_PATH] = (
        status,
        status_body(status, "InternalError", "etcdserver: request timed out"),
    )
    assert read_pod(ENV, api_client=api.api_client()) is None
    assert api.paths() == [POD_PATH]


@pytest.mark.parametrize("body", [[1, 2], "not json at all", b"\xff\xfe", {"kind": "Pod"}])
def test_odd_answers_give_none(api: FakeKubernetesApi, body: Any) -> None:
    api.routes[POD_PATH] = (200, body)
    assert read_pod(ENV, api_client=api.api_client()) is None


def test_a_slow_api_is_given_up_after_the_timeout_without_retries(api: FakeKubernetesApi) -> None:
    api.delays[POD_PATH] = 3.0
    started = time.monotonic()
    assert read_pod(ENV, api_client=api.api_client(), timeout=0.3) is None
    assert time.monotonic() - started < 1.5
    assert api.paths() == [POD_PATH]  # tried once, although the client allows urllib3 retries


def test_container_chosen_by_pedigree_container(api: FakeKubernetesApi) -> None:
    pod = read_pod({**ENV, "PEDIGREE_CONTAINER": "log-shipper"}, api_client=api.api_client())
    assert pod is not None
    assert (pod.container, pod.image) == ("log-shipper", "fluent/fluent-bit:3.1.9")
    assert (
        pod.image_digest
        == "sha256:1e3f7d0c52a1a0e4a8b1d1c5c0b2e9f6a7d4c3b2a19080706050403020100f0e"
    )
    assert pod.requests == Resources(cpu=0.05, memory_bytes=64 * 2**20)
    assert pod.requested_resources() == {"cpuCount": 0.05, "memoryBytes": 64 * 2**20}


def test_default_container_annotation_and_docker_image_ids(tmp_path: Path) -> None:
    path = "/api/v1/namespaces/features/pods/feature-worker-7d9c8b6f5-q2lmx"
    with FakeKubernetesApi({path: (200, fixture("pod-cpu-deployment.json"))}) as api:
        (tmp_path / "namespace").write_text("features\n")
        env = {"HOSTNAME": "feature-worker-7d9c8b6f5-q2lmx"}
        pod = read_pod(env, api_client=api.api_client(), service_account_dir=tmp_path)
        assert api.paths() == [path, "/api/v1/nodes/cpu-pool-b-2"]  # node: the API's 404
    assert pod is not None
    assert pod.container == "worker"
    assert pod.image == "registry.example.com/features/worker:2026.11.2"
    assert (
        pod.image_digest
        == "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
    )
    assert (pod.owner_kind, pod.owner_name) == ("ReplicaSet", "feature-worker-7d9c8b6f5")
    assert pod.requested_resources() == {"cpuCount": 2.0, "memoryBytes": 4_000_000_000}


def test_limits_stand_in_for_missing_requests() -> None:
    body = copy.deepcopy(fixture("pod-gpu-job.json"))
    del body["spec"]["containers"][0]["resources"]["requests"]
    pod = pod_info_from_json(body)
    assert pod is not None
    assert pod.requested_resources() == {"cpuCount": 4.0, "memoryBytes": 32 * 2**30, "gpuCount": 2}


def test_pod_json_without_name_or_namespace_is_refused() -> None:
    assert pod_info_from_json({"metadata": {"name": "x"}}) is None
    assert pod_info_from_json(
        {"spec": "odd", "metadata": {"name": "x", "namespace": "y"}}
    ) == PodInfo(namespace="y", pod="x")


# --- when not to ask --------------------------------------------------------------------------


def test_outside_kubernetes_nothing_is_asked() -> None:
    assert read_pod({}) is None


def test_unknown_namespace_gives_none(tmp_path: Path, api: FakeKubernetesApi) -> None:
    env = {"POD_NAME": "train-123-x7k2p"}
    assert read_pod(env, api_client=api.api_client(), service_account_dir=tmp_path) is None
    assert api.requests == []


def test_in_cluster_without_service_account_files_gives_none(tmp_path: Path) -> None:
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "1", **ENV}
    started = time.monotonic()
    assert read_pod(env, service_account_dir=tmp_path) is None
    assert time.monotonic() - started < 2.0


def test_in_cluster_with_an_unreachable_api_gives_none(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "9", **ENV}
    started = time.monotonic()
    assert read_pod(env, service_account_dir=tmp_path, timeout=0.5) is None
    assert time.monotonic() - started < 2.0


# --- the fake API itself (shared with the Kubernetes watcher's tests) ---------------------------


def test_fake_api_streams_watch_events_to_the_real_client() -> None:
    from kubernetes import client, watch

    pod = fixture("pod-gpu-job.json")
    done = copy.deepcopy(pod)
    done["status"]["phase"] = "Succeeded"
    events = [{"type": "ADDED", "object": pod}, {"type": "MODIFIED", "object": done}]
    with FakeKubernetesApi(watch_events={"/api/v1/namespaces/ml/pods": events}) as api:
        v1 = client.CoreV1Api(api.api_client())
        seen = list(watch.Watch().stream(v1.list_namespaced_pod, "ml", timeout_seconds=5))
    assert [(e["type"], e["object"].status.phase) for e in seen] == [
        ("ADDED", "Running"),
        ("MODIFIED", "Succeeded"),
    ]
    assert api.requests[0].query["watch"] == ["true"]
