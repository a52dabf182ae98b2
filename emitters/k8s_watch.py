"""Zero-code lineage for Kubernetes: watch labelled pods and emit their runs' events.

::

    from kubernetes import config
    from emitters.k8s_watch import PodWatcher

    watcher = PodWatcher(config.new_client_from_config(), namespace="ml")
    watcher.run()          # until watcher.stop(); or watcher.once() to report the current state

The watcher lists the pods that carry the label selector (``pedigree.dev/lineage=true`` by
default), in one namespace or all, then watches them from the list's ``resourceVersion``.  A
watch that ends is resumed from the last version seen (bookmarks included); ``410 Gone`` — the
version is too old — re-lists; any other error waits (exponential backoff with jitter, at most
``max_backoff`` seconds) and tries again, except ``401`` / ``403``, which raise
:class:`WatchError`: the watcher cannot see what it should report.  Each pod's state is turned
into events by the pure :mod:`emitters._k8s_lifecycle` and :mod:`emitters._k8s_events`; the
owning Job is read (``get`` on ``jobs``) once per Job, to name the run's job.

Memory is bounded: a pod is tracked only between its START and its end (a slimmed copy, to
report an ABORT if it disappears), and a finished pod is remembered only by its UID, in a
bounded LRU (``max_finished``), so that a re-list does not report it twice.  A restarted
watcher reports pods that ended before it started again; their events are identical (run id
from the pod UID, event times from the pod status), which the warehouse deduplicates.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emitters._k8s_events import DEFAULT_CLUSTER, DEFAULT_SELECTOR, owning_job, run_event
from emitters._k8s_lifecycle import Transition
from emitters._k8s_tracker import Due, PodTracker
from emitters.client import Emitter, get_emitter
from emitters.errors import PedigreeError
from emitters.sdk import _now

__all__ = ["PodWatcher", "WatchError", "WatchStats"]

log = logging.getLogger("pedigree.k8s")


class WatchError(PedigreeError):
    """The watcher cannot go on: the API refuses it (``status`` 401 / 403) or cannot answer."""

    def __init__(self, message: str, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class _StreamError(Exception):
    """An ``ERROR`` event in a watch stream (410: the version is too old, list again)."""

    def __init__(self, status: object, message: object) -> None:
        self.status = status if isinstance(status, int) else None
        super().__init__(f"watch error {status}: {message}")


@dataclass
class WatchStats:
    """What the watcher did since it started; ``errors``: the last few problems, newest last."""

    lists: int = 0
    watches: int = 0
    events: int = 0
    errors: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        self.errors = [*self.errors[-9:], problem]


def _api_message(err: Any) -> str:
    """``HTTP 403: pods is forbidden: User ... cannot list ...`` from an ApiException."""
    try:
        message = json.loads(err.body).get("message")
    except (TypeError, ValueError, AttributeError):
        message = None
    return f"HTTP {err.status}: {message or err.reason}"


class PodWatcher:
    """Lists and watches pods and emits the events of their runs (see the module docstring)."""

    def __init__(
        self,
        api_client: Any,
        emitter: Emitter | None = None,
        *,
        namespace: str | None = None,
        selector: str = DEFAULT_SELECTOR,
        cluster: str = DEFAULT_CLUSTER,
        watch_seconds: int = 300,
        page_size: int = 500,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_active: int = 50_000,
        max_finished: int = 10_000,
        max_jobs: int = 256,
        clock: Callable[[], str] = _now,
    ) -> None:
        from kubernetes import client as k8s

        self.emitter = emitter or get_emitter()
        self.namespace, self.selector, self.cluster = namespace, selector, cluster
        self.stats = WatchStats()
        self._core = k8s.CoreV1Api(api_client)
        self._batch = k8s.BatchV1Api(api_client)
        self._watch_seconds, self._page_size = watch_seconds, page_size
        self._backoff = (initial_backoff, max_backoff)
        self._max_jobs = max_jobs
        self._clock = clock
        self.tracker = PodTracker(max_active=max_active, max_finished=max_finished)
        self._jobs: OrderedDict[tuple[str, str], dict[str, Any] | None] = OrderedDict()
        self._stopped = threading.Event()
        self._response: Any = None

    # -- the two ways to run -------------------------------------------------------------------

    def once(self) -> int:
        """List the pods once and emit what their states imply; the number of events emitted."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        before = self.stats.events
        try:
            self._list()
        except ApiException as err:
            raise WatchError(_api_message(err), err.status) from err
        except (HTTPError, OSError, ValueError) as err:
            raise WatchError(f"cannot list pods: {err}") from err
        return self.stats.events - before

    def run(self) -> None:
        """List, then watch, until :meth:`stop`; raises :class:`WatchError` on 401 / 403."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        version: str | None = None
        failures = 0
        while not self._stopped.is_set():
            try:
                if version is None:
                    version = self._list()
                version, lines = self._watch(version)
                failures = 0 if lines else failures + 1
            except _StreamError as err:
                if err.status in (401, 403):
                    raise WatchError(str(err), err.status) from err
                failures += 1
                if err.status == 410:
                    version = None
                    if failures == 1:
                        continue  # the first 410 in a row re-lists at once
                else:
                    self._note(str(err))
            except ApiException as err:
                if err.status in (401, 403):
                    raise WatchError(_api_message(err), err.status) from err
                version = None if err.status == 410 else version
                failures += 1
                self._note(_api_message(err))
            except (HTTPError, OSError, ValueError) as err:
                if self._stopped.is_set():
                    break  # stop() cut the watch
                failures += 1
                self._note(f"{type(err).__name__}: {err}")
            if failures and not self._stopped.is_set():
                self._pause(failures)

    def stop(self) -> None:
        """End :meth:`run` (from any thread or a signal handler): the open watch is cut."""
        self._stopped.set()
        response = self._response
        if response is not None:
            try:
                response.shutdown()  # urllib3 >= 2.3: unblocks the read in the other thread
            except (AttributeError, OSError, RuntimeError, ValueError) as err:
                log.debug("watch response shutdown: %r", err)  # released, closed, or older

    # -- listing and watching ------------------------------------------------------------------

    def _request(self, **kwargs: Any) -> Any:
        common = {"label_selector": self.selector, "_preload_content": False, **kwargs}
        if self.namespace is None:
            return self._core.list_pod_for_all_namespaces(**common)
        return self._core.list_namespaced_pod(self.namespace, **common)

    def _list(self) -> str:
        """Every page of the list; ABORT for tracked pods that are gone; the list's version."""
        tracked, seen = self.tracker.tracked(), set[str]()
        version: str | None = None
        token: str | None = None
        while True:
            response = self._request(limit=self._page_size, _continue=token, _request_timeout=60)
            try:
                body = json.loads(response.data)
            finally:
                response.release_conn()
            if not isinstance(body, dict):
                raise ValueError(f"not a PodList: {str(body)[:100]}")
            meta = body.get("metadata") or {}
            version = version or meta.get("resourceVersion")
            for pod in body.get("items") or []:
                seen.add(str((pod.get("metadata") or {}).get("uid")))
                self._handle(pod, deleted=False)
            token = meta.get("continue") or None
            if token is None:
                break
        self.stats.lists += 1
        for due in self.tracker.gone(seen, tracked_before=tracked, now=self._clock()):
            self._report(due)
        return str(version or "")

    def _watch(self, version: str) -> tuple[str, int]:
        """One watch stream from ``version``: the last version seen and the lines read."""
        from kubernetes.watch.watch import iter_resp_lines

        response = self._request(
            watch=True,
            resource_version=version or None,
            allow_watch_bookmarks=True,
            timeout_seconds=self._watch_seconds,
            _request_timeout=(10, self._watch_seconds + 30),
        )
        self._response = response
        self.stats.watches += 1
        lines = 0
        try:
            for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                if self._stopped.is_set():
                    break
                lines += 1
                version = self._on_watch_line(line) or version
        finally:
            self._response = None
            response.close()
            response.release_conn()
        return version, lines

    def _on_watch_line(self, line: str) -> str | None:
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
            log.warning("pedigree: not a watch event, skipped: %.200s", line)
            return None
        kind, obj = event.get("type"), event["object"]
        if kind == "ERROR":
            raise _StreamError(obj.get("code"), obj.get("message"))
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self._handle(obj, deleted=kind == "DELETED")
        version = (obj.get("metadata") or {}).get("resourceVersion")
        return str(version) if version else None

    # -- one pod -------------------------------------------------------------------------------

    def _handle(self, pod: Mapping[str, Any], *, deleted: bool) -> None:
        due = self.tracker.due(pod, deleted=deleted, now=self._clock())
        if due is not None:
            self._report(due)

    def _report(self, due: Due) -> None:
        job = due.known.job if due.known is not None else self._job_of(due.pod)
        for step in due.steps:
            self._emit(due.pod, step, job)
        self.tracker.record(due, job)

    def _emit(self, pod: Mapping[str, Any], step: Transition, job: dict[str, Any] | None) -> None:
        try:
            event = run_event(pod, step, job=job, cluster=self.cluster)
        except Exception as err:  # noqa: BLE001 - one odd pod must not stop the watcher
            self._note(f"cannot build the {step.event_type} event of a pod: {err!r}")
            return
        self.emitter.emit(event)
        self.stats.events += 1
        meta = pod.get("metadata") or {}
        log.info(
            "pedigree: %s %s/%s (job %s)",
            step.event_type,
            meta.get("namespace"),
            meta.get("name"),
            event["job"]["name"],
        )

    def _job_of(self, pod: Mapping[str, Any]) -> dict[str, Any] | None:
        """The owning Job (name, generateName, owners), read once per Job; ``None`` if unread."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        name = owning_job(pod)
        namespace = (pod.get("metadata") or {}).get("namespace")
        if name is None or not isinstance(namespace, str):
            return None
        key = (namespace, name)
        if key in self._jobs:
            self._jobs.move_to_end(key)
            return self._jobs[key]
        job: dict[str, Any] | None = None
        try:
            response: Any = self._batch.read_namespaced_job(
                name, namespace, _preload_content=False, _request_timeout=10
            )
            try:
                body = json.loads(response.data)
            finally:
                response.release_conn()
            meta = (body.get("metadata") if isinstance(body, dict) else None) or {}
            keep = ("name", "namespace", "generateName", "ownerReferences")
            job = {"metadata": {k: meta[k] for k in keep if k in meta}}
        except ApiException as err:
            level = logging.WARNING if err.status in (401, 403) else logging.DEBUG
            log.log(level, "pedigree: cannot read job %s/%s: %s", *key, _api_message(err))
        except (HTTPError, OSError, ValueError) as err:
            log.debug("pedigree: cannot read job %s/%s: %s", *key, err)
            return None  # not cached: try again with the next pod of this Job
        self._jobs[key] = job
        if len(self._jobs) > self._max_jobs:
            self._jobs.popitem(last=False)
        return job

    # -- errors --------------------------------------------------------------------------------

    def _note(self, problem: str) -> None:
        self.stats.note(problem)
        log.warning("pedigree: kubernetes watch: %s; retrying", problem)

    def _pause(self, failures: int) -> None:
        initial, most = self._backoff
        delay = min(most, initial * 2 ** min(failures - 1, 16))
        self._stopped.wait(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not crypto
