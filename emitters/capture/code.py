"""Which code a run executed: git commit and state, container image, entry point, arguments.

:func:`capture_code` builds the ``pedigree_code`` facet and finds the commit's author.

* **git** (when ``cwd`` or a parent holds ``.git``): ``origin``'s URL with credentials
  stripped, the full commit, the branch (``None`` when detached), the dirty flag
  (``git status --porcelain``, untracked files included) and, when dirty,
  ``gitDiffHash = "sha256:" + sha256(git diff HEAD)``.  The diff is taken with ``--binary`` and
  fixed options, so the hash does not depend on the user's git configuration; untracked files
  make the tree dirty but are not in the diff.  At most the first 64 MiB of the diff are hashed
  (``MAX_DIFF_BYTES``); a diff that cannot be read within 2 s gives no hash.
* **CI variables** when git gives no commit (no ``.git``, git missing): GitHub Actions, GitLab,
  Buildkite, CircleCI, Jenkins.  When git and CI name the same commit, CI fills in what git
  lacks (the branch of a detached CI checkout).
* **image**: ``PEDIGREE_IMAGE`` and ``PEDIGREE_IMAGE_DIGEST`` (or a ``…@sha256:…`` reference),
  overridden by the pod's container image and digest when running in Kubernetes.
* **entry point and arguments** from ``argv`` (default ``sys.argv``; a ``python -m module`` run
  is recognized from ``sys.orig_argv``).  Arguments that look secret (``--token X``,
  ``--password=X``, a value shaped like a credential) are replaced by ``<redacted>``.
"""

from __future__ import annotations

import hashlib
import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from emitters.capture import MAX_SUBPROCESS_SECONDS, harmless, logger, run_command
from emitters.capture.environment import looks_secret_name, looks_secret_value
from emitters.facets import facet

if TYPE_CHECKING:
    from emitters.capture.kubernetes_pod import PodInfo

__all__ = [
    "MAX_DIFF_BYTES",
    "REDACTED",
    "capture_code",
    "ci_code_info",
    "entry_point",
    "git_info",
    "image_from_env",
    "redact_arguments",
    "strip_credentials",
]

MAX_DIFF_BYTES = 64 * 2**20
"""At most this much of ``git diff HEAD`` is hashed."""

REDACTED = "<redacted>"

_FIELDS = ("gitRepo", "gitCommit", "gitBranch", "gitDirty", "gitDiffHash")


# --- pure parts -------------------------------------------------------------------------------


def strip_credentials(url: str) -> str:
    """A remote URL without credentials.

    ``https://user:token@host/x`` and ``https://token@host/x`` lose the whole user part (over
    HTTP a lone user name is usually a token); ``ssh://git:pw@host/x`` keeps the user
    (``ssh://git@host/x``); scp-like ``git@host:org/x.git`` is kept as is.
    """
    url = url.strip()
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    keep_user = parts.scheme in ("ssh", "git+ssh", "ssh+git") and user
    netloc = f"{user}@{hostport}" if keep_user else hostport
    return urlunsplit(parts._replace(netloc=netloc))


def _author(name: str | None, email: str | None) -> str | None:
    if name and email:
        return f"{name} <{email}>"
    return name or email or None


def ci_code_info(environ: Mapping[str, str]) -> tuple[dict[str, Any], str | None]:
    """Code fields and commit author from CI variables, or ``({}, None)`` outside CI."""
    e = {k: v for k, v in environ.items() if v}
    if "GITHUB_SHA" in e:
        repo = None
        if "GITHUB_REPOSITORY" in e:
            server = e.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
            repo = f"{server}/{e['GITHUB_REPOSITORY']}"
        branch = e.get("GITHUB_HEAD_REF")  # the source branch of a pull request
        if branch is None and e.get("GITHUB_REF_TYPE") != "tag":
            branch = e.get("GITHUB_REF_NAME")
        return {"gitCommit": e["GITHUB_SHA"], "gitBranch": branch, "gitRepo": repo}, None
    if "CI_COMMIT_SHA" in e:
        branch = e.get("CI_COMMIT_BRANCH") or e.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
        if branch is None and "CI_COMMIT_TAG" not in e:
            branch = e.get("CI_COMMIT_REF_NAME")
        fields = {"gitCommit": e["CI_COMMIT_SHA"], "gitBranch": branch}
        return {**fields, "gitRepo": e.get("CI_PROJECT_URL")}, e.get("CI_COMMIT_AUTHOR")
    if "BUILDKITE_COMMIT" in e:
        fields = {"gitCommit": e["BUILDKITE_COMMIT"], "gitBranch": e.get("BUILDKITE_BRANCH")}
        author = _author(e.get("BUILDKITE_BUILD_AUTHOR"), e.get("BUILDKITE_BUILD_AUTHOR_EMAIL"))
        return {**fields, "gitRepo": e.get("BUILDKITE_REPO")}, author
    if "CIRCLE_SHA1" in e:
        fields = {"gitCommit": e["CIRCLE_SHA1"], "gitBranch": e.get("CIRCLE_BRANCH")}
        return {**fields, "gitRepo": e.get("CIRCLE_REPOSITORY_URL")}, None
    if "GIT_COMMIT" in e:  # Jenkins git plugin; GIT_BRANCH is remote-qualified (origin/main)
        branch = e.get("BRANCH_NAME") or e.get("GIT_BRANCH")
        if branch and branch.startswith("origin/"):
            branch = branch[len("origin/") :]
        return {
            "gitCommit": e["GIT_COMMIT"],
            "gitBranch": branch,
            "gitRepo": e.get("GIT_URL"),
        }, None
    return {}, None


