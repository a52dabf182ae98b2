"""``run_nodes``: what a graph node shows of a run, one narrow row per run event (pure code).

The lineage, provenance and run endpoints show each run's *state*: its status, times, and the
latest stated value of some 30 fields (``api.store.RUNS_STATE``: ``argMaxIf`` over the run's
events in ``STATE_ORDER``).  Computing that from the 45-column ``runs`` table reads a granule of
every column for every run asked for; a depth-5 provenance spent most of its time there
(bench/RESULTS.md).  ``run_nodes`` holds the same values per event, packed as one JSON array
(``node``) beside the few columns the reduction orders and groups by, in a table with small
granules and compressed blocks -- so a point read decompresses little.

The state stays exact and the work per run bounded, whatever the run's event count (a long
training job sends a RUNNING heartbeat every 15 s): ``present`` is the bit set of the fields an
event states, and the reader asks ClickHouse for one row per ``(run, present)``, the latest in
``STATE_ORDER`` -- heartbeats share one bit set, so they come back as one row.  For each field,
the latest event stating it is the latest of the groups whose bit set has the field: that is
:func:`reduce_run`.  Rows are a function of one event, like every other table's, so the delivery
argument (``docs/delivery.md``) holds unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from consumers.tables import COLUMNS

__all__ = [
    "NODE_FIELDS",
    "NODE_NULLABLE",
    "NODE_TEXT",
    "backfill_sql",
    "node_row",
    "reduce_run",
    "states",
]

NODE_TEXT: tuple[str, ...] = (
    "job_namespace",
    "job_name",
    "parent_run_id",
    "root_run_id",
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
    "requested_gpu_model",
    "host",
    "observed_gpu_model",
    "k8s_namespace",
    "k8s_pod",
)
"""String fields: the latest non-empty value wins."""

NODE_NULLABLE: dict[str, type] = {
    "git_dirty": bool,
    "requested_cpu_count": float,
    "requested_memory_bytes": int,
    "requested_gpu_count": int,
    "requested_gpu_memory_bytes": int,
    "observed_cpu_count": float,
    "observed_memory_bytes": int,
    "observed_gpu_count": int,
    "observed_gpu_memory_bytes": int,
}
"""Nullable fields and their Python type: the latest non-NULL value wins."""

NODE_FIELDS: tuple[str, ...] = (*NODE_TEXT, *NODE_NULLABLE, "arguments", "parameters")
"""The fields of ``node`` after its first element (the event type); bit ``i`` of ``present``
is ``NODE_FIELDS[i]``."""

_RUNS = {column: i for i, column in enumerate(COLUMNS["runs"])}
_AT = tuple(_RUNS[field] for field in NODE_FIELDS)
_TEXT_COUNT = len(NODE_TEXT)
_COERCE = tuple(NODE_NULLABLE.values())
_NULLABLE_BITS = frozenset(range(_TEXT_COUNT, _TEXT_COUNT + len(_COERCE)))
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def node_row(run: Sequence[Any]) -> tuple[Any, ...]:
    """The ``run_nodes`` row of a ``runs`` row (a tuple in ``COLUMNS["runs"]`` order)."""
    values = [run[i] for i in _AT]
    present = 0
    for bit, value in enumerate(values):
        stated = value is not None if bit in _NULLABLE_BITS else bool(value)  # '' [] {} are not
        if stated:
            present |= 1 << bit
    return (
        run[_RUNS["run_id"]],
        run[_RUNS["event_id"]],
        run[_RUNS["job_namespace"]],
        run[_RUNS["event_time"]],
        run[_RUNS["state_rank"]],
        run[_RUNS["start_time"]],
        run[_RUNS["end_time"]],
        present,
        _ENCODE([run[_RUNS["event_type"]], *values]),
    )


def _present_sql() -> str:
    terms = []
    for bit, field in enumerate(NODE_FIELDS):
        if field in NODE_NULLABLE:
            condition = f"{field} IS NOT NULL"
        elif field in ("arguments", "parameters"):
            condition = f"notEmpty({field})"
        else:
            condition = f"{field} != ''"
        terms.append(f"bitShiftLeft(toUInt64({condition}), {bit})")
    return " +\n    ".join(terms)


def backfill_sql() -> str:
    """The ``INSERT ... SELECT`` that fills ``run_nodes`` from ``runs`` with exactly the rows
    :func:`node_row` gives (migration ``0003`` holds this text; a test keeps them equal)."""
    return (
        "INSERT INTO {db}.run_nodes\n"
        "SELECT run_id, event_id, job_namespace, event_time, state_rank, start_time, end_time,\n"
        f"    {_present_sql()},\n"
        "    toJSONString(tuple(\n        toString(event_type),\n        "
        + ",\n        ".join(NODE_FIELDS)
        + "\n    ))\n"
        "FROM {db}.runs"
    )


def _order(event_id: str, rank: int, time: Any) -> tuple[Any, ...]:
    return (rank >= 3, time, rank, event_id)  # consumers.queries.STATE_ORDER


def reduce_run(run_id: str, groups: Iterable[Sequence[Any]]) -> dict[str, Any] | None:
    """A run's state (``api.store.RUN_STATE_COLUMNS``) from its ``(run, present)`` groups:
    each is ``(present, (event_id, state_rank, event_time, node), min start_time,
    max end_time, max event_time)`` -- the group's latest event in ``STATE_ORDER`` and the
    group's time bounds, as ``api.store.RUN_NODE_GROUPS`` selects them."""
    best: dict[int, tuple[tuple[Any, ...], list[Any]]] = {}  # field bit -> (order, node)
    latest: tuple[tuple[Any, ...], list[Any]] | None = None
    starts: list[Any] = []
    ends: list[Any] = []
    last_times: list[Any] = []
    for present, (event_id, rank, time, node), start, end, last in groups:
        order, values = _order(event_id, rank, time), json.loads(node)
        if latest is None or order > latest[0]:
            latest = (order, values)
        for bit in range(len(NODE_FIELDS)):
            if present >> bit & 1 and (bit not in best or order > best[bit][0]):
                best[bit] = (order, values)
        if start is not None:
            starts.append(start)
        if end is not None:
            ends.append(end)
        last_times.append(last)
    if latest is None:
        return None
    state: dict[str, Any] = {
        "run_id": run_id,
        "status": latest[1][0],
        "last_event_time": max(last_times),
        "start_time": min(starts) if starts else None,
        "end_time": max(ends) if ends else None,
    }
    for bit, field in enumerate(NODE_FIELDS):
        chosen = best.get(bit)
        value = chosen[1][1 + bit] if chosen is not None else None
        if bit < _TEXT_COUNT:
            state[field] = value or ""
        elif field == "arguments":
            state[field] = list(value or [])
        elif field == "parameters":
            state[field] = dict(value or {})
        else:
            state[field] = None if value is None else _COERCE[bit - _TEXT_COUNT](value)
    return state


def states(rows: Iterable[Sequence[Any]]) -> dict[str, dict[str, Any]]:
    """Per run id, the state of the group rows ``(run_id, *group)`` of several runs."""
    by_run: dict[str, list[Sequence[Any]]] = {}
    for row in rows:
        by_run.setdefault(row[0], []).append(row[1:])
    out = {}
    for run_id, groups in by_run.items():
        state = reduce_run(run_id, groups)
        if state is not None:
            out[run_id] = state
    return out
