"""The run API training code uses: ``with pedigree.run(...)`` and ``@pedigree.step``.

::

    import pedigree

    with pedigree.run("train", namespace="vision", params=cfg) as run:
        run.input("data/train.parquet")                  # a local file: versioned by content
        run.labels("s3://labels/boxes", label_set="boxes", version="2026-11-01")
        model = fit(...)
        run.model("models/detector.pt", name="detector", version="12",
                  framework="pytorch", metrics={"mAP": 0.61})

START is emitted on entry (code, environment, resources, owners and parameters captured
automatically), COMPLETE on normal exit, FAIL with the error message and stack trace when the
block raises (the exception propagates unchanged), ABORT on ``KeyboardInterrupt`` and on
SIGTERM.  Runs nest: a run started inside another is its child (``parent`` facet, with the
root), whether through ``with``, ``@step`` or threads that copy the context.  A background
sampler sends RUNNING events with resource usage every ``PEDIGREE_SAMPLE_INTERVAL`` seconds.

Nothing here raises into the job because of lineage: capture failures leave a facet out,
emission failures are counted by the emitter.  Mistakes in how the API is called (a dataset
path that does not exist, a model without a version) are the caller's bugs and do raise.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import os
import signal
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from types import FrameType, TracebackType
from typing import Any, TypeVar, overload

from emitters.client import Emitter, get_emitter
from emitters.facets import PRODUCER

__all__ = ["Run", "current_run", "run", "step"]

log = logging.getLogger("pedigree.sdk")

SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_PARENT_SCHEMA = (
    "https://openlineage.io/spec/facets/1-1-0/ParentRunFacet.json#/$defs/ParentRunFacet"
)
_ERROR_SCHEMA = (
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
)
_JOBTYPE_SCHEMA = (
    "https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
)
_MAX_STACK = 64 * 1024

_current: contextvars.ContextVar[Run | None] = contextvars.ContextVar("pedigree_run", default=None)
# Active runs of this process, by run id. Plain dict operations (atomic in CPython) and no
# lock: the SIGTERM handler reads it, and a handler must never wait on a lock the interrupted
# code may hold.
_active: dict[str, Run] = {}
_previous_sigterm: Any = None

F = TypeVar("F", bound=Callable[..., Any])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def current_run() -> Run | None:
    """The innermost active run of this thread (or task), if any."""
    return _current.get()


@functools.cache
def _process_facets(config: Any, argv: tuple[str, ...] | None) -> dict[str, dict[str, Any]]:
    """Code, environment, resources and ownership: captured once per process (and command)."""
    try:
        from emitters.capture import capture_run_facets

        facets = capture_run_facets(config, argv=list(argv) if argv is not None else None)
        facets.pop("pedigree_trace", None)  # per run, not per process
        return facets
    except Exception as err:  # noqa: BLE001 - capture is optional, never fatal
        log.debug("pedigree: capture failed: %r", err)
        return {}


class Run:
    """One execution of a job: a context manager that emits its lifecycle events."""

    def __init__(
        self,
        job: str,
        *,
        namespace: str | None = None,
        params: object = None,
        inputs: Iterable[Any] = (),
        outputs: Iterable[Any] = (),
        emitter: Emitter | None = None,
        capture: bool = True,
        sample_interval: float | None = None,
        run_id: str | None = None,
        command: list[str] | None = None,
    ) -> None:
        if not job or not isinstance(job, str):
            raise ValueError("a run needs a job name (a non-empty string)")
        self.emitter = emitter or get_emitter()
        config = self.emitter.config
        self.job = job
        self.namespace = namespace or config.namespace
        self.run_id = run_id or str(uuid.uuid4())
        self.parent: Run | None = None
        self.state = "new"
        self._capture = capture
        self._command = tuple(command) if command is not None else None
        self._tracked_pid: int | None = None
        self._pid = os.getpid()
        self._sample_interval = (
            config.sample_interval if sample_interval is None else sample_interval
        )
        self._params: dict[str, Any] = {}
        self._inputs: list[dict[str, Any]] = []
        self._outputs: list[dict[str, Any]] = []
        self._token: contextvars.Token[Run | None] | None = None
        self._sampler: Any = None
        if params is not None:
            self.log_params(params)
        for item in inputs:
            self.input(item)
        for item in outputs:
            self.output(item)

    # -- what the job tells us -----------------------------------------------------------------

    def log_params(self, params: object) -> None:
        """Record configuration / hyperparameters (nested values become dotted keys)."""
        from emitters.parameters import flatten_parameters

        self._params.update(flatten_parameters(params))

    def input(self, dataset: Any, *, version: str | None = None) -> dict[str, Any]:
        """Record an input: a local path (versioned by content), a URI, or a dataset dict."""
        ref = _dataset_ref(dataset, version)
        self._inputs.append(ref)
        return ref

    def output(self, dataset: Any, *, version: str | None = None) -> dict[str, Any]:
        """Record an output; a local path is fingerprinted when the run ends (once written)."""
        ref = dataset if isinstance(dataset, Mapping) else {"_pending": (dataset, version)}
        self._outputs.append(dict(ref))
        return self._outputs[-1]

    def labels(
        self,
        dataset: Any,
        *,
        label_set: str,
        version: str | None = None,
        task: str | None = None,
    ) -> dict[str, Any]:
        """Record a label set (annotations) used as an input."""
        from emitters.datasets import labels

        ref = labels(
            _dataset_ref(dataset, version), label_set=label_set, label_version=version, task=task
        )
        self._inputs.append(ref)
        return ref

    def model(
        self,
        dataset: Any,
        *,
        name: str,
        version: str,
        framework: str | None = None,
        stage: str | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> dict[str, Any]:
        """Record a model version written by this run (an output with the model facet)."""
        ref = self.output(dataset)
        ref["_model"] = {
            "name": name,
            "version": version,
            "framework": framework,
            "stage": stage,
            "metrics": dict(metrics or {}),
        }
        return ref

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> Run:
        self.parent = _current.get()
        self._token = _current.set(self)
        self._pid = os.getpid()
        _active[self.run_id] = self
        _install_sigterm_handler()
        self.state = "running"
        facets: dict[str, Any] = {}
        if self._capture:
            facets.update(_process_facets(self.emitter.config, self._command))
            facets.update(_trace_facet())
        self._emit("START", facets, outputs=False)
        self._start_sampler()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.state == "running":
            final_sample = self._stop_sampler()
            facets: dict[str, Any] = {}
            if exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
                self.state, event_type = "complete", "COMPLETE"
            elif isinstance(exc, KeyboardInterrupt | GeneratorExit):
                self.state, event_type = "aborted", "ABORT"
            else:
                self.state, event_type = "failed", "FAIL"
                facets["errorMessage"] = _error_facet(exc)
            if final_sample:
                facets["pedigree_resources"] = final_sample
            self._finish(event_type, facets)
        if self._token is not None:
            # ValueError: the run ends in another thread or context than it began in
            with contextlib.suppress(ValueError):
                _current.reset(self._token)
            self._token = None
        if self.parent is None or getattr(self.parent, "_pid", None) != os.getpid():
            # the end of a root run, or of a run in a forked worker (which may leave through
            # os._exit, without atexit): hand its events over now, within the flush timeout
            self.emitter.flush()

    def fail(self, message: str, stack_trace: str | None = None) -> None:
        """End the run as FAIL with this message (for failures that are not exceptions)."""
        if self.state == "running":
            final_sample = self._stop_sampler()
            self.state = "failed"
            facets: dict[str, Any] = {"errorMessage": _error_facet(None, message, stack_trace)}
            if final_sample:
                facets["pedigree_resources"] = final_sample
            self._finish("FAIL", facets)

    def abort(self) -> None:
        """Emit ABORT now (SIGTERM handler); the run is over."""
        if self.state == "running":
            self._stop_sampler()
            self.state = "aborted"
            self._finish("ABORT", {})

    def _finish(self, event_type: str, facets: dict[str, Any]) -> None:
        _active.pop(self.run_id, None)
        self._emit(event_type, facets, outputs=True)

    # -- events --------------------------------------------------------------------------------

    def _emit(self, event_type: str, facets: dict[str, Any], *, outputs: bool) -> None:
        try:
            self.emitter.emit(self._event(event_type, facets, outputs=outputs))
        except Exception as err:  # noqa: BLE001 - building an event must not break the job
            log.error("pedigree: could not build the %s event of %s: %r", event_type, self.job, err)

    def _event(self, event_type: str, facets: dict[str, Any], *, outputs: bool) -> dict[str, Any]:
        run_facets = dict(facets)
        if self.parent is not None:
            run_facets["parent"] = self._parent_facet(self.parent)
        if self._params:
            from emitters.facets import facet

            run_facets["pedigree_parameters"] = facet(
                "pedigree_parameters", parameters=self._params
            )
        job_type = "TASK" if self.parent is not None else "JOB"
        return {
            "eventType": event_type,
            "eventTime": _now(),
            "producer": PRODUCER,
            "schemaURL": SCHEMA_URL,
            "run": {"runId": self.run_id, "facets": run_facets},
            "job": {
                "namespace": self.namespace,
                "name": self.job,
                "facets": {
                    "jobType": {
                        "_producer": PRODUCER,
                        "_schemaURL": _JOBTYPE_SCHEMA,
                        "processingType": "BATCH",
                        "integration": "PEDIGREE",
                        "jobType": job_type,
                    }
                },
            },
            "inputs": list(self._inputs),
            "outputs": [_resolve_output(o) for o in self._outputs] if outputs else [],
        }

    @staticmethod
    def _parent_facet(parent: Run) -> dict[str, Any]:
        root = parent
        while root.parent is not None:
            root = root.parent
        return {
            "_producer": PRODUCER,
            "_schemaURL": _PARENT_SCHEMA,
            "run": {"runId": parent.run_id},
            "job": {"namespace": parent.namespace, "name": parent.job},
            "root": {
                "run": {"runId": root.run_id},
                "job": {"namespace": root.namespace, "name": root.job},
            },
        }

    # -- resource sampling ---------------------------------------------------------------------

    def track_process(self, pid: int) -> None:
        """Sample the resource usage of this process (e.g. a wrapped command) instead."""
        self._tracked_pid = pid
        if self._sampler is not None:
            self._sampler.track(pid)

    def _start_sampler(self) -> None:
        if self._sample_interval <= 0:
            return
        try:
            from emitters.sampler import ResourceSampler

            self._sampler = ResourceSampler(
                self._sample_interval, self._send_samples, pid=self._tracked_pid
            )
            self._sampler.start()
        except Exception as err:  # noqa: BLE001 - sampling is optional
            log.debug("pedigree: no resource sampler: %r", err)

    def _send_samples(self, resources: dict[str, Any]) -> None:
        if self.state == "running":
            self._emit("RUNNING", {"pedigree_resources": resources}, outputs=False)

    def _stop_sampler(self) -> dict[str, Any] | None:
        sampler, self._sampler = self._sampler, None
        if sampler is None:
            return None
        try:
            final: dict[str, Any] | None = sampler.stop()
            return final
        except Exception as err:  # noqa: BLE001
            log.debug("pedigree: sampler stop failed: %r", err)
            return None


def _dataset_ref(dataset: Any, version: str | None) -> dict[str, Any]:
    if isinstance(dataset, Mapping):
        return dict(dataset)
    from emitters.datasets import local_dataset, uri_dataset

    text = os.fspath(dataset)
    if "://" in text:
        return uri_dataset(text, version=version)
    return local_dataset(text, version=version)


def _resolve_output(ref: dict[str, Any]) -> dict[str, Any]:
    """An output as it goes on the wire: local paths fingerprinted now, model facet added."""
    ref = dict(ref)
    pending = ref.pop("_pending", None)
    model = ref.pop("_model", None)
    if pending is not None:
        ref = {**_dataset_ref(*pending), **ref}
    if model is not None:
        from emitters.datasets import model as with_model

        ref = with_model(ref, **model)
    return ref


def _error_facet(
    exc: BaseException | None, message: str | None = None, stack: str | None = None
) -> dict[str, Any]:
    if exc is not None:
        message = f"{type(exc).__name__}: {exc}"
        stack = "".join(traceback.format_exception(exc))
    facet = {
        "_producer": PRODUCER,
        "_schemaURL": _ERROR_SCHEMA,
        "message": message or "failed",
        "programmingLanguage": "python",
    }
    if stack:
        if len(stack) > _MAX_STACK:
            stack = stack[: _MAX_STACK // 2] + "\n...[truncated]...\n" + stack[-_MAX_STACK // 2 :]
        facet["stackTrace"] = stack
    return facet


def _trace_facet() -> dict[str, Any]:
    try:
        from emitters.capture.trace import trace_facet

        found = trace_facet()
        return {"pedigree_trace": found} if found else {}
    except Exception:  # noqa: BLE001
        return {}


# -- SIGTERM -----------------------------------------------------------------------------------


def _install_sigterm_handler() -> None:
    """Once per process, from the main thread: ABORT every active run on SIGTERM."""
    global _previous_sigterm  # noqa: PLW0603 - process-wide signal disposition
    if _previous_sigterm is not None or threading.current_thread() is not threading.main_thread():
        return
    try:
        _previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # not the main interpreter, or signals unavailable
        _previous_sigterm = None


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # The handler runs in the main thread between two bytecodes of whatever it interrupted —
    # possibly while that code holds the emitter's queue lock. So the ABORTs are emitted, and
    # the emitter closed, on a helper thread joined with a deadline: a hang is impossible.
    runs = [r for r in list(_active.values()) if getattr(r, "_pid", None) == os.getpid()]
    if runs:
        emitter = runs[0].emitter

        def abort_all() -> None:
            for active in reversed(runs):  # innermost first
                active.abort()
            emitter.close()

        helper = threading.Thread(target=abort_all, name="pedigree-sigterm", daemon=True)
        helper.start()
        helper.join(emitter.config.flush_timeout + 1.0)
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    signal.raise_signal(signal.SIGTERM)


def _forget_parent_runs() -> None:
    """In a forked child: the parent's runs are not ours to abort."""
    _active.clear()


os.register_at_fork(after_in_child=_forget_parent_runs)


# -- the public entry points -------------------------------------------------------------------


def run(job: str, **kwargs: Any) -> Run:
    """A run of ``job``; use it as ``with pedigree.run("train", params=cfg) as run: ...``."""
    return Run(job, **kwargs)


@overload
def step(target: F, /) -> F: ...
@overload
def step(target: str | None = None, /, **kwargs: Any) -> Callable[[F], F]: ...
def step(target: Any = None, /, **kwargs: Any) -> Any:
    """Decorate a function so each call is a run (named after the function unless given).

    ``@pedigree.step``, ``@pedigree.step("prepare", params=...)`` or ``@pedigree.step(job=...)``;
    async functions too.
    """
    fn = target if callable(target) else None
    if isinstance(target, str):
        kwargs["job"] = target
    job = kwargs.pop("job", None)

    def decorate(func: F) -> F:
        name = job or func.__qualname__
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kw: Any) -> Any:
                with Run(name, **kwargs):
                    return await func(*args, **kw)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kw: Any) -> Any:
            with Run(name, **kwargs):
                return func(*args, **kw)

        return wrapper  # type: ignore[return-value]

    return decorate(fn) if callable(fn) else decorate
