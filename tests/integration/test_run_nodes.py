"""``run_nodes`` (migration 0003) answers every run's state exactly as the ``runs`` aggregation
(``api.store.RUNS_STATE``) does, on the real engine: for randomized runs with heartbeats, facets
missing here and there, out-of-order and repeated delivery, several namespaces per run (tenant
scope), a run with more field combinations than the reader takes (the fallback), and a
warehouse created before the table (the migration's backfill)."""

from __future__ import annotations

import contextlib
import copy
import json
import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from api.store import GROUPS_PER_RUN, RUN_NODE_GROUPS, RUN_STATE_COLUMNS, RUNS_STATE, Warehouse
from consumers.materialize import EventMeta, rows_for_events
from consumers.migrate import SCHEMA_DIR, migrate
from consumers.run_nodes import NODE_FIELDS
from consumers.tables import COLUMNS
from emitters.codec import encode_json
from tests.integration.test_warehouse import load
from tests.unit.test_materialize import training_lifecycle

_OPTIONAL_RUN_FACETS = (
    "pedigree_code",
    "pedigree_parameters",
    "pedigree_ownership",
    "pedigree_resources",
    "pedigree_environment",
    "errorMessage",
    "parent",
)


def _random_runs(rng: random.Random, runs: int) -> list[dict[str, Any]]:
    """``runs`` runs of START, heartbeats and an end, each event with a random subset of the
    run facets, its own time, type and (sometimes) namespace; some events sent twice."""
    start, running, complete = training_lifecycle()
    events = []
    for r in range(runs):
        run_id = f"00000000-0000-4000-8000-{r:012d}"
        templates = [start, *[running] * rng.randint(0, 6), complete]
        for i, template in enumerate(templates):
            event = copy.deepcopy(template)
            event["run"]["runId"] = run_id
            facets = {**start["run"]["facets"], **complete["run"]["facets"]}
            event["run"]["facets"] = {
                k: copy.deepcopy(v)
                for k, v in facets.items()
                if k not in _OPTIONAL_RUN_FACETS or rng.random() < 0.5
            }
            code = event["run"]["facets"].get("pedigree_code")
            if code is not None:
                code["gitCommit"] = f"{rng.randrange(16**8):08x}"
                code["gitDirty"] = rng.random() < 0.5  # False is a value, not "not stated"
            if "pedigree_parameters" in event["run"]["facets"]:
                event["run"]["facets"]["pedigree_parameters"]["parameters"] = {"lr": i}
            event["eventType"] = rng.choice(["START", "RUNNING", "RUNNING", "COMPLETE", "FAIL"])
            event["eventTime"] = (
                f"2026-11-28T{9 + rng.randrange(3):02d}:{rng.randrange(60):02d}:00Z"
            )
            if rng.random() < 0.2:
                event["job"]["namespace"] = "other-team"
            events.append(event)
            if rng.random() < 0.15:
                events.append(copy.deepcopy(event))  # delivered twice
    rng.shuffle(events)
    return events


def _aggregated(warehouse: Warehouse, ids: list[str], scope: Any = None) -> dict[str, Any]:
    """The states as ``RUNS_STATE`` aggregates them over ``runs`` (the reference)."""
    sql, params = warehouse._scoped(RUNS_STATE, "runs", ids, 1, scope)
    return {
        row[0]: dict(zip(RUN_STATE_COLUMNS, row, strict=True))
        for row in warehouse.query(sql, params)
    }


@contextlib.contextmanager
def asked_for(warehouse: Warehouse) -> Iterator[list[tuple[str, list[str]]]]:
    """Records, per query the warehouse really runs in the block, the table it reads
    (``run_nodes`` or ``runs``) and the run ids it asks for: which query answered whom."""
    asked: list[tuple[str, list[str]]] = []
    query = warehouse.query

    def recording(sql: str, parameters: Any = None) -> list[tuple[Any, ...]]:
        table = "run_nodes" if "run_nodes" in sql else "runs"
        asked.append((table, list((parameters or {}).get("ids", []))))
        return query(sql, parameters)

    warehouse.query = recording  # type: ignore[method-assign]
    try:
        yield asked
    finally:
        warehouse.query = query  # type: ignore[method-assign]


