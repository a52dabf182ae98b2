"""Kubernetes Pods (and their Jobs) as OpenLineage run events: the pure part of the watcher.

One **run per pod**: each pod a Job starts (every retry after a failure is a new pod) is one
run of the OpenLineage job named after the Job, with run id ``uuid5(POD_RUN_NAMESPACE, pod
UID)``, so every watcher — restarted, or a second replica — names the same pod's run alike.
:func:`~emitters._k8s_lifecycle.transitions` says which events a pod's state implies;
:func:`run_event` builds each one.  No I/O: the watcher (:mod:`emitters.k8s_watch`) reads the
pods and their Jobs and hands the JSON here.

What the pod says about itself (labels ``L``, annotations ``A``; label values cannot hold
``/`` or ``:``, hence the annotations):

=====================================  ======================================================
job name                               ``L/A pedigree.dev/job``, else the owning CronJob's
                                       name, else the Job's ``generateName`` (without the
                                       random suffix), else the Job's name, else the pod's
job namespace                          ``L/A pedigree.dev/namespace``, else
                                       ``k8s://<cluster>/<pod namespace>``
team                                   ``L/A pedigree.dev/team``
submitter / code author                ``A pedigree.dev/submitter`` (else the service
                                       account) / ``A pedigree.dev/code-author``
inputs / outputs                       ``A pedigree.dev/inputs`` / ``A pedigree.dev/outputs``:
                                       comma-separated ``URI[@VERSION]``
parent (and root) run                  ``A pedigree.dev/parent-run-id`` + ``A
                                       pedigree.dev/parent-job`` (``namespace/name``, split at
                                       the last ``/``); ``root-run-id`` + ``root-job`` alike
=====================================  ======================================================
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any, Final

from emitters._k8s_lifecycle import Transition, main_container_info
from emitters.capture.code import redact_arguments
from emitters.capture.ownership import submitter
from emitters.datasets import InvalidDataset, parse_dataset_arg
from emitters.facets import PRODUCER, facet
from emitters.sdk import _ERROR_SCHEMA, _JOBTYPE_SCHEMA, _PARENT_SCHEMA, SCHEMA_URL

__all__ = [
    "DEFAULT_CLUSTER",
    "DEFAULT_SELECTOR",
    "POD_RUN_NAMESPACE",
    "job_name",
    "job_namespace",
    "owning_job",
    "pod_run_id",
    "run_event",
]

log = logging.getLogger("pedigree.k8s")

DEFAULT_SELECTOR: Final = "pedigree.dev/lineage=true"
"""The label selector of the pods the watcher reports on."""
DEFAULT_CLUSTER: Final = "kubernetes"
POD_RUN_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "https://pedigree.dev/kubernetes/pod")
"""The uuid5 namespace of run ids derived from pod UIDs."""

_PREFIX = "pedigree.dev/"
_INTEGRATION = "PEDIGREE"


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _meta(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    return _dict((obj or {}).get("metadata"))


def _setting(pod: Mapping[str, Any], key: str, *, label: bool = True) -> str | None:
    """``pedigree.dev/<key>`` from the pod's labels (if ``label``), else its annotations."""
    meta = _meta(pod)
    found = _str(_dict(meta.get("labels")).get(_PREFIX + key)) if label else None
    return found or _str(_dict(meta.get("annotations")).get(_PREFIX + key))


def _controller(meta: Mapping[str, Any]) -> dict[str, Any]:
    owners = [o for o in meta.get("ownerReferences") or [] if isinstance(o, dict)]
    return next((o for o in owners if o.get("controller") is True), owners[0] if owners else {})


def pod_run_id(uid: str) -> str:
    """The run id of the pod with this UID (the same in every watcher, on every restart)."""
    return str(uuid.uuid5(POD_RUN_NAMESPACE, uid))


def owning_job(pod: Mapping[str, Any]) -> str | None:
    """The name of the Job to read for the job name, or ``None`` when it is not needed."""
    if _setting(pod, "job") is not None:
        return None
    owner = _controller(_meta(pod))
    return _str(owner.get("name")) if owner.get("kind") == "Job" else None


def _generated_base(meta: Mapping[str, Any]) -> str | None:
    """``generateName`` without its trailing ``-``: the name before the random suffix."""
    return (_str(meta.get("generateName")) or "").rstrip("-.") or None


def job_name(pod: Mapping[str, Any], job: Mapping[str, Any] | None = None) -> str:
    """The OpenLineage job name of the pod's run (see the module docstring)."""
    explicit = _setting(pod, "job")
    if explicit:
        return explicit
    meta = _meta(pod)
    owner = _controller(meta)
    owner_name = _str(owner.get("name"))
    if owner.get("kind") == "Job" and owner_name:
        job_meta = _meta(job) if _meta(job).get("name") == owner_name else {}
        cron = _controller(job_meta)
        if cron.get("kind") == "CronJob" and _str(cron.get("name")):
            return str(cron["name"])
        return _generated_base(job_meta) or owner_name
    if owner_name:  # a ReplicaSet's pods: drop the pod-template hash
        template_hash = _str(_dict(meta.get("labels")).get("pod-template-hash"))
        if template_hash and owner_name.endswith("-" + template_hash):
            return owner_name[: -len(template_hash) - 1]
        return owner_name
    return _generated_base(meta) or _str(meta.get("name")) or "pod"


