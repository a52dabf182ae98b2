"""Who is behind a run: the ``pedigree_ownership`` facet (submitter, code author, team).

The submitter is the CI actor when the run is a CI job (GitHub Actions, GitLab, Buildkite,
CircleCI, Jenkins with the build-user-vars plugin), else the pod's Kubernetes service account
(``system:serviceaccount:<namespace>:<name>``, as Kubernetes names it in audit logs), else the
operating-system user.  The deployer is left to deployment runs, which know it.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from emitters.capture import harmless, logger
from emitters.facets import facet

if TYPE_CHECKING:
    from emitters.capture.kubernetes_pod import PodInfo
    from emitters.config import EmitterConfig

__all__ = ["CI_ACTOR_VARIABLES", "capture_ownership", "submitter"]

CI_ACTOR_VARIABLES = (
    "GITHUB_ACTOR",
    "GITLAB_USER_LOGIN",
    "BUILDKITE_BUILD_CREATOR",
    "CIRCLE_USERNAME",
    "BUILD_USER_ID",
)
"""Variables naming who started a CI job, in the order they are tried."""


def _os_user() -> str | None:
    try:
        return getpass.getuser() or None
    except (OSError, KeyError, ImportError) as err:  # no passwd entry (random container UID)
        logger.debug("no OS user name: %s", err)
        return None


def submitter(environ: Mapping[str, str], pod: PodInfo | None = None) -> str | None:
    """Who ran it: CI actor, else Kubernetes service account, else the OS user."""
    for name in CI_ACTOR_VARIABLES:
        if environ.get(name):
            return environ[name]
    if pod is not None and pod.service_account:
        return f"system:serviceaccount:{pod.namespace}:{pod.service_account}"
    return _os_user()


@harmless(None)
def capture_ownership(
    config: EmitterConfig,
    code_author: str | None,
    pod: PodInfo | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """The ``pedigree_ownership`` facet, or ``None`` when nobody is known."""
    env = os.environ if environ is None else environ
    fields = {"submitter": submitter(env, pod), "codeAuthor": code_author, "team": config.team}
    if all(value is None for value in fields.values()):
        return None
    return facet("pedigree_ownership", **fields)