def image_from_env(environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """``(image, digest)`` from ``PEDIGREE_IMAGE`` / ``PEDIGREE_IMAGE_DIGEST``.

    A digest given as bare hex gets its ``sha256:`` prefix; an image reference with
    ``@sha256:…`` supplies the digest when none is given.
    """
    image = environ.get("PEDIGREE_IMAGE") or None
    digest = environ.get("PEDIGREE_IMAGE_DIGEST") or None
    if digest and re.fullmatch(r"[0-9a-f]{64}", digest):
        digest = "sha256:" + digest
    if digest is None and image and "@sha256:" in image:
        digest = "sha256:" + image.rsplit("@sha256:", 1)[1]
    return image, digest


_PYTHON = re.compile(r"python(?:\d+(?:\.\d+)*)?w?(?:\.exe)?")
_PYTHON_OPTIONS_WITH_VALUE = "WX"


def entry_point(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """``(entry point, arguments)`` of a command line.

    A Python interpreter's own options are skipped: ``python -u train.py --lr 1`` gives
    ``("train.py", ["--lr", "1"])``, ``python -m pkg.train --lr 1`` gives
    ``("python -m pkg.train", ["--lr", "1"])``, ``python -c CODE`` gives ``("python -c", [])``.
    Any other command line is its first word and the rest.
    """
    if not argv:
        return None, []
    if not _PYTHON.fullmatch(PurePath(argv[0]).name):
        return argv[0], list(argv[1:])
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        if arg.startswith("--"):  # --check-hash-based-pycs VALUE is the only long one with one
            i += 2 if arg == "--check-hash-based-pycs" else 1
            continue
        for j, letter in enumerate(arg[1:], start=1):
            rest = arg[j + 1 :]
            if letter in "mc":
                target = rest or (argv[i + 1] if i + 1 < len(argv) else "")
                after = i + (1 if rest else 2)
                if letter == "m":
                    return f"python -m {target}", list(argv[after:])
                return "python -c", list(argv[after:])
            if letter in _PYTHON_OPTIONS_WITH_VALUE:
                i += 0 if rest else 1  # the value is the rest of this word, or the next word
                break
        i += 1
    if i >= len(argv):
        return "python", []
    return argv[i], list(argv[i + 1 :])


def _orig_entry_point() -> tuple[str | None, list[str]]:
    """This process's entry point: ``sys.argv``, with ``-m`` / ``-c`` from ``sys.orig_argv``."""
    entry, _ = entry_point(getattr(sys, "orig_argv", []) or ["python", *sys.argv])
    if entry is not None and entry.startswith("python -"):
        return entry, list(sys.argv[1:])
    if not sys.argv or not sys.argv[0]:
        return entry, list(sys.argv[1:])
    return sys.argv[0], list(sys.argv[1:])


def redact_arguments(arguments: Sequence[str]) -> list[str]:
    """Arguments with secrets replaced by ``<redacted>``.

    An option whose name looks secret (``--api-key X``, ``--password=X``) loses its value; any
    argument whose value looks like a credential is replaced.  URLs keep everything but their
    credentials.
    """
    out: list[str] = []
    hide_next = False
    for arg in arguments:
        if hide_next and not arg.startswith("-"):
            out.append(REDACTED)
            hide_next = False
            continue
        hide_next = False
        if arg.startswith("-") and len(arg) > 1:
            name, equals, value = arg.partition("=")
            secret_name = looks_secret_name(name.lstrip("-"))
            if equals:
                value = strip_credentials(value)
                hidden = secret_name or looks_secret_value(value)
                out.append(f"{name}={REDACTED}" if hidden else f"{name}={value}")
            else:
                hide_next = secret_name
                out.append(arg)
            continue
        value = strip_credentials(arg)
        out.append(REDACTED if looks_secret_value(value) else value)
    return out


# --- git --------------------------------------------------------------------------------------


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    return env


def _in_git_checkout(cwd: Path) -> bool:
    if os.environ.get("GIT_DIR"):
        return True
    try:
        return any((d / ".git").exists() for d in (cwd, *cwd.parents))
    except OSError:
        return False


def _hash_output(
    args: Sequence[str], cwd: Path, env: Mapping[str, str], limit: int, timeout: float
) -> str | None:
    """``sha256:…`` of (at most ``limit`` bytes of) a command's output, read within ``timeout``."""
    deadline = time.monotonic() + timeout
    try:
        proc = subprocess.Popen(
            list(args),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except (OSError, ValueError) as err:
        logger.debug("%s: cannot run: %s", args[0], err)
        return None
    assert proc.stdout is not None  # stdout=PIPE
    digest, seen, finished = hashlib.sha256(), 0, False
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while seen < limit:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    logger.debug("git diff: no end within %.1f s; no diff hash", timeout)
                    return None
                if not selector.select(remaining):
                    continue
                chunk = os.read(proc.stdout.fileno(), min(2**20, limit - seen))
                if not chunk:
                    finished = True
                    break
                digest.update(chunk)
                seen += len(chunk)
        if not finished:
            logger.debug("git diff: longer than %d bytes; hashing the first %d", limit, limit)
            return "sha256:" + digest.hexdigest()
        code = proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        return "sha256:" + digest.hexdigest() if code == 0 else None
    except (OSError, subprocess.TimeoutExpired) as err:
        logger.debug("git diff: %s", err)
        return None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def git_info(cwd: Path) -> tuple[dict[str, Any], str | None]:
    """Git fields of the checkout at ``cwd`` and HEAD's author; ``({}, None)`` if none."""
    if not _in_git_checkout(cwd):
        return {}, None
    env = _git_env()

    def git(*args: str) -> str | None:
        return run_command(["git", *args], cwd=cwd, env=env)

    head = git("log", "-1", "--format=%H%x00%an%x00%ae", "HEAD")
    if head is None:
        return {}, None
    commit, _, person = head.strip().partition("\x00")
    name, _, email = person.partition("\x00")
    ref = git("symbolic-ref", "-q", "HEAD")  # exits 1 when detached
    branch = None
    if ref and ref.strip().startswith("refs/heads/"):
        branch = ref.strip()[len("refs/heads/") :]
    remote = git("remote", "get-url", "origin")
    status = git("status", "--porcelain", "--untracked-files=normal")
    dirty = None if status is None else bool(status.strip())
    diff_hash = None
    if dirty:
        diff = [
            "git",
            "diff",
            "--binary",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--no-renames",
            "--src-prefix=a/",
            "--dst-prefix=b/",
            "HEAD",
        ]
        diff_hash = _hash_output(diff, cwd, env, MAX_DIFF_BYTES, MAX_SUBPROCESS_SECONDS)
    fields = {
        "gitRepo": strip_credentials(remote.strip()) if remote and remote.strip() else None,
        "gitCommit": commit or None,
        "gitBranch": branch,
        "gitDirty": dirty,
        "gitDiffHash": diff_hash,
    }
    return fields, _author(name.strip() or None, email.strip() or None)


# --- the facet --------------------------------------------------------------------------------


@harmless((None, None))
def capture_code(
    cwd: Path | None = None,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    pod: PodInfo | None = None,
) -> tuple[dict[str, Any] | None, str | None]:
    """``(pedigree_code facet or None, commit author "Name <email>" or None)``.

    ``cwd`` defaults to the working directory, ``argv`` to this process's command line,
    ``environ`` (read for CI and image variables; git itself runs with ``os.environ``) to
    ``os.environ``.
    """
    env = os.environ if environ is None else environ
    try:
        where = Path.cwd() if cwd is None else cwd
    except OSError as err:  # the working directory was deleted
        logger.debug("no working directory: %s", err)
        where = None
    fields, author = git_info(where) if where is not None else ({}, None)
    ci_fields, ci_author = ci_code_info(env)
    if not fields.get("gitCommit"):
        fields, author = ci_fields, ci_author
    elif ci_fields.get("gitCommit") == fields["gitCommit"]:
        fields = {**ci_fields, **{k: v for k, v in fields.items() if v is not None}}
        author = author or ci_author
    if fields.get("gitRepo"):
        fields["gitRepo"] = strip_credentials(fields["gitRepo"])
    image, digest = image_from_env(env)
    if pod is not None:
        image = pod.image or image
        digest = pod.image_digest or digest
    entry, arguments = entry_point(argv) if argv is not None else _orig_entry_point()
    code = {k: fields.get(k) for k in _FIELDS}
    code.update(image=image, imageDigest=digest, entryPoint=entry)
    if not any(v is not None for v in code.values()):
        return None, author
    return facet("pedigree_code", **code, arguments=redact_arguments(arguments)), author
