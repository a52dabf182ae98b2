"""How to run a past run again: its rerun spec, and the Kubernetes Job that runs it.  No I/O.

:func:`rerun_spec` turns a run's latest state (a row of ``api.store.RUNS_STATE``), the exact
dataset versions it read and its ``pedigree_environment`` facet into a JSON-ready dict:

* the **image** pinned by digest (``repository@sha256:…``, the tag dropped);
* the **entry point and arguments**, and the container **command** the entry point runs as: a
  ``*.py`` script runs under ``python``, ``python -m pkg`` as ``python -m pkg``, any other entry
  point is the executable itself; without an entry point the arguments go to the image's own
  ENTRYPOINT (what a run reported by the Kubernetes watcher records: its command and args);
* the **git** repository, commit, branch, dirty flag and diff hash;
* the **parameters**, decoded from the warehouse's canonical JSON to the values posted;
* the exact **input** dataset versions (namespace, name, version);
* the **resources** requested (CPU, memory, GPU count, model and memory);
* the **environment**: the allow-listed variables the emitter captured (screened again here:
  a variable whose name or value looks secret is left out), the Python version and packages
  hash.  Variables outside the emitter's allow-list were never captured;
* ``warnings``: everything that keeps the rerun from being exact, each with a stable ``code``
  and a message that says why.  ``reproducible`` is true only when there is none.

:func:`job_manifest` builds a ``batch/v1`` Job from a spec with the ``kubernetes`` client's
models: one container, ``restartPolicy: Never`` and ``backoffLimit: 0`` (a retry would be another
run), CPU, memory and GPUs as requests (GPUs as limits too, as Kubernetes requires for
``nvidia.com/gpu``; no CPU or memory limit is set, since the original's limits are not
recorded), the GPU model as a ``nvidia.com/gpu.product`` node selector (the label NVIDIA's GPU
feature discovery sets: the model with spaces as ``-``; the GPU memory is only annotated), the
captured variables as ``env``, and labels and annotations that carry the original run id, job,
git commit, image digest, input versions and the warnings (so that a manifest piped to
``kubectl`` still says what is not exact).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from api.nodes import NodeRef
from consumers.materialize import STATE_RANK
from emitters.capture.code import REDACTED
from emitters.capture.environment import looks_secret_name, looks_secret_value

if TYPE_CHECKING:
    from kubernetes.client import V1Job

__all__ = [
    "ANNOTATION_PREFIX",
    "GPU_PRODUCT_LABEL",
    "GPU_RESOURCE",
    "WARNING_CODES",
    "environment_from_facets",
    "image_reference",
    "job_manifest",
    "manifest_json",
    "rerun_spec",
]

ANNOTATION_PREFIX = "pedigree.dev/"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
MAX_INPUTS_ANNOTATION_CHARS = 64 * 1024
"""The input-versions annotation is cut beyond this (Kubernetes allows 256 KiB in all)."""

WARNING_CODES: dict[str, str] = {
    "run_not_finished": "the run has not ended: what it read and ran with may still change",
    "run_not_completed": "the run ended FAIL or ABORT",
    "no_image": "no image repository is known: nothing to pull",
    "no_image_digest": "the image is named by tag only (or its digest is malformed)",
    "no_entry_point": "no entry point: the image's own ENTRYPOINT runs the arguments",
    "code_not_captured": "the entry point ran code that was not captured (python -c, stdin)",
    "redacted_arguments": "arguments were redacted at capture as secrets",
    "no_git_commit": "no git commit is known",
    "no_git_repo": "a git commit without its repository",
    "git_dirty": "the working tree had uncommitted changes",
    "git_clean_unknown": "whether the working tree was clean is unknown",
    "unversioned_input": "an input was read without a dataset version",
    "unreadable_inputs": "inputs in namespaces your token may not read are left out",
    "inputs_truncated": "the run read more inputs than the server's node limit",
    "no_resources_requested": "the run requested no CPU, memory or GPU",
    "gpu_count_unknown": "a GPU model was requested without a GPU count",
    "gpu_model_not_selectable": "the GPU model cannot be a Kubernetes node selector",
    "no_environment_variables": "no environment variables were captured",
    "secret_environment_variables": "captured variables that look secret are left out",
    "truncated_environment_variables": "captured variable values were cut at capture",
    "input_versions_annotation_truncated": "the manifest's input-versions annotation is cut",
}
"""Every warning code, with what it means (the messages say more, case by case)."""

_TERMINAL_RANK = STATE_RANK["COMPLETE"]
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}")
_BARE_SHA256 = re.compile(r"[a-fA-F0-9]{64}")
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_TRUNCATED_SUFFIX = "...(truncated)"
_ENV_KEYS = ("envVars", "pythonVersion", "packagesHash", "packages", "os", "host", "kubernetes")
_CAPTURE_KEYS = ("pythonVersion", "packagesHash", "packages")
"""Keys only the SDK's own environment capture sets (the Kubernetes watcher sets none)."""


