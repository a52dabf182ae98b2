"""All capture together: the facets travel as typed Avro records, and failures are harmless."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from emitters import codec
from emitters.capture import capture_run_facets, run_command
from emitters.capture import environment as environment_module
from emitters.capture import machine as machine_module
from emitters.capture.machine import UsageSampler
from emitters.config import EmitterConfig
from emitters.facets import facet
from emitters.validation import validate_event
from tests.avro_records import plain
from tests.events import simple_run_event
from tests.json_equality import strictly_equal
from tests.k8s_fake_api import FakeKubernetesApi, fixture, status_body

ROOT = Path(__file__).resolve().parents[2]
ALL_KEYS = {
    "pedigree_code",
    "pedigree_environment",
    "pedigree_resources",
    "pedigree_ownership",
    "pedigree_trace",
}
POD_PATH = "/api/v1/namespaces/ml/pods/train-123-x7k2p"
NODE_PATH = "/api/v1/nodes/gpu-node-3"
POD_ENV = {"POD_NAME": "train-123-x7k2p", "POD_NAMESPACE": "ml"}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    path = tmp_path / "repo"
    path.mkdir()
    (path / "train.py").write_text("print('train')\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["-c", "user.name=Ada", "-c", "user.email=ada@example.com", "commit", "-q", "-m", "x"],
        ["remote", "add", "origin", "https://bot:t0ken@git.example.com/ml/vision.git"],
    ):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True, timeout=30)
    (path / "train.py").write_text("print('train, changed')\n")
    return path


@pytest.fixture
def kubernetes_api() -> Iterator[FakeKubernetesApi]:
    routes = {
        POD_PATH: (200, fixture("pod-gpu-job.json")),
        NODE_PATH: (200, fixture("node-gpu.json")),
    }
    with FakeKubernetesApi(routes) as api:
        yield api


def run_event(run_facets: dict[str, Any]) -> dict[str, Any]:
    event = simple_run_event("START", job="train", namespace="vision")
    event["run"]["facets"] = run_facets
    return event


def assert_typed(event: dict[str, Any]) -> None:
    """Every run facet is a typed Avro record (none rides as JSON text in ``_extra``)."""
    validate_event(event)
    record = plain(codec.to_record(event))
    typed = record["run"]["facets"]
    assert typed["_extra"] == {}
    for key in event["run"]["facets"]:
        assert isinstance(typed[key], dict), key
    assert strictly_equal(codec.decode(codec.encode(event)), event)


def test_captured_facets_encode_as_typed_avro_records(repo: Path) -> None:
    env = {"PEDIGREE_IMAGE": "registry.example.com/train:1.4", "GITHUB_ACTOR": "octocat"}
    tracer = TracerProvider().get_tracer("training")
    with tracer.start_as_current_span("train"):
        facets = capture_run_facets(
            EmitterConfig(team="vision"), argv=["train.py", "--lr", "0.1"], cwd=repo, environ=env
        )
    assert facets.keys() == ALL_KEYS
    code = facets["pedigree_code"]
    assert code["gitRepo"] == "https://git.example.com/ml/vision.git"
    assert code["gitDirty"] is True
    assert code["gitDiffHash"].startswith("sha256:")
    assert facets["pedigree_ownership"]["submitter"] == "octocat"
    assert facets["pedigree_ownership"]["codeAuthor"] == "Ada <ada@example.com>"
    facets["pedigree_resources"]["samples"] = UsageSampler().sample()
    assert_typed(run_event(facets))


def test_facets_from_inside_a_pod_encode_as_typed_avro_records(
    repo: Path, kubernetes_api: FakeKubernetesApi
) -> None:
    facets = capture_run_facets(
        EmitterConfig(team="vision", env_allowlist=("POD_*",)),
        argv=["python", "-m", "vision.train", "--epochs", "30"],
        cwd=repo,
        environ=POD_ENV,
        api_client=kubernetes_api.api_client(),
    )
    assert facets.keys() == ALL_KEYS - {"pedigree_trace"}
    assert facets["pedigree_code"]["entryPoint"] == "python -m vision.train"
    assert facets["pedigree_code"]["imageDigest"].startswith("sha256:9f86d081")
    assert facets["pedigree_environment"]["kubernetes"]["ownerName"] == "train-123"
    assert facets["pedigree_environment"]["envVars"] == POD_ENV
    assert facets["pedigree_resources"]["requested"]["gpuModel"] == "NVIDIA-A100-SXM4-80GB"
    assert facets["pedigree_ownership"]["submitter"] == "system:serviceaccount:ml:trainer"
    assert kubernetes_api.paths() == [POD_PATH, NODE_PATH]  # the pod is read once
    assert_typed(run_event(facets))


def test_usage_samples_without_psutil_are_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psutil", None)
    sampler = UsageSampler()
    samples = sampler.sample() + sampler.sample()
    assert_typed(run_event({"pedigree_resources": facet("pedigree_resources", samples=samples)}))


# --- failures are harmless --------------------------------------------------------------------


def test_everything_failing_at_once_raises_nothing(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kubernetes_api: FakeKubernetesApi
) -> None:
    empty = tmp_path / "no-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no git, no nvidia-smi
    monkeypatch.setitem(sys.modules, "psutil", None)
    monkeypatch.setattr(machine_module, "PROC", tmp_path / "no-proc")  # unreadable /proc
    kubernetes_api.routes[POD_PATH] = (500, status_body(500, "InternalError", "etcd timeout"))
    facets = capture_run_facets(
        EmitterConfig(), argv=["train.py"], cwd=repo, environ=POD_ENV,
        api_client=kubernetes_api.api_client(),
    )  # fmt: skip
    assert "gitCommit" not in facets["pedigree_code"]
    assert facets["pedigree_code"]["entryPoint"] == "train.py"
    assert "kubernetes" not in facets["pedigree_environment"]
    assert "requested" not in facets["pedigree_resources"]
    assert "memoryBytes" not in facets["pedigree_resources"]["observed"]
    assert_typed(run_event(facets))


def test_an_unexpected_error_leaves_only_that_facet_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken() -> tuple[str, ...]:
        raise RuntimeError("a bug in package listing")

    monkeypatch.setattr(environment_module, "installed_packages", broken)
    facets = capture_run_facets(EmitterConfig(), argv=["train.py"], cwd=tmp_path, environ={})
    assert "pedigree_environment" not in facets
    assert {"pedigree_code", "pedigree_resources"} <= facets.keys()


def test_commands_that_hang_or_are_missing_give_none() -> None:
    started = time.monotonic()
    assert run_command(["sleep", "10"], timeout=0.3) is None
    assert time.monotonic() - started < 1.5
    assert run_command(["pedigree-no-such-command"]) is None
    assert run_command(["false"]) is None
    assert run_command(["echo", "ok"]) == "ok\n"


def test_importing_capture_pulls_in_no_optional_package() -> None:
    code = (
        "import sys\n"
        "import emitters.capture\n"
        "from emitters.capture import code, environment, kubernetes_pod, machine\n"
        "from emitters.capture import ownership, trace\n"
        "assert kubernetes_pod.read_pod({}) is None\n"
        "heavy = ('psutil', 'pynvml', 'kubernetes', 'opentelemetry', 'urllib3')\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in heavy]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
