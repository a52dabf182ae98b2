"""Running the API: the warehouse client, the bus, the tokens, and the consumer beside it.

A ``chdb://`` warehouse belongs to one process, so on the embedded engine the API and the
consumer share one (``pedigree serve`` runs both): the spool consumer in embedded mode, the
Kafka consumer group in bus mode.  With a ClickHouse server they are separate processes and
``serve`` runs the API alone (``--consume`` adds a consumer anyway).  Every use of the one
ClickHouse client goes through one lock (the embedded engine is not thread-safe).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from api.auth import TokenTable
from api.context import ApiContext
from api.publish import KafkaPublisher, Publisher, SpoolPublisher
from api.settings import ApiLimits
from api.store import QueryLimits, Warehouse

__all__ = ["LockedClient", "ServeOptions", "Service", "running"]

log = logging.getLogger("pedigree.serve")


class LockedClient:
    """A clickhouse-connect client whose calls hold a lock (shared with the API's reads)."""

    def __init__(self, client: Any, lock: threading.RLock) -> None:
        self._client = client
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return locked


@dataclass
class ServeOptions:
    clickhouse_dsn: str
    database: str = "pedigree"
    spool_dir: str | None = None
    """Embedded mode: ingest writes here and the spool consumer tails it."""
    bootstrap: str | None = None
    """Bus mode: ingest produces to ``topic``."""
    topic: str = "openlineage.events"
    kafka_settings: dict[str, Any] = field(default_factory=dict)
    tokens_file: str | None = None
    auth: bool = True
    consume: bool = True
    """Run the consumer in this process (needed with chdb://)."""
    limits: ApiLimits = field(default_factory=ApiLimits)
    poll_seconds: float = 0.5


class Service:
    """The API application and what runs beside it, started and stopped together."""

    def __init__(self, options: ServeOptions) -> None:
        from api.app import create_app
        from consumers.engine_memory import connect
        from consumers.migrate import cluster_from_env, migrate

        self.options = options
        self.lock = threading.RLock()
        self.raw_client = connect(options.clickhouse_dsn)
        migrate(self.raw_client, options.database, cluster=cluster_from_env())
        self.warehouse = Warehouse(
            self.raw_client,
            options.database,
            limits=QueryLimits(max_execution_seconds=options.limits.query_seconds),
            lock=self.lock,
        )
        tokens = None
        if options.auth:
            if options.tokens_file is None:
                raise ValueError("authentication is on but no token file is given")
            tokens = TokenTable.load(options.tokens_file)
        publisher: Publisher | None = None
        if options.bootstrap:
            settings = {"bootstrap.servers": options.bootstrap, **options.kafka_settings}
            publisher = KafkaPublisher(settings, options.topic)
        elif options.spool_dir:
            publisher = SpoolPublisher(options.spool_dir)
        self.publisher = publisher
        self.context = ApiContext(self.warehouse, publisher, options.limits, tokens)
        self.app = create_app(self.context)
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start_consumer(self) -> None:
        if not self.options.consume:
            return
        client = LockedClient(self.raw_client, self.lock)
        if self.options.bootstrap:
            target = self._consume_kafka
        elif self.options.spool_dir:
            target = self._consume_spool
        else:
            return
        thread = threading.Thread(target=target, args=(client,), name="pedigree-consumer")
        thread.daemon = True
        thread.start()
        self.threads.append(thread)

    def _consume_spool(self, client: Any) -> None:
        from consumers.spool_consumer import consume_spool

        assert self.options.spool_dir is not None
        consume_spool(
            self.options.spool_dir,
            client,
            self.options.database,
            follow=True,
            poll_interval=self.options.poll_seconds,
            stop=self.stop,
        )

    def _consume_kafka(self, client: Any) -> None:
        from consumers.kafka_consumer import ConsumerConfig, consume_kafka

        assert self.options.bootstrap is not None
        config = ConsumerConfig(
            bootstrap=self.options.bootstrap,
            topics=(self.options.topic,),
            database=self.options.database,
            connection=self.options.kafka_settings,
        )
        try:
            consume_kafka(config, client, stop=self.stop)
        except Exception:
            log.exception("pedigree: the Kafka consumer stopped")

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        if self.publisher is not None:
            self.publisher.close()
        with self.lock:
            self.raw_client.close()


@contextmanager
def running(
    options: ServeOptions, host: str = "127.0.0.1", port: int = 0
) -> Iterator[tuple[Service, str]]:
    """The service on a background uvicorn server; yields it and its base URL (tests, demo)."""
    import socket

    import uvicorn

    service = Service(options)
    service.start_consumer()
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only then, and
    # without it every keep-alive response after the first waits 40 ms for a delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(service.app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield service, f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        service.close()