Warnings = list[dict[str, str]]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _warn(warnings: Warnings, code: str, message: str) -> None:
    assert code in WARNING_CODES, code
    warnings.append({"code": code, "message": message})


# -- pieces of the spec ------------------------------------------------------------------------


def image_reference(image: str | None, digest: str | None) -> dict[str, Any]:
    """``{"reference", "name", "digest", "pinned"}``: the pull reference (``repository@digest``
    when a well-formed digest is known, else the image as named), the image as recorded, its
    digest (``sha256:`` added to bare hex; taken from ``image@sha256:…`` when not recorded
    apart), and whether the reference is pinned by that digest."""
    name = _text(image)
    digest = _text(digest)
    repository = name
    if name is not None and "@" in name:
        repository, _, embedded = name.partition("@")
        digest = digest or embedded or None
    if digest is not None and _BARE_SHA256.fullmatch(digest):
        digest = "sha256:" + digest
    if repository:
        head, _, last = repository.rpartition("/")
        last = last.partition(":")[0]  # the tag (a registry's :port is before the last /)
        repository = f"{head}/{last}" if head else last
    pinned = digest is not None and _DIGEST.fullmatch(digest) is not None
    if repository and pinned:
        return {"reference": f"{repository}@{digest}", "name": name, "digest": digest,
                "pinned": True}  # fmt: skip
    return {"reference": name, "name": name, "digest": digest, "pinned": False}


def _command(entry_point: str | None) -> list[str] | None:
    """The container command an entry point runs as (its arguments follow it)."""
    if entry_point is None:
        return None
    if entry_point.startswith("python -m "):
        return ["python", "-m", entry_point.removeprefix("python -m ").strip()]
    if entry_point in ("python -c", "python"):
        return entry_point.split()
    if entry_point.endswith(".py"):
        return ["python", entry_point]
    return [entry_point]


def _parameters(stored: Mapping[str, str] | None) -> dict[str, Any]:
    """The warehouse keeps each parameter as canonical JSON: back to the value posted."""
    out: dict[str, Any] = {}
    for key, text in sorted((stored or {}).items()):
        try:
            out[key] = json.loads(text)
        except (TypeError, ValueError):
            out[key] = text
    return out


def environment_from_facets(facets: Iterable[Mapping[str, Any] | str]) -> dict[str, Any] | None:
    """One run's ``pedigree_environment`` facets (JSON text or dicts, oldest first) merged: the
    latest present value of each key, so a later event without ``envVars`` (e.g. the Kubernetes
    watcher's, which knows only the pod) keeps what an earlier one captured.  None: no facet."""
    merged: dict[str, Any] | None = None
    for item in facets:
        try:
            body = json.loads(item) if isinstance(item, str) else item
        except ValueError:
            continue
        if not isinstance(body, Mapping):
            continue
        merged = merged if merged is not None else {}
        for key in _ENV_KEYS:
            if body.get(key) not in (None, "", [], {}):
                merged[key] = body[key]
    return merged