def job_namespace(pod: Mapping[str, Any], cluster: str = DEFAULT_CLUSTER) -> str:
    """``pedigree.dev/namespace``, else ``k8s://<cluster>/<pod namespace>``."""
    explicit = _setting(pod, "namespace")
    if explicit:
        return explicit
    return f"k8s://{cluster}/{_str(_meta(pod).get('namespace')) or 'default'}"


def _datasets(pod: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    """Dataset references from a comma-separated annotation; bad items are logged and left out.

    Only URIs: a local path in an annotation names a file inside the pod, which the watcher
    cannot see (and must not fingerprint on its own disk).
    """
    refs: list[dict[str, Any]] = []
    for item in (_setting(pod, key, label=False) or "").split(","):
        text = item.strip()
        if not text:
            continue
        if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", text):
            log.warning("pedigree: %s%s: %r is not a URI; left out", _PREFIX, key, text)
            continue
        try:
            refs.append(parse_dataset_arg(text))
        except InvalidDataset as err:
            log.warning("pedigree: %s%s: %s; left out", _PREFIX, key, err)
    return refs


def _job_ref(pod: Mapping[str, Any], which: str) -> dict[str, Any] | None:
    """``{"run": ..., "job": ...}`` from ``<which>-run-id`` and ``<which>-job`` annotations."""
    run_id = _setting(pod, f"{which}-run-id", label=False)
    job = _setting(pod, f"{which}-job", label=False)
    if run_id is None or job is None:
        return None
    namespace, _, name = job.rpartition("/")
    try:
        uuid.UUID(run_id)
    except ValueError:
        log.warning("pedigree: %s%s-run-id %r is not a UUID; left out", _PREFIX, which, run_id)
        return None
    if not namespace or not name:
        log.warning("pedigree: %s%s-job %r is not namespace/name; left out", _PREFIX, which, job)
        return None
    return {"run": {"runId": run_id}, "job": {"namespace": namespace, "name": name}}


def _parent_facet(pod: Mapping[str, Any]) -> dict[str, Any] | None:
    parent = _job_ref(pod, "parent")
    if parent is None:
        return None
    root = _job_ref(pod, "root")
    body = {"_producer": PRODUCER, "_schemaURL": _PARENT_SCHEMA, **parent}
    return {**body, "root": root} if root else body


def _start_facets(pod: Mapping[str, Any]) -> dict[str, Any]:
    """Code, resources, placement and owners: what the pod spec says, captured at START."""
    info = main_container_info(pod)
    if info is None:
        return {}
    facets: dict[str, Any] = {}
    container = next(
        (
            c
            for c in _dict(pod.get("spec")).get("containers") or []
            if isinstance(c, dict) and c.get("name") == info.container
        ),
        {},
    )
    command = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    code = facet(
        "pedigree_code",
        image=info.image,
        imageDigest=info.image_digest,
        arguments=redact_arguments(command) if command else None,
    )
    if len(code) > 2:
        facets["pedigree_code"] = code
    requested = info.requested_resources()
    if requested:
        facets["pedigree_resources"] = facet("pedigree_resources", requested=requested)
    facets["pedigree_environment"] = facet("pedigree_environment", kubernetes=info.placement())
    owners = {
        "submitter": _setting(pod, "submitter", label=False)
        or (submitter({}, info) if info.service_account else None),
        "codeAuthor": _setting(pod, "code-author", label=False),
        "team": _setting(pod, "team"),
    }
    if any(owners.values()):
        facets["pedigree_ownership"] = facet("pedigree_ownership", **owners)
    return facets


def _error_facet(transition: Transition) -> dict[str, Any]:
    body = {
        "_producer": PRODUCER,
        "_schemaURL": _ERROR_SCHEMA,
        "message": transition.message or transition.event_type.lower(),
        "programmingLanguage": "unknown",  # a container runs anything
    }
    return {**body, "stackTrace": transition.details} if transition.details else body


def run_event(
    pod: Mapping[str, Any],
    transition: Transition,
    *,
    job: Mapping[str, Any] | None = None,
    cluster: str = DEFAULT_CLUSTER,
) -> dict[str, Any]:
    """The OpenLineage RunEvent of one transition of the pod's run.

    ``job`` is the owning Job's JSON, when read (it names CronJob and generated Jobs).  START
    carries the code, resources, environment and ownership facets; every event carries the
    parent facet and the inputs; COMPLETE also the outputs; FAIL and ABORT the error message.
    """
    uid = _str(_meta(pod).get("uid"))
    if uid is None:
        raise ValueError("a pod without metadata.uid has no run id")
    facets = _start_facets(pod) if transition.event_type == "START" else {}
    parent = _parent_facet(pod)
    if parent is not None:
        facets["parent"] = parent
    if transition.event_type in ("FAIL", "ABORT"):
        facets["errorMessage"] = _error_facet(transition)
    return {
        "eventType": transition.event_type,
        "eventTime": transition.event_time,
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": pod_run_id(uid), "facets": facets},
        "job": {
            "namespace": job_namespace(pod, cluster),
            "name": job_name(pod, job),
            "facets": {
                "jobType": {
                    "_producer": PRODUCER,
                    "_schemaURL": _JOBTYPE_SCHEMA,
                    "processingType": "BATCH",
                    "integration": _INTEGRATION,
                    "jobType": "TASK" if parent is not None else "JOB",
                }
            },
        },
        "inputs": _datasets(pod, "inputs"),
        "outputs": _datasets(pod, "outputs") if transition.event_type == "COMPLETE" else [],
    }
