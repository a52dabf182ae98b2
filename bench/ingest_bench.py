"""End-to-end ingest: events/s from the real Kafka broker into ClickHouse (issue 4, Benchmarks).

Run:  .venv/bin/python bench/ingest_bench.py                  (100,000 events, ~6 min)
      .venv/bin/python bench/ingest_bench.py --events 200000 --profile /tmp/consume.prof
      [--bootstrap HOST:PORT] [--partitions 2] [--batch-sizes 1000,5000,20000,50000]
      [--http-events 1000] [--http-seconds 60] [--workload typical|lifecycle] [--no-two]
Without --bootstrap it starts the local Apache Kafka broker of deploy/local/ (with Kafka's
default ``group.initial.rebalance.delay.ms`` of 3 s, which the test broker sets to 0).  The
broker, the consumer(s) and this driver share the machine's cores.  Results: bench/RESULTS.md.

What it does:

1. Builds a backlog of distinct, realistic events: by default the codec benchmark's typical
   training event (9 facets, 2 inputs, 1 output, Avro ~2.3 kB), each copy with its own run id
   (``--workload lifecycle``: the START/RUNNING/COMPLETE/deploy mix of the integration tests).
   The Avro message is encoded once per template and the run id -- a fixed-length string in
   the Avro record -- is replaced in the bytes, so building 200k messages takes a second.
   The backlog is produced once (lz4, large batches) to a topic of ``--partitions``
   partitions, before any consumer starts: production is not part of the measurement.
2. Runs the real CLI, ``python -m pedigree.cli consume --exit-when-idle``, as a subprocess with
   its own embedded ClickHouse (``chdb://<tmp dir>``) and a fresh consumer group, once per
   case: a batch-size sweep (``--batch-bytes 256 MiB`` and ``--batch-seconds 30`` there, so the
   count is the limit that binds), the CLI defaults, and two processes in one group (each
   with its own chdb directory: the embedded engine belongs to one process).
   **events/s = events / (first partition assignment -> last offset commit)**: the assignment
   time is when the consumer's "assigned" log line arrives, the end is when this driver's
   poll (every 0.2 s) sees the group's committed offsets reach the end of the topic.  Process
   start-up (imports, chdb, migrations, group join) and shutdown are left out; start-up is
   shown apart.  CPU s is the consumer's user + system time over the same interval (every
   thread: librdkafka's and chdb's too), read from ``/proc/<pid>/stat``; "events per CPU-s"
   does not depend on what else runs on the machine.  Peak RSS is the process's ``ru_maxrss``
   (``os.wait4``); RSS is also sampled every 0.2 s (``/proc/<pid>/status``) to check that it
   stays flat while the backlog is caught up.  After exit, a separate process counts the rows
   of ``pedigree.events`` and their distinct event ids.
3. The Marquez-style path: the same events as OpenLineage JSON, one HTTP request each, over one
   keep-alive connection (as an OpenLineage HTTP transport posts), to the FastAPI stand-in of
   ``bench/http_standin.py`` under uvicorn (decode + validate + map + one insert per table per
   request into its own chdb).  Fewer events there (``--http-events``, the timed loop stops
   after ``--http-seconds``); 20 untimed warm-up requests first.
4. Measures, in this process, the per-event Python cost of ``codec.decode`` and
   ``rows_for_events`` on the same messages: the ceiling of any consumer that decodes and maps
   each event in Python on one core.
5. ``--profile PATH`` adds one more run of the default configuration under ``cProfile``
   (not in the table; its top entries are printed).
"""

from __future__ import annotations

import argparse
import collections
import http.client
import importlib.util
import io
import json
import os
import pstats
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from consumers.batching import BatchLimits  # noqa: E402

MiB = 1024 * 1024
SWEEP_BATCH_BYTES = 256 * MiB
SWEEP_BATCH_SECONDS = 30.0
# the CLI's defaults: --batch-size/-bytes/-seconds
DEFAULT_LIMITS = (BatchLimits().max_events, BatchLimits().max_bytes, BatchLimits().max_seconds)
POLL_SECONDS = 0.2

