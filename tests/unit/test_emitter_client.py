"""The emitter never hurts the job: emit() returns at once, never raises, loses nothing."""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from emitters.client import Emitter
from emitters.config import EmitterConfig
from emitters.spool import SpooledMessage, read_events
from emitters.transports.base import Transport
from emitters.transports.http import endpoint
from emitters.transports.simple import ConsoleTransport
from tests.events import ml_run_event, simple_run_event


def _config(tmp_path: Path, **kw: Any) -> EmitterConfig:
    return EmitterConfig(spool_dir=tmp_path / "spool", sample_interval=0.0, **kw)


class Gate(Transport):
    """A transport that blocks in send() until opened, then records (or raises)."""

    kind: ClassVar[str] = "gate"

    def __init__(self, fail: bool = False) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()
        self.sent: list[SpooledMessage] = []
        self.fail = fail

    def send(self, event: dict[str, Any], message: SpooledMessage) -> None:
        self.entered.set()
        self.open.wait(10)
        if self.fail:
            raise ConnectionError("the far side hung up")
        self.sent.append(message)


def test_spool_transport_delivers_everything_on_close(tmp_path: Path) -> None:
    emitter = Emitter(_config(tmp_path))
    for _ in range(50):
        emitter.emit(simple_run_event())
    assert emitter.close(timeout=10)
    assert len(list(read_events(tmp_path / "spool"))) == 50
    assert (emitter.stats.emitted, emitter.stats.spooled, emitter.stats.lost) == (50, 50, 0)


def test_a_full_queue_spills_to_the_spool_without_waiting(tmp_path: Path) -> None:
    gate = Gate()
    emitter = Emitter(_config(tmp_path, queue_size=3), transport=gate)
    emitter.emit(simple_run_event())
    assert gate.entered.wait(5)  # the thread is stuck in send(): nothing more leaves the queue
    for _ in range(20):
        emitter.emit(simple_run_event())  # returns although the transport is blocked
    assert emitter.stats.spooled == 20 - 3
    gate.open.set()
    assert emitter.close(timeout=10)
    assert len(gate.sent) == 1 + 3
    assert len(list(read_events(tmp_path / "spool"))) == 17


def test_a_failing_transport_spools_instead_of_raising(tmp_path: Path) -> None:
    gate = Gate(fail=True)
    gate.open.set()
    emitter = Emitter(_config(tmp_path), transport=gate)
    for _ in range(5):
        emitter.emit(ml_run_event())
    emitter.close(timeout=10)
    assert emitter.stats.spooled == 5
    assert [e["run"]["runId"] for e in read_events(tmp_path / "spool")] == [
        ml_run_event()["run"]["runId"]
    ] * 5


def test_close_is_bounded_and_keeps_what_it_could_not_send(tmp_path: Path) -> None:
    gate = Gate()  # never opened: send() blocks for 10 s
    emitter = Emitter(_config(tmp_path), transport=gate)
    for _ in range(10):
        emitter.emit(simple_run_event())
    assert gate.entered.wait(5)
    assert emitter.close(timeout=0.5) is False
    assert len(list(read_events(tmp_path / "spool"))) == 9  # all but the one stuck in send()
    gate.open.set()


def test_invalid_events_are_logged_counted_and_kept_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    emitter = Emitter(_config(tmp_path))
    bad = simple_run_event()
    bad["run"]["runId"] = "not-a-uuid"
    emitter.emit(bad)
    emitter.emit({"run": object()})  # not even JSON
    emitter.close(timeout=10)
    assert emitter.stats.rejected == 2
    kept = sorted((tmp_path / "spool" / "rejected").glob("*.json"))
    reasons = sorted(json.loads(p.read_text())["reason"] for p in kept)
    assert any(r.startswith("run.runId: is not a valid UUID") for r in reasons)
    assert "invalid lineage event not sent: run.runId" in caplog.text


def test_emitting_after_close_still_lands_in_the_spool_visibly(tmp_path: Path) -> None:
    emitter = Emitter(_config(tmp_path))
    emitter.close()
    emitter.emit(simple_run_event())  # e.g. a job that goes on after its SIGTERM handler
    emitter.emit(simple_run_event("COMPLETE"))
    assert [e["eventType"] for e in read_events(tmp_path / "spool")] == ["START", "COMPLETE"]
    assert not list((tmp_path / "spool").glob("*.open"))


