"""Automatic capture of a training run's facets: code, environment, resources, owners, trace.

Everything here runs inside the job being observed, so every piece is optional and every failure
is harmless: a capture function never raises (expected failures are caught narrowly and logged at
DEBUG on the ``pedigree.capture`` logger; :func:`harmless` is the last line of defence), never
blocks long (each subprocess has a timeout of at most 2 s; the only network call is the
Kubernetes API, inside a pod, with a short timeout), and imports its optional packages (psutil,
pynvml, kubernetes, opentelemetry) inside the function that needs them, so ``import
emitters.capture`` stays cheap.

Modules: :mod:`~emitters.capture.code`, :mod:`~emitters.capture.environment`,
:mod:`~emitters.capture.kubernetes_pod`, :mod:`~emitters.capture.machine`,
:mod:`~emitters.capture.ownership`, :mod:`~emitters.capture.trace`.  :func:`capture_run_facets`
runs them all.

Cost, measured on a 2-core machine in a dirty git checkout with 74 installed packages and no
GPU: the first :func:`capture_run_facets` of a process takes 57-65 ms, most of it importing
(the capture modules, psutil, pynvml, ``importlib.metadata``: about 40 ms); git's five short
processes take about 10 ms and reading the package metadata about 5 ms.  Later calls take 7-16
ms: the package list, its hash and the OS description are cached per process.  Inside a pod,
reading the pod and its node adds, once per process, the import of the Kubernetes client's
``CoreV1Api`` (about 0.55 s here with kubernetes 37, whose pydantic models are built at import),
then two API calls (about 45 ms against a local server).
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

if TYPE_CHECKING:
    from emitters.config import EmitterConfig

__all__ = ["MAX_SUBPROCESS_SECONDS", "capture_run_facets", "harmless", "logger", "run_command"]

logger = logging.getLogger("pedigree.capture")

MAX_SUBPROCESS_SECONDS = 2.0
"""No capture subprocess runs longer than this."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


def harmless(default: object) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorate a capture function so that no exception ever leaves it.

    Expected failures are caught narrowly inside the functions themselves; this catches the
    unexpected rest (a bug, an odd value from a library), logs it at DEBUG with its traceback,
    and returns a copy of ``default`` instead, which must be a value of the function's return
    type (the decorated function keeps its declared type).
    """

    def decorate(func: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(func)
        def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return func(*args, **kwargs)
            except Exception:  # capture must never break the job it observes
                logger.debug("%s failed; left out", func.__qualname__, exc_info=True)
                return cast(_R, copy.copy(default))

        return guarded

    return decorate


def run_command(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = MAX_SUBPROCESS_SECONDS,
) -> str | None:
    """The standard output of a command, or ``None`` when it is missing, fails or is too slow.

    The command gets no standard input; it is killed after ``timeout`` seconds (at most
    :data:`MAX_SUBPROCESS_SECONDS`).
    """
    try:
        done = subprocess.run(
            list(args),
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=min(timeout, MAX_SUBPROCESS_SECONDS),
            check=False,
        )
    except subprocess.TimeoutExpired:
        logger.debug("%s: no answer within %.1f s", args[0], timeout)
        return None
    except (OSError, ValueError, subprocess.SubprocessError) as err:
        logger.debug("%s: cannot run: %s", args[0], err)
        return None
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace").strip()[:200]
        logger.debug("%s exited with %d: %s", " ".join(args[:3]), done.returncode, error)
        return None
    return done.stdout.decode("utf-8", "replace")


@harmless({})
def capture_run_facets(
    config: EmitterConfig,
    *,
    argv: Sequence[str] | None = None,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    api_client: Any = None,
) -> dict[str, dict[str, Any]]:
    """The run facets Pedigree captures by itself, keyed by facet key; unknown ones left out.

    ``pedigree_code``, ``pedigree_environment``, ``pedigree_resources`` (requested from the pod,
    observed on the machine), ``pedigree_ownership`` and ``pedigree_trace``.  The pod (when
    running in Kubernetes) is read once and shared; ``api_client`` (a
    ``kubernetes.client.ApiClient``) replaces the in-cluster configuration for that.
    ``environ`` defaults to ``os.environ``.
    """
    from emitters.capture.code import capture_code
    from emitters.capture.environment import capture_environment
    from emitters.capture.kubernetes_pod import read_pod
    from emitters.capture.machine import capture_resources
    from emitters.capture.ownership import capture_ownership
    from emitters.capture.trace import trace_facet

    env = os.environ if environ is None else environ
    pod = read_pod(environ=env, api_client=api_client)
    code, author = capture_code(cwd, argv, env, pod=pod)
    facets = {
        "pedigree_code": code,
        "pedigree_environment": capture_environment(config, pod=pod, environ=env),
        "pedigree_resources": capture_resources(pod),
        "pedigree_ownership": capture_ownership(config, author, pod=pod, environ=env),
        "pedigree_trace": trace_facet(),
    }
    return {key: value for key, value in facets.items() if value is not None}