VERIFY = """\
import json, sys
import clickhouse_connect
client = clickhouse_connect.get_client(dsn=sys.argv[1])
rows, distinct = client.query(
    "SELECT count(), uniqExact(event_id) FROM pedigree.events"
).result_rows[0]
print(json.dumps([rows, distinct]))
"""


# -- the backlog ---------------------------------------------------------------------------


@dataclass
class Backlog:
    avro: list[bytes]
    keys: list[bytes]
    json_templates: list[tuple[bytes, bytes]]  # (JSON text, run id in it) per template
    run_ids: list[bytes]  # the new run id of each message
    template_of: list[int]

    def json_body(self, index: int) -> bytes:
        text, old = self.json_templates[self.template_of[index]]
        return text.replace(old, self.run_ids[index])


def templates(workload: str) -> list[dict[str, Any]]:
    if workload == "typical":
        from codec_bench import typical_event

        return [typical_event()]
    from tests.integration.test_warehouse import realistic_events

    return realistic_events()


def build_backlog(workload: str, count: int) -> Backlog:
    from emitters import codec

    events = templates(workload)
    encoded = [
        (codec.encode(e), json.dumps(e).encode(), e["run"]["runId"].encode()) for e in events
    ]
    avro: list[bytes] = []
    run_ids: list[bytes] = []
    template_of: list[int] = []
    for i in range(count):
        t = i % len(encoded)
        message, _text, old = encoded[t]
        new = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{i // len(encoded)}:{old.decode()}")).encode()
        assert len(new) == len(old)  # same length: the Avro string's length prefix still holds
        avro.append(message.replace(old, new))
        run_ids.append(new)
        template_of.append(t)
    return Backlog(avro, run_ids, [(text, old) for _m, text, old in encoded], run_ids, template_of)


def describe(workload: str) -> str:
    from emitters import codec

    parts = []
    for e in templates(workload):
        facets = sum(
            len(p.get("facets", {})) + len(p.get("outputFacets", {}))
            for p in [e["run"], e["job"], *e["inputs"], *e["outputs"]]
        )
        parts.append(
            f"{e['eventType']} ({facets} facets, {len(e['inputs'])} in, "
            f"{len(e['outputs'])} out, Avro {len(codec.encode(e))} B)"
        )
    return "; ".join(parts)


# -- the Python cost per event, in this process --------------------------------------------


def consumer_rows(messages: Sequence[bytes], topic: str, first_offset: int) -> dict[str, list[Any]]:
    """The rows ``pedigree consume`` makes of ``messages`` (offsets from ``first_offset``),
    decoded and mapped 2,000 at a time as it does, by table."""
    from consumers.materialize import EventMeta, rows_for_events
    from consumers.tables import COLUMNS
    from emitters.codec import decode

    received = datetime.now(UTC)
    rows: dict[str, list[Any]] = {table: [] for table in COLUMNS}
    for chunk in range(0, len(messages), 2000):
        pairs = [
            (EventMeta(topic, 0, first_offset + chunk + i, m, received), decode(m))
            for i, m in enumerate(messages[chunk : chunk + 2000])
        ]
        for table, table_rows in rows_for_events(pairs).items():
            rows[table].extend(table_rows)
    return rows


def python_cost(backlog: Backlog, count: int = 5000) -> dict[str, float]:
    """µs per event of codec.decode and rows_for_events on the backlog's first messages."""
    from consumers.materialize import EventMeta, rows_for_events
    from emitters.codec import decode

    sample = backlog.avro[:count]
    best_decode = best_map = float("inf")
    rows_per_event = 0.0
    for _ in range(3):
        start = time.perf_counter()
        events = [decode(m) for m in sample]
        best_decode = min(best_decode, time.perf_counter() - start)
        now = datetime.now(UTC)
        pairs = [
            (EventMeta("bench", 0, i, m, now), e)
            for i, (m, e) in enumerate(zip(sample, events, strict=True))
        ]
        start = time.perf_counter()
        rows = rows_for_events(pairs)
        best_map = min(best_map, time.perf_counter() - start)
        rows_per_event = sum(len(r) for r in rows.values()) / len(sample)
    return {
        "decode_us": best_decode / len(sample) * 1e6,
        "map_us": best_map / len(sample) * 1e6,
        "rows_per_event": rows_per_event,
    }


# -- Kafka -----------------------------------------------------------------------------------


def load_kafka_local() -> ModuleType:
    name = "pedigree_deploy_kafka_local"
    path = ROOT / "deploy" / "local" / "kafka_local.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec: dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=-1)], operation_timeout=30
    )
    futures[name].result(timeout=30)
    deadline = time.monotonic() + 30
    while True:  # list all topics: asking for one could auto-create it
        topic = admin.list_topics(timeout=10).topics.get(name)
        if (
            topic is not None
            and topic.error is None
            and len(topic.partitions) == partitions
            and all(p.error is None and p.leader >= 0 for p in topic.partitions.values())
        ):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {name} has no leader for every partition")
        time.sleep(0.05)


