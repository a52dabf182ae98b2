"""The SDK through a real broker: SIGTERM, forked workers, and spec-valid events."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from emitters import codec
from tests.integration.test_emitter_kafka import _drain
from tests.jsonschema_reference import verdicts
from tests.openlineage_corpus import requires_shared


def _job(tmp_path: Path, bootstrap: str, topic: str, body: str) -> subprocess.Popen[str]:
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(body))
    env = {
        **os.environ,
        "PEDIGREE_KAFKA_BOOTSTRAP": bootstrap,
        "PEDIGREE_KAFKA_TOPIC": topic,
        "PEDIGREE_SPOOL_DIR": str(tmp_path / "spool"),
        "PEDIGREE_SAMPLE_INTERVAL": "0.2",
    }
    return subprocess.Popen(
        [sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True
    )


def test_sigterm_aborts_the_run_and_every_event_reaches_kafka(
    tmp_path: Path, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    job = _job(
        tmp_path,
        kafka_bootstrap,
        topic,
        """
        import time, pedigree
        with pedigree.run("train", params={"lr": 0.1}):
            time.sleep(0.7)  # a few RUNNING samples
            print("ready", flush=True)
            time.sleep(60)
        """,
    )
    assert job.stdout is not None
    assert job.stdout.readline().strip() == "ready"
    job.send_signal(signal.SIGTERM)
    assert job.wait(timeout=30) == -signal.SIGTERM
    events = [codec.decode(m.value()) for m in _drain(kafka_bootstrap, topic, 3)]
    types = [e["eventType"] for e in events]
    assert types[0] == "START"
    assert types[-1] == "ABORT"
    assert set(types[1:-1]) == {"RUNNING"}
    assert len({e["run"]["runId"] for e in events}) == 1
    assert not list((tmp_path / "spool").glob("*.avro"))  # all delivered, nothing left over


def test_forked_data_loader_workers_emit_through_their_own_producer(
    tmp_path: Path, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    job = _job(
        tmp_path,
        kafka_bootstrap,
        topic,
        """
        import os, pedigree
        with pedigree.run("train"):
            children = []
            for worker in range(3):
                pid = os.fork()
                if pid == 0:
                    with pedigree.run(f"loader-{worker}"):
                        pass
                    pedigree.emitter().close()
                    os._exit(0)
                children.append(pid)
            for pid in children:
                os.waitpid(pid, 0)
        """,
    )
    assert job.wait(timeout=60) == 0
    events = [codec.decode(m.value()) for m in _drain(kafka_bootstrap, topic, 8)]
    jobs = sorted((e["job"]["name"], e["eventType"]) for e in events if e["eventType"] != "RUNNING")
    assert jobs == sorted(
        [("train", "START"), ("train", "COMPLETE")]
        + [(f"loader-{w}", t) for w in range(3) for t in ("START", "COMPLETE")]
    )
    loader = next(e for e in events if e["job"]["name"] == "loader-0")
    train = next(e for e in events if e["job"]["name"] == "train")
    assert loader["run"]["facets"]["parent"]["run"]["runId"] == train["run"]["runId"]


@requires_shared
def test_sdk_and_wrapper_events_validate_against_the_openlineage_json_schema(
    tmp_path: Path, kafka_bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic()
    data = tmp_path / "data.csv"
    data.write_text("x\n1\n")
    job = _job(
        tmp_path,
        kafka_bootstrap,
        topic,
        f"""
        import pedigree
        with pedigree.run("pipeline", params={{"a": {{"b": 1}}}}) as run:
            run.input({str(data)!r})
            run.labels("s3://labels/boxes", label_set="boxes", version="3")
            with pedigree.run("train") as train:
                model = {str(tmp_path / "m.bin")!r}
                train.model(model, name="m", version="1", metrics={{"acc": 0.9}})
                open({str(tmp_path / "m.bin")!r}, "wb").write(b"w")
            try:
                with pedigree.run("flaky"):
                    raise ValueError("boom")
            except ValueError:
                pass
        """,
    )
    assert job.wait(timeout=60) == 0
    env = {
        **os.environ,
        "PEDIGREE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "PEDIGREE_KAFKA_TOPIC": topic,
        "PEDIGREE_SPOOL_DIR": str(tmp_path / "spool2"),
        "PEDIGREE_SAMPLE_INTERVAL": "0",
    }
    wrapped = subprocess.run(
        [sys.executable, "-m", "pedigree.cli", "run", "--job", "wrapped", "--input", str(data),
         "--", sys.executable, "-c", "print('hi')"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert wrapped.returncode == 0, wrapped.stderr
    events = [codec.decode(m.value()) for m in _drain(kafka_bootstrap, topic, 8)]
    kinds = {(e["job"]["name"], e["eventType"]) for e in events}
    assert {("flaky", "FAIL"), ("train", "COMPLETE"), ("wrapped", "COMPLETE")} <= kinds, kinds
    for event in events:
        expected, _, _ = verdicts(event)
        assert expected == "run", (event["job"]["name"], event["eventType"])


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PEDIGREE_") and not name.startswith("PEDIGREE_TEST_"):
            monkeypatch.delenv(name)
