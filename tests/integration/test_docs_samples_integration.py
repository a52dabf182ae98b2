"""Every sample of README.md and docs/*.md that the unit test cannot run: those that start the
API (``server``) and ask it (``needs-server``), need the embedded ClickHouse engine
(``integration``) or a Kafka broker (``kafka``).  Each document runs top to bottom in its own
sandbox, unit samples included, as a reader would run it (``tests/docs_tools.py``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.docs_tools import DOCUMENTS, Sample, check_output_of, make_sandbox, run_sample, samples

LIVE = ("integration", "kafka", "server", "needs-server")
DOCUMENTS_WITH_LIVE_SAMPLES = [d for d in DOCUMENTS if any(s.mode in LIVE for s in samples(d))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rewrite(code: str, port: int, bootstrap: str | None) -> str:
    for address in ("127.0.0.1:8080", "localhost:8080"):
        code = code.replace(address, f"127.0.0.1:{port}")
    if bootstrap is not None:
        code = code.replace("localhost:9092", bootstrap)
    return code


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _spool_drained(spool: Path) -> bool:
    return not spool.is_dir() or not any(p.name.endswith((".avro", ".open")) for p in
                                         spool.iterdir())  # fmt: skip


@contextmanager
def _server(
    sample: Sample, code: str, sandbox: Path, env: dict[str, str], port: int
) -> Iterator[None]:
    """Run a ``server`` block in the background until the ``needs-server`` blocks are done."""
    log = (sandbox / f"server-{sample.line}.log").open("w")
    process = subprocess.Popen(
        ["bash", "-c", code], cwd=sandbox, env=env, stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not (_ready(f"http://127.0.0.1:{port}/readyz")
                   and _spool_drained(Path(env["PEDIGREE_SPOOL_DIR"]))):  # fmt: skip
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                text = (sandbox / f"server-{sample.line}.log").read_text()
                pytest.fail(f"the server of {sample.where} did not come up:\n{text[-3000:]}")
            time.sleep(0.2)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the group this test started, and only it
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # children that outlive bash (if it did not exec)
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        log.close()


@pytest.mark.parametrize("document", DOCUMENTS_WITH_LIVE_SAMPLES)
def test_every_sample_of_the_document_runs_in_order(
    document: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    blocks = [s for s in samples(document) if s.mode not in ("skip", "illustration", "same-as")]
    env = make_sandbox(tmp_path)
    port = _free_port()
    env["PEDIGREE_API_PORT"] = str(port)
    env["PEDIGREE_API_URL"] = f"http://127.0.0.1:{port}"
    bootstrap = None
    if any(s.mode == "kafka" for s in blocks):
        bootstrap = request.getfixturevalue("kafka_bootstrap")
        env["PEDIGREE_KAFKA_TOPIC"] = request.getfixturevalue("new_topic")(2, "docs")
    i = 0
    while i < len(blocks):
        sample = blocks[i]
        code = _rewrite(sample.code, port, bootstrap)
        if sample.mode == "output-of":
            check_output_of(sample, tmp_path, env)
        elif sample.mode == "server":
            following = []
            while i + 1 < len(blocks) and blocks[i + 1].mode == "needs-server":
                i += 1
                following.append(blocks[i])
            assert following, f"{sample.where}: a server block is followed by needs-server blocks"
            with _server(sample, code, tmp_path, env, port):
                for block in following:
                    run_sample(block, tmp_path, env, _rewrite(block.code, port, bootstrap))
        else:
            assert sample.mode != "needs-server", f"{sample.where}: no server block before it"
            run_sample(sample, tmp_path, env, code)
        i += 1
