"""The code facet: real git repositories made with ``git init``, CI variables, the entry point."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from emitters.capture import code as code_module
from emitters.capture.code import (
    REDACTED,
    capture_code,
    ci_code_info,
    entry_point,
    image_from_env,
    redact_arguments,
    strip_credentials,
)
from emitters.capture.kubernetes_pod import PodInfo

AUTHOR = "Ada Lovelace <ada@example.com>"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """No user or system git configuration leaks into the repositories under test."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with two commits on ``main`` by Ada."""
    path = tmp_path / "vision"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Ada Lovelace")
    git(path, "config", "user.email", "ada@example.com")
    (path / "train.py").write_text("print('training')\n")
    (path / "README.md").write_text("# vision\n")
    git(path, "add", ".")
    git(path, "commit", "-q", "-m", "first")
    (path / "train.py").write_text("print('training harder')\n")
    git(path, "commit", "-q", "-am", "second")
    return path


def test_clean_checkout_gives_commit_branch_and_author(repo: Path) -> None:
    facet, author = capture_code(repo, ["train.py", "--epochs", "3"], {})
    assert facet is not None
    assert facet["gitCommit"] == git(repo, "rev-parse", "HEAD")
    assert len(facet["gitCommit"]) == 40
    assert facet["gitBranch"] == "main"
    assert facet["gitDirty"] is False
    assert "gitDiffHash" not in facet
    assert "gitRepo" not in facet  # no origin
    assert facet["entryPoint"] == "train.py"
    assert facet["arguments"] == ["--epochs", "3"]
    assert author == AUTHOR


def test_remote_credentials_are_stripped(repo: Path) -> None:
    git(
        repo,
        "remote",
        "add",
        "origin",
        "https://ci-bot:glpat-s3cretS3cretS3cret00@git.example.com/ml/vision.git",
    )
    facet, _ = capture_code(repo, ["train.py"], {})
    assert facet is not None
    assert facet["gitRepo"] == "https://git.example.com/ml/vision.git"
    assert "s3cret" not in json.dumps(facet)


def test_modified_file_makes_it_dirty_and_hashes_git_diff_head(repo: Path) -> None:
    (repo / "train.py").write_text("print('training with a local tweak')\n")
    facet, _ = capture_code(repo, ["train.py"], {})
    assert facet is not None
    assert facet["gitDirty"] is True
    diff = subprocess.run(["git", "diff", "HEAD"], cwd=repo, capture_output=True, check=True).stdout
    assert facet["gitDiffHash"] == "sha256:" + hashlib.sha256(diff).hexdigest()


def test_diff_hash_follows_the_content_of_the_change(repo: Path) -> None:
    (repo / "train.py").write_text("lr = 0.1\n")
    first, _ = capture_code(repo, [], {})
    again, _ = capture_code(repo, [], {})
    (repo / "train.py").write_text("lr = 0.2\n")
    other, _ = capture_code(repo, [], {})
    assert first is not None
    assert again is not None
    assert other is not None
    assert first["gitDiffHash"] == again["gitDiffHash"] != other["gitDiffHash"]


def test_untracked_file_makes_it_dirty(repo: Path) -> None:
    (repo / "notes.txt").write_text("not committed\n")
    facet, _ = capture_code(repo, [], {})
    assert facet is not None
    assert facet["gitDirty"] is True


def test_hash_covers_at_most_the_cap(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "train.py").write_text("x = 1\n" * 1000)
    monkeypatch.setattr(code_module, "MAX_DIFF_BYTES", 100)
    facet, _ = capture_code(repo, [], {})
    diff = subprocess.run(["git", "diff", "HEAD"], cwd=repo, capture_output=True, check=True).stdout
    assert len(diff) > 100
    assert facet is not None
    assert facet["gitDiffHash"] == "sha256:" + hashlib.sha256(diff[:100]).hexdigest()


def test_detached_head_has_no_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    facet, _ = capture_code(repo, [], {})
    assert facet is not None
    assert "gitBranch" not in facet
    assert facet["gitCommit"] == git(repo, "rev-parse", "HEAD")


