"""Migrations on the real ClickHouse engine: idempotent, upgrading, refusing edited history,
and a cluster variant that ClickHouse's own parser accepts."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from consumers.errors import ChecksumMismatch, MigrationError
from consumers.materialize import EventMeta, rows_for_events
from consumers.migrate import SCHEMA_DIR, cluster_ddl, load_migrations, migrate, render, statements
from consumers.tables import COLUMNS
from tests.events import ml_run_event

ZK_PATH = "/clickhouse/tables/{shard}/{database}/{table}"


def schema_copy(tmp_path: Path) -> Path:
    directory = tmp_path / "schema"
    shutil.copytree(SCHEMA_DIR, directory)
    return directory


def test_migrating_twice_is_a_no_op(clickhouse: Any) -> None:
    db = clickhouse.database
    applied = migrate(clickhouse, db)
    assert [m.version for m in applied] == [m.version for m in load_migrations()]
    tables = clickhouse.query(f"SHOW TABLES FROM {db}").result_rows
    assert migrate(clickhouse, db) == []
    assert clickhouse.query(f"SHOW TABLES FROM {db}").result_rows == tables
    recorded = clickhouse.query(
        "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
    ).result_rows
    assert recorded == [(m.version, m.name, m.checksum) for m in applied]


def test_the_tables_have_the_columns_materialize_writes_in_order(clickhouse: Any) -> None:
    migrate(clickhouse, clickhouse.database)
    for table, columns in COLUMNS.items():
        found = clickhouse.query(
            "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} "
            "ORDER BY position",
            parameters={"db": clickhouse.database, "t": table},
        ).result_rows
        assert tuple(name for (name,) in found) == columns, table


def test_a_newer_migration_upgrades_an_older_warehouse_without_data_loss(
    clickhouse: Any, tmp_path: Path
) -> None:
    directory = schema_copy(tmp_path)
    migrate(clickhouse, clickhouse.database, directory=directory)
    rows = rows_for_events([(EventMeta("t", 0, 0, b"{}", datetime.now(UTC)), ml_run_event())])
    clickhouse.insert("runs", rows["runs"], column_names=COLUMNS["runs"])
    (directory / "9999_runs_cost.sql").write_text(
        "-- a later migration\n"
        "ALTER TABLE {db}.runs ADD COLUMN IF NOT EXISTS cost_usd Nullable(Float64);\n"
        "ALTER TABLE {db}.runs ADD COLUMN IF NOT EXISTS cost_centre String DEFAULT team;\n"
    )
    [upgrade] = migrate(clickhouse, clickhouse.database, directory=directory)
    assert (upgrade.version, upgrade.name) == (9999, "runs_cost")
    assert clickhouse.query(
        "SELECT run_id, git_commit, parameters['seed'], cost_usd, cost_centre FROM runs"
    ).result_rows == [
        (
            "00000000-0000-0000-0000-00000000002a",
            "0123456789abcdef0123456789abcdef01234567",
            "7",
            None,
            "vision",
        )
    ]
    assert migrate(clickhouse, clickhouse.database, directory=directory) == []


def test_an_edited_applied_migration_is_refused(clickhouse: Any, tmp_path: Path) -> None:
    directory = schema_copy(tmp_path)
    migrate(clickhouse, clickhouse.database, directory=directory)
    initial = directory / "0001_initial.sql"
    initial.write_text(initial.read_text() + "\n-- edited after release\n")
    with pytest.raises(ChecksumMismatch) as raised:
        migrate(clickhouse, clickhouse.database, directory=directory)
    assert (raised.value.version, raised.value.name) == (1, "initial")
    assert "new migration" in str(raised.value)


def test_a_warehouse_migrated_by_newer_code_is_refused(clickhouse: Any, tmp_path: Path) -> None:
    directory = schema_copy(tmp_path)
    (directory / "0099_future.sql").write_text("SELECT 1;\n")
    migrate(clickhouse, clickhouse.database, directory=directory)
    with pytest.raises(MigrationError, match=r"\[99\]"):
        migrate(clickhouse, clickhouse.database)


def test_the_cluster_variant_parses(clickhouse: Any) -> None:
    checked = 0
    for migration in load_migrations():
        for statement in statements(render(cluster_ddl(migration.sql, "pedigree"), "wh")):
            [(formatted,)] = clickhouse.query(
                "SELECT formatQuery({q:String})", parameters={"q": statement}
            ).result_rows
            if statement.startswith("INSERT"):
                # a backfill: run on one replica, replication carries it to the others
                assert "ON CLUSTER" not in formatted
                continue
            assert "ON CLUSTER pedigree" in formatted
            assert f"ReplicatedReplacingMergeTree('{ZK_PATH}', '{{replica}}')" in formatted
            checked += 1
    assert checked == len(COLUMNS)
    # formatQuery does reject broken syntax: the check above is not vacuous
    with pytest.raises(Exception, match="Syntax error"):
        clickhouse.query("SELECT formatQuery('CREATE TABLE t ON CLUSTER (a String)')")
