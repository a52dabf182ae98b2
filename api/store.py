"""The API's reads of the warehouse: batched, bounded, primary-key range queries.

Every method answers one level of a graph traversal (``WHERE key IN frontier`` on the table
sorted by that key: one query per level, not per node) or fetches details for a set of nodes.
Every query has a ``LIMIT`` and runs with ``max_execution_time``, so no request can start an
unbounded ClickHouse query.  The tables are ReplacingMergeTrees that may still hold a
replayed event's copy: every query is ``DISTINCT`` or aggregates with ``argMax``.

The embedded engine (chdb) is one session per process and not thread-safe: calls are
serialized by a lock, shared with the spool consumer when ``pedigree serve`` runs both.
"""

# ruff: noqa: S608 -- table and column names are module constants; values are bound {x:Type}

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from api.graph import Edge
from api.nodes import NodeRef
from consumers.queries import STATE_ORDER
from consumers.run_nodes import NODE_NULLABLE, NODE_TEXT, states

__all__ = [
    "VERSION_FACTS",
    "QueryLimits",
    "Warehouse",
    "WarehouseUnavailable",
    "version_facts",
]


def version_facts(columns: Sequence[Any]) -> dict[str, Any]:
    """A dataset version's facts as the API shows them, from the columns of a
    ``dataset_versions`` aggregation (schema, counts, labels, first seen, producing runs)."""
    fields, row_count, size, files, label_set, label_version, first, produced_by = columns
    return {
        "schema": [  # a named Tuple comes back as a dict
            {"name": f["name"], "type": f["type"], "description": f["description"]}
            for f in fields or []
        ],
        "rowCount": row_count,
        "sizeBytes": size,
        "fileCount": files,
        "labelSet": label_set or None,
        "labelVersion": label_version or None,
        "firstSeen": first,
        "producedBy": sorted(produced_by),
    }


class WarehouseUnavailable(Exception):
    """ClickHouse did not answer (down, locked, timed out)."""


@dataclass(frozen=True)
class QueryLimits:
    max_execution_seconds: float = 10.0
    max_result_rows: int = 100_000


_VERSION_KEY = "(dataset_namespace, dataset_name, dataset_version)"
VERSION_FACTS = (
    "argMax(schema_fields, (notEmpty(schema_fields), event_time, event_id)), "
    "max(row_count), max(size_bytes), max(file_count), "
    "argMax(label_set, (label_set != '', event_time)), "
    "argMax(label_version, (label_version != '', event_time)), "
    "min(event_time), "
    "groupUniqArrayIf(16)(run_id, role = 'output' AND run_id != '')"
)
"""A dataset version's facts, aggregated over its ``dataset_versions`` rows, in the order
:func:`version_facts` reads them."""
_DATASET_KEY = "(dataset_namespace, dataset_name)"
_JOB_KEY = "(job_namespace, job_name)"
_VKEYS = "{keys:Array(Tuple(String, String, String))}"
_PAIRS = "{keys:Array(Tuple(String, String))}"


def _latest(column: str, present: str) -> str:
    return f"argMaxIf({column}, {STATE_ORDER}, {present}) AS s_{column}"


RUNS_STATE = f"""
SELECT
    run_id,
    argMax(event_type, {STATE_ORDER}) AS status,
    max(event_time) AS last_event_time,
    min(start_time) AS start_time,
    max(end_time) AS end_time,
    {", ".join(_latest(c, f"{c} != ''") for c in NODE_TEXT)},
    {", ".join(_latest(c, f"{c} IS NOT NULL") for c in NODE_NULLABLE)},
    {_latest("arguments", "notEmpty(arguments)")},
    {_latest("parameters", "notEmpty(parameters)")}
FROM runs
WHERE run_id IN {{ids:Array(String)}}
GROUP BY run_id
LIMIT {{limit:UInt32}}
"""
"""The latest state of several runs at once (the rules of ``consumers.queries.RUN_STATE``),
aggregated over ``runs``: :meth:`Warehouse.runs` reads the same from ``run_nodes`` and falls back
to this for a run with ``GROUPS_PER_RUN`` or more field combinations."""