def test_ci_fills_the_branch_of_a_detached_checkout_of_the_same_commit(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    commit = git(repo, "rev-parse", "HEAD")
    env = {"GITHUB_SHA": commit, "GITHUB_REF_NAME": "main", "GITHUB_REPOSITORY": "ml/vision"}
    facet, _ = capture_code(repo, [], env)
    assert facet is not None
    assert facet["gitBranch"] == "main"
    assert facet["gitRepo"] == "https://github.com/ml/vision"
    # CI naming another commit is ignored: git knows what is checked out.
    facet, _ = capture_code(repo, [], {**env, "GITHUB_SHA": "f" * 40})
    assert facet is not None
    assert "gitBranch" not in facet
    assert facet["gitCommit"] == commit


def test_a_subdirectory_of_the_checkout_is_found(repo: Path) -> None:
    sub = repo / "src" / "vision"
    sub.mkdir(parents=True)
    facet, _ = capture_code(sub, [], {})
    assert facet is not None
    assert facet["gitCommit"] == git(repo, "rev-parse", "HEAD")


def test_git_missing_from_path_falls_back_to_ci(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    facet, author = capture_code(repo, ["train.py"], {"CIRCLE_SHA1": "c" * 40})
    assert facet is not None
    assert facet["gitCommit"] == "c" * 40
    assert author is None
    facet, _ = capture_code(repo, ["train.py"], {})
    assert facet is not None
    assert facet["entryPoint"] == "train.py"
    assert "gitCommit" not in facet


def test_a_deleted_working_directory_is_harmless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    facet, _ = capture_code(None, ["train.py"], {"GITHUB_SHA": "a" * 40})
    assert facet is not None
    assert facet["gitCommit"] == "a" * 40


# --- CI variables without .git ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected", "author"),
    [
        (
            {
                "GITHUB_ACTIONS": "true",
                "GITHUB_SHA": "a" * 40,
                "GITHUB_REF_NAME": "main",
                "GITHUB_REF_TYPE": "branch",
                "GITHUB_SERVER_URL": "https://github.example.com",
                "GITHUB_REPOSITORY": "ml/vision",
            },
            {
                "gitCommit": "a" * 40,
                "gitBranch": "main",
                "gitRepo": "https://github.example.com/ml/vision",
            },
            None,
        ),
        (
            {"GITHUB_SHA": "a" * 40, "GITHUB_REF_NAME": "12/merge", "GITHUB_HEAD_REF": "feature/x"},
            {"gitCommit": "a" * 40, "gitBranch": "feature/x"},
            None,
        ),
        (
            {"GITHUB_SHA": "a" * 40, "GITHUB_REF_NAME": "v1.2", "GITHUB_REF_TYPE": "tag"},
            {"gitCommit": "a" * 40},
            None,
        ),
        (
            {
                "GITLAB_CI": "true",
                "CI_COMMIT_SHA": "b" * 40,
                "CI_COMMIT_BRANCH": "main",
                "CI_COMMIT_REF_NAME": "main",
                "CI_PROJECT_URL": "https://gitlab.example.com/ml/vision",
                "CI_COMMIT_AUTHOR": "Grace Hopper <grace@example.com>",
            },
            {
                "gitCommit": "b" * 40,
                "gitBranch": "main",
                "gitRepo": "https://gitlab.example.com/ml/vision",
            },
            "Grace Hopper <grace@example.com>",
        ),
        (
            {"CI_COMMIT_SHA": "b" * 40, "CI_COMMIT_REF_NAME": "release"},
            {"gitCommit": "b" * 40, "gitBranch": "release"},
            None,
        ),
        (
            {
                "GIT_COMMIT": "d" * 40,
                "GIT_BRANCH": "origin/main",
                "GIT_URL": "https://jenkins:hunter2hunter2@git.example.com/ml/vision.git",
            },
            {
                "gitCommit": "d" * 40,
                "gitBranch": "main",
                "gitRepo": "https://git.example.com/ml/vision.git",
            },
            None,
        ),
        (
            {
                "CIRCLECI": "true",
                "CIRCLE_SHA1": "e" * 40,
                "CIRCLE_BRANCH": "dev",
                "CIRCLE_REPOSITORY_URL": "git@github.com:ml/vision.git",
            },
            {"gitCommit": "e" * 40, "gitBranch": "dev", "gitRepo": "git@github.com:ml/vision.git"},
            None,
        ),
        (
            {
                "BUILDKITE": "true",
                "BUILDKITE_COMMIT": "f" * 40,
                "BUILDKITE_BRANCH": "main",
                "BUILDKITE_REPO": "git@github.com:ml/vision.git",
                "BUILDKITE_BUILD_AUTHOR": "Alan Turing",
                "BUILDKITE_BUILD_AUTHOR_EMAIL": "alan@example.com",
            },
            {"gitCommit": "f" * 40, "gitBranch": "main", "gitRepo": "git@github.com:ml/vision.git"},
            "Alan Turing <alan@example.com>",
        ),
    ],
    ids=[
        "github",
        "github-pr",
        "github-tag",
        "gitlab",
        "gitlab-ref",
        "jenkins",
        "circleci",
        "buildkite",
    ],
)
def test_ci_variables_without_git(
    tmp_path: Path, env: dict[str, str], expected: dict[str, str], author: str | None
) -> None:
    assert not any((d / ".git").exists() for d in (tmp_path, *tmp_path.parents))
    facet, found_author = capture_code(tmp_path, ["train.py"], env)
    assert facet is not None
    assert {k: v for k, v in facet.items() if k.startswith("git")} == expected
    assert found_author == author


def test_no_git_and_no_ci_gives_only_the_entry_point(tmp_path: Path) -> None:
    facet, author = capture_code(tmp_path, ["train.py", "--lr", "0.1"], {})
    assert facet is not None
    assert {k: v for k, v in facet.items() if not k.startswith("_")} == {
        "entryPoint": "train.py",
        "arguments": ["--lr", "0.1"],
    }
    assert author is None
    assert ci_code_info({}) == ({}, None)


def test_nothing_known_gives_no_facet(tmp_path: Path) -> None:
    assert capture_code(tmp_path, [], {}) == (None, None)


# --- image ------------------------------------------------------------------------------------


def test_image_and_digest_from_the_environment(tmp_path: Path) -> None:
    env = {"PEDIGREE_IMAGE": "registry.example.com/train:1.4", "PEDIGREE_IMAGE_DIGEST": DIGEST}
    facet, _ = capture_code(tmp_path, ["train.py"], env)
    assert facet is not None
    assert (facet["image"], facet["imageDigest"]) == ("registry.example.com/train:1.4", DIGEST)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, (None, None)),
        ({"PEDIGREE_IMAGE": "repo/train:1"}, ("repo/train:1", None)),
        ({"PEDIGREE_IMAGE": f"repo/train@{DIGEST}"}, (f"repo/train@{DIGEST}", DIGEST)),
        (
            {"PEDIGREE_IMAGE": "repo/train:1", "PEDIGREE_IMAGE_DIGEST": "ab" * 32},
            ("repo/train:1", DIGEST),
        ),
    ],
)
def test_image_from_env(env: dict[str, str], expected: tuple[str | None, str | None]) -> None:
    assert image_from_env(env) == expected


