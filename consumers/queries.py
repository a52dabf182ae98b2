"""SQL the API (and analysts) reuse to read the warehouse; parameters use ClickHouse's
server-side ``{name:Type}`` syntax (``client.query(SQL, parameters={...})``).

Every query is correct *without* ``FINAL``: the tables are ReplacingMergeTrees that may still
hold a replayed event's copy until a merge, so queries aggregate with functions a duplicate
cannot change (``argMax``, ``min``, ``max``, ``DISTINCT``), and every ``WHERE`` is a prefix of
the table's sorting key, so each is a primary-key range read.
"""

# ruff: noqa: S608 -- the f-strings below join module constants; values are bound as {x:Type}

from __future__ import annotations

__all__ = [
    "DATASET_VERSION_CONSUMERS",
    "DATASET_VERSION_PRODUCERS",
    "RUN_INPUTS",
    "RUN_OUTPUTS",
    "RUN_STATE",
    "RUN_STATE_COLUMNS",
    "STATE_ORDER",
]

STATE_ORDER = "(state_rank >= 3, event_time, state_rank, event_id)"
"""The order in which run events supersede each other: a terminal state (COMPLETE, ABORT, FAIL)
wins over any non-terminal one whatever the timestamps (a late RUNNING heartbeat does not
reopen a finished run), then the later event time, then the state rank (FAIL > ABORT >
COMPLETE > RUNNING > START > OTHER), then ``event_id`` so that even exact ties are decided the
same way whatever the insert order."""


def _latest(column: str, present: str) -> str:
    # Inner aliases carry a prefix: an alias named like a column would shadow that column in
    # STATE_ORDER (ClickHouse resolves aliases before columns).
    return f"argMaxIf({column}, {STATE_ORDER}, {present}) AS s_{column}"


_TEXT = (
    "job_namespace",
    "job_name",
    "parent_run_id",
    "parent_job_namespace",
    "parent_job_name",
    "git_repo",
    "git_commit",
    "git_branch",
    "git_diff_hash",
    "image",
    "image_digest",
    "entry_point",
    "submitter",
    "code_author",
    "deployer",
    "team",
    "error_message",
    "error_stack_trace",
    "requested_gpu_model",
    "host",
    "traceparent",
)
_NULLABLE = (
    "git_dirty",
    "requested_cpu_count",
    "requested_memory_bytes",
    "requested_gpu_count",
    "requested_gpu_memory_bytes",
)

RUN_STATE_COLUMNS: tuple[str, ...] = (
    "run_id",
    "status",
    "event_time",
    "start_time",
    "end_time",
    *_TEXT,
    "root_run_id",
    "root_job_namespace",
    "root_job_name",
    *_NULLABLE,
    "arguments",
    "parameters",
    "events",
)

RUN_STATE = f"""
SELECT
    run_id,
    s_status AS status,
    s_event_time AS event_time,
    s_start_time AS start_time,
    s_end_time AS end_time,
    {", ".join(f"s_{c} AS {c}" for c in _TEXT)},
    if(s_root_run_id = '', run_id, s_root_run_id) AS root_run_id,
    if(s_root_run_id = '', s_job_namespace, s_root_job_namespace) AS root_job_namespace,
    if(s_root_run_id = '', s_job_name, s_root_job_name) AS root_job_name,
    {", ".join(f"s_{c} AS {c}" for c in _NULLABLE)},
    s_arguments AS arguments,
    s_parameters AS parameters,
    s_events AS events
FROM (
    SELECT
        run_id,
        argMax(event_type, {STATE_ORDER}) AS s_status,
        max(event_time) AS s_event_time,
        min(start_time) AS s_start_time,
        max(end_time) AS s_end_time,
        {", ".join(_latest(c, f"{c} != ''") for c in _TEXT)},
        {", ".join(_latest(c, f"{c} IS NOT NULL") for c in _NULLABLE)},
        {_latest("arguments", "notEmpty(arguments)")},
        {_latest("parameters", "notEmpty(parameters)")},
        uniqExact(event_id) AS s_events,
        argMaxIf(root_run_id, {STATE_ORDER}, root_run_id != '') AS s_root_run_id,
        argMaxIf(root_job_namespace, {STATE_ORDER}, root_run_id != '') AS s_root_job_namespace,
        argMaxIf(root_job_name, {STATE_ORDER}, root_run_id != '') AS s_root_job_name
    FROM runs
    WHERE run_id = {{run_id:String}}
    GROUP BY run_id
)
"""
"""The latest state of one run, whatever order its events arrived in and however often.

``status`` follows :data:`STATE_ORDER`; ``start_time`` is the earliest START, ``end_time`` the
latest terminal event; every other field is the value of the latest event (in
:data:`STATE_ORDER`) that stated it, so a COMPLETE without facets keeps what START said.  A run
without a parent is its own root.  The columns are :data:`RUN_STATE_COLUMNS`; ``events`` counts
the distinct events of the run."""

_EDGE_FIELDS = "dataset_namespace, dataset_name, dataset_version"
_RUN_FIELDS = "run_id, job_namespace, job_name"

RUN_INPUTS = f"""
SELECT DISTINCT {_EDGE_FIELDS} FROM run_inputs
WHERE run_id = {{run_id:String}}
ORDER BY {_EDGE_FIELDS}
"""
"""Upstream of a run: the dataset versions it read."""

RUN_OUTPUTS = f"""
SELECT DISTINCT {_EDGE_FIELDS} FROM run_outputs
WHERE run_id = {{run_id:String}}
ORDER BY {_EDGE_FIELDS}
"""
"""Downstream of a run: the dataset versions it wrote."""

_BY_VERSION = """
WHERE dataset_namespace = {namespace:String}
  AND dataset_name = {name:String}
  AND dataset_version = {version:String}
"""

DATASET_VERSION_PRODUCERS = f"""
SELECT DISTINCT {_RUN_FIELDS} FROM run_outputs_by_dataset
{_BY_VERSION}
ORDER BY {_RUN_FIELDS}
"""
"""Upstream of a dataset version: the runs that wrote it."""

DATASET_VERSION_CONSUMERS = f"""
SELECT DISTINCT {_RUN_FIELDS} FROM run_inputs_by_dataset
{_BY_VERSION}
ORDER BY {_RUN_FIELDS}
"""
"""Downstream of a dataset version: the runs that read it."""
