"""What a Pod's state says about its run: started, completed, failed or aborted, and when.

Pure functions over the API's Pod JSON, used by :mod:`emitters._k8s_events` (which turns the
answer into OpenLineage events) and by the watcher (which remembers what it already emitted).

The run is the execution of the pod's *main* container: the one named by the annotation
``pedigree.dev/container``, else ``kubectl.kubernetes.io/default-container``, else the first.

* **START** when that container runs (``state.running.startedAt``, or ``startedAt`` of its
  terminated state when the pod is first seen after it ended).
* **COMPLETE / FAIL** when it terminated for good: with ``restartPolicy: Never``, with exit
  code 0 under ``OnFailure``, or once the pod phase is ``Succeeded`` / ``Failed``
  (``OnFailure`` restarts a failed container in the same pod: still the same run).  Exit
  code 0 completes,
  anything else fails; a pod that fails as a whole (``Evicted``, ``DeadlineExceeded``) fails
  too, even when its container never ran.
* **ABORT** when the pod is deleted while its container runs: the container ended after the
  deletion was requested (``deletionTimestamp`` minus ``deletionGracePeriodSeconds``), or the
  pod disappeared with the container still running.  A container that had already ended
  before the deletion keeps its own outcome.

Event times come from the pod status, never from the clock (except for the rare ABORT of a
pod deleted without a deletion timestamp), so the same pod state always yields the same events.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from emitters.capture.kubernetes_pod import PodInfo, pod_info_from_json

__all__ = [
    "CONTAINER_ANNOTATION",
    "TERMINAL",
    "Transition",
    "main_container_info",
    "transitions",
    "vanished",
]

CONTAINER_ANNOTATION = "pedigree.dev/container"
"""Annotation naming the container whose execution is the run (default: the main one)."""

TERMINAL = frozenset({"COMPLETE", "FAIL", "ABORT"})
_MAX_DETAIL = 64 * 1024


@dataclass(frozen=True)
class Transition:
    """One lifecycle event the pod's state implies."""

    event_type: str
    """``START``, ``COMPLETE``, ``FAIL`` or ``ABORT``."""
    event_time: str
    """RFC 3339, from the pod status."""
    message: str | None = None
    """Why it failed or was aborted (one line)."""
    details: str | None = None
    """The container's termination message, when it wrote one (often the end of its log)."""


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def main_container_info(pod: Mapping[str, Any]) -> PodInfo | None:
    """The pod as :class:`PodInfo`, for its main container.

    The pod's ``nodeSelector`` stands in for the node's labels, so a pod that asks for
    ``nvidia.com/gpu.product`` (and ``nvidia.com/gpu.memory``) names its GPU model without
    the watcher reading nodes.
    """
    meta = _dict(pod.get("metadata"))
    wanted = _str(_dict(meta.get("annotations")).get(CONTAINER_ANNOTATION))
    selector = _dict(_dict(pod.get("spec")).get("nodeSelector"))
    return pod_info_from_json(pod, {"metadata": {"labels": selector}}, wanted)


def _container_status(pod: Mapping[str, Any], name: str | None) -> dict[str, Any]:
    statuses = _dict(pod.get("status")).get("containerStatuses")
    for status in statuses if isinstance(statuses, list) else []:
        if isinstance(status, dict) and status.get("name") == name:
            return status
    return {}


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _deletion_requested(meta: Mapping[str, Any]) -> str | None:
    """When the deletion was asked for: ``deletionTimestamp`` minus the grace period."""
    deadline = _str(meta.get("deletionTimestamp"))
    when = _parse_time(deadline)
    grace = meta.get("deletionGracePeriodSeconds")
    if when is None or not isinstance(grace, int) or grace <= 0:
        return deadline
    return (when - timedelta(seconds=grace)).isoformat().replace("+00:00", "Z")


def _exit(code: int) -> str:
    """``exit code 137, SIGKILL``: codes above 128 are the signal that ended the process."""
    try:
        name = signal.Signals(code - 128).name if code > 128 else None
    except ValueError:
        name = None
    return f"exit code {code}, {name}" if name else f"exit code {code}"


def _last_line(text: str | None) -> str | None:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else None


def _failure(container: str, terminated: Mapping[str, Any], memory_limit: str | None) -> str:
    """One line: which container, how it ended, and the gist of its termination message."""
    code = terminated.get("exitCode")
    reason = _str(terminated.get("reason"))
    how = _exit(code) if isinstance(code, int) else "no exit code"
    if reason == "OOMKilled":
        cause = f"using more memory than its limit of {memory_limit}" if memory_limit else "memory"
        text = f'OOMKilled: container "{container}" was killed for {cause} ({how})'
    else:
        text = f'container "{container}" failed with {how}' + (f" ({reason})" if reason else "")
    gist = _last_line(_str(terminated.get("message")))
    return f"{text}: {gist}" if gist else text