def test_the_pod_overrides_the_image_variables(tmp_path: Path) -> None:
    pod = PodInfo(
        namespace="ml",
        pod="p",
        image="registry.example.com/train:1.5",
        image_digest="sha256:" + "cd" * 32,
    )
    env = {"PEDIGREE_IMAGE": "registry.example.com/train:1.4", "PEDIGREE_IMAGE_DIGEST": DIGEST}
    facet, _ = capture_code(tmp_path, ["train.py"], env, pod=pod)
    assert facet is not None
    assert facet["image"] == "registry.example.com/train:1.5"
    assert facet["imageDigest"] == "sha256:" + "cd" * 32


# --- entry point and arguments ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train.py", "--lr", "1"], ("train.py", ["--lr", "1"])),
        (["python", "train.py", "--lr", "1"], ("train.py", ["--lr", "1"])),
        (["/usr/bin/python3.11", "-u", "-X", "dev", "train.py"], ("train.py", [])),
        (["python3", "-W", "ignore", "-Xutf8", "train.py", "-m", "x"], ("train.py", ["-m", "x"])),
        (["python", "-m", "vision.train", "--lr", "1"], ("python -m vision.train", ["--lr", "1"])),
        (["python", "-um", "vision.train"], ("python -m vision.train", [])),
        (["python", "-mvision.train", "a"], ("python -m vision.train", ["a"])),
        (["python", "-c", "print(1)", "a"], ("python -c", ["a"])),
        (["python"], ("python", [])),
        (
            ["torchrun", "--nproc-per-node", "8", "train.py"],
            ("torchrun", ["--nproc-per-node", "8", "train.py"]),
        ),
        ([], (None, [])),
    ],
)
def test_entry_point(argv: list[str], expected: tuple[str | None, list[str]]) -> None:
    assert entry_point(argv) == expected


