"""Fixtures of the integration tests: a real Apache Kafka broker and a real ClickHouse engine.

Every test under ``tests/integration/`` is marked ``integration`` automatically, so
``pytest -m "not integration"`` runs the unit tests alone.

Kafka
    ``kafka_bootstrap`` (session) -- ``"host:port"`` of a broker. ``PEDIGREE_TEST_KAFKA`` names an
    existing one; otherwise ``deploy/local/kafka_local.py`` starts a single-node KRaft broker for
    the session (jars from Maven Central, cached) and stops it at the end.
    ``new_topic`` -- ``new_topic(partitions=1, name_prefix="t") -> str`` creates a topic with a
    unique name, waits until every partition has a leader, and deletes it after the test.

ClickHouse
    ``clickhouse_dsn`` (session) -- ``PEDIGREE_TEST_CLICKHOUSE_URL`` (``http://…``) or
    ``chdb://<session tmp dir>``, the embedded engine. chdb opens one data directory per
    process: code under test that needs its own client opens it on this DSN, never another path.
    ``clickhouse`` -- a clickhouse-connect client whose default database is a fresh, randomly
    named, empty database, dropped after the test.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import pytest

HERE = Path(__file__).resolve().parent
KAFKA_LOCAL = HERE.parents[1] / "deploy" / "local" / "kafka_local.py"
TOPIC_READY_TIMEOUT = 30.0


class TopicFactory(Protocol):
    def __call__(self, partitions: int = 1, name_prefix: str = "t") -> str: ...


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects, so `-m "not integration"` sees the mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


def load_kafka_local() -> ModuleType:
    """``deploy/local/kafka_local.py`` as a module (``deploy/`` is not a package)."""
    name = "pedigree_deploy_kafka_local"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, KAFKA_LOCAL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec: dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def running(kafka: Any, what: str) -> Iterator[Any]:
    """Start a ``LocalKafka``, yield it, stop it; a failed start fails the test with the
    broker's log tail (not a traceback). For fixtures: ``yield from running(kafka, "...")``."""
    try:
        kafka.start()
    except load_kafka_local().KafkaLocalError as err:
        problem = str(err)  # the log path and its tail, or why Maven or Java failed
    else:
        problem = None
    if problem is not None:
        pytest.fail(f"could not start {what}:\n{problem}", pytrace=False)
    try:
        yield kafka
    finally:
        kafka.stop()


# ---------------------------------------------------------------------------------------------
# Kafka


def _admin(bootstrap: str, log_level: int = 6) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, "log_level": log_level})


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real Kafka broker for the whole session."""
    external = os.environ.get("PEDIGREE_TEST_KAFKA")
    if external:
        problem = None
        try:
            _admin(external, log_level=2).list_topics(timeout=10)
        except Exception as err:  # noqa: BLE001 -- any failure means the same: no broker there
            problem = err
        if problem is not None:
            pytest.fail(
                f"PEDIGREE_TEST_KAFKA={external} does not answer Kafka metadata requests: "
                f"{problem}. Start a broker there, or unset PEDIGREE_TEST_KAFKA to let the tests "
                "start one.",
                pytrace=False,
            )
        yield external
        return

    kafka = load_kafka_local().LocalKafka(tmp_path_factory.mktemp("kafka"))
    for started in running(kafka, "the local Kafka broker"):
        yield str(started.bootstrap)


@pytest.fixture
def new_topic(kafka_bootstrap: str) -> Iterator[TopicFactory]:
    """``new_topic(partitions=1, name_prefix="t")`` -> a new, ready topic ``<prefix>-<uuid>``.

    The topics a test creates are deleted when it ends.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    admin = _admin(kafka_bootstrap)
    made: list[str] = []

    def create(partitions: int = 1, name_prefix: str = "t") -> str:
        name = f"{name_prefix}-{uuid.uuid4().hex}"
        # replication_factor=-1: the broker's default.replication.factor (1 on the local broker)
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=-1)],
            operation_timeout=TOPIC_READY_TIMEOUT,
        )
        futures[name].result(timeout=TOPIC_READY_TIMEOUT)
        made.append(name)
        _wait_until_led(admin, name, partitions)
        return name

    yield create

    if made:
        for name, future in admin.delete_topics(made, operation_timeout=30).items():
            try:
                future.result(timeout=30)
            except KafkaException as err:
                if err.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise AssertionError(f"could not delete topic {name}: {err}") from err


def _wait_until_led(admin: Any, name: str, partitions: int) -> None:
    """Poll the cluster metadata (all topics: asking for one could auto-create it) until the
    topic has its partitions, each with a leader."""
    deadline = time.monotonic() + TOPIC_READY_TIMEOUT
    while True:
        topic = admin.list_topics(timeout=10).topics.get(name)
        if (
            topic is not None
            and topic.error is None
            and len(topic.partitions) == partitions
            and all(p.error is None and p.leader >= 0 for p in topic.partitions.values())
        ):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"topic {name} has no leader for every partition after 30 s")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# ClickHouse


@pytest.fixture(scope="session")
def clickhouse_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``PEDIGREE_TEST_CLICKHOUSE_URL``, else ``chdb://`` on a session temporary directory."""
    url = os.environ.get("PEDIGREE_TEST_CLICKHOUSE_URL")
    if url:
        return url
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture(scope="session")
def _clickhouse_admin(clickhouse_dsn: str) -> Iterator[Any]:
    """One client for the session: it keeps the chdb engine open and creates/drops databases."""
    import clickhouse_connect

    try:
        client = clickhouse_connect.get_client(dsn=clickhouse_dsn)
    except Exception as err:  # noqa: BLE001 -- connection or engine errors: report and stop
        pytest.fail(f"cannot open ClickHouse at {clickhouse_dsn}: {err}", pytrace=False)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def clickhouse(_clickhouse_admin: Any, clickhouse_dsn: str) -> Iterator[Any]:
    """A clickhouse-connect client on a fresh, empty database of its own.

    The database (``client.database``, named ``pedigree_test_<hex>``) is the client's default,
    so unqualified names land in it::

        def test_x(clickhouse):
            clickhouse.command("CREATE TABLE runs (id String) ENGINE = MergeTree ORDER BY id")
            clickhouse.insert("runs", [["r1"]], column_names=["id"])
            assert clickhouse.query("SELECT id FROM runs").result_rows == [("r1",)]

    Code under test that opens its own client uses ``clickhouse_dsn`` and
    ``database=clickhouse.database``. The database is dropped after the test.
    """
    import clickhouse_connect

    database = f"pedigree_test_{uuid.uuid4().hex[:16]}"
    _clickhouse_admin.command(f"CREATE DATABASE {database}")
    # Its own handle on the same engine (or server): USE state is per client, so a test cannot
    # move the admin client, and vice versa.
    client = clickhouse_connect.get_client(dsn=clickhouse_dsn, database=database)
    try:
        yield client
    finally:
        client.close()
        _clickhouse_admin.command(f"DROP DATABASE IF EXISTS {database} SYNC")
