"""The Kubernetes watcher against recorded API responses, over HTTP, with the real client.

``tests/k8s_fake_api.py`` serves recorded pod lists, Jobs and watch streams
(``tests/fixtures/k8s/watch/``) on 127.0.0.1; the real ``kubernetes`` client lists and watches
them, and the events go through a real :class:`~emitters.client.Emitter` (validation, Avro
encoding) into a :class:`~emitters.testing.RecordingTransport`.  Answers are scripted per
path: each request takes the next one, the last one repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from emitters.client import Emitter
from emitters.config import EmitterConfig
from emitters.k8s_watch import PodWatcher, WatchError
from emitters.testing import LineageRecorder, RecordingTransport, record_lineage
from pedigree import cmd_watch_k8s
from tests.k8s_fake_api import FakeKubernetesApi, status_body

FIXTURES = Path(__file__).parents[1] / "fixtures" / "k8s" / "watch"
PODS = "/api/v1/namespaces/ml/pods"
ALL_PODS = "/api/v1/pods"
TRAIN_JOB = "/apis/batch/v1/namespaces/ml/jobs/nightly-train-29402400"
FINETUNE_JOB = "/apis/batch/v1/namespaces/ml/jobs/finetune-8xq2z"
TRAIN_DIGEST = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
REQUESTED = {
    "cpuCount": 3.5,
    "memoryBytes": 24 * 2**30,
    "gpuCount": 2,
    "gpuModel": "NVIDIA-A100-SXM4-80GB",
    "gpuMemoryBytes": 80 * 2**30,
}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def stream(name: str) -> list[str]:
    """A recorded watch stream: one JSON event per line, as the API server writes it."""
    return (FIXTURES / name).read_text(encoding="utf-8").splitlines()


class Answers(dict[str, list[tuple[int, Any]]]):
    """``routes`` for the fake API: per path, the answers in order; the last one repeats."""

    def get(self, path: str, default: Any = None) -> Any:  # type: ignore[override]
        answers = super().get(path)
        if not answers:
            return default
        return answers.pop(0) if len(answers) > 1 else answers[0]


class Streams(dict[str, list[list[str]]]):
    """``watch_events`` for the fake API: per path, the streams in order, then empty ones."""

    def __contains__(self, path: object) -> bool:
        return super().get(str(path)) is not None

    def __getitem__(self, path: str) -> list[str]:
        streams = super().__getitem__(path)
        return streams.pop(0) if streams else []


def fake_api(answers: dict[str, list[tuple[int, Any]]], streams: dict[str, list[Any]]) -> Any:
    api = FakeKubernetesApi()
    api.routes = Answers(answers)  # type: ignore[assignment]
    api.watch_events = Streams(streams)  # type: ignore[assignment]
    return api


@pytest.fixture
def lineage(tmp_path: Path) -> Iterator[LineageRecorder]:
    transport = RecordingTransport()
    config = EmitterConfig(sample_interval=0.0, spool_dir=tmp_path / "spool")
    emitter = Emitter(config, transport=transport)
    yield LineageRecorder(emitter, transport)
    emitter.close(timeout=10)


def watcher_for(api: FakeKubernetesApi, lineage: LineageRecorder, **kwargs: Any) -> PodWatcher:
    settings: dict[str, Any] = {
        "namespace": "ml",
        "initial_backoff": 0.01,
        "max_backoff": 0.05,
        "watch_seconds": 5,
        **kwargs,
    }
    return PodWatcher(api.api_client(), lineage.emitter, **settings)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


@contextmanager
def watching(watcher: PodWatcher) -> Iterator[list[BaseException]]:
    """``watcher.run()`` in a thread until the block ends; what it raised, if anything."""
    raised: list[BaseException] = []

    def work() -> None:
        try:
            watcher.run()
        except Exception as err:  # noqa: BLE001 - handed to the test
            raised.append(err)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        yield raised
    finally:
        watcher.stop()
        thread.join(timeout=10)
        assert not thread.is_alive()


def requests_to(api: FakeKubernetesApi, path: str) -> list[dict[str, list[str]]]:
    return [r.query for r in api.requests if r.path == path]


def summary(lineage: LineageRecorder) -> list[tuple[str, str, str]]:
    return [(e["job"]["name"], e["eventType"], e["eventTime"]) for e in lineage.events]


# --- watching ---------------------------------------------------------------------------------


def test_a_job_pod_from_pending_to_succeeded_is_one_run_started_then_completed(
    lineage: LineageRecorder,
) -> None:
    api = fake_api(
        {
            PODS: [(200, load("podlist-empty.json"))],
            TRAIN_JOB: [(200, load("job-nightly-train-29402400.json"))],
        },
        {PODS: [stream("watch-train.jsonl")]},
    )
    with api, watching(watcher_for(api, lineage)) as raised:
        wait_for(lambda: len(requests_to(api, PODS)) >= 3)  # list, the stream, the next watch
    assert raised == []
    assert summary(lineage) == [
        ("nightly-train", "START", "2026-11-28T02:00:41Z"),
        ("nightly-train", "COMPLETE", "2026-11-28T05:12:09Z"),
    ]
    start, complete = lineage.events
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert start["job"]["namespace"] == "k8s://kubernetes/ml"
    assert start["run"]["facets"]["pedigree_code"]["imageDigest"] == TRAIN_DIGEST
    assert start["run"]["facets"]["pedigree_resources"]["requested"] == REQUESTED
    assert [o["name"] for o in complete["outputs"]] == ["resnet50/nightly"]
    listed, watched, resumed = requests_to(api, PODS)[:3]
    assert listed["labelSelector"] == ["pedigree.dev/lineage=true"]
    assert listed["limit"] == ["500"]
    assert "watch" not in listed
    assert watched["watch"] == ["true"]
    assert watched["resourceVersion"] == ["48210100"]  # the list's version
    assert watched["allowWatchBookmarks"] == ["true"]
    assert watched["labelSelector"] == ["pedigree.dev/lineage=true"]
    assert resumed["resourceVersion"] == ["48233871"]  # the last object the stream showed
    assert api.paths().count(TRAIN_JOB) == 1  # the Job is read once, when the run starts


def test_410_gone_relists_and_reports_nothing_twice(lineage: LineageRecorder) -> None:
    api = fake_api(
        {
            PODS: [
                (200, load("podlist-train-running.json")),
                (200, load("podlist-train-succeeded.json")),
            ],
            TRAIN_JOB: [(200, load("job-nightly-train-29402400.json"))],
        },
        {PODS: [stream("watch-gone.jsonl"), stream("watch-train-succeeded.jsonl")]},
    )
    watcher = watcher_for(api, lineage)
    with api, watching(watcher):
        wait_for(lambda: len(requests_to(api, PODS)) >= 5)
    assert summary(lineage) == [
        ("nightly-train", "START", "2026-11-28T02:00:41Z"),
        ("nightly-train", "COMPLETE", "2026-11-28T05:12:09Z"),  # from the second list
    ]  # the replayed MODIFIED of the finished pod reported nothing
    queries = requests_to(api, PODS)
    assert ["watch" in q for q in queries[:4]] == [False, True, False, True]
    assert queries[1]["resourceVersion"] == ["48210300"]
    assert queries[3]["resourceVersion"] == ["48234000"]  # the second list's version
    assert watcher.stats.lists == 2


def test_a_500_is_retried_and_a_watch_error_resumes_without_relisting(
    lineage: LineageRecorder,
) -> None:
    error = json.dumps(
        {"type": "ERROR", "object": status_body(500, "InternalError", "etcdserver: leader changed")}
    )
    api = fake_api(
        {
            PODS: [
                (500, status_body(500, "InternalError", "etcdserver: request timed out")),
                (200, load("podlist-train-running.json")),
            ],
            TRAIN_JOB: [(200, load("job-nightly-train-29402400.json"))],
        },
        {PODS: [[error], stream("watch-train-succeeded.jsonl")]},
    )
    watcher = watcher_for(api, lineage)
    with api, watching(watcher):
        wait_for(lambda: len(requests_to(api, PODS)) >= 5)
    assert [t for _, t, _ in summary(lineage)] == ["START", "COMPLETE"]
    queries = requests_to(api, PODS)
    assert ["watch" in q for q in queries[:4]] == [False, False, True, True]
    assert queries[2]["resourceVersion"] == queries[3]["resourceVersion"] == ["48210300"]
    assert watcher.stats.lists == 1
    assert any("500" in e for e in watcher.stats.errors)
    assert any("leader changed" in e for e in watcher.stats.errors)


def test_failures_name_the_exit_code_oom_and_deletion(lineage: LineageRecorder) -> None:
    api = fake_api(
        {
            PODS: [(200, load("podlist-empty.json"))],
            FINETUNE_JOB: [(200, load("job-finetune-8xq2z.json"))],
        },
        {PODS: [stream("watch-failures.jsonl")]},
    )
    with api, watching(watcher_for(api, lineage)):
        wait_for(lambda: len(requests_to(api, PODS)) >= 3)
    by_job = {name: lineage.of(name) for name in ("finetune", "preprocess-features", "eval-resnet")}
    assert {name: [e["eventType"] for e in found] for name, found in by_job.items()} == {
        "finetune": ["START", "FAIL"],
        "preprocess-features": ["START", "FAIL"],
        "eval-resnet": ["START", "ABORT"],  # its Job is gone (404): the Job's own name
    }
    messages = {n: f[-1]["run"]["facets"]["errorMessage"]["message"] for n, f in by_job.items()}
    assert messages["finetune"].endswith(
        "failed with exit code 1 (Error): ValueError: learning rate must be positive, got -0.001"
    )
    assert messages["preprocess-features"].startswith('OOMKilled: container "preprocess"')
    assert "(exit code 137, SIGKILL)" in messages["preprocess-features"]
    assert messages["eval-resnet"].startswith('pod "eval-resnet-x9v7c" was deleted while')
    assert by_job["eval-resnet"][-1]["eventTime"] == "2026-11-28T09:20:02Z"


def test_a_tracked_pod_missing_from_a_relist_is_aborted(lineage: LineageRecorder) -> None:
    api = fake_api(
        {PODS: [(200, load("podlist-train-running.json")), (200, load("podlist-empty.json"))]},
        {PODS: [stream("watch-gone.jsonl")]},
    )
    with api, watching(watcher_for(api, lineage)):
        wait_for(lambda: len(requests_to(api, PODS)) >= 4)
    start, abort = lineage.events
    assert (start["eventType"], abort["eventType"]) == ("START", "ABORT")
    assert abort["run"]["runId"] == start["run"]["runId"]
    assert abort["job"]["name"] == "nightly-train-29402400"  # the Job route is a 404 here
    assert (
        "disappeared while the watcher was disconnected"
        in (abort["run"]["facets"]["errorMessage"]["message"])
    )


def test_forbidden_stops_the_watcher_with_the_api_message(lineage: LineageRecorder) -> None:
    message = (
        'pods is forbidden: User "system:serviceaccount:ml:default" cannot list resource "pods"'
        ' in API group "" in the namespace "ml"'
    )
    api = fake_api({PODS: [(403, status_body(403, "Forbidden", message))]}, {})
    with api, watching(watcher_for(api, lineage)) as raised:
        wait_for(lambda: bool(raised))
    [error] = raised
    assert isinstance(error, WatchError)
    assert error.status == 403
    assert str(error) == f"HTTP 403: {message}"
    assert len(api.requests) == 1  # not retried


def test_stop_cuts_an_idle_watch_at_once(lineage: LineageRecorder) -> None:
    """A watch the server keeps open without events (the usual case) does not delay stop()."""
    server = socket.create_server(("127.0.0.1", 0))
    podlist = json.dumps(load("podlist-empty.json")).encode()
    hold = threading.Event()

    def serve() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            with conn:
                request = conn.recv(65536)
                if b"watch=true" not in request:
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Connection: close\r\nContent-Length: %d\r\n\r\n%s"
                        % (len(podlist), podlist)
                    )
                    continue
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                hold.wait(30)  # an open stream, no events

    threading.Thread(target=serve, daemon=True).start()
    from kubernetes import client as k8s

    port = server.getsockname()[1]
    api_client = k8s.ApiClient(k8s.Configuration(host=f"http://127.0.0.1:{port}"))
    watcher = PodWatcher(api_client, lineage.emitter, namespace="ml", watch_seconds=60)
    try:
        with watching(watcher):
            wait_for(lambda: watcher.stats.watches == 1)
            time.sleep(0.2)
            started = time.monotonic()
        assert time.monotonic() - started < 2.0
        assert watcher.stats.errors == []  # stopping is not an error
    finally:
        hold.set()
        server.close()


# --- once -------------------------------------------------------------------------------------


def test_once_reads_every_page_and_reports_what_each_state_implies(
    lineage: LineageRecorder,
) -> None:
    api = fake_api(
        {
            PODS: [(200, load("podlist-page-1.json")), (200, load("podlist-page-2.json"))],
            TRAIN_JOB: [(200, load("job-nightly-train-29402400.json"))],
            FINETUNE_JOB: [(200, load("job-finetune-8xq2z.json"))],
        },
        {},
    )
    with api:
        watcher = watcher_for(api, lineage, page_size=2)
        assert watcher.once() == 5
        assert watcher.once() == 0  # nothing new: nothing again
    assert sorted(summary(lineage)) == [
        ("eval-resnet", "START", "2026-11-28T09:00:21Z"),
        ("finetune", "FAIL", "2026-11-28T08:16:54Z"),
        ("finetune", "START", "2026-11-28T08:15:09Z"),
        ("nightly-train", "COMPLETE", "2026-11-28T05:12:09Z"),
        ("nightly-train", "START", "2026-11-28T02:00:41Z"),
    ]  # the unschedulable pod has not started: no run yet
    first, second = requests_to(api, PODS)[:2]
    assert first["limit"] == ["2"]
    assert "continue" not in first
    assert second["continue"] == [load("podlist-page-1.json")["metadata"]["continue"]]


def test_a_forbidden_job_read_falls_back_to_the_job_name(lineage: LineageRecorder) -> None:
    forbidden = status_body(403, "Forbidden", 'jobs.batch "nightly-train-29402400" is forbidden')
    api = fake_api(
        {PODS: [(200, load("podlist-train-succeeded.json"))], TRAIN_JOB: [(403, forbidden)]}, {}
    )
    with api:
        assert watcher_for(api, lineage).once() == 2
    assert {e["job"]["name"] for e in lineage.events} == {"nightly-train-29402400"}


def test_all_namespaces_lists_every_pod(lineage: LineageRecorder) -> None:
    api = fake_api({ALL_PODS: [(200, load("podlist-train-running.json"))]}, {})
    with api:
        assert watcher_for(api, lineage, namespace=None, selector="team=vision").once() == 1
    [query] = requests_to(api, ALL_PODS)
    assert query["labelSelector"] == ["team=vision"]


# --- the command ------------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pedigree")
    cmd_watch_k8s.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["watch-k8s", *argv])


def kubeconfig(tmp_path: Path, api: FakeKubernetesApi, namespace: str = "ml") -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        f"""\
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: {{server: "{api.url}"}}
users:
- name: watcher
  user: {{token: t0ken}}
