"""The run API: lifecycle events, nesting, datasets and models, failures that stay the job's."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import pedigree
from emitters.testing import record_lineage
from emitters.validation import validate_event


def test_a_run_emits_start_then_complete_with_its_parameters() -> None:
    config = {"optimizer": {"lr": 0.01, "betas": [0.9, 0.99]}, "epochs": 3}
    with record_lineage(namespace="vision") as lineage, pedigree.run("train", params=config):
        pass
    start, complete = lineage.of("train")
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert start["job"] == complete["job"] | {"facets": start["job"]["facets"]}
    assert start["job"]["namespace"] == "vision"
    params = complete["run"]["facets"]["pedigree_parameters"]["parameters"]
    assert params == {"optimizer.lr": 0.01, "optimizer.betas": [0.9, 0.99], "epochs": 3}
    for event in lineage.events:
        assert validate_event(event) == "run"


def test_nested_runs_and_steps_name_their_parent_and_root() -> None:
    @pedigree.step
    def prepare() -> str:
        current = pedigree.current_run()
        assert current is not None
        return current.run_id

    @pedigree.step("evaluate")
    def evaluate() -> None:
        with pedigree.run("evaluate.metrics"):
            pass

    with record_lineage() as lineage, pedigree.run("pipeline") as root:
        prepare_id = prepare()
        evaluate()
    [prepare_start] = lineage.of(prepare.__qualname__, "START")
    assert prepare_start["run"]["runId"] == prepare_id
    parent = prepare_start["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == root.run_id
    assert parent["root"]["job"]["name"] == "pipeline"
    metrics = lineage.last("evaluate.metrics", "COMPLETE")["run"]["facets"]["parent"]
    assert metrics["job"]["name"] == "evaluate"
    assert metrics["root"]["run"]["runId"] == root.run_id
    assert "parent" not in lineage.last("pipeline", "START")["run"]["facets"]
    assert lineage.last("evaluate", "START")["job"]["facets"]["jobType"]["jobType"] == "TASK"
    assert pedigree.current_run() is None


def test_a_failing_job_raises_the_same_exception_and_reports_it() -> None:
    class Diverged(RuntimeError):
        pass

    error = Diverged("loss is NaN at step 1200")
    with record_lineage() as lineage, pytest.raises(Diverged) as raised, pedigree.run("train"):
        raise error
    assert raised.value is error
    fail = lineage.last("train")
    assert fail["eventType"] == "FAIL"
    message = fail["run"]["facets"]["errorMessage"]
    assert message["message"] == "Diverged: loss is NaN at step 1200"
    assert message["programmingLanguage"] == "python"
    assert "raise error" in message["stackTrace"]


def test_keyboard_interrupt_is_an_abort() -> None:
    with record_lineage() as lineage, pytest.raises(KeyboardInterrupt), pedigree.run("train"):
        raise KeyboardInterrupt
    assert lineage.event_types("train") == ["START", "ABORT"]


def test_sys_exit_zero_completes() -> None:
    with record_lineage() as lineage, pytest.raises(SystemExit), pedigree.run("train"):
        sys.exit(0)
    assert lineage.event_types("train") == ["START", "COMPLETE"]


def test_async_steps_are_runs_too() -> None:
    @pedigree.step(job="fetch")
    async def fetch() -> int:
        await asyncio.sleep(0)
        return 7

    with record_lineage() as lineage:
        assert asyncio.run(fetch()) == 7
    assert lineage.event_types("fetch") == ["START", "COMPLETE"]


def test_inputs_outputs_labels_and_models_carry_exact_versions(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("x,y\n1,2\n")
    model_path = tmp_path / "model.bin"
    with record_lineage() as lineage, pedigree.run("train") as run:
        run.input(data)
        run.input("s3://datasets/images", version="v42")
        run.labels("s3://labels/boxes", label_set="boxes", version="2026-11-01", task="det")
        run.model(model_path, name="detector", version="12", framework="numpy",
                  metrics={"mAP": 0.61, "epochs": 3})  # fmt: skip
        model_path.write_bytes(b"weights")  # written after it was declared
    start, complete = lineage.of("train")
    assert start["outputs"] == []
    data_in, images, labels = complete["inputs"]
    assert data_in["facets"]["version"]["datasetVersion"].startswith("sha256:")
    assert images["facets"]["version"]["datasetVersion"] == "v42"
    annotations = labels["facets"]["pedigree_annotations"]
    assert (annotations["labelSet"], annotations["labelVersion"]) == ("boxes", "2026-11-01")
    [model] = complete["outputs"]
    import hashlib

    expected = "sha256:" + hashlib.sha256(b"weights").hexdigest()
    assert model["facets"]["version"]["datasetVersion"] == expected
    assert model["facets"]["pedigree_model"]["metrics"] == {"mAP": 0.61, "epochs": 3.0}
    validate_event(complete)


def test_lineage_failures_never_reach_the_job(tmp_path: Path) -> None:
    with record_lineage() as lineage, pedigree.run("train") as run:
        run.log_params({"weird": object(), "fine": 1})
    params = lineage.last("train", "COMPLETE")["run"]["facets"]["pedigree_parameters"]
    assert params["parameters"]["fine"] == 1
    assert isinstance(params["parameters"]["weird"], str)


def _run_script(tmp_path: Path, body: str, **env: str) -> subprocess.Popen[str]:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(body))
    environ = {
        **os.environ,
        "PEDIGREE_SPOOL_DIR": str(tmp_path / "spool"),
        "PEDIGREE_SAMPLE_INTERVAL": "0",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, str(script)], env=environ, stdout=subprocess.PIPE, text=True
    )


def _spooled(tmp_path: Path) -> list[dict[str, Any]]:
    from emitters.spool import read_events

    return list(read_events(tmp_path / "spool"))


def test_sigterm_during_a_run_emits_abort_and_keeps_earlier_events(tmp_path: Path) -> None:
    job = _run_script(
        tmp_path,
        """
        import time, pedigree
        with pedigree.run("pipeline"):
            with pedigree.run("train"):
                print("ready", flush=True)
                time.sleep(60)
        """,
    )
    assert job.stdout is not None
    assert job.stdout.readline().strip() == "ready"
    job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=30) == -signal.SIGTERM  # still dies of SIGTERM, as without Pedigree
    types = [(e["job"]["name"], e["eventType"]) for e in _spooled(tmp_path)]
    assert types == [
        ("pipeline", "START"),
        ("train", "START"),
        ("train", "ABORT"),
        ("pipeline", "ABORT"),
    ]


def test_a_job_with_its_own_sigterm_handler_keeps_it(tmp_path: Path) -> None:
    job = _run_script(
        tmp_path,
        """
        import signal, sys, time, pedigree
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))
        with pedigree.run("train"):
            print("ready", flush=True)
            time.sleep(60)
        """,
    )
    assert job.stdout is not None
    assert job.stdout.readline().strip() == "ready"
    time.sleep(0.1)
    job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=30) == 3
    assert [e["eventType"] for e in _spooled(tmp_path)] == ["START", "ABORT"]


def test_running_events_report_resource_usage(tmp_path: Path) -> None:
    job = _run_script(
        tmp_path,
        """
        import time, pedigree
        with pedigree.run("train"):
            end = time.time() + 1.0
            while time.time() < end:
                sum(range(1000))
        """,
        PEDIGREE_SAMPLE_INTERVAL="0.2",
    )
    assert job.wait(timeout=60) == 0
    events = _spooled(tmp_path)
    running = [e for e in events if e["eventType"] == "RUNNING"]
    assert len(running) >= 2
    sample = running[-1]["run"]["facets"]["pedigree_resources"]["samples"][0]
    assert sample["device"] == "cpu"
    assert sample["rssBytes"] > 1_000_000
    assert sample["cpuPercent"] > 10
    assert json.dumps(events)  # all plain JSON


def test_the_jobs_trace_context_is_on_the_run_and_in_the_message_headers() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("job")
    with record_lineage() as lineage, tracer.start_as_current_span("training") as span:
        with pedigree.run("train"):
            pass
        trace_id = format(span.get_span_context().trace_id, "032x")
    start = lineage.last("train", "START")
    assert trace_id in start["run"]["facets"]["pedigree_trace"]["traceparent"]
    for message in lineage.transport.messages:
        headers = dict(message.headers)
        assert trace_id in headers["traceparent"].decode()


def test_without_opentelemetry_there_are_no_trace_headers() -> None:
    script = (
        "import sys, pedigree\n"
        "from emitters.client import _trace_headers\n"
        "print(_trace_headers(), 'opentelemetry' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "() False"


def test_a_run_may_end_in_another_thread_without_raising() -> None:
    import threading

    with record_lineage() as lineage:
        run = pedigree.run("handed-over").__enter__()
        ender = threading.Thread(target=run.__exit__, args=(None, None, None))
        ender.start()
        ender.join()
    assert lineage.event_types("handed-over") == ["START", "COMPLETE"]


def test_a_pool_of_forked_workers_terminated_at_the_end_does_not_abort_the_parent_run(
    tmp_path: Path,
) -> None:
    job = _run_script(
        tmp_path,
        """
        import multiprocessing, pedigree

        def work(x):
            with pedigree.run("work"):
                return x * x

        if __name__ == "__main__":
            multiprocessing.set_start_method("fork")
            with pedigree.run("train"):
                with multiprocessing.Pool(2) as pool:  # __exit__ terminate()s: SIGTERM
                    assert pool.map(work, range(4)) == [0, 1, 4, 9]
        """,
    )
    assert job.wait(timeout=60) == 0
    events = _spooled(tmp_path)
    assert [e["eventType"] for e in events if e["job"]["name"] == "train"] == ["START", "COMPLETE"]
    work = [e["eventType"] for e in events if e["job"]["name"] == "work"]
    assert sorted(work) == ["COMPLETE"] * 4 + ["START"] * 4