@pytest.fixture
def warehouse(clickhouse: Any) -> Warehouse:
    migrate(clickhouse, clickhouse.database)
    return Warehouse(clickhouse, clickhouse.database)


def test_run_nodes_give_every_run_the_state_the_runs_aggregation_gives(
    warehouse: Warehouse,
) -> None:
    rng = random.Random(7)
    events = _random_runs(rng, 40)
    for start in range(0, len(events), 25):  # several inserts: several parts, as in life
        load(warehouse.client, events[start : start + 25])
    ids = sorted({e["run"]["runId"] for e in events})
    read = warehouse.runs(ids)
    assert len(read) == 40
    assert read == _aggregated(warehouse, ids)
    assert {tuple(state) for state in read.values()} == {RUN_STATE_COLUMNS}  # same column order
    # the comparison can fail: the runs differ from one another in what they state
    assert len({s["git_commit"] for s in read.values()}) > 20
    assert {s["git_dirty"] for s in read.values()} >= {True, False}
    assert {s["status"] for s in read.values()} >= {"COMPLETE", "FAIL"}

    scope = ("job_namespace IN {ns:Array(String)}", {"ns": ["vision"]})
    scoped = warehouse.runs(ids, scope=scope)
    assert scoped == _aggregated(warehouse, ids, scope)
    assert scoped != read  # another tenant's events changed some states, and are left out here


def test_heartbeats_come_back_as_one_group_and_do_not_change_the_state(
    warehouse: Warehouse,
) -> None:
    start, running, complete = training_lifecycle()
    beats = []
    for minute in range(1, 200):  # a long run: 199 RUNNING events with usage samples
        beat = copy.deepcopy(running)
        beat["eventTime"] = f"2026-11-28T09:{minute // 60 + 1:02d}:{minute % 60:02d}Z"
        beats.append(beat)
    load(warehouse.client, [start, *beats, complete])
    run_id = start["run"]["runId"]
    groups = warehouse.query(*warehouse._scoped(RUN_NODE_GROUPS, "run_nodes", [run_id], 1000, None))
    assert len(groups) <= 3  # START, the heartbeats, COMPLETE: not 201 rows
    state = warehouse.runs([run_id])[run_id]
    assert state == _aggregated(warehouse, [run_id])[run_id]
    assert state["status"] == "COMPLETE"


def test_a_run_with_more_field_combinations_than_read_is_aggregated_in_clickhouse(
    warehouse: Warehouse,
) -> None:
    start, _running, complete = training_lifecycle()
    run_id = start["run"]["runId"]
    facets = {**start["run"]["facets"], **complete["run"]["facets"]}
    optional = [k for k in _OPTIONAL_RUN_FACETS if k in facets]
    events = []
    for n in range(2 ** len(optional)):  # every subset of the optional facets: 128 bit sets
        event = copy.deepcopy(start if n % 2 else complete)
        event["eventTime"] = f"2026-11-28T10:{n // 60:02d}:{n % 60:02d}Z"
        event["run"]["facets"] = {
            k: copy.deepcopy(v)
            for k, v in facets.items()
            if k not in optional or n >> optional.index(k) & 1
        }
        events.append(event)
    load(warehouse.client, events)
    groups = warehouse.query(*warehouse._scoped(RUN_NODE_GROUPS, "run_nodes", [run_id], 1000, None))
    assert len(groups) == GROUPS_PER_RUN  # cut: the reader cannot reduce this run itself
    other = _random_runs(random.Random(3), 3)
    load(warehouse.client, other)
    ids = [run_id, *sorted({e["run"]["runId"] for e in other})]
    with asked_for(warehouse) as asked:
        read = warehouse.runs(ids)
    assert asked == [("run_nodes", sorted(ids)), ("runs", [run_id])]
    assert read == _aggregated(warehouse, ids)


