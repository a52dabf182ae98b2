"""The environment facet: packages and their hash, allow-listed variables, never a secret."""

from __future__ import annotations

import hashlib
import json
import platform
import socket
from importlib import metadata

import pytest

from emitters.capture.environment import (
    allowed_env_vars,
    bounded_packages,
    capture_environment,
    installed_packages,
    looks_secret_name,
    looks_secret_value,
    packages_hash,
)
from emitters.capture.kubernetes_pod import PodInfo
from emitters.config import EmitterConfig

# Credentials of the shapes real services issue (made up; none of them is live).
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ0cmFpbmVyIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITHUB = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
GITHUB_PAT = "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"
GITLAB = "glpat-xYz12AbC34dEf56GhI78jK"
SLACK = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
URL_WITH_PASSWORD = "postgresql://trainer:Tr41n3r!@db.example.com:5432/features"
AZURE = "DefaultEndpointsProtocol=https;AccountName=ml;AccountKey=abc;EndpointSuffix=core"
HF = "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"
HEX_KEY = "3f7a9c1e5b2d8f4a6c0e9b7d5a3f1c8e"  # 32 hex characters
SECRET_VALUES = [JWT, AWS_KEY_ID, AWS_SECRET, GITHUB, GITHUB_PAT, GITLAB, SLACK, PEM,
                 URL_WITH_PASSWORD, AZURE, HF, HEX_KEY, f"Bearer {JWT}"]  # fmt: skip


def config(**overrides: object) -> EmitterConfig:
    return EmitterConfig(**overrides)  # type: ignore[arg-type]


# --- packages ---------------------------------------------------------------------------------


def test_packages_are_the_installed_distributions_sorted_by_name() -> None:
    packages = installed_packages()
    names = [p.split("==")[0] for p in packages]
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    assert f"psutil=={metadata.version('psutil')}" in packages
    assert f"nvidia-ml-py=={metadata.version('nvidia-ml-py')}" in packages  # PEP 503 name
    assert all(p == p.strip() and "==" in p for p in packages)


def test_packages_hash_is_sha256_over_the_full_list() -> None:
    text = "".join(f"{p}\n" for p in installed_packages())
    assert packages_hash() == "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_cut_list_says_how_many_more_and_the_hash_stays_exact() -> None:
    full = capture_environment(config(max_packages=100_000), environ={})
    cut = capture_environment(config(max_packages=5), environ={})
    assert full is not None
    assert cut is not None
    total = len(installed_packages())
    assert full["packages"] == list(installed_packages())
    assert cut["packages"] == [*installed_packages()[:4], f"...(+{total - 4} more)"]
    assert cut["packagesHash"] == full["packagesHash"] == packages_hash()


def test_bounded_packages() -> None:
    packages = ("a==1", "b==2", "c==3")
    assert bounded_packages(packages, 3) == ["a==1", "b==2", "c==3"]
    assert bounded_packages(packages, 2) == ["a==1", "...(+2 more)"]
    assert bounded_packages(packages, 1) == ["...(+3 more)"]


# --- the facet --------------------------------------------------------------------------------


def test_environment_facet() -> None:
    env = {"CUDA_VISIBLE_DEVICES": "0,1", "OMP_NUM_THREADS": "8", "TORCH_HOME": "/cache/torch",
           "NCCL_DEBUG": "INFO", "HOME": "/home/ada", "UNLISTED": "x"}  # fmt: skip
    pod = PodInfo(namespace="ml", pod="train-abc", node="gpu-node-3", owner_kind="Job")
    facet = capture_environment(config(), pod, environ=env)
    assert facet is not None
    assert facet["host"] == socket.gethostname()
    assert facet["os"] == platform.platform()
    assert facet["pythonVersion"] == platform.python_version()
    assert facet["envVars"] == {
        "CUDA_VISIBLE_DEVICES": "0,1",
        "NCCL_DEBUG": "INFO",
        "OMP_NUM_THREADS": "8",
        "TORCH_HOME": "/cache/torch",
    }
    assert facet["kubernetes"] == {
        "namespace": "ml",
        "pod": "train-abc",
        "node": "gpu-node-3",
        "ownerKind": "Job",
    }