contexts:
- name: fake
  context: {{cluster: fake, user: watcher, namespace: {namespace}}}
current-context: fake
"""
    )
    return str(path)


def test_the_command_once_reports_through_the_configured_emitter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = fake_api(
        {
            PODS: [(200, load("podlist-train-succeeded.json"))],
            TRAIN_JOB: [(200, load("job-nightly-train-29402400.json"))],
        },
        {},
    )
    with api, record_lineage() as lineage:
        code = cmd_watch_k8s.run(parse("--kubeconfig", kubeconfig(tmp_path, api), "--once"))
        assert code == 0
        assert lineage.emitter._closed  # the command closed (and so flushed) its emitter
        assert [e["eventType"] for e in lineage.of("nightly-train")] == ["START", "COMPLETE"]
    assert "2 events for pods in namespace ml" in capsys.readouterr().out  # the context's
    assert api.requests[0].headers["authorization"] == "Bearer t0ken"


def test_the_command_watches_until_sigterm_and_exits_cleanly(tmp_path: Path) -> None:
    api = fake_api(
        {
            PODS: [(200, load("podlist-empty.json"))],
            TRAIN_JOB: [(200, load("job-nightly-train-29402400.json"))],
        },
        {PODS: [stream("watch-train.jsonl")]},
    )

    def terminate() -> None:
        wait_for(lambda: len(requests_to(api, PODS)) >= 3)
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    with api, record_lineage() as lineage:
        killer = threading.Thread(target=terminate, daemon=True)
        killer.start()
        code = cmd_watch_k8s.run(parse("--kubeconfig", kubeconfig(tmp_path, api)))
        killer.join(timeout=10)
        assert code == 0
        assert lineage.emitter._closed
        assert lineage.event_types("nightly-train") == ["START", "COMPLETE"]
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.parametrize("status", [401, 403])
def test_the_command_says_forbidden_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], status: int
) -> None:
    body = status_body(status, "Forbidden", 'pods is forbidden: User "u" cannot list "pods"')
    api = fake_api({PODS: [(status, body)]}, {})
    with api, record_lineage():
        code = cmd_watch_k8s.run(parse("--kubeconfig", kubeconfig(tmp_path, api)))
    err = capsys.readouterr().err
    assert code == 1
    assert err == f"pedigree watch-k8s: namespace ml: HTTP {status}: {body['message']}\n"


def test_the_command_without_a_configuration_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert cmd_watch_k8s.run(parse("--once")) == 2
    err = capsys.readouterr().err
    assert err.startswith("pedigree watch-k8s: no Kubernetes configuration:")
    assert err.count("\n") == 1
    (tmp_path / "broken").write_text("clusters: [\n")
    assert cmd_watch_k8s.run(parse("--kubeconfig", str(tmp_path / "broken"))) == 2
    assert capsys.readouterr().err.startswith(f"pedigree watch-k8s: cannot use the {tmp_path}")


def test_help_explains_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse("--help")
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "pedigree watch-k8s --namespace ml" in out
    assert "pedigree.dev/lineage=true" in out
    with pytest.raises(SystemExit):
        parse("--namespace", "ml", "--all-namespaces")
