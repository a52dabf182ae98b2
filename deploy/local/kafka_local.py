"""A real Apache Kafka broker on this machine, for development and the integration tests.

The broker is the Apache Kafka server itself (KRaft mode, each node both broker and controller),
run from the Maven Central jars named in ``deploy/local/pom.xml``. No Docker, no download
script: ``fetch()`` asks Maven for the jars once and caches them outside the repository.

As a module (what ``tests/integration/conftest.py`` does)::

    with LocalKafka(workdir).start() as kafka:
        produce_to(kafka.bootstrap)        # "127.0.0.1:PORT"
    # on error, kafka.log_path is the broker's log file

As a script::

    python deploy/local/kafka_local.py fetch
    python deploy/local/kafka_local.py start [--dir D]   # prints the bootstrap address
    python deploy/local/kafka_local.py stop [--dir D]

Standard library only; ``confluent_kafka`` is imported lazily to check that the broker answers
metadata requests (without it, readiness is read from the broker log).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = [
    "BrokerStartError",
    "FetchError",
    "JavaError",
    "KafkaLocalError",
    "LocalKafka",
    "TlsListener",
    "cache_root",
    "fetch",
    "find_java",
    "kafka_version",
    "stop_pid_file",
]

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
LOG4J_CONFIG = HERE / "log4j2.properties"
MIN_JAVA = 17
PID_FILE = "kafka.pid"
BOOTSTRAP_FILE = "bootstrap"
_MARKER = ".complete"
DEFAULT_JVM_OPTIONS = (
    "-XX:+UseG1GC",
    # C1 only: on 2 cores the optimizing JIT competes with start-up (about 4.8 s -> 2.8 s under
    # load); a test broker is I/O-bound, so its throughput barely changes.
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
_READY_LINE = "Kafka Server started"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ERROR = re.compile(r"\[[^]]+\] (ERROR|FATAL) ")


class KafkaLocalError(Exception):
    """Root of every error this module raises."""


class FetchError(KafkaLocalError):
    """Maven could not provide the broker jars; ``output_tail`` is the end of its output."""

    def __init__(self, message: str, output_tail: str = "") -> None:
        super().__init__(f"{message}\n--- maven output (tail) ---\n{output_tail}".rstrip())
        self.output_tail = output_tail


class JavaError(KafkaLocalError):
    """No usable Java runtime (missing, or older than Java 17)."""


class BrokerStartError(KafkaLocalError):
    """The broker did not come up; ``log_path`` and ``log_tail`` say why."""

    def __init__(self, message: str, log_path: Path, log_tail: str) -> None:
        super().__init__(f"{message}\nlog: {log_path}\n--- last lines ---\n{log_tail}")
        self.log_path = log_path
        self.log_tail = log_tail


# ---------------------------------------------------------------------------------------------
# jars


def kafka_version(pom: Path = POM) -> str:
    """The Kafka version pinned in ``pom.xml`` (its ``kafka.version`` property)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(pom).getroot().find("m:properties/m:kafka.version", ns)  # noqa: S314
    if node is None or not (node.text or "").strip():
        raise KafkaLocalError(f"{pom} has no <kafka.version> property")
    return (node.text or "").strip()


def cache_root() -> Path:
    """``$PEDIGREE_CACHE_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/pedigree``."""
    if explicit := os.environ.get("PEDIGREE_CACHE_DIR"):
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "pedigree"


def fetch(pom: Path = POM, cache_dir: Path | None = None, mvn: str = "mvn") -> Path:
    """Return the directory of broker jars, running Maven only if the cache is missing or stale.

    The jars go to ``<cache>/kafka-<version>/libs``. A marker holding the pom's digest is written
    after a complete copy, so an interrupted fetch is redone and a changed pom refetches.
    Concurrent callers (e.g. parallel test processes) serialize on a lock file.
    """
    home = (cache_dir or cache_root()) / f"kafka-{kafka_version(pom)}"
    libs = home / "libs"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    if _fetched(libs, digest):
        return libs
    home.mkdir(parents=True, exist_ok=True)
    with _locked(home / ".lock"):
        if _fetched(libs, digest):
            return libs
        if shutil.which(mvn) is None:
            raise FetchError(f"Maven ({mvn!r}) is not on PATH; install it (apt-get install maven)")
        staging = home / f"libs.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        # Maven runs on a copy of the pom in the cache, so it never writes into the repository.
        shutil.copyfile(pom, home / "pom.xml")
        cmd = [mvn, "-B", "-q", "-f", str(home / "pom.xml"), "dependency:copy-dependencies",
               "-DincludeScope=runtime", f"-DoutputDirectory={staging}"]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        except subprocess.TimeoutExpired as err:
            partial = err.output or b""
            if isinstance(partial, bytes):
                partial = partial.decode(errors="replace")
            raise FetchError("Maven timed out fetching the Kafka jars", _tail(partial)) from err
        output = _ANSI.sub("", proc.stdout + proc.stderr)
        jars = sorted(staging.glob("kafka_2.13-*.jar")) if staging.is_dir() else []
        if proc.returncode != 0 or not jars:
            shutil.rmtree(staging, ignore_errors=True)
            command = " ".join(cmd)
            raise FetchError(f"Maven failed (exit {proc.returncode}): {command}", _tail(output))
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        (libs / _MARKER).write_text(digest + "\n")
    return libs