def _environment(facet: Mapping[str, Any] | None, warnings: Warnings) -> dict[str, Any]:
    facet = facet or {}
    captured = facet.get("envVars")
    variables: dict[str, str] | None
    if isinstance(captured, Mapping) and captured:
        variables, secret, cut = {}, [], []
        for name in sorted(captured):
            value = captured[name]
            if not isinstance(value, str):  # the facet's schema says strings; JSON may not
                value = json.dumps(value)
            if looks_secret_name(name) or looks_secret_value(value):
                secret.append(name)
                continue
            if value.endswith(_TRUNCATED_SUFFIX):
                cut.append(name)
            variables[name] = value
        if secret:
            _warn(
                warnings,
                "secret_environment_variables",
                f"environment variables {', '.join(secret)} look secret and are left out: "
                "set them yourself (from a Kubernetes Secret, not a manifest)",
            )
        if cut:
            _warn(
                warnings,
                "truncated_environment_variables",
                f"environment variables {', '.join(cut)} were cut at capture "
                f"(their values end in {_TRUNCATED_SUFFIX!r}): their full values are unknown",
            )
    elif any(facet.get(key) for key in _CAPTURE_KEYS):
        variables = {}  # the emitter captured the environment: no variable was allow-listed
    else:
        variables = None
        _warn(
            warnings,
            "no_environment_variables",
            "no environment variables were captured for this run (no pedigree_environment "
            "facet with envVars): the rerun sets none, and the original run's are unknown",
        )
    return {
        "variables": variables,
        "pythonVersion": _text(facet.get("pythonVersion")),
        "packagesHash": _text(facet.get("packagesHash")),
    }


def _gpu_selector(model: str | None) -> str | None:
    """The ``nvidia.com/gpu.product`` label value of a GPU model, if it can be one."""
    if model is None or "," in model:
        return None
    value = model.strip().replace(" ", "-")
    return value if len(value) <= 63 and _LABEL_VALUE.fullmatch(value) else None


# -- the spec ----------------------------------------------------------------------------------


def _status(status: str, warnings: Warnings) -> None:
    if STATE_RANK.get(status, 0) < _TERMINAL_RANK:
        _warn(
            warnings,
            "run_not_finished",
            f"the run has not finished (status {status}): its inputs, parameters and resources "
            "may still change",
        )
    elif status != "COMPLETE":
        _warn(
            warnings,
            "run_not_completed",
            f"the run ended {status}, not COMPLETE: running it again may end the same way",
        )


def _image(state: Mapping[str, Any], warnings: Warnings) -> dict[str, Any]:
    image = image_reference(state["image"], state["image_digest"])
    if image["name"] is None:
        if image["digest"]:
            message = (
                f"the image digest {image['digest']} is known but not the image's repository: "
                "there is nothing to pull"
            )
        else:
            message = "no container image was recorded: there is nothing to pull"
        _warn(warnings, "no_image", message)
    elif not image["pinned"]:
        if image["digest"]:
            detail = f"its digest {image['digest']!r} is not an OCI digest (algorithm:hex)"
        else:
            detail = "no digest was recorded"
        _warn(
            warnings,
            "no_image_digest",
            f"the image {image['name']} is named by tag only ({detail}): the tag may now point "
            "at a different image",
        )
    return image


def _entry(state: Mapping[str, Any], warnings: Warnings) -> dict[str, Any]:
    entry_point = _text(state["entry_point"])
    arguments = [str(a) for a in state["arguments"] or []]
    if entry_point is None:
        _warn(
            warnings,
            "no_entry_point",
            "no entry point was recorded: the arguments go to the image's own ENTRYPOINT",
        )
    elif entry_point in ("python -c", "python"):
        _warn(
            warnings,
            "code_not_captured",
            f"the entry point {entry_point!r} ran code given inline or on stdin, which was "
            "not captured",
        )
    redacted = [i for i, a in enumerate(arguments) if REDACTED in a]
    if redacted:
        _warn(
            warnings,
            "redacted_arguments",
            f"arguments at positions {', '.join(map(str, redacted))} were redacted at capture "
            f"as secrets ({REDACTED}): supply their values yourself",
        )
    return {"entryPoint": entry_point, "arguments": arguments, "command": _command(entry_point)}


def _git(state: Mapping[str, Any], warnings: Warnings) -> dict[str, Any]:
    repo, commit = _text(state["git_repo"]), _text(state["git_commit"])
    dirty = state["git_dirty"]
    diff_hash = _text(state["git_diff_hash"])
    if commit is None:
        where = f" of {repo}" if repo else ""
        _warn(warnings, "no_git_commit", f"no git commit{where} was recorded")
    else:
        if repo is None:
            _warn(warnings, "no_git_repo", f"git commit {commit} was recorded without its repo")
        if dirty is True:
            diff = f" (diff {diff_hash})" if diff_hash else ""
            _warn(
                warnings,
                "git_dirty",
                f"the working tree had uncommitted changes{diff}: commit {commit} is not the "
                "code that ran",
            )
        elif dirty is None:
            _warn(
                warnings,
                "git_clean_unknown",
                f"whether the working tree at commit {commit} had uncommitted changes is unknown",
            )
    return {
        "repo": repo,
        "commit": commit,
        "branch": _text(state["git_branch"]),
        "dirty": dirty,
        "diffHash": diff_hash,
    }


