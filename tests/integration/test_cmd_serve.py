"""`pedigree serve` as an operator runs it, and the API in bus mode on the real broker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from api.serve import ServeOptions, running
from tests.pipeline import pipeline_events

PEDIGREE = [sys.executable, "-m", "pedigree.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, predicate: Any, timeout: float = 60.0, **kwargs: Any) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = requests.get(url, timeout=5, **kwargs)
            if predicate(last):
                return last
        except requests.ConnectionError as err:
            last = err
        time.sleep(0.2)
    raise AssertionError(f"{url}: gave up waiting, last answer: {getattr(last, 'text', last)}")


def test_embedded_serve_ingests_materializes_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "PEDIGREE_SPOOL_DIR": str(tmp_path / "spool")}
    env.pop("PEDIGREE_API_TOKENS_FILE", None)
    server = subprocess.Popen(
        [*PEDIGREE, "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/readyz", lambda r: r.status_code == 200)
        pipeline = pipeline_events("vision", seed=3)
        for event in pipeline.events:
            answer = requests.post(f"{base}/api/v1/lineage", json=event, timeout=10)
            assert answer.status_code == 201, answer.text
        run = _wait_for(
            f"{base}/api/v1/runs/{pipeline.train}",
            lambda r: r.status_code == 200 and r.json()["run"]["status"] == "COMPLETE",
        ).json()
        assert run["run"]["parameters"]["lr"] == "0.01"
        assert [i["version"] for i in run["inputs"]] == ["sha256:features-3", "v3"]
    finally:
        server.send_signal(signal.SIGTERM)
        _out, err = server.communicate(timeout=60)
    assert server.returncode == 0, err
    assert "authentication is OFF" in err  # the embedded default says so at start-up
    assert (tmp_path / "pedigree-data" / "clickhouse").is_dir()


def test_serve_refuses_to_start_unauthenticated_outside_the_embedded_default(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PEDIGREE_API_TOKENS_FILE"}
    result = subprocess.run(
        [*PEDIGREE, "serve", "--clickhouse", "http://127.0.0.1:9"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "no token file" in result.stderr
    assert "Traceback" not in result.stderr


def test_bus_mode_ingest_goes_through_kafka_and_the_consumer_group(
    tmp_path: Path, kafka_bootstrap: str, new_topic: Any, clickhouse: Any, clickhouse_dsn: str
) -> None:
    topic = new_topic(partitions=2)
    options = ServeOptions(
        clickhouse_dsn=clickhouse_dsn,
        database=clickhouse.database,
        bootstrap=kafka_bootstrap,
        topic=topic,
        auth=False,
    )
    pipeline = pipeline_events("vision", seed=4, lr=0.5)
    with running(options) as (_service, base):
        answer = requests.post(f"{base}/api/v1/lineage/batch", json=pipeline.events, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == 6
        provenance = _wait_for(
            f"{base}/api/v1/provenance",
            lambda r: r.status_code == 200 and len(r.json()["nodes"]) == 6,
            params={"model": "vision-detector", "version": "1", "depth": 10},
        ).json()
    train = next(n for n in provenance["nodes"] if n["id"] == f"run:{pipeline.train}")
    assert train["run"]["parameters"]["lr"] == "0.5"
    # the events went through the topic: the raw log holds their Kafka positions
    rows = clickhouse.query(
        "SELECT DISTINCT topic FROM events WHERE run_id = {r:String}",
        parameters={"r": pipeline.train},
    ).result_rows
    assert rows == [(topic,)]


def test_token_prints_a_token_whose_hash_is_the_entry(tmp_path: Path) -> None:
    from api.auth import TokenTable

    result = subprocess.run(
        [*PEDIGREE, "token", "--name", "vision", "--read", "s3://vision-*", "--write", "vision"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    first, _, rest = result.stdout.partition("\n")
    token = first.rsplit(" ", 1)[1]
    entry = json.loads(rest.partition("\n")[2])
    table = TokenTable.from_entries([entry])
    principal = table.authenticate(token)
    assert principal is not None
    assert principal.can_write("vision")
    assert principal.can_read("s3://vision-data")
    assert not principal.can_read("nlp")
    assert token not in json.dumps(entry)


def test_token_json_is_one_object_a_script_can_use(tmp_path: Path) -> None:
    from api.auth import TokenTable

    result = subprocess.run([*PEDIGREE, "token", "--name", "ci", "--write", "ci", "--json"],
                            capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    made = json.loads(result.stdout)
    assert made["entry"]["name"] == "ci"
    principal = TokenTable.from_entries([made["entry"]]).authenticate(made["token"])
    assert principal is not None
    assert principal.can_write("ci")
    assert not principal.can_read("vision")
