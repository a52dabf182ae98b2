"""``consumers.run_nodes`` as pure code: the row of an event, and the migration's SQL twin."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from consumers.materialize import EventMeta, rows_for_events
from consumers.migrate import SCHEMA_DIR
from consumers.run_nodes import NODE_FIELDS, backfill_sql, node_row, reduce_run
from consumers.tables import COLUMNS
from emitters.codec import encode_json
from tests.unit.test_materialize import training_lifecycle


def test_the_migration_backfills_with_the_sql_of_the_module() -> None:
    migration = (SCHEMA_DIR / "0003_run_nodes.sql").read_text(encoding="utf-8")
    assert backfill_sql() + ";\n" in migration  # change one, and a new migration is due


def _rows() -> list[tuple[object, ...]]:
    received = datetime(2026, 11, 28, tzinfo=UTC)
    events = training_lifecycle()
    batch = [(EventMeta("t", 0, i, encode_json(e), received), e) for i, e in enumerate(events)]
    return rows_for_events(batch)["runs"]


def test_present_marks_stated_values_only_and_false_or_zero_are_stated() -> None:
    run = list(_rows()[0])  # START
    at = {column: i for i, column in enumerate(COLUMNS["runs"])}
    run[at["git_branch"]] = ""
    run[at["git_dirty"]] = False
    run[at["requested_gpu_count"]] = 0
    run[at["observed_cpu_count"]] = None
    run[at["arguments"]] = []
    row = node_row(run)
    present = row[COLUMNS["run_nodes"].index("present")]
    stated = {field for bit, field in enumerate(NODE_FIELDS) if present >> bit & 1}
    assert {"git_dirty", "requested_gpu_count", "job_name"} <= stated
    assert not {"git_branch", "observed_cpu_count", "arguments"} & stated
    node = json.loads(row[-1])
    assert node[0] == "START"
    assert node[1 + NODE_FIELDS.index("git_dirty")] is False


def test_a_field_takes_the_latest_event_that_states_it() -> None:
    start, _running, complete = (node_row(r) for r in _rows())
    # COMPLETE states no git commit here; START does: the commit comes from START
    fields = list(json.loads(complete[-1]))
    fields[1 + NODE_FIELDS.index("git_commit")] = ""
    bit = 1 << NODE_FIELDS.index("git_commit")
    groups = [
        (
            row[7] & ~bit if row is complete else row[7],
            (row[1], row[4], row[3], node),
            row[5],
            row[6],
            row[3],
        )
        for row, node in ((start, start[-1]), (complete, json.dumps(fields)))
    ]
    state = reduce_run(start[0], groups)
    assert state is not None
    assert state["status"] == "COMPLETE"
    assert state["git_commit"] == json.loads(start[-1])[1 + NODE_FIELDS.index("git_commit")] != ""
    assert (state["start_time"], state["end_time"]) == (start[5], complete[6])