def _memory_limit(pod: Mapping[str, Any], container: str | None) -> str | None:
    for spec in _dict(pod.get("spec")).get("containers") or []:
        if isinstance(spec, dict) and spec.get("name") == container:
            limits = _dict(_dict(spec.get("resources")).get("limits"))
            return _str(limits.get("memory"))
    return None


def _latest_condition_time(status: Mapping[str, Any]) -> str | None:
    conditions = status.get("conditions")
    times = [
        c["lastTransitionTime"]
        for c in (conditions if isinstance(conditions, list) else [])
        if isinstance(c, dict) and _parse_time(c.get("lastTransitionTime")) is not None
    ]
    return max(times, key=lambda t: _parse_time(t) or datetime.min) if times else None


def transitions(
    pod: Mapping[str, Any],
    *,
    emitted: Set[str] = frozenset(),
    deleted: bool = False,
    now: str,
) -> list[Transition]:
    """The events the pod's state implies that are not in ``emitted`` yet, in order.

    ``deleted``: the pod is gone (a watch ``DELETED``, or missing from a re-list).  ``now``
    (RFC 3339) is used only when the state names no time.
    """
    if emitted & TERMINAL:
        return []
    info = main_container_info(pod)
    if info is None:
        return []
    container = _container_status(pod, info.container)
    state, last = _dict(container.get("state")), _dict(container.get("lastState"))
    running, terminated = _dict(state.get("running")), _dict(state.get("terminated"))
    if not terminated and state.get("waiting") is not None and deleted:
        terminated = _dict(last.get("terminated"))  # deleted between two OnFailure attempts
    started_at = _str(running.get("startedAt")) or _str(terminated.get("startedAt"))
    started = started_at is not None or "START" in emitted

    out: list[Transition] = []
    if started_at is not None and "START" not in emitted:
        out.append(Transition("START", started_at))
    end = _end(pod, info, terminated, started=started, deleted=deleted, now=now)
    if end is not None:
        out.append(end)
    return out


def vanished(pod: Mapping[str, Any], *, now: str) -> Transition:
    """ABORT for a running pod that is gone from a re-list: it ended while nobody watched."""
    name = _str(_dict(pod.get("metadata")).get("name")) or "?"
    return Transition(
        "ABORT",
        now,
        f'pod "{name}" disappeared while the watcher was disconnected; its final state is unknown',
    )


def _end(
    pod: Mapping[str, Any],
    info: PodInfo,
    terminated: Mapping[str, Any],
    *,
    started: bool,
    deleted: bool,
    now: str,
) -> Transition | None:
    meta, spec, status = (_dict(pod.get(k)) for k in ("metadata", "spec", "status"))
    phase = status.get("phase")
    name = info.container or "?"
    finished_at = _str(terminated.get("finishedAt"))
    requested = _deletion_requested(meta)
    if (requested is not None or deleted) and started:
        ended, asked = _parse_time(finished_at), _parse_time(requested)
        if ended is None or asked is None or ended >= asked:  # it ended because of the deletion
            if not deleted and not terminated:
                return None  # still stopping: wait for the container to end
            code = terminated.get("exitCode")
            how = f" (it exited with {_exit(code)})" if isinstance(code, int) else ""
            return Transition(
                "ABORT",
                finished_at or requested or now,
                f'pod "{info.pod}" was deleted while its container "{name}" was running{how}',
            )
    if terminated:
        code = terminated.get("exitCode")
        policy = spec.get("restartPolicy", "Always")
        final = (
            deleted
            or phase in ("Succeeded", "Failed")
            or policy == "Never"
            or (policy == "OnFailure" and code == 0)
        )
        if not final:
            return None  # the kubelet starts the container again: the same run goes on
        when = finished_at or now
        if code == 0:
            return Transition("COMPLETE", when)
        message = _failure(name, terminated, _memory_limit(pod, info.container))
        if _str(status.get("reason")):
            message = f"{_pod_failure(status)}; {message}"
        details = _str(terminated.get("message"))
        return Transition("FAIL", when, message, details[:_MAX_DETAIL] if details else None)
    if phase == "Failed":
        return Transition("FAIL", _latest_condition_time(status) or now, _pod_failure(status))
    return None


def _pod_failure(status: Mapping[str, Any]) -> str:
    """``pod Evicted: The node was low on resource: memory.``"""
    reason = _str(status.get("reason")) or "Failed"
    text = _str(status.get("message"))
    return f"pod {reason}: {text}" if text else f"pod {reason}"
