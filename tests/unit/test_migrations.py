"""Migration files and their cluster variant, without a ClickHouse engine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from consumers.errors import MigrationError
from consumers.migrate import cluster_ddl, load_migrations, render, statements
from consumers.tables import COLUMNS


def test_the_shipped_migrations_are_numbered_from_one_without_gaps() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "initial"


def test_every_table_gets_an_event_id_and_a_dedup_window() -> None:
    ddl = [s for m in load_migrations() for s in statements(m.sql) if s.startswith("CREATE")]
    created = {re.search(r"\{db\}\.(\w+)", s)[1]: s for s in ddl}  # type: ignore[index]
    assert set(created) == set(COLUMNS)
    for name, statement in created.items():
        assert "event_id" in statement, name
        assert "ReplacingMergeTree" in statement, name
        assert "non_replicated_deduplication_window = 1000" in statement, name
        order_by = re.search(r"ORDER BY \(([^)]*)\)", statement)
        assert order_by is not None
        assert "event_id" in order_by[1], name


def test_cluster_ddl_adds_on_cluster_and_replicated_engines() -> None:
    sql = """
    -- a comment
    CREATE TABLE IF NOT EXISTS {db}.t (a String) ENGINE = ReplacingMergeTree ORDER BY a
        SETTINGS non_replicated_deduplication_window = 1000;
    CREATE TABLE {db}.v (a String, v UInt64) ENGINE = ReplacingMergeTree(v) ORDER BY a;
    ALTER TABLE {db}.t ADD COLUMN IF NOT EXISTS b String;
    """
    first, second, third = statements(cluster_ddl(sql, "main"))
    assert first.startswith("CREATE TABLE IF NOT EXISTS {db}.t ON CLUSTER main (a String)")
    assert (
        "ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}') ORDER BY a" in first
    )
    assert "SETTINGS replicated_deduplication_window = 1000" in first
    assert "'{replica}', v)" in second
    assert third == "ALTER TABLE {db}.t ON CLUSTER main ADD COLUMN IF NOT EXISTS b String"


def test_names_must_be_plain_identifiers() -> None:
    with pytest.raises(MigrationError, match="database"):
        render("SELECT 1 FROM {db}.t", "x`; DROP TABLE y")
    with pytest.raises(MigrationError, match="cluster"):
        cluster_ddl("CREATE TABLE {db}.t (a String) ENGINE = MergeTree ORDER BY a", "a b")
    assert render("SELECT 1 FROM {db}.t", "wh") == "SELECT 1 FROM `wh`.t"


def test_a_badly_named_migration_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_initial.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match=r"NNNN_lower_case_name\.sql"):
        load_migrations(tmp_path)