def _fetched(libs: Path, digest: str) -> bool:
    marker = libs / _MARKER
    return marker.is_file() and marker.read_text().strip() == digest


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def find_java(java: str | None = None) -> str:
    """The java executable: ``java``, ``$PEDIGREE_JAVA``, ``$JAVA_HOME/bin/java``, or PATH."""
    home_java = Path(os.environ.get("JAVA_HOME") or "/nonexistent") / "bin" / "java"
    candidate = (
        java
        or os.environ.get("PEDIGREE_JAVA")
        or (str(home_java) if os.access(home_java, os.X_OK) else None)
        or shutil.which("java")
    )
    if not candidate:
        raise JavaError(f"no java found: install Java {MIN_JAVA}+ or set PEDIGREE_JAVA")
    try:
        proc = subprocess.run(
            [candidate, "-version"], check=False, capture_output=True, text=True, timeout=60
        )
    except OSError as err:
        raise JavaError(f"cannot run {candidate!r}: {err}; set PEDIGREE_JAVA") from err
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if not match:
        raise JavaError(f"cannot read the version of {candidate!r}: {proc.stderr.strip()}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_392" is Java 8
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise JavaError(
            f"{candidate} is Java {major}; Kafka {kafka_version()} needs Java {MIN_JAVA} or newer "
            "(set PEDIGREE_JAVA to a newer java)"
        )
    return candidate


# ---------------------------------------------------------------------------------------------
# the broker


@dataclass(frozen=True)
class Node:
    """One KRaft node (broker + controller) of a local cluster."""

    node_id: int
    broker_port: int
    controller_port: int
    directory: Path

    @property
    def log_path(self) -> Path:
        return self.directory / "broker.log"

    @property
    def console_path(self) -> Path:
        return self.directory / "console.log"

    @property
    def config_path(self) -> Path:
        return self.directory / "server.properties"


@dataclass(frozen=True)
class TlsListener:
    """A second listener, TLS, for a one-node cluster (``LocalKafka(tls=...)``), from PEM files.

    ``keystore``: the broker's private key (unencrypted PKCS#8) followed by its certificate;
    ``truststore``: the CA certificates that sign the clients' certificates.  With
    ``client_auth="required"`` (mutual TLS) a client without a certificate signed by them is
    refused.  The PLAINTEXT listener stays (readiness checks and inter-broker traffic use it).
    """

    keystore: Path
    truststore: Path
    client_auth: str = "required"


class LocalKafka:
    """A local Kafka cluster of ``nodes`` KRaft nodes (1 by default), each in its own process.

    Every node is broker and controller; node ids are 1..nodes and all of them vote in one
    static controller quorum. Node ``i`` lives in ``<workdir>/node-<i>/`` (``server.properties``,
    ``data/``, ``broker.log``, ``console.log`` for JVM output before logging starts).
    With ``die_with_parent`` (the default) each java process is killed by the kernel if the
    thread that started it dies, so a crashed test run leaves no broker behind.
    """

    def __init__(
        self,
        workdir: Path | str,
        *,
        nodes: int = 1,
        heap: str = "512m",
        jvm_options: Sequence[str] = DEFAULT_JVM_OPTIONS,
        java: str | None = None,
        libs: Path | None = None,
        start_timeout: float = 90.0,
        die_with_parent: bool = True,
        extra_config: dict[str, str] | None = None,
        tls: TlsListener | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError(f"nodes must be at least 1, got {nodes}")
        if tls is not None and nodes != 1:
            raise ValueError("a TLS listener is only offered on a one-node cluster")
        self.workdir = Path(workdir).resolve()
        self.nodes_count = nodes
        self.heap = heap
        self.jvm_options = list(jvm_options)
        self.java = java
        self.libs = libs
        self.start_timeout = start_timeout
        self.die_with_parent = die_with_parent
        self.extra_config = dict(extra_config or {})
        self.tls = tls
        self.tls_port = 0
        self.cluster_id = ""
        self.nodes: list[Node] = []
        self.processes: list[subprocess.Popen[bytes]] = []

    # -- what callers read -------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """Comma-separated ``127.0.0.1:PORT`` of every node's PLAINTEXT listener."""
        return ",".join(f"127.0.0.1:{node.broker_port}" for node in self.nodes)

    @property
    def tls_bootstrap(self) -> str:
        """``127.0.0.1:PORT`` of the TLS listener (``tls=``)."""
        if self.tls is None or not self.tls_port:
            raise KafkaLocalError("this cluster was not started with a TLS listener")
        return f"127.0.0.1:{self.tls_port}"

    @property
    def log_path(self) -> Path:
        """The first node's broker log (``<workdir>/node-1/broker.log``)."""
        return self.workdir / "node-1" / "broker.log"

    @property
    def log_paths(self) -> list[Path]:
        return [node.log_path for node in self.nodes]

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self.processes]

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LocalKafka:
        """Format storage, start every node and wait until the cluster answers metadata.

        Raises ``BrokerStartError`` (with the log path and tail) if it does not within
        ``start_timeout`` seconds; nothing is left running then.
        """
        if self.processes:
            raise KafkaLocalError("already started")
        libs = self.libs or fetch()
        java = find_java(self.java)
        for attempt in range(3):  # a free port can be taken between choosing and binding it
            self._prepare(libs, java)
            try:
                self._launch(libs, java)
                self._wait_ready()
            except BrokerStartError as err:
                self.stop(timeout=5)
                if attempt < 2 and "Address already in use" in err.log_tail:
                    continue
                raise
            except BaseException:  # e.g. KeyboardInterrupt: leave nothing running
                self.stop(timeout=5)
                raise
            return self
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM every node's process group, wait up to ``timeout`` s, then SIGKILL."""
        for proc in self.processes:
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.processes:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        self.processes = []

    def kill(self, node_id: int) -> None:
        """SIGKILL node ``node_id`` (``kill -9``: no shutdown, nothing flushed); its data
        directory stays, so :meth:`restart` brings the same broker back."""
        proc = self.processes[self._index(node_id)]
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()

    def restart(self, node_id: int) -> None:
        """Start a killed node again on its data directory, and wait until the cluster lists
        every broker again (``BrokerStartError`` otherwise).

        With ``die_with_parent``, the node dies with the *thread* that restarts it: call this
        from a thread that outlives the cluster (the main thread of a test).
        """
        index = self._index(node_id)
        if self.processes[index].poll() is None:
            raise KafkaLocalError(f"node {node_id} is running")
        libs = self.libs or fetch()
        java = find_java(self.java)
        self.processes[index] = self._spawn(self.nodes[index], libs, java)
        self._wait_ready()

    def _index(self, node_id: int) -> int:
        if not self.processes:
            raise KafkaLocalError("not started")
        ids = [node.node_id for node in self.nodes]
        if node_id not in ids:
            raise KafkaLocalError(f"no node {node_id}: the nodes are {ids}")
        return ids.index(node_id)

    def __enter__(self) -> LocalKafka:
        if not self.processes:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------------

    def _prepare(self, libs: Path, java: str) -> None:
        self.cluster_id = _kafka_uuid()
        ports = _free_ports(2 * self.nodes_count + (1 if self.tls else 0))
        self.tls_port = ports[-1] if self.tls else 0
        self.nodes = [
            Node(i, ports[2 * i - 2], ports[2 * i - 1], self.workdir / f"node-{i}")
            for i in range(1, self.nodes_count + 1)
        ]
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        replicas = str(min(3, self.nodes_count))
        for node in self.nodes:
            shutil.rmtree(node.directory, ignore_errors=True)
            node.directory.mkdir(parents=True)
            config = _server_config(node, voters, replicas)
            if self.tls is not None:
                config |= _tls_config(config, self.tls, self.tls_port)
            config |= self.extra_config
            node.config_path.write_text("".join(f"{k}={v}\n" for k, v in config.items()))
        # Static quorum (controller.quorum.voters), so `format` takes no --standalone /
        # --initial-controllers flag and every node is formatted the same way.
        formats = [
            subprocess.Popen(
                [
                    *self._java_cmd(java, libs, node),
                    "kafka.tools.StorageTool",
                    "format",
                    "--cluster-id",
                    self.cluster_id,
                    "--config",
                    str(node.config_path),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for node in self.nodes
        ]
        for node, proc in zip(self.nodes, formats, strict=True):
            output, _ = proc.communicate(timeout=120)
            format_log = node.directory / "format.log"
            format_log.write_bytes(output)
            if proc.returncode != 0:
                raise BrokerStartError(
                    f"kafka storage format failed for node {node.node_id} (exit {proc.returncode})",
                    format_log,
                    _read_tail(format_log),
                )

    def _launch(self, libs: Path, java: str) -> None:
        for node in self.nodes:
            self.processes.append(self._spawn(node, libs, java))

    def _spawn(self, node: Node, libs: Path, java: str) -> subprocess.Popen[bytes]:
        with node.console_path.open("ab") as console:
            return subprocess.Popen(
                [*self._java_cmd(java, libs, node), "kafka.Kafka", str(node.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                cwd=node.directory,
                start_new_session=True,  # own process group: stop() signals the group
                preexec_fn=_die_with_parent(os.getpid()) if self.die_with_parent else None,  # noqa: PLW1509
            )

    def _java_cmd(self, java: str, libs: Path, node: Node) -> list[str]:
        return [
            java,
            f"-Xmx{self.heap}",
            "-Xms64m",
            *self.jvm_options,
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={node.directory}",
            "-cp",
            f"{libs}/*",
        ]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        check = _readiness_check(self.bootstrap, self.nodes_count)
        waiting_for = "the broker ports to accept connections"
        while True:
            for node, proc in zip(self.nodes, self.processes, strict=True):
                if proc.poll() is not None:
                    raise self._failure(f"kafka node {node.node_id} exited with {proc.returncode}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._failure(
                    f"kafka at {self.bootstrap} not ready after {self.start_timeout:.0f} s, "
                    f"still waiting for {waiting_for}"
                )
            if all(_port_open(node.broker_port) for node in self.nodes):
                if check is None:
                    waiting_for = f"{_READY_LINE!r} in every broker log"
                    if all(_READY_LINE in _read_tail(n.log_path, 400) for n in self.nodes):
                        return
                else:
                    waiting_for = check(min(5.0, remaining))
                    if not waiting_for:
                        return
            time.sleep(0.2)

    def _failure(self, message: str) -> BrokerStartError:
        node = next(
            (n for n, p in zip(self.nodes, self.processes, strict=True) if p.poll() is not None),
            self.nodes[0],
        )
        tail = _read_tail(node.log_path)
        errors = [
            line for line in _read_tail(node.log_path, 10**6).splitlines() if _ERROR.match(line)
        ]
        if errors and errors[0] not in tail:
            tail = "\n".join(["--- first errors ---", *errors[:5], "--- last lines ---", tail])
        console = _read_tail(node.console_path, 15)
        if console.strip():
            tail += f"\n--- {node.console_path} ---\n{console}"
        return BrokerStartError(message, node.log_path, tail)


def _server_config(node: Node, voters: str, replicas: str) -> dict[str, str]:
    return {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{node.broker_port},CONTROLLER://127.0.0.1:{node.controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.broker_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(node.directory / "data"),
        "auto.create.topics.enable": "true",
        "num.partitions": "1",
        "default.replication.factor": replicas,
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "5",
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "2",
        "log.segment.bytes": str(16 * 1024 * 1024),
        "log.retention.bytes": str(256 * 1024 * 1024),
        "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
    }


def _tls_config(config: dict[str, str], tls: TlsListener, port: int) -> dict[str, str]:
    prefix = "listener.name.ssl."
    return {
        "listeners": f"{config['listeners']},SSL://127.0.0.1:{port}",
        "advertised.listeners": f"{config['advertised.listeners']},SSL://127.0.0.1:{port}",
        "listener.security.protocol.map": f"{config['listener.security.protocol.map']},SSL:SSL",
        f"{prefix}ssl.keystore.type": "PEM",
        f"{prefix}ssl.keystore.location": str(tls.keystore),
        f"{prefix}ssl.truststore.type": "PEM",
        f"{prefix}ssl.truststore.location": str(tls.truststore),
        f"{prefix}ssl.client.auth": tls.client_auth,
    }


def _kafka_uuid() -> str:
    """A Kafka ``Uuid`` string (url-safe base64 of 16 random bytes, never starting with '-')."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _readiness_check(bootstrap: str, brokers: int) -> Callable[[float], str] | None:
    """A probe returning what the cluster is still missing ("" once ready), or None when
    confluent_kafka is not installed. Ready: a metadata request lists ``brokers`` brokers and
    the group coordinator is loaded."""
    try:
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient
    except ImportError:
        return None
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 2})
    pending = {
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError._TIMED_OUT,
        KafkaError._TRANSPORT,
    }

    def check(timeout: float) -> str:
        try:
            found = len(admin.list_topics(timeout=timeout).brokers)
        except KafkaException as err:  # still starting
            return f"an answer to a metadata request ({err.args[0]})"
        if found < brokers:
            return f"{brokers} brokers in the metadata (found {found})"
        # Load the group coordinator (this creates __consumer_offsets) before saying ready:
        # otherwise the first consumer-group join waits ~3 s in librdkafka's retry backoff.
        group = "pedigree-local-warmup"
        try:
            admin.describe_consumer_groups([group], request_timeout=timeout)[group].result()
        except KafkaException as err:
            if err.args[0].code() in pending:
                return f"the group coordinator ({err.args[0]})"
        return ""

    return check


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A ``preexec_fn`` asking the kernel to SIGKILL the child when its parent dies (Linux)."""

    def preexec() -> None:
        if sys.platform.startswith("linux"):
            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)

    return preexec


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _read_tail(path: Path, lines: int = 30) -> str:
    try:
        return _tail(path.read_text(errors="replace"), lines)
    except OSError:
        return f"(no log at {path})"


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


# ---------------------------------------------------------------------------------------------
# command line: a broker in the background for developers


def _default_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"pedigree-kafka-{os.getuid()}"


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie is as good as gone


def _ours(pid: int, workdir: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in cmdline and any(str(workdir).encode() in arg for arg in cmdline)


def _running_pids(workdir: Path) -> list[int]:
    try:
        text = (workdir / PID_FILE).read_text()
    except OSError:
        return []
    pids = [int(word) for word in text.split() if word.isdigit()]
    return [pid for pid in pids if _alive(pid) and _ours(pid, workdir)]


def stop_pid_file(workdir: Path, timeout: float = 20.0) -> list[int]:
    """Stop the broker that ``start`` left running in ``workdir``; return the pids stopped."""
    workdir = workdir.resolve()
    pids = _running_pids(workdir)
    for pid in pids:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid) and _ours(pid, workdir):
            _signal_group(pid, signal.SIGKILL)
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline + 5:
        time.sleep(0.1)
    (workdir / PID_FILE).unlink(missing_ok=True)
    (workdir / BOOTSTRAP_FILE).unlink(missing_ok=True)
    return pids


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="kafka_local.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "environment:\n"
            "  PEDIGREE_CACHE_DIR  jar cache root (default ${XDG_CACHE_HOME:-~/.cache}/pedigree)\n"
            "  PEDIGREE_JAVA       java 17+ to run (default $JAVA_HOME/bin/java, then PATH)\n"
            "logs: <dir>/node-<id>/broker.log; JVM output before logging starts: console.log"
        ),
        description=(
            "A local Apache Kafka broker (KRaft, broker+controller) from Maven Central jars. "
            f"Jars are cached in {cache_root()}/kafka-<version>/libs "
            "(PEDIGREE_CACHE_DIR overrides the cache; PEDIGREE_JAVA picks the java)."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch", help="download the broker jars with Maven (once; cached)")
    for name, text in (
        ("start", "start a broker in the background; print its bootstrap address"),
        ("stop", "stop the broker started in --dir"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument(
            "--dir",
            type=Path,
            default=_default_dir(),
            help="work directory: config, data, broker.log, kafka.pid (default: %(default)s)",
        )
        if name == "start":
            sub.add_argument("--nodes", type=int, default=1, help="number of KRaft nodes")
            sub.add_argument("--heap", default="512m", help="java -Xmx per node")
    args = parser.parse_args(argv)

    try:
        if args.command == "fetch":
            started = time.monotonic()
            print(f"{fetch()} ({time.monotonic() - started:.1f} s)")
        elif args.command == "start":
            workdir = args.dir.resolve()
            if pids := _running_pids(workdir):
                address = (workdir / BOOTSTRAP_FILE).read_text().strip()
                print(f"already running (pids {pids}) at {address}; stop it first", file=sys.stderr)
                return 1
            workdir.mkdir(parents=True, exist_ok=True)
            kafka = LocalKafka(workdir, nodes=args.nodes, heap=args.heap, die_with_parent=False)
            kafka.start()
            (workdir / PID_FILE).write_text("".join(f"{pid}\n" for pid in kafka.pids))
            (workdir / BOOTSTRAP_FILE).write_text(kafka.bootstrap + "\n")
            print(kafka.bootstrap)
            print(
                f"log: {kafka.log_path}; stop with: {sys.argv[0]} stop --dir {workdir}",
                file=sys.stderr,
            )
        else:
            stopped = stop_pid_file(args.dir)
            print(f"stopped {stopped}" if stopped else f"no broker running in {args.dir}")
    except KafkaLocalError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
