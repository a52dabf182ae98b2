"""Recreate every derived table from the raw ``events`` table (``pedigree rebuild``).

The ``events`` table is the warehouse's source of truth: each row keeps the message exactly as
it arrived (``message``), and every other table is a function of that message alone
(:func:`consumers.materialize.rows_for_events`).  After a fix in the mapping or a schema change
(run ``pedigree migrate`` first, or let :func:`rebuild` do it), the derived tables are rebuilt
by re-decoding the stored messages and inserting their rows again.

Three modes:

* **in place** (``target=None``): the derived tables of ``database`` are TRUNCATEd, then filled
  again batch by batch.  Queries running meanwhile see empty, then partial tables; a rebuild
  that fails half-way leaves them partial until it is run again (it restarts from scratch).
* **into another database** (``target="new_db"``) -- the safe way: ``new_db`` is migrated, must
  be empty, receives a copy of the raw events (``INSERT … SELECT``) and then its derived tables;
  ``database`` is only read.  Point the readers at ``new_db`` when it is done.
* **from Kafka** (:func:`rebuild_from_kafka`): the topic is re-read from its earliest offset
  into a new or empty database by the consumer itself -- for when the warehouse is lost, or to
  prove that it is a function of the log.

The events are read in bounded batches of ``batch_size`` rows by keyset pagination on
``(run_id, event_id, topic, partition, offset)`` -- the table's sorting key first, so each page
is an index range, never the whole table in memory.  Rows are read without ``FINAL``: a stored
event that was received twice (same ``event_id``, another offset) yields its derived rows
twice, exactly as the consumer inserted them; the ReplacingMergeTree sorting keys collapse both
copies at merge.  A stored message that no longer decodes or validates (the rules changed) is
skipped and listed in :attr:`RebuildReport.skipped` instead of stopping the rebuild.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from consumers.errors import ConsumerError
from consumers.kafka_consumer import ConsumerConfig, ConsumeStats, consume_kafka
from consumers.materialize import EventMeta, rows_for_events
from consumers.migrate import cluster_from_env, migrate
from consumers.tables import COLUMNS, TABLES
from emitters.codec import decode
from emitters.errors import InvalidEvent

__all__ = ["DERIVED_TABLES", "RebuildError", "RebuildReport", "rebuild", "rebuild_from_kafka"]

DERIVED_TABLES: tuple[str, ...] = tuple(t for t in TABLES if t != "events")
"""Every table that :func:`rebuild` recreates: all of them but the raw ``events``."""

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Inserts of a rebuild are not deduplicated: a rebuild restarts from scratch (truncated or empty
# tables), and identical blocks of a previous rebuild must not be dropped as replays.
_INSERT_SETTINGS = {"insert_deduplicate": 0}


class RebuildError(ConsumerError):
    """The rebuild cannot start (e.g. the target database is not empty)."""


@dataclass
class RebuildReport:
    database: str  # the database whose derived tables were filled
    events: int = 0  # raw events read (and materialized, but for the skipped ones)
    batches: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # rows inserted, per derived table
    skipped: list[str] = field(default_factory=list)  # "event_id: reason" of undecodable ones


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise RebuildError(f"database {name!r} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return name


def _count(client: Any, database: str, table: str) -> int:
    return int(client.command(f"SELECT count() FROM `{database}`.{table}"))  # noqa: S608 -- checked identifiers


def _fresh(client: Any, database: str) -> None:
    """Migrate ``database``, which must be new or empty."""
    migrate(client, database, cluster=cluster_from_env())
    filled = [t for t in TABLES if _count(client, database, t)]
    if filled:
        raise RebuildError(
            f"target database {database} is not empty ({', '.join(filled)} hold rows); "
            "rebuild into a new or empty database"
        )


def rebuild_from_kafka(client: Any, config: ConsumerConfig) -> ConsumeStats:
    """Re-read ``config.topics`` from their earliest offsets into ``config.database``.

    The database must be new or empty.  The topic is read by a throwaway consumer group
    (``pedigree-rebuild-<random>``, deleted at the end) until every partition is caught up; the
    messages it refuses go to ``<topic>.rebuild.dlq`` unless ``config.dead_letter_topic`` says
    otherwise, so the dead-letter topic of the live consumers gets no second copies.  What the
    topic's retention already deleted cannot come back: compare with the ``events`` table.
    """
    into = _identifier(config.database)
    _fresh(client, into)
    group = f"pedigree-rebuild-{uuid.uuid4().hex[:12]}"
    settings = replace(
        config,
        database=into,
        group=group,
        auto_offset_reset="earliest",
        exit_when_idle=True,
        dead_letter_topic=config.dead_letter_topic or f"{config.topics[0]}.rebuild.dlq",
    )
    stats = consume_kafka(settings, client)
    _delete_group(config, group)
    return stats


def _delete_group(config: ConsumerConfig, group: str) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(config.client_settings())
    try:
        for future in admin.delete_consumer_groups([group], request_timeout=30).values():
            future.result(timeout=30)
    except Exception:  # noqa: BLE001, S110 - an empty group's offsets expire by themselves
        pass


def _batches(client: Any, database: str, batch_size: int) -> Any:
    """The raw events as ``(event_id, topic, partition, offset, received_us, message)`` lists of
    at most ``batch_size``, in ``(run_id, event_id, topic, partition, offset)`` order."""
    columns = "run_id, event_id, topic, partition, `offset`, toUnixTimestamp64Micro(received_time)"
    select = f"SELECT {columns}, hex(message) FROM `{database}`.events"  # noqa: S608 -- checked identifier
    order = f" ORDER BY run_id, event_id, topic, partition, `offset` LIMIT {batch_size}"
    after: tuple[Any, ...] | None = None
    while True:
        if after is None:
            result = client.query(select + order)
        else:
            keys = dict(zip(("r", "e", "t", "p", "o"), after, strict=True))
            where = (
                " WHERE run_id >= %(r)s AND (run_id, event_id, topic, partition, `offset`)"
                " > (%(r)s, %(e)s, %(t)s, %(p)s, %(o)s)"
            )
            result = client.query(select + where + order, parameters=keys)
        rows = result.result_rows
        if not rows:
            return
        yield rows
        if len(rows) < batch_size:
            return
        after = tuple(rows[-1][:5])


def rebuild(
    client: Any,
    database: str,
    *,
    batch_size: int = 5000,
    target: str | None = None,
) -> RebuildReport:
    """Recreate the derived tables from ``database``'s raw events, in place or into ``target``.

    In place, the derived tables are truncated first: **queries see empty, then partial data
    until the rebuild ends**.  With ``target`` (a new or empty database, migrated here), the raw
    events are copied there and its derived tables filled; ``database`` is left untouched.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    source = _identifier(database)
    migrate(client, source, cluster=cluster_from_env())
    if target is None:
        into = source
        for table in DERIVED_TABLES:
            client.command(f"TRUNCATE TABLE `{into}`.{table}")
    else:
        into = _identifier(target)
        if into == source:
            raise RebuildError(f"cannot rebuild {source} into itself; omit the target instead")
        _fresh(client, into)
        columns = ", ".join(f"`{c}`" for c in COLUMNS["events"])
        client.command(
            f"INSERT INTO `{into}`.events ({columns}) SELECT {columns} FROM `{source}`.events",  # noqa: S608 -- checked identifiers
            settings=_INSERT_SETTINGS,
        )
    report = RebuildReport(database=into, rows=dict.fromkeys(DERIVED_TABLES, 0))
    for batch in _batches(client, source, batch_size):
        pairs = []
        for _run_id, stored_id, topic, partition, offset, received_us, message_hex in batch:
            message = bytes.fromhex(message_hex)
            try:
                event = decode(message, max_bytes=max(len(message), 1))
            except InvalidEvent as err:
                report.skipped.append(f"{stored_id}: {err}")
                continue
            meta = EventMeta(
                topic=topic,
                partition=int(partition),
                offset=int(offset),
                message=message,
                received_time=_EPOCH + timedelta(microseconds=int(received_us)),
            )
            pairs.append((meta, event))
        try:
            tables = rows_for_events(pairs)
        except InvalidEvent:  # one event the mapping refuses: find it, keep the others
            tables = {t: [] for t in COLUMNS}
            for meta, event in pairs:
                try:
                    one = rows_for_events([(meta, event)])
                except InvalidEvent as err:
                    report.skipped.append(f"{meta.topic}#{meta.offset}: {err}")
                    continue
                for table, rows in one.items():
                    tables[table].extend(rows)
        for table in DERIVED_TABLES:
            rows = tables[table]
            if rows:
                client.insert(
                    f"`{into}`.{table}",
                    rows,
                    column_names=COLUMNS[table],
                    settings=_INSERT_SETTINGS,
                )
                report.rows[table] += len(rows)
        report.events += len(batch)
        report.batches += 1
    return report
