"""The warehouse on the real ClickHouse engine: materialized rows answer the lineage queries,
whatever the delivery order, and a replayed batch changes nothing."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from consumers.materialize import EventMeta, rows_for_events
from consumers.migrate import migrate
from consumers.queries import (
    DATASET_VERSION_CONSUMERS,
    DATASET_VERSION_PRODUCERS,
    RUN_INPUTS,
    RUN_OUTPUTS,
    RUN_STATE,
    RUN_STATE_COLUMNS,
)
from consumers.tables import COLUMNS
from emitters.codec import encode_json
from tests.unit.test_materialize import deploy_event, training_lifecycle

ML_RUN = "00000000-0000-0000-0000-00000000002a"
SCENARIOS = Path(__file__).resolve().parents[2].parent / "shared" / "openlineage" / "scenarios"


def load(client: Any, events: list[Mapping[str, Any]], token: str | None = None) -> None:
    """Materialize and insert, one insert per table, as the consumer will."""
    received = datetime(2026, 11, 28, 12, tzinfo=UTC)
    batch = [(EventMeta("t", 0, i, encode_json(e), received), e) for i, e in enumerate(events)]
    for table, rows in rows_for_events(batch).items():
        if rows:
            settings = {"insert_deduplication_token": f"{token}:{table}"} if token else None
            client.insert(table, rows, column_names=COLUMNS[table], settings=settings)


def run_state(client: Any, run_id: str) -> dict[str, Any]:
    [row] = client.query(RUN_STATE, parameters={"run_id": run_id}).result_rows
    return dict(zip(RUN_STATE_COLUMNS, row, strict=False))


def count(client: Any, table: str, final: str = "") -> int:
    return int(client.query(f"SELECT count() FROM {table} {final}").result_rows[0][0])


@pytest.fixture
def warehouse(clickhouse: Any) -> Any:
    migrate(clickhouse, clickhouse.database)
    return clickhouse


def realistic_events() -> list[dict[str, Any]]:
    return [*training_lifecycle(), deploy_event()]


@pytest.mark.parametrize("order", ["in order", "reversed", "shuffled with repeats"])
def test_latest_run_state_is_the_same_whatever_the_delivery_order(
    warehouse: Any, order: str
) -> None:
    events = realistic_events()
    if order == "reversed":
        events.reverse()
    elif order == "shuffled with repeats":
        events = events + events[:2]
        random.Random(4).shuffle(events)
    for event in events:  # one insert per event: the worst case for ordering
        load(warehouse, [event])
    state = run_state(warehouse, ML_RUN)
    assert state["status"] == "COMPLETE"
    assert state["start_time"] == datetime(2026, 11, 28, 9, 0)
    assert state["end_time"] == datetime(2026, 11, 28, 9, 5, 0, 123000)
    assert state["git_commit"] == "0123456789abcdef0123456789abcdef01234567"
    assert state["image_digest"] == "sha256:" + "ab" * 32
    assert state["git_dirty"] is True
    assert state["parameters"]["optimizer.lr"] == "0.001"
    assert json.loads(state["parameters"]["model.layers"]) == [64, 64]
    assert (state["submitter"], state["team"]) == ("alice", "vision")
    assert (state["root_run_id"], state["root_job_name"]) == (
        "00000000-0000-0000-0000-000000000001",
        "pipeline",
    )
    assert state["requested_gpu_count"] == 2
    assert state["error_message"] == ""
    assert state["events"] == 3
    deploy = run_state(warehouse, "00000000-0000-0000-0000-0000000000d0")
    assert (deploy["status"], deploy["deployer"]) == ("COMPLETE", "carol")
    assert (deploy["root_run_id"], deploy["root_job_name"]) == (deploy["run_id"], "deploy/detector")


def test_a_late_running_event_does_not_reopen_a_finished_run(warehouse: Any) -> None:
    start, running, complete = training_lifecycle()
    running["eventTime"] = "2026-11-28T23:00:00Z"  # later than COMPLETE
    load(warehouse, [start, complete, running])
    assert run_state(warehouse, ML_RUN)["status"] == "COMPLETE"


def test_lineage_traversal_in_both_directions(warehouse: Any) -> None:
    load(warehouse, realistic_events())
    inputs = warehouse.query(RUN_INPUTS, parameters={"run_id": ML_RUN}).result_rows
    assert inputs == [
        ("s3://datasets", "images/train", "sha256:00ff"),
        ("s3://datasets", "labels/boxes", "sha256:00ff"),
    ]
    outputs = warehouse.query(RUN_OUTPUTS, parameters={"run_id": ML_RUN}).result_rows
    assert outputs == [("s3://models", "detector", "sha256:model12")]
    model = {"namespace": "s3://models", "name": "detector", "version": "sha256:model12"}
    producers = warehouse.query(DATASET_VERSION_PRODUCERS, parameters=model).result_rows
    assert producers == [(ML_RUN, "vision", "train")]
    consumers = warehouse.query(DATASET_VERSION_CONSUMERS, parameters=model).result_rows
    assert consumers == [("00000000-0000-0000-0000-0000000000d0", "vision", "deploy/detector")]
    other_version = {**model, "version": "sha256:other"}
    assert warehouse.query(DATASET_VERSION_CONSUMERS, parameters=other_version).result_rows == []
    metrics = warehouse.query(
        "SELECT metrics FROM model_versions WHERE model_name = 'detector' AND role = 'output'"
    ).result_rows
    assert metrics == [({"mAP": 0.61, "loss": 0.25},)]


@pytest.mark.parametrize(
    ("query", "key"),
    [
        (RUN_INPUTS, "run_id"),
        (RUN_OUTPUTS, "run_id"),
        (RUN_STATE, "run_id"),
        (DATASET_VERSION_PRODUCERS, "dataset_namespace"),
        (DATASET_VERSION_CONSUMERS, "dataset_namespace"),
    ],
)
def test_each_lookup_is_a_primary_key_range_read(warehouse: Any, query: str, key: str) -> None:
    load(warehouse, realistic_events())
    params = {"run_id": ML_RUN, "namespace": "s3://models", "name": "detector", "version": "v"}
    plan = "\n".join(
        r[0] for r in warehouse.query(f"EXPLAIN indexes = 1 {query}", parameters=params).result_rows
    )
    primary = plan[plan.index("PrimaryKey") :]
    assert key in primary.split("Condition:")[1].splitlines()[0]


def test_a_replayed_batch_with_the_same_token_adds_no_rows(warehouse: Any) -> None:
    events = realistic_events()
    load(warehouse, events, token="t-0-0-3")
    counts = {table: count(warehouse, table) for table in COLUMNS}
    assert counts["events"] == 4
    assert counts["runs"] == 4
    load(warehouse, events, token="t-0-0-3")  # the consumer crashed before committing
    assert {table: count(warehouse, table) for table in COLUMNS} == counts  # no FINAL


def test_negative_control_without_the_token_rows_double_until_merged(warehouse: Any) -> None:
    events = realistic_events()
    load(warehouse, events, token="t-0-0-3")
    counts = {table: count(warehouse, table) for table in COLUMNS}
    load(warehouse, events, token="another-token")
    doubled = {table: count(warehouse, table) for table in COLUMNS}
    assert doubled == {table: 2 * n for table, n in counts.items()}  # insert dedup is what protects
    # ...and ReplacingMergeTree on event_id is the second line: merged, the copies collapse
    assert {table: count(warehouse, table, "FINAL") for table in COLUMNS} == counts
    # queries read correctly even before the merge
    assert run_state(warehouse, ML_RUN)["events"] == 3
    assert len(warehouse.query(RUN_INPUTS, parameters={"run_id": ML_RUN}).result_rows) == 2


def scenario(name: str) -> list[dict[str, Any]]:
    directory = SCENARIOS / name / "events"
    if not directory.is_dir():
        pytest.skip(f"{directory} is absent (the shared OpenLineage scenarios are not checked out)")
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


def test_the_column_lineage_scenario_materializes(warehouse: Any) -> None:
    load(warehouse, scenario("CLL"))
    ctas = "019127df-0850-72bc-b214-b255290588a6"
    state = run_state(warehouse, ctas)
    assert state["status"] == "COMPLETE"
    assert state["job_name"] == (
        "open_lineage_integration_create_table.execute_create_hive_table_as_select_command"
        ".default_tbl1"
    )
    assert (state["parent_run_id"], state["root_job_name"]) == (
        "019127de-fd25-7707-bfa4-3ec02693a531",
        "open_lineage_integration_create_table",
    )
    assert warehouse.query(RUN_INPUTS, parameters={"run_id": ctas}).result_rows == [
        ("file", "/tmp/cll_test/cll_source1", ""),
        ("file", "/tmp/cll_test/cll_source2", ""),
    ]
    tbl1 = {"namespace": "file", "name": "/tmp/cll_test/tbl1", "version": ""}
    assert [
        r[0] for r in warehouse.query(DATASET_VERSION_PRODUCERS, parameters=tbl1).result_rows
    ] == [ctas]
    [(lineage,)] = warehouse.query(
        "SELECT DISTINCT facet_json FROM facets WHERE run_id = {r:String} "
        "AND facet_key = 'columnLineage' AND container = 'outputs.facets'",
        parameters={"r": ctas},
    ).result_rows
    assert set(json.loads(lineage)["fields"]) == {"ident", "trans", "agg"}
    [fields] = warehouse.query(
        "SELECT DISTINCT schema_fields.name FROM dataset_versions "
        "WHERE dataset_name = '/tmp/cll_test/tbl1' AND role = 'output'"
    ).result_rows
    assert fields == (["ident", "trans", "agg"],)


def test_the_spark_scenario_materializes(warehouse: Any) -> None:
    events = scenario("spark_dataproc_simple_producer_test_complete")
    load(warehouse, events)
    runs = warehouse.query("SELECT count(DISTINCT run_id), count() FROM runs").result_rows
    assert runs == [(len({e["run"]["runId"] for e in events}), len(events))]
    names = {e["job"]["name"] for e in events}
    jobs = {r[0] for r in warehouse.query("SELECT DISTINCT job_name FROM jobs").result_rows}
    assert jobs == names
    edges = warehouse.query(
        "SELECT DISTINCT dataset_namespace, dataset_name FROM run_outputs ORDER BY 1, 2"
    ).result_rows
    expected = sorted({(o["namespace"], o["name"]) for e in events for o in e.get("outputs", [])})
    assert edges == expected
    assert edges  # the scenario writes something
