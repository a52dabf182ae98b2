"""``pedigree consume --health-port``: the probes the Kubernetes manifests point at, on a real
worker (the test broker, the embedded engine)."""

from __future__ import annotations

import contextlib
import signal
import socket
import time
from pathlib import Path

from tests.integration.conftest import TopicFactory
from tests.integration.test_kafka_consumer_crashes import consumer
from tests.unit.test_consumer_health import get


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_consuming_worker_is_live_and_ready_and_stops_cleanly(
    kafka_bootstrap: str, new_topic: TopicFactory, tmp_path: Path
) -> None:
    topic = new_topic(partitions=1)
    port = free_port()
    process = consumer(kafka_bootstrap, topic, tmp_path, "--health-port", str(port))
    try:
        answers: list[tuple[int, dict[str, object]]] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError):  # not listening yet (migrating the warehouse)
                answers.append(get(f"http://127.0.0.1:{port}/readyz"))
            if answers and answers[-1][0] == 200:
                break
            time.sleep(0.2)
        assert answers, "the health port never answered"
        assert answers[-1] == (200, {"status": "ok"})
        code, body = get(f"http://127.0.0.1:{port}/healthz")
        assert code == 200
        assert float(str(body["loop_age_seconds"])) < 5
        time.sleep(3)  # the loop turns at least once a second: the age keeps being reset
        code, body = get(f"http://127.0.0.1:{port}/healthz")
        assert code == 200
        assert float(str(body["loop_age_seconds"])) < 2
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output.decode()[-2000:]