def _inputs(
    inputs: Sequence[NodeRef], hidden: int, truncated: bool, warnings: Warnings
) -> list[dict[str, Any]]:
    listed = []
    for node in inputs:
        version = node.version or None
        listed.append({"namespace": node.namespace, "name": node.name, "version": version})
        if version is None:
            _warn(
                warnings,
                "unversioned_input",
                f"input {node.namespace}:{node.name} was read without a version: what it held "
                "then is unknown",
            )
    if hidden:
        _warn(
            warnings,
            "unreadable_inputs",
            f"{hidden} input(s) are in namespaces your token may not read: left out",
        )
    if truncated:
        _warn(
            warnings,
            "inputs_truncated",
            f"the run read more inputs than the server's limit: only {len(inputs)} are listed",
        )
    return listed


def _resources(state: Mapping[str, Any], warnings: Warnings) -> dict[str, Any]:
    resources = {
        "cpuCount": state["requested_cpu_count"],
        "memoryBytes": state["requested_memory_bytes"],
        "gpuCount": state["requested_gpu_count"],
        "gpuModel": _text(state["requested_gpu_model"]),
        "gpuMemoryBytes": state["requested_gpu_memory_bytes"],
    }
    if all(v is None for v in resources.values()):
        _warn(
            warnings,
            "no_resources_requested",
            "the run requested no CPU, memory or GPU: the rerun asks for none and runs "
            "wherever it is scheduled",
        )
    model = resources["gpuModel"]
    if model is not None and not resources["gpuCount"]:
        _warn(
            warnings,
            "gpu_count_unknown",
            f"GPU model {model!r} was requested without a GPU count: the rerun asks for no GPU",
        )
    elif resources["gpuCount"] and model is not None and _gpu_selector(model) is None:
        _warn(
            warnings,
            "gpu_model_not_selectable",
            f"GPU model {model!r} cannot be a {GPU_PRODUCT_LABEL} node selector: the rerun "
            "may get another GPU model",
        )
    return resources


def rerun_spec(
    state: Mapping[str, Any],
    inputs: Sequence[NodeRef],
    *,
    environment: Mapping[str, Any] | None = None,
    hidden_inputs: int = 0,
    inputs_truncated: bool = False,
) -> dict[str, Any]:
    """Everything needed to run ``state``'s run again, and ``warnings`` for what is not exact.

    ``inputs`` are the dataset versions it read that the caller may see; ``hidden_inputs``
    counts those it may not, ``inputs_truncated`` says the list was cut at a server limit;
    ``environment`` is its merged ``pedigree_environment`` facet
    (:func:`environment_from_facets`), None when it has none.
    """
    warnings: Warnings = []
    _status(state["status"], warnings)
    spec = {
        "runId": state["run_id"],
        "status": state["status"],
        "job": {"namespace": state["job_namespace"], "name": state["job_name"]},
        "image": _image(state, warnings),
        **_entry(state, warnings),
        "git": _git(state, warnings),
        "parameters": _parameters(state["parameters"]),
        "inputs": _inputs(inputs, hidden_inputs, inputs_truncated, warnings),
        "resources": _resources(state, warnings),
        "environment": _environment(environment, warnings),
        "kubernetesNamespace": _text(state["k8s_namespace"]),
    }
    return {**spec, "reproducible": not warnings, "warnings": warnings}


# -- the Kubernetes Job ------------------------------------------------------------------------