def produce_backlog(bootstrap: str, topic: str, partitions: int, backlog: Backlog) -> float:
    """Produce every message (round-robin over the partitions); returns the seconds taken."""
    from confluent_kafka import Consumer as KafkaConsumer
    from confluent_kafka import Producer, TopicPartition

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1_048_576,
        }
    )
    start = time.perf_counter()
    for i, (value, key) in enumerate(zip(backlog.avro, backlog.keys, strict=True)):
        while True:
            try:
                producer.produce(topic, value=value, key=key, partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(300)
    seconds = time.perf_counter() - start
    if remaining:
        raise RuntimeError(f"{remaining} messages not delivered")
    probe = KafkaConsumer({"bootstrap.servers": bootstrap, "group.id": "bench-probe"})
    try:
        high = sum(
            probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        )
    finally:
        probe.close()
    if high != len(backlog.avro):
        raise RuntimeError(f"the topic holds {high} messages, expected {len(backlog.avro)}")
    return seconds


# -- processes -------------------------------------------------------------------------------


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of the process so far, every thread included."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


@dataclass
class Child:
    proc: subprocess.Popen[bytes]
    started: float
    stderr_tail: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=40)
    )
    stdout: list[str] = field(default_factory=list)
    assigned: float | None = None
    exited: float | None = None
    maxrss_kib: int = 0
    cpu_seconds: float = 0.0  # user + system, all threads (librdkafka's and chdb's included)
    assignments: list[tuple[float, str]] = field(default_factory=list)  # "assigned" log lines
    samples: list[tuple[float, int, float]] = field(default_factory=list)  # t, RSS KiB, CPU s

    def reap(self) -> bool:
        """Whether the process has exited (its rusage is recorded then)."""
        if self.exited is not None:
            return True
        pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
        if pid == 0:
            return False
        self.exited = time.monotonic()
        self.maxrss_kib = usage.ru_maxrss  # KiB on Linux
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        return True

    def sample(self, now: float) -> None:
        if self.exited is None and (kib := rss_kib(self.proc.pid)) is not None:
            self.samples.append((now, kib, cpu_seconds(self.proc.pid) or 0.0))

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds used between two moments (the nearest samples; the total at exit)."""
        before = [cpu for t, _k, cpu in self.samples if t <= start] or [0.0]
        after = [cpu for t, _k, cpu in self.samples if t >= end]
        return (after[0] if after else self.cpu_seconds) - before[-1]


def _pump(stream: IO[bytes], sink: Any, on_line: Any = None) -> None:
    for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip()
        sink.append(line)
        if on_line is not None:
            on_line(line)


def spawn(cmd: Sequence[str], env: dict[str, str] | None = None) -> Child:
    proc = subprocess.Popen(
        list(cmd), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    child = Child(proc, time.monotonic())

    def on_err(line: str) -> None:
        if "pedigree: assigned" in line:
            now = time.monotonic()
            child.assigned = child.assigned or now
            child.assignments.append((now, line.split("pedigree: assigned", 1)[1].strip()))

    assert proc.stdout is not None
    assert proc.stderr is not None
    threading.Thread(target=_pump, args=(proc.stdout, child.stdout), daemon=True).start()
    threading.Thread(
        target=_pump, args=(proc.stderr, child.stderr_tail, on_err), daemon=True
    ).start()
    return child


def verify(dsn: str) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", VERIFY, dsn], cwd=ROOT, capture_output=True, text=True, check=True
    )
    rows, distinct = json.loads(out.stdout.strip().splitlines()[-1])
    return int(rows), int(distinct)


# -- one consumer case -----------------------------------------------------------------------


@dataclass
class Case:
    label: str
    consumers: int = 1
    batch_size: int = DEFAULT_LIMITS[0]
    batch_bytes: int = DEFAULT_LIMITS[1]
    batch_seconds: float = DEFAULT_LIMITS[2]
    profile: Path | None = None


@dataclass
class Result:
    case: Case
    events: int  # rows in pedigree.events, all processes
    distinct: int
    batches: int
    seconds: float  # first assignment -> last commit
    startup: float  # launch -> first assignment
    wall: float  # launch -> last exit
    peak_rss_mib: list[float]
    cpu_seconds: list[float]  # per process, first assignment -> last commit
    assignments: list[list[tuple[float, str]]]  # (s since the first assignment, partitions)
    catchup_rss_mib: list[tuple[float, float]]  # (min, max) RSS per process while catching up
    series_mib: list[list[tuple[float, float]]]  # (s since assignment, MiB) per process

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Target:
    """Where the backlog is: broker, topic, partitions, message count; and a scratch dir."""

    bootstrap: str
    topic: str
    partitions: int
    total: int
    workdir: Path


def _consumer_cmd(case: Case, target: Target, group: str, directory: Path) -> list[str]:
    cmd = [sys.executable]
    if case.profile is not None:
        cmd += ["-m", "cProfile", "-o", str(case.profile)]
    return [
        *cmd, "-m", "pedigree.cli", "consume",
        "--bootstrap", target.bootstrap, "--topic", target.topic, "--group", group,
        "--clickhouse", f"chdb://{directory}", "--exit-when-idle",
        "--batch-size", str(case.batch_size),
        "--batch-bytes", str(case.batch_bytes),
        "--batch-seconds", str(case.batch_seconds),
    ]  # fmt: skip


def _watch(children: list[Child], target: Target, group: str) -> float | None:
    """Sample RSS and the group's committed offsets until every child exited; returns when
    the committed offsets reached the end of the topic (None if no poll saw it)."""
    from confluent_kafka import Consumer as KafkaConsumer
    from confluent_kafka import TopicPartition

    launched = min(c.started for c in children)
    poller = KafkaConsumer(  # never subscribes: reads the group's offsets without joining it
        {"bootstrap.servers": target.bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    tps = [TopicPartition(target.topic, p) for p in range(target.partitions)]
    done: float | None = None
    try:
        while True:
            now = time.monotonic()
            for child in children:
                child.sample(now)
            if done is None:
                try:
                    committed = poller.committed(tps, timeout=5)
                    if sum(max(tp.offset, 0) for tp in committed) >= target.total:
                        done = time.monotonic()
                except Exception:  # noqa: BLE001 - the group coordinator not ready yet
                    pass
            if all(child.reap() for child in children):
                return done
            if now - launched > 1800:
                for child in children:
                    if child.exited is None:
                        child.proc.kill()
            time.sleep(POLL_SECONDS)
    finally:
        poller.close()


def run_case(case: Case, target: Target) -> Result:
    group = f"bench-{re.sub(r'[^a-z0-9]+', '-', case.label.lower())}-{uuid.uuid4().hex[:8]}"
    dirs = [target.workdir / f"{group}-{k}" for k in range(case.consumers)]
    children = [spawn(_consumer_cmd(case, target, group, d)) for d in dirs]
    launched = min(c.started for c in children)
    done = _watch(children, target, group)
    for child in children:
        if child.proc.returncode != 0:
            tail = "\n".join(child.stderr_tail)
            raise RuntimeError(f"{case.label}: consumer exited {child.proc.returncode}:\n{tail}")
    last_exit = max(c.exited or 0.0 for c in children)
    if done is None:  # the last commit came between the last poll and the process exit
        done = last_exit
    firsts = [c.assigned for c in children if c.assigned is not None]
    first = min(firsts) if firsts else launched
    events = distinct = 0
    for directory in dirs:
        rows, unique = verify(f"chdb://{directory}")
        events += rows
        distinct += unique
        shutil.rmtree(directory, ignore_errors=True)
    batches = sum(
        int(match[2])
        for child in children
        for line in child.stdout
        if (match := re.search(r"materialized (\d+) events in (\d+) batches", line))
    )
    catchup, series = [], []
    for child in children:
        during = [kib for t, kib, _cpu in child.samples if first <= t <= done] or [0]
        catchup.append((min(during) / 1024, max(during) / 1024))
        series.append([(t - first, kib / 1024) for t, kib, _cpu in child.samples])
    return Result(
        case=case,
        events=events,
        distinct=distinct,
        batches=batches,
        seconds=done - first,
        startup=first - launched,
        wall=last_exit - launched,
        peak_rss_mib=[c.maxrss_kib / 1024 for c in children],
        cpu_seconds=[c.cpu_between(first, done) for c in children],
        assignments=[[(t - first, text) for t, text in c.assignments] for c in children],
        catchup_rss_mib=catchup,
        series_mib=series,
    )


# -- the HTTP path ---------------------------------------------------------------------------


@dataclass
class HttpResult:
    events: int  # timed requests
    seconds: float
    rows: int
    distinct: int
    peak_rss_mib: float
    cpu_seconds: float  # the server process's, during the timed requests
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_listening(child: Child, port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if child.reap() or time.monotonic() > deadline:
                raise RuntimeError(
                    "the HTTP stand-in did not start:\n" + "\n".join(child.stderr_tail)
                ) from None
            time.sleep(0.2)


def _terminate(child: Child, timeout: float = 30) -> None:
    if child.exited is None:
        child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not child.reap():
            if time.monotonic() > deadline:
                child.proc.kill()
            time.sleep(0.1)


HTTP_WARMUP = 20


def _drive(
    child: Child, port: int, backlog: Backlog, count: int, max_seconds: float
) -> tuple[float, float, list[float]]:
    """POST ``HTTP_WARMUP`` untimed events, then up to ``count`` timed ones, sequentially on
    one keep-alive connection; returns the timed seconds, the server's CPU seconds meanwhile
    and each request's latency (ms)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"}

    def post(index: int) -> None:
        conn.request("POST", "/api/v1/lineage", backlog.json_body(index), headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 201:
            raise RuntimeError(f"HTTP {response.status}: {body[:300]!r}")

    for i in range(HTTP_WARMUP):
        post(i)
    latencies: list[float] = []
    stop_at = time.monotonic() + max_seconds
    cpu_start = cpu_seconds(child.proc.pid) or 0.0
    start = time.perf_counter()
    for i in range(HTTP_WARMUP, HTTP_WARMUP + count):
        t = time.perf_counter()
        post(i)
        latencies.append((time.perf_counter() - t) * 1000)
        if i % 50 == 0:
            child.sample(time.monotonic())
            if time.monotonic() > stop_at:
                break
    seconds = time.perf_counter() - start
    cpu = (cpu_seconds(child.proc.pid) or 0.0) - cpu_start
    conn.close()
    return seconds, cpu, latencies


def run_http(backlog: Backlog, count: int, max_seconds: float, workdir: Path) -> HttpResult:
    from http_standin import DSN_ENV

    directory = workdir / "http-standin"
    port = free_port()
    env = {**os.environ, DSN_ENV: f"chdb://{directory}"}
    child = spawn(
        [
            sys.executable, "-m", "uvicorn", "http_standin:app", "--app-dir", str(BENCH),
            "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "warning", "--no-access-log",
        ],
        env=env,
    )  # fmt: skip
    try:
        _wait_listening(child, port)
        seconds, cpu, latencies = _drive(child, port, backlog, count, max_seconds)
    finally:
        _terminate(child)
    rows, distinct = verify(f"chdb://{directory}")
    shutil.rmtree(directory, ignore_errors=True)
    sent = len(latencies)
    if rows != HTTP_WARMUP + sent:
        raise RuntimeError(f"HTTP stand-in: {rows} rows for {HTTP_WARMUP + sent} events")
    return HttpResult(sent, seconds, rows, distinct, child.maxrss_kib / 1024, cpu, latencies)


# -- report ----------------------------------------------------------------------------------


def fmt_limits(case: Case) -> str:
    return f"{case.batch_size:,} / {case.batch_bytes // MiB} MiB / {case.batch_seconds:g} s"


@dataclass
class Report:
    events: int
    partitions: int
    description: str
    cost: dict[str, float]
    produce_seconds: float = 0.0
    results: list[Result] = field(default_factory=list)
    http: HttpResult | None = None
    load_before: str = ""
    load_after: str = ""


def print_report(report: Report) -> None:
    cost, results, http = report.cost, report.results, report.http
    print(f"\nWorkload: {report.events:,} events, {report.partitions} partitions; "
          f"{report.description}")  # fmt: skip
    print(
        f"Backlog produced in {report.produce_seconds:.1f} s "
        f"({report.events / max(report.produce_seconds, 1e-9):,.0f}/s, lz4), "
        "before the consumers start."
    )
    print(
        f"Python cost per event in one process: codec.decode {cost['decode_us']:.1f} µs, "
        f"rows_for_events {cost['map_us']:.1f} µs ({cost['rows_per_event']:.1f} rows/event) "
        f"-> ceiling {1e6 / (cost['decode_us'] + cost['map_us']):,.0f} events/s per core "
        "before any insert.\n"
    )
    print(
        "| case | processes | batch: events / bytes / age | events | batches | events/s | "
        "start-up s | CPU s | events per CPU-s | peak RSS MiB | "
        "RSS min / max while catching up, MiB |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ok = "" if r.events == r.distinct == report.events else f" (**{r.distinct:,} distinct**)"
        peak = " + ".join(f"{m:,.0f}" for m in r.peak_rss_mib)
        during = " + ".join(f"{lo:,.0f} / {hi:,.0f}" for lo, hi in r.catchup_rss_mib)
        print(
            f"| {r.case.label} | {r.case.consumers} | {fmt_limits(r.case)} | "
            f"{r.events:,}{ok} | {r.batches:,} | **{r.rate:,.0f}** | {r.startup:.1f} | "
            f"{sum(r.cpu_seconds):,.0f} | {r.events / max(sum(r.cpu_seconds), 1e-9):,.0f} | "
            f"{peak} | {during} |"
        )
    if http is not None:
        print_http(http, results)
    print("\nRSS over time (MiB, s since the first assignment), first process of each case:")
    for r in results:
        series = r.series_mib[0]
        step = max(1, len(series) // 12)
        points = ", ".join(f"{t:.0f}s {m:,.0f}" for t, m in series[::step])
        print(f"- {r.case.label}: {points}")
    for r in results:
        if r.case.consumers > 1:
            print(f"\nPartition assignments in '{r.case.label}' (s since the first one):")
            for k, moments in enumerate(r.assignments):
                print(f"- process {k + 1}: " + "; ".join(f"{t:.1f}s {p}" for t, p in moments))
    print(f"\nLoad average before / after: {report.load_before} / {report.load_after}")


def print_http(http: HttpResult, results: list[Result]) -> None:
    lat = sorted(http.latencies_ms)
    p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print(
        f"| HTTP stand-in, 1 event per request, 1 keep-alive connection | 1 | - | "
        f"{http.events:,} timed (+{HTTP_WARMUP} warm-up) | {http.events:,} requests | "
        f"**{http.rate:,.0f}** | - | {http.cpu_seconds:,.1f} (server) | "
        f"{http.events / max(http.cpu_seconds, 1e-9):,.0f} | {http.peak_rss_mib:,.0f} | - |"
    )
    print(f"\nHTTP request latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms, mean "
          f"{statistics.fmean(lat):.1f} ms")  # fmt: skip
    singles = [r for r in results if r.case.consumers == 1]
    defaults = next((r for r in singles if r.case.label == "defaults"), None)
    if singles and defaults is not None and http.rate > 0:
        best = max(singles, key=lambda r: r.rate)
        print(
            f"Consumer / HTTP: {defaults.rate / http.rate:,.1f}x (defaults), "
            f"{best.rate / http.rate:,.1f}x (best single process, {best.case.label})"
        )


def print_profile(path: Path, lines: int = 25) -> None:
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        stats = pstats.Stats(str(path), stream=out)
        stats.strip_dirs().sort_stats(order).print_stats(lines)
        print(f"\n## cProfile of the consumer (default limits), by {order}\n")
        text = out.getvalue()
        print(text[text.find("   ncalls") :] if "   ncalls" in text else text)


# -- main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000, help="backlog size")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument(
        "--batch-sizes", default="1000,5000,20000,50000", help="comma-separated sweep"
    )
    parser.add_argument("--http-events", type=int, default=1000, help="events over HTTP")
    parser.add_argument("--http-seconds", type=float, default=60.0, help="cap of the HTTP run")
    parser.add_argument("--workload", choices=("typical", "lifecycle"), default="typical")
    parser.add_argument("--bootstrap", help="an existing broker (default: start a local one)")
    parser.add_argument("--profile", type=Path, help="also run the defaults under cProfile")
    parser.add_argument("--no-two", action="store_true", help="skip the two-process case")
    return parser.parse_args()


def cases(args: argparse.Namespace) -> list[Case]:
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    out = [
        Case(
            f"batch {size:,}",
            batch_size=size,
            batch_bytes=SWEEP_BATCH_BYTES,
            batch_seconds=SWEEP_BATCH_SECONDS,
        )
        for size in sizes
    ]
    out.append(Case("defaults"))
    if not args.no_two and args.partitions >= 2:
        out.append(Case("defaults, two processes", consumers=2))
    return out


def run_all(args: argparse.Namespace, backlog: Backlog, report: Report, workdir: Path) -> None:
    broker = None
    bootstrap = args.bootstrap
    try:
        if not bootstrap:
            # Kafka's default initial rebalance delay (the local broker sets 0 for the tests):
            # the two processes of a case join one generation instead of the first taking every
            # partition and the second waiting for the first's flush to rejoin.
            broker = load_kafka_local().LocalKafka(
                workdir / "kafka", extra_config={"group.initial.rebalance.delay.ms": "3000"}
            )
            broker.start()
            bootstrap = broker.bootstrap
        topic = f"ingest-bench-{uuid.uuid4().hex[:8]}"
        create_topic(bootstrap, topic, args.partitions)
        report.produce_seconds = produce_backlog(bootstrap, topic, args.partitions, backlog)
        print(f"produced in {report.produce_seconds:.1f} s", flush=True)
        target = Target(bootstrap, topic, args.partitions, args.events, workdir)
        for case in cases(args):
            result = run_case(case, target)
            report.results.append(result)
            peak = " + ".join(f"{m:,.0f}" for m in result.peak_rss_mib)
            print(
                f"{case.label}: {result.events:,} events in {result.seconds:.1f} s = "
                f"{result.rate:,.0f}/s, peak RSS {peak} MiB",
                flush=True,
            )
        if args.http_events > 0:
            report.http = run_http(backlog, args.http_events, args.http_seconds, workdir)
            print(f"HTTP: {report.http.events:,} events in {report.http.seconds:.1f} s")
        if args.profile is not None:
            case = Case("defaults (cProfile)", profile=args.profile.resolve())
            profiled = run_case(case, target)
            print(f"profiled run: {profiled.rate:,.0f} events/s under cProfile", flush=True)
    finally:
        if broker is not None:
            broker.stop()


def main() -> None:
    args = parse_args()
    began = time.monotonic()
    start = time.perf_counter()
    backlog = build_backlog(args.workload, args.events)
    print(f"built {args.events:,} messages in {time.perf_counter() - start:.1f} s", flush=True)
    report = Report(args.events, args.partitions, describe(args.workload), python_cost(backlog))
    workdir = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    report.load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        run_all(args, backlog, report, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report.load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print_report(report)
    if args.profile is not None:
        print_profile(args.profile.resolve())
    print(f"\ntotal {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
