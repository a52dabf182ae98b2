"""What the Kubernetes watcher has already reported: bounded memory of pods' runs.

A pod is *tracked* between its START and its end — a slimmed copy of it (enough to report an
ABORT if it vanishes), the event types emitted and its Job — and *finished* afterwards, when
only its UID is kept, in a bounded LRU: a re-list (after ``410 Gone``) that shows a pod the
watcher already reported emits nothing again.  Pods that never started are not remembered at
all: their state is simply looked at again on the next event.  No I/O here.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Any

from emitters._k8s_lifecycle import TERMINAL, Transition, transitions, vanished

__all__ = ["Due", "PodTracker", "Tracked"]

log = logging.getLogger("pedigree.k8s")

_SPEC_KEYS = ("nodeName", "nodeSelector", "restartPolicy", "serviceAccountName", "serviceAccount")
_CONTAINER_KEYS = ("name", "image", "command", "args", "resources")


@dataclass(frozen=True)
class Tracked:
    """A pod between its START and its end."""

    emitted: frozenset[str]
    pod: dict[str, Any]
    job: dict[str, Any] | None


@dataclass(frozen=True)
class Due:
    """Events a pod's state calls for: emit them, then :meth:`PodTracker.record` it."""

    uid: str
    pod: Mapping[str, Any]
    steps: list[Transition]
    known: Tracked | None
    """What was tracked of the pod (its Job included), or ``None`` when first reported."""


def slim(pod: Mapping[str, Any]) -> dict[str, Any]:
    """What the events are built from, without env, volumes, conditions and managed fields."""
    meta = {k: v for k, v in (pod.get("metadata") or {}).items() if k != "managedFields"}
    spec = pod.get("spec") or {}
    slim_spec = {k: spec[k] for k in _SPEC_KEYS if k in spec}
    slim_spec["containers"] = [
        {k: c[k] for k in _CONTAINER_KEYS if k in c}
        for c in spec.get("containers") or []
        if isinstance(c, dict)
    ]
    status = pod.get("status") or {}
    keep = {k: status[k] for k in ("phase", "containerStatuses") if k in status}
    return {"metadata": meta, "spec": slim_spec, "status": keep}


class PodTracker:
    """Decides what to emit for each pod seen, so that nothing is reported twice."""

    def __init__(self, *, max_active: int = 50_000, max_finished: int = 10_000) -> None:
        self.max_active, self.max_finished = max_active, max_finished
        self._active: OrderedDict[str, Tracked] = OrderedDict()
        self._finished: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        """Pods tracked (started, not ended)."""
        return len(self._active)

    def tracked(self) -> set[str]:
        return set(self._active)

    def finished(self) -> int:
        """UIDs remembered as finished (at most ``max_finished``)."""
        return len(self._finished)

    def due(self, pod: Mapping[str, Any], *, deleted: bool, now: str) -> Due | None:
        """The events this pod state calls for that were not emitted yet, or ``None``."""
        uid = (pod.get("metadata") or {}).get("uid")
        if not isinstance(uid, str) or not uid:
            return None
        if uid in self._finished:
            self._finished.move_to_end(uid)
            return None
        known = self._active.get(uid)
        emitted = known.emitted if known is not None else frozenset()
        steps = transitions(pod, emitted=emitted, deleted=deleted, now=now)
        return Due(uid, pod, steps, known) if steps else None

    def gone(self, present: Set[str], *, tracked_before: Set[str], now: str) -> list[Due]:
        """ABORTs for pods tracked before a re-list that the list no longer shows."""
        found = []
        for uid in tracked_before - present:
            known = self._active.get(uid)
            if known is not None:
                found.append(Due(uid, known.pod, [vanished(known.pod, now=now)], known))
        return found

    def record(self, due: Due, job: dict[str, Any] | None) -> None:
        """Remember that ``due``'s events were emitted (and the Job they name)."""
        emitted = (due.known.emitted if due.known else frozenset()) | {
            s.event_type for s in due.steps
        }
        if emitted & TERMINAL:
            self._active.pop(due.uid, None)
            self._finished[due.uid] = None
            if len(self._finished) > self.max_finished:
                self._finished.popitem(last=False)
            return
        self._active[due.uid] = Tracked(frozenset(emitted), slim(due.pod), job)
        self._active.move_to_end(due.uid)
        if len(self._active) > self.max_active:
            dropped, _ = self._active.popitem(last=False)
            log.warning("pedigree: more than %d running pods; forgot %s", self.max_active, dropped)