def _cpu(cores: float) -> str:
    millis = round(cores * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def _memory(size: int) -> str:
    for suffix, unit in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if size and size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def _dns_label(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def _job_name(spec: Mapping[str, Any]) -> str:
    """``rerun-<job>-<end of the run id>``: a DNS label (63 characters at most)."""
    run_id: str = spec["runId"]
    suffix = re.sub(r"[^a-z0-9]", "", run_id.lower())[-12:]
    if not suffix:
        suffix = hashlib.sha256(run_id.encode()).hexdigest()[:12]
    job = _dns_label(spec["job"]["name"])[:40].strip("-")
    return "-".join(p for p in ("rerun", job, suffix) if p)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _label(value: str | None) -> str | None:
    return value if value is not None and _LABEL_VALUE.fullmatch(value) else None


def _inputs_annotation(inputs: Sequence[Mapping[str, Any]]) -> tuple[str, bool]:
    """The inputs as a JSON list, cut (with a ``"...(+N more)"`` entry) beyond the limit."""
    kept: list[Any] = []
    size = 2
    for index, item in enumerate(inputs):
        entry = {"namespace": item["namespace"], "name": item["name"], "version": item["version"]}
        size += len(json.dumps(entry)) + 2
        if size > MAX_INPUTS_ANNOTATION_CHARS:
            kept.append(f"...(+{len(inputs) - index} more)")
            return json.dumps(kept), True
        kept.append(entry)
    return json.dumps(kept), False


def job_manifest(spec: Mapping[str, Any]) -> V1Job:
    """A ``batch/v1`` Job that runs ``spec`` (a :func:`rerun_spec`) again."""
    from kubernetes import client as k8s

    warnings = list(spec["warnings"])
    inputs, cut = _inputs_annotation(spec["inputs"])
    if cut:
        warnings.append(
            {
                "code": "input_versions_annotation_truncated",
                "message": f"the {ANNOTATION_PREFIX}input-versions annotation lists only the "
                f"first inputs (Kubernetes bounds annotations): GET /api/v1/runs/"
                f"{spec['runId']}/rerun lists all {len(spec['inputs'])}",
            }
        )
    git, image, resources = spec["git"], spec["image"], spec["resources"]
    p = ANNOTATION_PREFIX
    annotations = {
        f"{p}rerun-of": spec["runId"],
        f"{p}namespace": spec["job"]["namespace"],
        f"{p}job": spec["job"]["name"],
        f"{p}git-repo": git["repo"],
        f"{p}git-commit": git["commit"],
        f"{p}image-digest": image["digest"],
        f"{p}gpu-model": resources["gpuModel"],
        f"{p}gpu-memory-bytes": _optional_str(resources["gpuMemoryBytes"]),
        f"{p}input-versions": inputs,
        f"{p}rerun-warnings": json.dumps(warnings),
    }
    labels = {
        f"{p}rerun-of": _label(spec["runId"]),
        f"{p}git-commit": _label(git["commit"]),
    }

    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if resources["cpuCount"] is not None:
        requests["cpu"] = _cpu(resources["cpuCount"])
    if resources["memoryBytes"] is not None:
        requests["memory"] = _memory(resources["memoryBytes"])
    node_selector = None
    if resources["gpuCount"]:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(resources["gpuCount"])
        product = _gpu_selector(resources["gpuModel"])
        if product is not None:
            node_selector = {GPU_PRODUCT_LABEL: product}

    variables = spec["environment"]["variables"] or {}
    container = k8s.V1Container(
        name="main",
        image=image["reference"],
        command=spec["command"],
        args=spec["arguments"] or None,
        env=[k8s.V1EnvVar(name=k, value=v) for k, v in sorted(variables.items())] or None,
        resources=k8s.V1ResourceRequirements(requests=requests or None, limits=limits or None),
    )
    present = {k: v for k, v in annotations.items() if v is not None}
    labeled = {k: v for k, v in labels.items() if v is not None} or None
    return k8s.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=k8s.V1ObjectMeta(
            name=_job_name(spec),
            namespace=spec["kubernetesNamespace"],
            labels=labeled,
            annotations=present,
        ),
        spec=k8s.V1JobSpec(
            backoff_limit=0,
            template=k8s.V1PodTemplateSpec(
                metadata=k8s.V1ObjectMeta(labels=labeled, annotations=present),
                spec=k8s.V1PodSpec(
                    restart_policy="Never",
                    containers=[container],
                    node_selector=node_selector,
                ),
            ),
        ),
    )


def manifest_json(job: V1Job) -> dict[str, Any]:
    """The Job as Kubernetes JSON (camelCase keys, unset fields left out)."""
    from kubernetes.client import ApiClient

    client: Any = ApiClient()  # sanitize_for_serialization is untyped
    body: dict[str, Any] = client.sanitize_for_serialization(job)
    return body