def test_the_migration_fills_run_nodes_from_the_runs_of_an_older_warehouse(
    clickhouse: Any, tmp_path: Path
) -> None:
    older = tmp_path / "schema"
    older.mkdir()
    for path in sorted(SCHEMA_DIR.glob("*.sql"))[:2]:  # 0001 and 0002: before run_nodes
        shutil.copy(path, older / path.name)
    migrate(clickhouse, clickhouse.database, directory=older)
    events = _random_runs(random.Random(11), 12)
    received = datetime(2026, 11, 28, 12, tzinfo=UTC)
    batch = [(EventMeta("t", 0, i, encode_json(e), received), e) for i, e in enumerate(events)]
    rows = rows_for_events(batch)
    clickhouse.insert("runs", rows["runs"], column_names=COLUMNS["runs"])

    applied = migrate(clickhouse, clickhouse.database)
    assert [m.name for m in applied] == ["run_nodes"]
    stored = clickhouse.query(
        f"SELECT {', '.join(COLUMNS['run_nodes'])} FROM run_nodes ORDER BY run_id, event_id"
    ).result_rows
    expected = sorted(set(rows["run_nodes"]), key=lambda r: (r[0], r[1]))
    assert len(stored) == len(expected) > 50

    def comparable(row: Any) -> tuple[Any, ...]:  # the JSON text may differ (2 vs 2.0, escapes)
        naive = [v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in row[:-1]]
        return (*naive, json.loads(row[-1]))

    assert [comparable(r) for r in stored] == [comparable(r) for r in expected]
    assert all(len(json.loads(r[-1])) == 1 + len(NODE_FIELDS) for r in stored)
    warehouse = Warehouse(clickhouse, clickhouse.database)
    ids = sorted({e["run"]["runId"] for e in events})
    assert warehouse.runs(ids) == _aggregated(warehouse, ids)


def test_runs_a_consumer_older_than_run_nodes_wrote_are_answered_from_runs(
    warehouse: Warehouse,
) -> None:
    """Between ``pedigree migrate`` and the consumers' upgrade, older consumers write ``runs``
    but not ``run_nodes``: those runs still have their state (from the ``runs`` aggregation)."""
    events = _random_runs(random.Random(5), 6)
    older = {e["run"]["runId"] for e in events[: len(events) // 2]}
    received = datetime(2026, 11, 28, 12, tzinfo=UTC)
    batch = [(EventMeta("t", 0, i, encode_json(e), received), e) for i, e in enumerate(events)]
    for table, rows in rows_for_events(batch).items():
        # run_nodes: only the runs a newer consumer wrote
        kept = [r for r in rows if table != "run_nodes" or r[0] not in older]
        if kept:
            warehouse.client.insert(table, kept, column_names=COLUMNS[table])
    ids = sorted({e["run"]["runId"] for e in events})
    read = warehouse.runs(ids)
    assert set(read) == set(ids)
    assert read == _aggregated(warehouse, ids)
    assert warehouse.runs(["00000000-0000-4000-8000-999999999999"]) == {}  # unknown: absent


def test_many_runs_are_asked_in_chunks_that_fit_the_result_cap(clickhouse: Any) -> None:
    """A query's rows are capped (``max_result_rows``, cut without an error): the run states
    are asked for in chunks of runs whose groups cannot pass the cap."""
    from api.store import QueryLimits

    migrate(clickhouse, clickhouse.database)
    warehouse = Warehouse(
        clickhouse, clickhouse.database, limits=QueryLimits(max_result_rows=2 * GROUPS_PER_RUN)
    )
    events = _random_runs(random.Random(9), 9)
    load(clickhouse, events)
    ids = sorted({e["run"]["runId"] for e in events})
    with asked_for(warehouse) as asked:
        read = warehouse.runs(ids)
    assert [len(asked_ids) for table, asked_ids in asked if table == "run_nodes"] == [2, 2, 2, 2, 1]
    assert read == _aggregated(warehouse, ids)
