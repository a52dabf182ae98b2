"""``pedigree rebuild`` on the real ClickHouse engine: the derived tables recreated from the raw
events are exactly those the consumer wrote, in another database or in place."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers.migrate import migrate
from consumers.rebuild import DERIVED_TABLES, RebuildError, rebuild
from consumers.spool_consumer import consume_spool
from emitters.spool import SpoolWriter
from pedigree import cmd_rebuild
from tests.events import child_run_event, dataset_event, job_event, ml_run_event, simple_run_event

EVENTS = 17


def _events() -> list[dict[str, Any]]:
    """A mix of every event kind, all distinct."""
    out: list[dict[str, Any]] = [job_event(), dataset_event()]
    for i in range(EVENTS - 2):
        if i % 4 == 0:
            event = ml_run_event()
        elif i % 4 == 1:
            event = child_run_event("pipeline", "stage", f"step{i}")
        else:
            event = simple_run_event(("START", "RUNNING", "COMPLETE")[i % 3], job=f"job{i % 5}")
        event["run"]["runId"] = f"00000000-0000-4000-8000-{i:012d}"
        out.append(event)
    return out


@pytest.fixture
def filled(tmp_path: Path, clickhouse: Any) -> str:
    """The fixture's database, filled by the spool consumer."""
    migrate(clickhouse, clickhouse.database)
    with SpoolWriter(tmp_path / "spool", max_messages_per_file=5) as spool:
        for event in _events():
            spool.write_event(event)
    report = consume_spool(tmp_path / "spool", clickhouse, clickhouse.database, batch_size=3)
    assert (report.events, report.rejected) == (EVENTS, 0)
    return str(clickhouse.database)


@pytest.fixture
def other_db(clickhouse: Any) -> Iterator[str]:
    """The name of a second database (created by the rebuild), dropped after the test."""
    name = f"{clickhouse.database}_rebuilt"
    yield name
    clickhouse.command(f"DROP DATABASE IF EXISTS {name} SYNC")


def _snapshot(client: Any, database: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every derived table's rows, sorted (without FINAL: duplicates would show)."""
    return {
        table: client.query(f"SELECT * FROM {database}.{table} ORDER BY ALL").result_rows
        for table in DERIVED_TABLES
    }


def test_rebuild_into_a_new_database_gives_the_same_rows(
    clickhouse: Any, filled: str, other_db: str
) -> None:
    original = _snapshot(clickhouse, filled)
    for table in ("runs", "jobs", "run_inputs", "run_outputs", "datasets", "model_versions"):
        assert original[table], f"the fixture events fill {table}"
    report = rebuild(clickhouse, filled, target=other_db)
    assert (report.database, report.events, report.skipped) == (other_db, EVENTS, [])
    assert _snapshot(clickhouse, other_db) == original
    assert report.rows == {t: len(rows) for t, rows in original.items()}
    raw = "SELECT * FROM {}.events ORDER BY ALL"
    assert (
        clickhouse.query(raw.format(other_db)).result_rows
        == clickhouse.query(raw.format(filled)).result_rows
    )
    assert _snapshot(clickhouse, filled) == original  # the source is only read
    with pytest.raises(RebuildError, match="not empty"):
        rebuild(clickhouse, filled, target=other_db)


def test_rebuild_in_place_repairs_corrupted_tables(clickhouse: Any, filled: str) -> None:
    original = _snapshot(clickhouse, filled)
    clickhouse.command("TRUNCATE TABLE runs")
    clickhouse.command("ALTER TABLE jobs DELETE WHERE 1 SETTINGS mutations_sync = 1")
    clickhouse.insert(
        "run_inputs",
        [("bogus", "ns", "name", "", "e", 0, "START", "ns", "job")],
        column_names=("run_id", "dataset_namespace", "dataset_name", "dataset_version",
                      "event_id", "event_time", "event_type", "job_namespace", "job_name"),
    )  # fmt: skip
    assert _snapshot(clickhouse, filled) != original
    report = rebuild(clickhouse, filled)
    assert (report.database, report.events) == (filled, EVENTS)
    assert _snapshot(clickhouse, filled) == original
    rebuild(clickhouse, filled)  # twice: the same rows, not doubled nor deduplicated away
    assert _snapshot(clickhouse, filled) == original


def test_small_batches_give_the_same_result(clickhouse: Any, filled: str, other_db: str) -> None:
    big = rebuild(clickhouse, filled, batch_size=5000, target=other_db)
    assert big.batches == 1
    expected = _snapshot(clickhouse, other_db)
    small = rebuild(clickhouse, filled, batch_size=2)
    assert (small.events, small.batches) == (EVENTS, (EVENTS + 1) // 2)
    assert _snapshot(clickhouse, filled) == expected
    assert small.rows == big.rows


def test_the_command_line(
    clickhouse: Any, clickhouse_dsn: str, filled: str, other_db: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    if not clickhouse_dsn.startswith("chdb://"):
        pytest.skip("the command opens its own client; covered on the embedded engine")
    parser = argparse.ArgumentParser()
    cmd_rebuild.add_parser(parser.add_subparsers())
    original = _snapshot(clickhouse, filled)
    args = ["rebuild", "--clickhouse", clickhouse_dsn, "--database", filled]
    parsed = parser.parse_args([*args, "--into", other_db, "--batch-size", "4"])
    assert parsed.handler(parsed) == 0
    assert f"of {other_db} from {EVENTS} events" in capsys.readouterr().out
    assert _snapshot(clickhouse, other_db) == original
    parsed = parser.parse_args([*args, "--into", other_db])
    assert parsed.handler(parsed) == 1
    assert "is not empty" in capsys.readouterr().err
    parsed = parser.parse_args([*args, "--batch-size", "0"])
    assert parsed.handler(parsed) == 2
