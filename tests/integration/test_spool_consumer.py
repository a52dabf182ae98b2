"""The spool consumer on the real ClickHouse engine: everything materialized once, whatever
crashes in between, invalid messages kept aside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from consumers.migrate import migrate
from consumers.spool_consumer import consume_spool
from emitters import codec
from emitters.spool import SpooledMessage, SpoolWriter
from tests.events import ml_run_event, simple_run_event

TABLES = ("events", "runs", "run_inputs", "run_outputs", "model_versions")


def _spool(tmp_path: Path, count: int) -> list[str]:
    run_ids = []
    with SpoolWriter(tmp_path / "spool", max_messages_per_file=7) as spool:
        for i in range(count):
            event = ml_run_event() if i % 3 == 0 else simple_run_event("RUNNING")
            event["run"]["runId"] = f"00000000-0000-4000-8000-{i:012d}"
            run_ids.append(event["run"]["runId"])
            spool.write_event(event)
    return run_ids


def _counts(client: Any) -> dict[str, int]:
    return {t: int(client.command(f"SELECT count() FROM {t}")) for t in TABLES}


def _no_event_twice(client: Any) -> None:
    """No row appears twice in any table, counted without FINAL."""
    for table in TABLES:
        total = int(client.command(f"SELECT count() FROM {table}"))
        distinct = int(client.command(f"SELECT count() FROM (SELECT DISTINCT * FROM {table})"))
        assert total == distinct, table


def test_the_spool_is_materialized_and_emptied(tmp_path: Path, clickhouse: Any) -> None:
    migrate(clickhouse, clickhouse.database)
    run_ids = _spool(tmp_path, 30)
    report = consume_spool(tmp_path / "spool", clickhouse, clickhouse.database, batch_size=4)
    assert (report.events, report.files, report.rejected) == (30, 5, 0)
    assert not list((tmp_path / "spool").glob("*.avro"))
    stored = {row[0] for row in clickhouse.query("SELECT DISTINCT run_id FROM runs").result_rows}
    assert stored == set(run_ids)
    model = clickhouse.query("SELECT model_name, model_version FROM model_versions").result_rows
    assert set(model) == {("detector", "12")}
    _no_event_twice(clickhouse)


class _CrashAfter:
    """The real client, made to fail after n inserts (the process dying mid-batch)."""

    def __init__(self, client: Any, inserts: int) -> None:
        self._client = client
        self._left = inserts

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        if self._left == 0:
            raise ConnectionError("consumer killed between table inserts")
        self._left -= 1
        return self._client.insert(*args, **kwargs)


@pytest.mark.parametrize("crash_after", [0, 1, 3, 7, 12, 20])
def test_a_crash_between_inserts_loses_and_doubles_nothing(
    tmp_path: Path, clickhouse: Any, crash_after: int
) -> None:
    migrate(clickhouse, clickhouse.database)
    _spool(tmp_path, 20)
    with pytest.raises(ConnectionError):
        consume_spool(
            tmp_path / "spool", _CrashAfter(clickhouse, crash_after), clickhouse.database,
            batch_size=3,
        )  # fmt: skip
    consume_spool(tmp_path / "spool", clickhouse, clickhouse.database, batch_size=3)
    expected = _counts(clickhouse)
    assert expected["events"] == 20
    _no_event_twice(clickhouse)
    # and the counts are those of a clean run into a fresh database
    clickhouse.command("CREATE DATABASE clean")
    try:
        migrate(clickhouse, "clean")
        _spool(tmp_path / "again", 20)
        consume_spool(tmp_path / "again" / "spool", clickhouse, "clean", batch_size=3)
        clean = {t: int(clickhouse.command(f"SELECT count() FROM clean.{t}")) for t in TABLES}
    finally:
        clickhouse.command("DROP DATABASE clean")
    assert expected == clean


def test_invalid_messages_are_kept_aside_with_the_reason(tmp_path: Path, clickhouse: Any) -> None:
    migrate(clickhouse, clickhouse.database)
    bad = simple_run_event()
    bad["eventType"] = "FINISH"
    with SpoolWriter(tmp_path / "spool") as spool:
        spool.write_event(simple_run_event())
        spool.write(SpooledMessage(value=codec.encode_json(bad, validate=False)))
        spool.write(SpooledMessage(value=b"\xc3\x01truncated"))
        spool.write_event(simple_run_event("COMPLETE"))
    report = consume_spool(tmp_path / "spool", clickhouse, clickhouse.database)
    assert (report.events, report.rejected) == (2, 2)
    reasons = sorted(p.read_text() for p in (tmp_path / "spool" / "rejected").glob("*.json"))
    assert any("eventType: must be one of" in r for r in reasons)
    assert any("unknown schema fingerprint" in r for r in reasons)
