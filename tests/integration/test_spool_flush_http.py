"""`pedigree spool flush --http`: what the emitter's ``http`` transport spooled while the API
was down reaches the API once it is back -- each event once, a bad one kept aside, a wrong
token stopping the flush with nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from emitters.client import Emitter
from emitters.config import EmitterConfig
from emitters.spool import SpooledMessage, SpoolWriter, closed_files, read_file

# pytest finds fixtures imported into a test module: these are test_api's
from tests.integration.test_api import ADMIN, NLP, VISION, Api, api  # noqa: F401
from tests.pipeline import Pipeline, pipeline_events


def _flush(spool: Path, url: str, token: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PEDIGREE_HTTP_TOKEN": token}
    env.pop("PEDIGREE_KAFKA_BOOTSTRAP", None)
    return subprocess.run(
        [sys.executable, "-m", "pedigree.cli", "spool", "flush", "--dir", str(spool),
         "--http", url, "--json", "--timeout", "60"],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def _spool_while_the_api_is_down(spool: Path, pipeline: Pipeline) -> None:
    """The job ran while the API was unreachable: its http transport spooled every event."""
    down = EmitterConfig(transport="http", http_url="http://127.0.0.1:9", spool_dir=spool)
    emitter = Emitter(down)
    for event in pipeline.events:
        emitter.emit(event)
    emitter.close(timeout=30)
    assert emitter.stats.spooled == len(pipeline.events)


def test_events_spooled_by_the_http_transport_reach_the_api_once(
    api: Api,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    spool = tmp_path / "job-spool"
    pipeline = pipeline_events("vision", seed=21)
    _spool_while_the_api_is_down(spool, pipeline)
    # ... and one message no endpoint will ever take
    with SpoolWriter(spool) as writer:
        writer.write(SpooledMessage(value=b"\xc3\x01 not an event"))

    # a token that may not write vision's namespace: nothing is sent, nothing is lost
    refused = _flush(spool, api.base, NLP)
    assert refused.returncode == 1
    report = json.loads(refused.stdout)
    assert report["messages"] == 0
    assert "HTTP 403" in report["errors"][0]
    assert (
        sum(1 for path in closed_files(spool) for _ in read_file(path)) == len(pipeline.events) + 1
    )

    sent = _flush(spool, api.base, VISION)
    assert sent.returncode == 0, sent.stderr
    report = json.loads(sent.stdout)
    assert (report["messages"], report["rejected"], report["files_left"]) == (
        len(pipeline.events),
        1,
        0,
    )
    assert len(list((spool / "rejected").glob("*.avro"))) == 1  # kept aside, not dropped
    detail = api.wait_for_run(pipeline.deploy, "COMPLETE")
    assert detail["run"]["job"] == {"namespace": "vision", "name": "deploy/detector"}
    train = api.get(f"/api/v1/runs/{pipeline.train}", ADMIN).json()
    assert train["run"]["parameters"]["lr"] == "0.01"

    again = _flush(spool, api.base, VISION)
    assert json.loads(again.stdout)["messages"] == 0  # nothing is sent twice


def test_the_next_http_emitter_sends_what_an_earlier_one_spooled(
    api: Api,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    spool = tmp_path / "job-spool"
    pipeline = pipeline_events("vision", seed=22)
    _spool_while_the_api_is_down(spool, pipeline)
    # the next job's emitter reaches the API: at start it POSTs the spool in the background
    up = EmitterConfig(transport="http", http_url=api.base, http_token=VISION, spool_dir=spool)
    running = Emitter(up)
    deadline = time.monotonic() + 30
    # the job runs meanwhile (a file being sent is claimed: *.avro.sending-<pid>)
    while list(spool.glob("*.avro*")) and time.monotonic() < deadline:
        time.sleep(0.1)
    running.close(timeout=30)
    assert not list(spool.glob("*.avro*"))  # every file sent and deleted
    api.wait_for_run(pipeline.deploy, "COMPLETE")
    train = api.get(f"/api/v1/runs/{pipeline.train}", ADMIN).json()
    assert train["run"]["code"]["gitCommit"] == f"{22:040x}"