GROUPS_PER_RUN = 64
"""Distinct ``present`` bit sets read per run from ``run_nodes`` (a run's START, heartbeats,
COMPLETE... share a few); a run with this many is answered by ``RUNS_STATE`` instead."""

RUN_NODE_GROUPS = f"""
SELECT
    run_id,
    present,
    argMax(tuple(event_id, state_rank, event_time, node), {STATE_ORDER}),
    min(start_time),
    max(end_time),
    max(event_time)
FROM run_nodes
WHERE run_id IN {{ids:Array(String)}}
GROUP BY run_id, present
LIMIT {GROUPS_PER_RUN} BY run_id
LIMIT {{limit:UInt32}}
"""
"""Per run and bit set of stated fields, the latest event and the time bounds
(``consumers.run_nodes.reduce_run`` turns them into the run's state)."""

RUN_STATE_COLUMNS: tuple[str, ...] = (
    "run_id",
    "status",
    "last_event_time",
    "start_time",
    "end_time",
    *NODE_TEXT,
    *NODE_NULLABLE,
    "arguments",
    "parameters",
)


class Warehouse:
    """Read access to one warehouse database through a clickhouse-connect client."""

    def __init__(
        self,
        client: Any,
        database: str,
        *,
        limits: QueryLimits | None = None,
        lock: AbstractContextManager[Any] | None = None,
    ) -> None:
        self.client = client
        self.database = database
        self.limits = limits or QueryLimits()
        self.lock = lock or threading.Lock()

    # -- plumbing ----------------------------------------------------------------------------

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        settings = {
            "max_execution_time": self.limits.max_execution_seconds,
            "max_result_rows": self.limits.max_result_rows,
            "result_overflow_mode": "break",
        }
        try:
            with self.lock:
                result = self.client.query(
                    sql, parameters=dict(parameters or {}), settings=settings
                )
                return list(result.result_rows)
        except Exception as err:  # any engine failure: one kind for the API
            raise WarehouseUnavailable(str(err).splitlines()[0][:300]) from err

    def ping(self) -> None:
        self.query(f"SELECT count() FROM `{self.database}`.schema_migrations")

    def _table(self, name: str) -> str:
        return f"`{self.database}`.{name}"

    # -- one level of the run-level graph -----------------------------------------------------

    def producers_of(self, versions: Sequence[NodeRef], limit: int) -> list[Edge]:
        """run --> dataset version, for the runs that wrote ``versions``."""
        rows = self._by_versions("run_outputs_by_dataset", versions, limit)
        return [Edge(NodeRef.run(r[3], r[4]), _version(r)) for r in rows]

    def consumers_of(self, versions: Sequence[NodeRef], limit: int) -> list[Edge]:
        """dataset version --> run, for the runs that read ``versions``."""
        rows = self._by_versions("run_inputs_by_dataset", versions, limit)
        return [Edge(_version(r), NodeRef.run(r[3], r[4])) for r in rows]

    def inputs_of(self, runs: Sequence[NodeRef], limit: int) -> list[Edge]:
        """dataset version --> run, for what ``runs`` read."""
        rows = self._by_runs("run_inputs", runs, limit)
        return [Edge(_version(r), NodeRef.run(r[3], r[4])) for r in rows]

    def outputs_of(self, runs: Sequence[NodeRef], limit: int) -> list[Edge]:
        """run --> dataset version, for what ``runs`` wrote."""
        rows = self._by_runs("run_outputs", runs, limit)
        return [Edge(NodeRef.run(r[3], r[4]), _version(r)) for r in rows]

    def _by_versions(self, table: str, versions: Sequence[NodeRef], limit: int) -> list[Any]:
        if not versions:
            return []
        return self.query(
            f"SELECT DISTINCT dataset_namespace, dataset_name, dataset_version, run_id, "
            f"job_namespace FROM {self._table(table)} WHERE {_VERSION_KEY} IN {_VKEYS} "
            "ORDER BY run_id LIMIT {limit:UInt32}",
            {"keys": [(v.namespace, v.name, v.version or "") for v in versions], "limit": limit},
        )

    def _by_runs(self, table: str, runs: Sequence[NodeRef], limit: int) -> list[Any]:
        if not runs:
            return []
        return self.query(
            f"SELECT DISTINCT dataset_namespace, dataset_name, dataset_version, run_id, "
            f"job_namespace FROM {self._table(table)} WHERE run_id IN {{ids:Array(String)}} "
            "ORDER BY dataset_namespace, dataset_name, dataset_version LIMIT {limit:UInt32}",
            {"ids": [r.name for r in runs], "limit": limit},
        )

    # -- one level of the job-level graph -----------------------------------------------------

    def job_io(self, jobs: Sequence[NodeRef], limit: int) -> list[Edge]:
        """dataset --> job (read) and job --> dataset (written), over all runs of ``jobs``."""
        if not jobs:
            return []
        rows = self.query(
            f"SELECT DISTINCT job_namespace, job_name, role, dataset_namespace, dataset_name "
            f"FROM {self._table('job_io')} WHERE {_JOB_KEY} IN {_PAIRS} "
            "ORDER BY job_namespace, job_name, role, dataset_namespace, dataset_name "
            "LIMIT {limit:UInt32}",
            {"keys": [(j.namespace, j.name) for j in jobs], "limit": limit},
        )
        edges = []
        for job_ns, job_name, role, ds_ns, ds_name in rows:
            job, dataset = NodeRef("job", job_ns, job_name), NodeRef("dataset", ds_ns, ds_name)
            edges.append(Edge(dataset, job) if role == "input" else Edge(job, dataset))
        return edges

    def dataset_jobs(self, datasets: Sequence[NodeRef], limit: int) -> list[Edge]:
        """The jobs that read (dataset --> job) and wrote (job --> dataset) ``datasets``."""
        if not datasets:
            return []
        keys = {"keys": [(d.namespace, d.name) for d in datasets], "limit": limit}
        edges = []
        for table, reads in (("run_inputs_by_dataset", True), ("run_outputs_by_dataset", False)):
            rows = self.query(
                f"SELECT DISTINCT dataset_namespace, dataset_name, job_namespace, job_name "
                f"FROM {self._table(table)} WHERE {_DATASET_KEY} IN {_PAIRS} "
                "ORDER BY job_namespace, job_name LIMIT {limit:UInt32}",
                keys,
            )
            for ds_ns, ds_name, job_ns, job_name in rows:
                job, dataset = NodeRef("job", job_ns, job_name), NodeRef("dataset", ds_ns, ds_name)
                edges.append(Edge(dataset, job) if reads else Edge(job, dataset))
        return edges

    # -- node details --------------------------------------------------------------------------

    def runs(
        self, run_ids: Iterable[str], scope: tuple[str, Mapping[str, Any]] | None = None
    ) -> dict[str, dict[str, Any]]:
        """The latest state of each run (absent ids are left out).

        ``scope`` — a SQL condition on ``job_namespace`` and its parameters (the caller's
        readable namespaces, ``api.catalog_store.run_scope``): the state is computed from those
        events only, so another tenant's events under the same run id (a collision, or a
        deliberate one) can neither show nor change what this caller sees."""
        ids = sorted(set(run_ids))
        # a query's rows are capped (max_result_rows, cut without an error): ask for at most
        # that many, GROUPS_PER_RUN per run, or a run could be reduced from part of its groups
        chunk = max(1, self.limits.max_result_rows // GROUPS_PER_RUN)
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), chunk):
            found.update(self._run_states(ids[start : start + chunk], scope))
        return found

    def _run_states(
        self, ids: list[str], scope: tuple[str, Mapping[str, Any]] | None
    ) -> dict[str, dict[str, Any]]:
        rows = self.query(*self._scoped(RUN_NODE_GROUPS, "run_nodes", ids, GROUPS_PER_RUN, scope))
        groups: dict[str, int] = {}
        for row in rows:
            groups[row[0]] = groups.get(row[0], 0) + 1
        crowded = {run for run, count in groups.items() if count >= GROUPS_PER_RUN}
        found = states(row for row in rows if row[0] not in crowded)
        # Aggregated in ClickHouse instead: runs with more field combinations than read, and
        # runs run_nodes does not know -- events a consumer older than migration 0003 wrote
        # (or runs the scope hides, which this finds absent from runs too).
        fallback = sorted(crowded | (set(ids) - set(groups)))
        if fallback:
            sql, params = self._scoped(RUNS_STATE, "runs", fallback, 1, scope)
            for row in self.query(sql, params):
                found[row[0]] = dict(zip(RUN_STATE_COLUMNS, row, strict=True))
        return found

    def _scoped(
        self,
        sql: str,
        table: str,
        ids: list[str],
        rows_per_run: int,
        scope: tuple[str, Mapping[str, Any]] | None,
    ) -> tuple[str, dict[str, Any]]:
        sql = sql.replace(f"FROM {table}", f"FROM {self._table(table)}")
        params: dict[str, Any] = {"ids": ids, "limit": len(ids) * rows_per_run}
        if scope is not None:
            condition, scope_params = scope
            sql = sql.replace("WHERE run_id IN {ids:Array(String)}",
                              f"WHERE run_id IN {{ids:Array(String)}} AND {condition}")  # fmt: skip
            params.update(scope_params)
        return sql, params

    def dataset_versions(
        self,
        versions: Sequence[NodeRef],
        scope: tuple[str, Mapping[str, Any]] | None = None,
        *,
        visible: Mapping[str, bool] | None = None,
    ) -> dict[tuple[str, str, str], Any]:
        """Schema, size and labels of dataset versions, by (namespace, name, version).

        ``scope`` (as for :meth:`runs`): ``producedBy`` lists only the runs with events the
        caller may read -- another tenant's run ids are theirs, even on a dataset version both
        may read.  ``visible``: what the caller already knows of some runs (a run whose
        :meth:`runs` state it fetched with the same scope is visible; one it asked for and got
        no state for is not), so only the other producers are looked up."""
        if not versions:
            return {}
        rows = self.query(
            f"SELECT dataset_namespace, dataset_name, dataset_version, {VERSION_FACTS} "
            f"FROM {self._table('dataset_versions')} WHERE {_VERSION_KEY} IN {_VKEYS} "
            "GROUP BY dataset_namespace, dataset_name, dataset_version LIMIT {limit:UInt32}",
            {
                "keys": [(v.namespace, v.name, v.version or "") for v in versions],
                "limit": len(versions),
            },
        )
        out: dict[tuple[str, str, str], Any] = {}
        if scope is not None:
            known = visible or {}
            unknown = (run for row in rows for run in row[-1] if run not in known)
            shown = self.visible_runs(unknown, scope) | {r for r, seen in known.items() if seen}
            rows = [(*row[:-1], [r for r in row[-1] if r in shown]) for row in rows]
        for ns, name, ver, *facts in rows:
            out[(ns, name, ver)] = version_facts(facts)
        return out

    def model_version(self, name: str, version: str) -> dict[str, Any] | None:
        """A registered model version: its dataset version, producing run, metrics, stage."""
        rows = self.query(
            "SELECT model_name, model_version, "
            "argMax(framework, (framework != '', event_time, event_id)), "
            "argMax(stage, (stage != '', event_time, event_id)), "
            "argMax(metrics, (notEmpty(metrics), event_time, event_id)), "
            "argMaxIf(dataset_namespace, (event_time, event_id), role = 'output'), "
            "argMaxIf(dataset_name, (event_time, event_id), role = 'output'), "
            "argMaxIf(dataset_version, (event_time, event_id), role = 'output'), "
            "argMaxIf(run_id, (event_time, event_id), role = 'output'), "
            "countIf(role = 'output'), any(dataset_namespace), any(dataset_name), "
            "any(dataset_version), min(event_time) "
            f"FROM {self._table('model_versions')} "
            "WHERE model_name = {name:String} AND model_version = {version:String} "
            "GROUP BY model_name, model_version LIMIT 1",
            {"name": name, "version": version},
        )
        if not rows:
            return None
        (mname, mver, framework, stage, metrics, ns, dname, dver, run_id, produced,
         any_ns, any_name, any_ver, first) = rows[0]  # fmt: skip
        if not produced:  # only seen as an input (e.g. deployed): still a known dataset
            ns, dname, dver, run_id = any_ns, any_name, any_ver, ""
        return {
            "name": mname,
            "version": mver,
            "framework": framework or None,
            "stage": stage or None,
            "metrics": dict(metrics),
            "dataset": NodeRef.dataset_version(ns, dname, dver),
            "producingRun": run_id or None,
            "firstSeen": first,
        }

    def models_of_versions(self, versions: Sequence[NodeRef]) -> dict[tuple[str, str, str], Any]:
        """Model versions stored as these dataset versions (a scan of ``model_versions``:
        that table holds one row per model version event, far fewer than the edges)."""
        if not versions:
            return {}
        rows = self.query(
            "SELECT DISTINCT dataset_namespace, dataset_name, dataset_version, model_name, "
            f"model_version FROM {self._table('model_versions')} "
            f"WHERE {_VERSION_KEY} IN {_VKEYS} ORDER BY model_name, model_version "
            "LIMIT {limit:UInt32}",
            {
                "keys": [(v.namespace, v.name, v.version or "") for v in versions],
                "limit": 10 * len(versions),
            },
        )
        out: dict[tuple[str, str, str], Any] = {}
        for ns, name, ver, model, model_version in rows:
            out.setdefault((ns, name, ver), []).append({"name": model, "version": model_version})
        return out

    def resource_samples(
        self, run_id: str, limit: int, scope: tuple[str, Mapping[str, Any]] | None = None
    ) -> list[tuple[Any, ...]]:
        """(host, device, time, cpu %, RSS, GPU %, GPU memory) of a run, in time order; with a
        ``scope`` (``catalog_store.run_scope``), from the run's events it admits only -- a run
        id reused in another namespace does not show the other tenant's samples."""
        condition, params = scope or ("1", {})
        events = ""
        if condition != "1":
            events = (
                f"AND event_id IN (SELECT event_id FROM {self._table('runs')} "
                f"WHERE run_id = {{id:String}} AND {condition}) "
            )
        return self.query(
            "SELECT DISTINCT host, device, sample_time, cpu_percent, rss_bytes, "
            f"gpu_util_percent, gpu_memory_bytes FROM {self._table('resource_samples')} "
            f"WHERE run_id = {{id:String}} {events}"
            "ORDER BY host, device, sample_time LIMIT {limit:UInt32}",
            {**params, "id": run_id, "limit": limit},
        )

    def visible_runs(
        self, run_ids: Iterable[str], scope: tuple[str, Mapping[str, Any]]
    ) -> set[str]:
        """Those of ``run_ids`` with at least one event the ``scope`` admits."""
        ids = sorted(set(run_ids))
        if not ids:
            return set()
        condition, params = scope
        rows = self.query(
            f"SELECT DISTINCT run_id FROM {self._table('runs')} "
            f"WHERE run_id IN {{ids:Array(String)}} AND {condition} LIMIT {{limit:UInt32}}",
            {**params, "ids": ids, "limit": len(ids)},
        )
        return {row[0] for row in rows}


def _version(row: Sequence[Any]) -> NodeRef:
    return NodeRef.dataset_version(row[0], row[1], row[2])
