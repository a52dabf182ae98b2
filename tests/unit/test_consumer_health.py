"""The consumer's probes: the rules of ``/healthz`` and ``/readyz``, over real HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from consumers.health import WorkerState, answer, serve_health
from pedigree.cli import main

LIVE = WorkerState(running=True, loop_age=0.4, retrying=False)


def test_healthz_fails_only_once_the_loop_is_stale() -> None:
    assert answer("/healthz", LIVE, stale_after=120)[0] == 200
    stuck = WorkerState(running=True, loop_age=121.0, retrying=False)
    code, body = answer("/healthz", stuck, stale_after=120)
    assert (code, body["status"]) == (503, "stuck: the loop last turned 121.0 s ago")
    # a worker retrying a failing warehouse is alive (restarting it would not help) ...
    assert answer("/healthz", WorkerState(True, 0.2, retrying=True), stale_after=120)[0] == 200


def test_readyz_wants_a_running_loop_without_failing_flushes() -> None:
    assert answer("/readyz", LIVE, 120) == (200, {"status": "ok"})
    # ... but not ready
    assert answer("/readyz", WorkerState(True, 0.2, retrying=True), 120)[0] == 503
    assert answer("/readyz", WorkerState(False, 0.2, retrying=False), 120) == (
        503,
        {"status": "not consuming"},
    )
    assert answer("/metrics", LIVE, 120)[0] == 404


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_server_answers_from_the_state_at_request_time() -> None:
    states = [LIVE]
    server = serve_health(lambda: states[-1], port=0, host="127.0.0.1", stale_after=5)
    port = server.server_address[1]
    try:
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        assert get(f"http://127.0.0.1:{port}/readyz?verbose=1") == (200, {"status": "ok"})
        states.append(WorkerState(running=True, loop_age=6.0, retrying=True))
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 503
        assert get(f"http://127.0.0.1:{port}/readyz")[0] == 503
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bootstrap", "k:9092", "--health-port", "70000"], "--health-port 70000 is not a TCP"),
        (["--from-spool", "s", "--health-port", "8081"], "use it with --bootstrap"),
        (["--bootstrap", "k:9092", "--health-stale-seconds", "0"], "must be positive"),
    ],
)
def test_bad_health_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["consume", *argv]) == 2
    assert message in capsys.readouterr().err
