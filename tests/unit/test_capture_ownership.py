"""The ownership facet: CI actor, else Kubernetes service account, else the OS user."""

from __future__ import annotations

import getpass

import pytest

from emitters.capture.kubernetes_pod import PodInfo
from emitters.capture.ownership import CI_ACTOR_VARIABLES, capture_ownership
from emitters.config import EmitterConfig

POD = PodInfo(namespace="ml", pod="train-abc", service_account="trainer")


@pytest.mark.parametrize("variable", CI_ACTOR_VARIABLES)
def test_the_ci_actor_is_the_submitter(variable: str) -> None:
    facet = capture_ownership(
        EmitterConfig(team="vision"), "Ada <ada@example.com>", POD, {variable: "grace"}
    )
    assert facet is not None
    assert facet["submitter"] == "grace"
    assert facet["codeAuthor"] == "Ada <ada@example.com>"
    assert facet["team"] == "vision"
    assert "deployer" not in facet


def test_ci_actors_are_tried_in_order() -> None:
    env = {"GITLAB_USER_LOGIN": "gitlab-user", "GITHUB_ACTOR": "octocat", "BUILD_USER_ID": "j"}
    facet = capture_ownership(EmitterConfig(), None, None, env)
    assert facet is not None
    assert facet["submitter"] == "octocat"


def test_the_service_account_without_ci() -> None:
    facet = capture_ownership(EmitterConfig(), None, POD, {"GITHUB_ACTOR": ""})
    assert facet is not None
    assert facet["submitter"] == "system:serviceaccount:ml:trainer"
    assert set(facet) == {"_producer", "_schemaURL", "submitter"}


def test_the_os_user_outside_ci_and_kubernetes() -> None:
    facet = capture_ownership(EmitterConfig(), None, PodInfo(namespace="ml", pod="p"), {})
    assert facet is not None
    assert facet["submitter"] == getpass.getuser()


def test_no_passwd_entry_leaves_the_submitter_out(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_user() -> str:
        raise OSError("No username set in the environment")  # what getuser raises for a bare UID

    monkeypatch.setattr(getpass, "getuser", no_user)
    assert capture_ownership(EmitterConfig(), None, None, {}) is None
    facet = capture_ownership(EmitterConfig(team="vision"), None, None, {})
    assert facet is not None
    assert facet["team"] == "vision"
    assert "submitter" not in facet