def test_python_dash_m_is_recognized_from_orig_argv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "orig_argv", ["python3", "-m", "vision.train", "--lr", "1"])
    monkeypatch.setattr(sys, "argv", ["/src/vision/train.py", "--lr", "1"])
    facet, _ = capture_code(tmp_path, None, {})
    assert facet is not None
    assert (facet["entryPoint"], facet["arguments"]) == ("python -m vision.train", ["--lr", "1"])
    monkeypatch.setattr(sys, "orig_argv", ["python3", "-u", "train.py", "--lr", "1"])
    monkeypatch.setattr(sys, "argv", ["train.py", "--lr", "1"])
    facet, _ = capture_code(tmp_path, None, {})
    assert facet is not None
    assert (facet["entryPoint"], facet["arguments"]) == ("train.py", ["--lr", "1"])


def test_secret_arguments_are_redacted(tmp_path: Path) -> None:
    token = "hf_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z"
    argv = [
        "train.py",
        "--hf-token", token,
        "--password=hunter2",
        "--tokenizer", "bert-base-uncased",
        "--max-tokens", "512",
        "--data", "postgres://etl:pa55word@db.example.com/features",
        f"--wandb={token}",
        "--lr", "0.1",
    ]  # fmt: skip
    facet, _ = capture_code(tmp_path, argv, {})
    assert facet is not None
    assert facet["arguments"] == [
        "--hf-token", REDACTED,
        f"--password={REDACTED}",
        "--tokenizer", "bert-base-uncased",
        "--max-tokens", "512",
        "--data", "postgres://db.example.com/features",
        f"--wandb={REDACTED}",
        "--lr", "0.1",
    ]  # fmt: skip
    text = json.dumps(facet)
    assert token not in text
    assert "hunter2" not in text
    assert "pa55word" not in text


def test_redact_arguments_keeps_ordinary_ones() -> None:
    args = ["--epochs", "3", "-v", "data/train.csv", "--", "--flag"]
    assert redact_arguments(args) == args


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:token@github.com/ml/vision.git", "https://github.com/ml/vision.git"),
        (
            "https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/ml/v.git",
            "https://github.com/ml/v.git",
        ),
        ("http://u:p@host:8080/r.git", "http://host:8080/r.git"),
        ("ssh://git:pw@host.example.com/ml/vision.git", "ssh://git@host.example.com/ml/vision.git"),
        (
            "ssh://git@host.example.com:2222/ml/vision.git",
            "ssh://git@host.example.com:2222/ml/vision.git",
        ),
        ("git@github.com:ml/vision.git", "git@github.com:ml/vision.git"),
        ("https://github.com/ml/vision.git", "https://github.com/ml/vision.git"),
        ("/srv/git/vision.git", "/srv/git/vision.git"),
    ],
)
def test_strip_credentials(url: str, expected: str) -> None:
    assert strip_credentials(url) == expected