def test_no_allowed_variables_and_no_pod_leave_the_fields_out() -> None:
    facet = capture_environment(config(), environ={"HOME": "/root"})
    assert facet is not None
    assert "envVars" not in facet
    assert "kubernetes" not in facet


def test_a_secret_never_appears_even_when_allow_listed_by_name() -> None:
    env = {f"SAFE_NAME_{i}": value for i, value in enumerate(SECRET_VALUES)}
    env.update(
        HF_TOKEN="plain",
        WANDB_API_KEY="plain",
        DB_PASSWORD="plain",
        AWS_SECRET_ACCESS_KEY="plain",
        MY_SESSION_COOKIE="plain",
        TORCH_DISTRIBUTED_AUTH="plain",
        PGPASS="plain",
        SAFE_SETTING="kept",
    )
    allowlist = (*env, "*")  # every name explicitly, and everything by pattern
    facet = capture_environment(config(env_allowlist=allowlist), environ=env)
    assert facet is not None
    assert facet["envVars"] == {"SAFE_SETTING": "kept"}
    text = json.dumps(facet)
    for value in SECRET_VALUES:
        assert value not in text
        assert json.dumps(value)[1:-1] not in text  # not even JSON-escaped


def test_long_values_are_cut() -> None:
    chosen = allowed_env_vars({"TORCH_EXTRA": "ab " * 5000}, ("TORCH_*",))
    assert len(chosen["TORCH_EXTRA"]) < 4200
    assert chosen["TORCH_EXTRA"].endswith("...(truncated)")


def test_patterns_are_case_sensitive_shell_patterns() -> None:
    env = {"NCCL_DEBUG": "INFO", "nccl_debug": "x", "RANK": "0", "RANKS": "4"}
    assert allowed_env_vars(env, ("NCCL_*", "RANK")) == {"NCCL_DEBUG": "INFO", "RANK": "0"}


# --- what looks secret ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "HF_TOKEN", "GITHUB_TOKEN", "API_KEY", "APIKEY", "WANDB_API_KEY", "AWS_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID", "DB_PASSWORD", "MYSQL_PWD", "PGPASS", "REDIS_PASS", "SSH_PASSPHRASE",
        "GOOGLE_APPLICATION_CREDENTIALS", "DOCKER_CREDS", "AUTHORIZATION", "BASIC_AUTH",
        "OAUTH_CLIENT", "SESSION_ID", "COOKIE_JAR", "PRIVATE_KEY_PATH", "access-token",
        "SSH_KEYS", "HF_HUB_TOKEN", "MLFLOW_TRACKING_PASSWORD", "ACCESSKEY",
    ],
)  # fmt: skip
def test_secret_names(name: str) -> None:
    assert looks_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "KEYBOARD_LAYOUT", "TOKENIZERS_PARALLELISM", "MAX_TOKENS", "GIT_AUTHOR_NAME",
        "NUM_KEYPOINTS", "KEYFRAME_INTERVAL", "PWD", "OLDPWD", "CUDA_VISIBLE_DEVICES",
        "OMP_NUM_THREADS", "NCCL_SOCKET_IFNAME", "MASTER_ADDR", "TORCH_HOME", "HF_HUB_OFFLINE",
    ],
)  # fmt: skip
def test_names_that_only_resemble_secrets(name: str) -> None:
    assert not looks_secret_name(name)


@pytest.mark.parametrize("value", SECRET_VALUES)
def test_secret_values(value: str) -> None:
    assert looks_secret_value(value)


@pytest.mark.parametrize(
    "value",
    [
        "0,1",
        "8",
        "INFO",
        "eth0",
        "/opt/conda/envs/training_env/lib/python3.11/site-packages",
        "/home/ada/.cache/huggingface/hub/models--bert-base-uncased",
        "123e4567-e89b-12d3-a456-426614174000",
        "https://mlflow.example.com/api/2.0",
        "bert-base-uncased",
        "git@github.com:ml/vision.git",
        "s3://datasets/images/train/2026-11-28",
        "expandable_segments:True,max_split_size_mb:512",
        "registry.example.com/train@sha256:" + "0123456789abcdef" * 4,
        "pytorchjob-resnet50-imagenet-20261128-worker-0",
    ],
)
def test_ordinary_values(value: str) -> None:
    assert not looks_secret_value(value)