def test_an_unencodable_event_is_rejected_and_the_emitter_keeps_working(tmp_path: Path) -> None:
    emitter = Emitter(_config(tmp_path))
    bad = simple_run_event()
    bad["job"]["name"] = "train-\udcff.py"  # a lone surrogate: a file name that is not UTF-8
    emitter.emit(bad)
    emitter.emit(simple_run_event("COMPLETE"))
    assert emitter.flush(timeout=5)
    assert emitter.close(timeout=5)
    assert emitter.stats.rejected == 1
    assert [e["eventType"] for e in read_events(tmp_path / "spool")] == ["COMPLETE"]


def test_a_transport_that_cannot_start_falls_back_to_the_spool(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        transport="kafka",
        kafka_bootstrap="127.0.0.1:9",
        kafka_ssl_ca_location=str(tmp_path / "missing-ca.pem"),
        kafka_security_protocol="SSL",
    )
    emitter = Emitter(config)  # librdkafka refuses the missing CA file: no exception here
    emitter.emit(simple_run_event())
    emitter.close(timeout=5)
    assert "kafka transport unavailable" in emitter.stats.errors[0]
    assert len(list(read_events(tmp_path / "spool"))) == 1


def test_disabled_emitter_does_nothing(tmp_path: Path) -> None:
    emitter = Emitter(_config(tmp_path, disabled=True))
    emitter.emit(simple_run_event())
    emitter.close()
    assert emitter.stats.emitted == 0
    assert not (tmp_path / "spool").exists()


def test_console_transport_prints_one_json_line_per_event(tmp_path: Path) -> None:
    stream = io.StringIO()
    emitter = Emitter(_config(tmp_path), transport=ConsoleTransport(stream))
    emitter.emit(simple_run_event())
    emitter.close()
    assert json.loads(stream.getvalue())["eventType"] == "START"


def test_a_forked_child_emits_through_its_own_emitter(tmp_path: Path) -> None:
    emitter = Emitter(_config(tmp_path))
    emitter.emit(simple_run_event("START"))
    emitter.flush()
    pid = os.fork()
    if pid == 0:
        try:
            emitter.emit(simple_run_event("RUNNING"))
            emitter.close(timeout=5)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    emitter.emit(simple_run_event("COMPLETE"))
    emitter.close(timeout=5)
    types = sorted(e["eventType"] for e in read_events(tmp_path / "spool"))
    assert types == ["COMPLETE", "RUNNING", "START"]


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, Any]]] = []
    status: ClassVar[int] = 201

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers.get("Authorization", ""), json.loads(body)))
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def lineage_server() -> Iterator[tuple[str, type[_Collector]]]:
    _Collector.received = []
    _Collector.status = 201
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Collector
    server.shutdown()
    server.server_close()


def test_http_transport_posts_openlineage_json_with_the_token(
    tmp_path: Path, lineage_server: tuple[str, type[_Collector]]
) -> None:
    url, collector = lineage_server
    emitter = Emitter(_config(tmp_path, transport="http", http_url=url, http_token="t0ken"))
    emitter.emit(ml_run_event())
    emitter.close(timeout=10)
    [(path, auth, body)] = collector.received
    assert (path, auth) == ("/api/v1/lineage", "Bearer t0ken")
    assert body == ml_run_event()
    assert emitter.stats.sent == 1


def test_http_errors_spool_the_event(
    tmp_path: Path, lineage_server: tuple[str, type[_Collector]]
) -> None:
    url, collector = lineage_server
    collector.status = 503
    emitter = Emitter(_config(tmp_path, transport="http", http_url=url + "/custom/path"))
    emitter.emit(simple_run_event())
    emitter.close(timeout=10)
    assert collector.received[0][0] == "/custom/path"
    assert emitter.stats.spooled == 1
    assert "503" in emitter.stats.errors[-1]
    assert len(list(read_events(tmp_path / "spool"))) == 1


def test_http_endpoint_rules() -> None:
    assert endpoint("http://api:8080") == "http://api:8080/api/v1/lineage"
    assert endpoint("https://x/api/v1/lineage") == "https://x/api/v1/lineage"
    with pytest.raises(ValueError, match="PEDIGREE_HTTP_URL='ftp://x'"):
        endpoint("ftp://x")


def test_stats_counted_from_many_threads_lose_no_count() -> None:
    import sys

    from emitters.transports.base import EmitterStats

    stats = EmitterStats()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show
    try:
        workers = [threading.Thread(target=lambda: [stats.count("sent") for _ in range(20_000)])
                   for _ in range(8)]  # fmt: skip
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    assert stats.sent == 160_000
