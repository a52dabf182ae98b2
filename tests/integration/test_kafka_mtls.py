"""Mutual TLS against a real broker: a TLS listener that requires a client certificate.

The certificates are made here with ``openssl`` (a throwaway CA, the broker's certificate for
127.0.0.1, a client certificate, and a second CA's client certificate the broker does not
trust).  The emitter (``PEDIGREE_KAFKA_SSL_*``) delivers through the listener, ``pedigree
consume`` (its consumer, dead-letter producer and admin client) materializes from it, and a
client without a trusted certificate is refused -- so the first two cannot pass by accident.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emitters.client import Emitter
from emitters.config import EmitterConfig
from tests.events import simple_run_event
from tests.integration.conftest import load_kafka_local, running

ROOT = Path(__file__).resolve().parents[2]
_RUN_IDS = """
import sys
import clickhouse_connect
client = clickhouse_connect.get_client(dsn=sys.argv[1])
for (run_id,) in client.query("SELECT DISTINCT run_id FROM pedigree.runs").result_rows:
    print(run_id)
"""


@dataclass(frozen=True)
class Pki:
    ca: Path
    broker_keystore: Path  # key + certificate, as the broker's PEM keystore wants them
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # signed by a CA the broker does not trust
    stranger_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def _signed(name: str, ca: str, cwd: Path, extension: str | None = None) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=cwd)  # fmt: skip
    extra = []
    if extension:
        (cwd / f"{name}.ext").write_text(extension)
        extra = ["-extfile", f"{name}.ext"]
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", *extra, cwd=cwd)  # fmt: skip


def _ca(name: str, cwd: Path) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}", cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: it makes this test's certificates")
    d = tmp_path_factory.mktemp("pki")
    _ca("ca", d)
    _ca("other-ca", d)
    _signed("broker", "ca", d, "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _signed("client", "ca", d)
    _signed("stranger", "other-ca", d)
    keystore = d / "broker-keystore.pem"
    keystore.write_text((d / "broker.key").read_text() + (d / "broker.pem").read_text())
    return Pki(d / "ca.pem", keystore, d / "client.pem", d / "client.key",
               d / "stranger.pem", d / "stranger.key")  # fmt: skip


@pytest.fixture(scope="module")
def tls_kafka(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    kafka_local = load_kafka_local()
    tls = kafka_local.TlsListener(keystore=pki.broker_keystore, truststore=pki.ca)
    kafka = kafka_local.LocalKafka(tmp_path_factory.mktemp("kafka-tls"), heap="384m", tls=tls)
    yield from running(kafka, "the TLS broker")


def _mtls_env(kafka: Any, pki: Pki, topic: str, cert: Path, key: Path) -> dict[str, str]:
    return {
        "PEDIGREE_KAFKA_BOOTSTRAP": kafka.tls_bootstrap,
        "PEDIGREE_KAFKA_TOPIC": topic,
        "PEDIGREE_KAFKA_SECURITY_PROTOCOL": "SSL",
        "PEDIGREE_KAFKA_SSL_CA_LOCATION": str(pki.ca),
        "PEDIGREE_KAFKA_SSL_CERTIFICATE_LOCATION": str(cert),
        "PEDIGREE_KAFKA_SSL_KEY_LOCATION": str(key),
    }


def _emit(env: dict[str, str], spool: Path, count: int, flush_seconds: float = 20) -> list[str]:
    config = EmitterConfig.from_env(
        {**env, "PEDIGREE_SPOOL_DIR": str(spool), "PEDIGREE_FLUSH_TIMEOUT": str(flush_seconds)}
    )
    run_ids = []
    emitter = Emitter(config)
    try:
        for i in range(count):
            event = simple_run_event("START", job=f"tls-{i}")
            event["run"]["runId"] = str(uuid.uuid4())
            run_ids.append(event["run"]["runId"])
            emitter.emit(event)
    finally:
        emitter.close()
    return run_ids


def _spooled(spool: Path) -> int:
    return sum(1 for path in spool.rglob("*.avro*") if path.is_file()) if spool.exists() else 0


def test_the_emitter_and_the_consumer_work_over_mutual_tls(
    tls_kafka: Any, pki: Pki, tmp_path: Path
) -> None:
    topic = f"mtls-{uuid.uuid4().hex[:8]}"
    env = _mtls_env(tls_kafka, pki, topic, pki.client_cert, pki.client_key)
    run_ids = _emit(env, tmp_path / "spool", 5)
    assert _spooled(tmp_path / "spool") == 0  # all delivered, nothing fell back to the spool

    warehouse = tmp_path / "warehouse"
    consume = subprocess.run(
        [sys.executable, "-m", "pedigree.cli", "consume", "--bootstrap", tls_kafka.tls_bootstrap,
         "--topic", topic, "--group", topic, "--clickhouse", f"chdb://{warehouse}",
         "--exit-when-idle"],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=False,
        timeout=180,
    )  # fmt: skip
    assert consume.returncode == 0, consume.stderr
    assert "materialized 5 events" in consume.stdout

    # another process: this one's embedded engine is open on another directory
    stored = subprocess.run(
        [sys.executable, "-c", _RUN_IDS, f"chdb://{warehouse}"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert stored.returncode == 0, stored.stderr
    assert sorted(stored.stdout.split()) == sorted(run_ids)


def test_a_client_without_a_trusted_certificate_is_refused(
    tls_kafka: Any, pki: Pki, tmp_path: Path
) -> None:
    topic = f"mtls-{uuid.uuid4().hex[:8]}"
    stranger = _mtls_env(tls_kafka, pki, topic, pki.stranger_cert, pki.stranger_key)
    # the emitter never raises: what the broker refused waits in the spool
    _emit(stranger, tmp_path / "stranger", 3, flush_seconds=5)
    assert _spooled(tmp_path / "stranger") > 0
    no_cert = {k: v for k, v in stranger.items() if "CERTIFICATE" not in k and "SSL_KEY" not in k}
    _emit(no_cert, tmp_path / "anonymous", 3, flush_seconds=5)
    assert _spooled(tmp_path / "anonymous") > 0
