"""Spike (issue 5): what would bring depth-5 model provenance to p50 < 30 ms / p99 < 150 ms.

Run:  .venv/bin/python bench/provenance_spike.py  (~8 min, +7 min the first time; RESULTS.md)
      [--dir .cache/graph-bench] [--samples 200] [--rebuild] [--drop]

Works on the warehouse ``bench/graph_bench.py`` built (1M runs, 10M edges; build it first with
that script).  Only one process may open a chdb directory: do not run both at once.  Everything
is in process (no HTTP), one request at a time, after ``WARMUP`` untimed ones, from the same 200
deterministic model versions graph_bench asks for (its ``starting_points``):

1. **baseline** -- ``api.routes_lineage.walk_from`` (the route's code path: model, BFS, run
   states, dataset versions, visible runs, models) on the real tables, then the answer's JSON;
   every ``Warehouse.query`` timed and labelled as graph_bench's ``--profile`` does.
2. **run details** for each traversal's runs: ``Warehouse.runs`` (the ``RUNS_STATE``
   aggregation over the 45-column ``runs``) against one-row-per-run summaries built once into
   the scratch database ``pedigree_spike`` with ``INSERT ... SELECT`` from that aggregation:
   ReplacingMergeTrees with the 35 columns a run node shows at several ``index_granularity`` /
   compressed block sizes, one holding the state as a single JSON string, and an
   AggregatingMergeTree of per-(run, namespace) aggregate states (what a materialized view
   from ``runs`` would maintain), merged at query time.
3. **fewer round trips**: the four detail queries of a request (run states, dataset versions,
   their producers' visibility, models of versions) as two queries; the BFS levels on
   small-granule copies of the edge tables (``pedigree_spike_g1024`` / ``_g256``).
4. **best combination** end to end (model, BFS, two detail queries, the same ``provenance_answer``
   answer building, JSON), checked byte for byte against the baseline's answer.

Since migration ``0003``, ``Warehouse.runs`` reads ``run_nodes`` (what this spike recommended),
so a run of this script today measures that in its baseline; the recorded table in
bench/RESULTS.md is from before, with ``RUNS_STATE`` over ``runs``.

Server CPU is this process's CPU time (every thread, chdb's included) per request.
``--drop`` removes the scratch databases at the end (they hold ~3.7 GiB).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.auth import ANONYMOUS  # noqa: E402
from api.catalog_store import run_scope  # noqa: E402
from api.context import ApiContext  # noqa: E402
from api.graph import Traversal  # noqa: E402
from api.nodes import NodeRef, parse_node_id  # noqa: E402
from api.routes_lineage import _walk, provenance_answer, walk_from  # noqa: E402
from api.settings import ApiLimits  # noqa: E402
from api.store import (  # noqa: E402
    _VERSION_KEY,
    _VKEYS,
    RUN_STATE_COLUMNS,
    RUNS_STATE,
    VERSION_FACTS,
    Warehouse,
    version_facts,
)
from bench import graph_bench as gb  # noqa: E402
from consumers.queries import STATE_ORDER  # noqa: E402

SPIKE = "pedigree_spike"
EDGE_DBS = {1024: "pedigree_spike_g1024", 256: "pedigree_spike_g256"}
EDGE_TABLES = ("run_inputs", "run_outputs_by_dataset", "dataset_versions", "model_versions", "runs")
SMALL_BLOCKS = "min_compress_block_size = 4096, max_compress_block_size = 16384"
WARMUP = 20
DEPTH = 5
MAX_NODES = 500
SCOPE = run_scope(ANONYMOUS)  # auth off, as graph_bench serves: ("1", {})

SUMMARIES: dict[str, str] = {
    # name: settings (the 35 columns of RUN_STATE_COLUMNS, one row per run, ORDER BY run_id)
    "summary_g8192": "index_granularity = 8192",
    "summary_g1024": "index_granularity = 1024",
    "summary_g256": "index_granularity = 256",
    "summary_g1024_small": f"index_granularity = 1024, {SMALL_BLOCKS}",
    "summary_g256_small": f"index_granularity = 256, {SMALL_BLOCKS}",
    "summary_g64_small": f"index_granularity = 64, {SMALL_BLOCKS}",
}
PACKED = "packed_g256_small"  # run_id, job_namespace, state (JSON String)
AGG = "agg_g256_small"  # AggregatingMergeTree of states per (run_id, job_namespace)


# -- the scratch tables ----------------------------------------------------------------------


def _state_select(source: str) -> str:
    """RUNS_STATE over every run of ``source``, columns named as ``RUN_STATE_COLUMNS``."""
    inner = (
        RUNS_STATE.replace("FROM runs", f"FROM {source}")
        .replace("WHERE run_id IN {ids:Array(String)}\n", "")
        .replace("LIMIT {limit:UInt32}\n", "")
    )
    head = {"run_id", "status", "last_event_time", "start_time", "end_time"}
    cols = [c if c in head else f"s_{c} AS {c}" for c in RUN_STATE_COLUMNS]
    return f"SELECT {', '.join(cols)} FROM ({inner})"


def _agg_columns() -> list[tuple[str, str]]:
    """(column, -State expression) of the aggregate-state summary; the same rules as
    RUNS_STATE, per (run_id, job_namespace) so that a tenant scope still applies per event."""
    from consumers.run_nodes import NODE_NULLABLE, NODE_TEXT

    cols = [
        ("status", f"argMaxState(event_type, {STATE_ORDER})"),
        ("last_event_time", "maxState(event_time)"),
        ("start_time", "minState(start_time)"),
        ("end_time", "maxState(end_time)"),
    ]
    cols += [(c, f"argMaxIfState({c}, {STATE_ORDER}, {c} != '')") for c in NODE_TEXT]
    cols += [(c, f"argMaxIfState({c}, {STATE_ORDER}, {c} IS NOT NULL)") for c in NODE_NULLABLE]
    for c in ("arguments", "parameters"):
        cols.append((c, f"argMaxIfState({c}, {STATE_ORDER}, notEmpty({c}))"))
    return cols


def _copy_ddl(client: Any, source: str, target: str, settings: str) -> str:
    ddl: str = client.query(f"SHOW CREATE TABLE {source}").result_rows[0][0]
    ddl = ddl.replace(source, target, 1).replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1)
    return ddl.replace("index_granularity = 8192", settings)


def build(client: Any, rebuild: bool) -> dict[str, float]:
    """The scratch tables (once; ``rebuild`` drops them first).  Seconds per step."""
    log: dict[str, float] = {}
    dbs = [SPIKE, *EDGE_DBS.values()]
    if rebuild:
        for db in dbs:
            client.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")
    existing = {
        (d, t)
        for d, t in client.query(
            "SELECT database, name FROM system.tables WHERE database IN {dbs:Array(String)}",
            parameters={"dbs": dbs},
        ).result_rows
    }

    def step(label: str, statements: Sequence[str]) -> None:
        start = time.perf_counter()
        for sql in statements:
            client.command(sql, settings=gb.BULK)
        log[label] = round(time.perf_counter() - start, 1)
        print(f"  built {label}: {log[label]:.1f} s", file=sys.stderr, flush=True)

    for db in dbs:
        client.command(f"CREATE DATABASE IF NOT EXISTS `{db}`")
    src = f"`{gb.DATABASE}`.runs"
    first = next(iter(SUMMARIES))
    for name, settings in SUMMARIES.items():
        if (SPIKE, name) in existing:
            continue
        source = _state_select(src) if name == first else f"SELECT * FROM `{SPIKE}`.{first}"
        step(
            name,
            [
                f"CREATE TABLE `{SPIKE}`.{name} ENGINE = ReplacingMergeTree ORDER BY run_id "
                f"SETTINGS {settings} AS {source}",
                f"OPTIMIZE TABLE `{SPIKE}`.{name} FINAL",
            ],
        )
    if (SPIKE, PACKED) not in existing:
        packed = ", ".join(c for c in RUN_STATE_COLUMNS if c != "run_id")
        step(
            PACKED,
            [
                f"CREATE TABLE `{SPIKE}`.{PACKED} ENGINE = ReplacingMergeTree "
                f"ORDER BY run_id SETTINGS index_granularity = 256, {SMALL_BLOCKS} AS "
                f"SELECT run_id, job_namespace, toJSONString(tuple({packed})) AS state "
                f"FROM `{SPIKE}`.{first}",
                f"OPTIMIZE TABLE `{SPIKE}`.{PACKED} FINAL",
            ],
        )
    if (SPIKE, AGG) not in existing:
        # argMax states with a (bool, time, rank, event_id) order are large in memory: the
        # million runs in 20 slices, or the aggregation needs more than 12 GiB
        states = ", ".join(f"{expr} AS st_{c}" for c, expr in _agg_columns())
        select = f"SELECT run_id, job_namespace AS ns, {states} FROM {src}"
        slices = [
            f"INSERT INTO `{SPIKE}`.{AGG} {select} WHERE sipHash64(run_id) % 20 = {k} "
            "GROUP BY run_id, ns"
            for k in range(20)
        ]
        step(
            AGG,
            [
                f"CREATE TABLE `{SPIKE}`.{AGG} ENGINE = AggregatingMergeTree "
                f"ORDER BY (run_id, ns) SETTINGS index_granularity = 256, {SMALL_BLOCKS} "
                f"AS {select} WHERE 0 GROUP BY run_id, ns",
                *slices,
                f"OPTIMIZE TABLE `{SPIKE}`.{AGG} FINAL",
            ],
        )
    for granularity, db in EDGE_DBS.items():
        settings = f"index_granularity = {granularity}, {SMALL_BLOCKS}"
        for table in EDGE_TABLES:
            if (db, table) in existing:
                continue
            source, target = f"`{gb.DATABASE}`.{table}", f"`{db}`.{table}"
            step(
                f"{db}.{table}",
                [
                    _copy_ddl(client, f"{gb.DATABASE}.{table}", f"{db}.{table}", settings),
                    f"INSERT INTO {target} SELECT * FROM {source}",
                    f"OPTIMIZE TABLE {target} FINAL",
                ],
            )
    return log


def sizes(client: Any) -> dict[str, tuple[int, int, int]]:
    """table: (rows, marks, bytes on disk) of the scratch tables and of ``runs``."""
    rows = client.query(
        "SELECT concat(database, '.', table), sum(rows), sum(marks), sum(bytes_on_disk) "
        "FROM system.parts WHERE active AND (database LIKE 'pedigree_spike%' OR "
        "(database = {db:String} AND table IN ('runs', 'run_inputs'))) "
        "GROUP BY database, table ORDER BY database, table",
        parameters={"db": gb.DATABASE},
    ).result_rows
    return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows}


# -- measuring -------------------------------------------------------------------------------


@dataclass
class Series:
    """Per request: wall ms, CPU ms, and ms per query label."""

    ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    parts: list[dict[str, float]] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)


class Timed(Warehouse):
    """A Warehouse whose queries are timed and labelled (graph_bench's labels)."""

    current: dict[str, float]
    count: int

    def __init__(self, client: Any, database: str, lock: threading.RLock) -> None:
        super().__init__(client, database, lock=lock)
        self.current, self.count = {}, 0

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        start = time.perf_counter()
        rows = super().query(sql, parameters)
        label = gb._label(sql)
        if sql.startswith("/* "):
            label = "spike: " + sql[3:].split(" */", 1)[0]
        self.current[label] = self.current.get(label, 0.0) + (time.perf_counter() - start) * 1e3
        self.count += 1
        return rows

    def reset(self) -> None:
        self.current, self.count = {}, 0


def measure(series: Series, wh: Timed, fn: Callable[[], Any]) -> Any:
    wh.reset()
    cpu, start = time.process_time(), time.perf_counter()
    out = fn()
    series.ms.append((time.perf_counter() - start) * 1e3)
    series.cpu_ms.append((time.process_time() - cpu) * 1e3)
    series.parts.append(dict(wh.current))
    series.queries.append(wh.count)
    return out


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def stats(s: Series) -> dict[str, Any]:
    labels = sorted({k for p in s.parts for k in p})
    n = max(len(s.parts), 1)
    return {
        "p50": statistics.median(s.ms),
        "p99": pct(s.ms, 0.99),
        "mean": statistics.fmean(s.ms),
        "max": max(s.ms),
        "cpu": statistics.fmean(s.cpu_ms),
        "queries": statistics.fmean(s.queries) if s.queries else 0.0,
        "parts": {k: sum(p.get(k, 0.0) for p in s.parts) / n for k in labels},
    }


# -- the spike's queries -------------------------------------------------------------------


def summary_lookup(wh: Warehouse, table: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    condition, params = SCOPE
    rows = wh.query(
        f"/* runs: {table} */ SELECT {', '.join(RUN_STATE_COLUMNS)} FROM `{SPIKE}`.{table} "
        f"WHERE run_id IN {{ids:Array(String)}} AND {condition} LIMIT {{limit:UInt32}}",
        {**params, "ids": sorted(set(ids)), "limit": len(set(ids))},
    )
    return {row[0]: dict(zip(RUN_STATE_COLUMNS, row, strict=True)) for row in rows}


def _converters(client: Any) -> list[Callable[[Any], Any]]:
    """Per column of the packed state: JSON value -> the value the typed query returns."""
    types = dict(
        client.query(
            "SELECT name, type FROM system.columns WHERE database = {db:String} "
            "AND table = 'summary_g256_small'",
            parameters={"db": SPIKE},
        ).result_rows
    )

    def convert(type_: str) -> Callable[[Any], Any]:
        if "DateTime64" in type_:
            return lambda v: None if v is None else datetime.fromisoformat(v)
        if "Float64" in type_:
            return lambda v: None if v is None else float(v)
        if "Int64" in type_:
            return lambda v: None if v is None else int(v)
        return lambda v: v

    return [convert(types[c]) for c in RUN_STATE_COLUMNS[1:]]


CONVERTERS: list[Callable[[Any], Any]] = []


def packed_lookup(wh: Warehouse, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    condition, params = SCOPE
    rows = wh.query(
        f"/* runs: {PACKED} (JSON) */ SELECT run_id, state FROM `{SPIKE}`.{PACKED} "
        f"WHERE run_id IN {{ids:Array(String)}} AND {condition} LIMIT {{limit:UInt32}}",
        {**params, "ids": sorted(set(ids)), "limit": len(set(ids))},
    )
    out = {}
    for run_id, state in rows:
        values = [f(v) for f, v in zip(CONVERTERS, json.loads(state), strict=True)]
        out[run_id] = dict(zip(RUN_STATE_COLUMNS, [run_id, *values], strict=True))
    return out


def agg_sql(merge_names: Mapping[str, str]) -> str:
    merged = ", ".join(f"{merge_names[f'st_{c}']}(st_{c})" for c, _ in _agg_columns())
    return (
        f"/* runs: {AGG} (merge states) */ SELECT run_id, {merged} FROM `{SPIKE}`.{AGG} "
        "WHERE run_id IN {ids:Array(String)} AND {condition} "
        "GROUP BY run_id LIMIT {limit:UInt32}"
    )


def agg_lookup(wh: Warehouse, sql: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    condition, params = SCOPE
    rows = wh.query(
        sql.replace("{condition}", condition.replace("job_namespace", "ns")),
        {**params, "ids": sorted(set(ids)), "limit": len(set(ids))},
    )
    return {row[0]: dict(zip(RUN_STATE_COLUMNS, row, strict=True)) for row in rows}


def merge_names(client: Any) -> dict[str, str]:
    """column: the -Merge function of its AggregateFunction type."""
    rows = client.query(
        "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String}",
        parameters={"db": SPIKE, "t": AGG},
    ).result_rows
    out = {}
    for name, type_ in rows:
        if type_.startswith("AggregateFunction("):
            out[name] = type_[len("AggregateFunction(") :].split(",", 1)[0] + "Merge"
    return out


def datasets_and_models(
    wh: Warehouse, db: str, versions: Sequence[NodeRef]
) -> tuple[dict[tuple[str, str, str], Any], dict[tuple[str, str, str], Any]]:
    """``Warehouse.dataset_versions`` (producers not yet filtered) and ``models_of_versions``
    in one query: the models joined by the version key."""
    if not versions:
        return {}, {}
    t = f"`{db}`"
    rows = wh.query(
        "/* dataset_versions + models */ "
        f"SELECT dataset_namespace, dataset_name, dataset_version, {VERSION_FACTS}, "
        "any(m.models) "
        f"FROM (SELECT * FROM {t}.dataset_versions WHERE {_VERSION_KEY} IN {_VKEYS}) AS d "
        "LEFT JOIN ("
        "  SELECT dataset_namespace, dataset_name, dataset_version, "
        "  arraySort(groupUniqArray((model_name, model_version))) AS models "
        f"  FROM {t}.model_versions WHERE {_VERSION_KEY} IN {_VKEYS} "
        "  GROUP BY dataset_namespace, dataset_name, dataset_version"
        ") AS m USING (dataset_namespace, dataset_name, dataset_version) "
        "GROUP BY dataset_namespace, dataset_name, dataset_version LIMIT {limit:UInt32}",
        {
            "keys": [(v.namespace, v.name, v.version or "") for v in versions],
            "limit": len(versions),
        },
    )
    facts: dict[tuple[str, str, str], Any] = {}
    models: dict[tuple[str, str, str], Any] = {}
    for ns, name, ver, *columns, found in rows:
        facts[(ns, name, ver)] = version_facts(columns)
        if found:
            models[(ns, name, ver)] = [{"name": m, "version": v} for m, v in found]
    return facts, models


def details(
    wh: Warehouse, db: str, ids: Sequence[str], versions: Sequence[NodeRef], packed: bool
) -> tuple[dict[str, Any], dict[Any, Any], dict[Any, Any]]:
    """Run states, dataset versions and models of a traversal in two queries.  A producer is
    visible if its state came back (scoped); only producers outside the traversal (none in an
    untruncated upstream walk: every version's producers are its next level) need a query."""
    runs = packed_lookup(wh, ids) if packed else summary_lookup(wh, "summary_g256_small", ids)
    facts, models = datasets_and_models(wh, db, versions)
    producers = {r for f in facts.values() for r in f["producedBy"]}
    unknown = producers - set(ids)
    visible = (producers & runs.keys()) | (set(summary_visible(wh, unknown)) if unknown else set())
    for f in facts.values():
        f["producedBy"] = [r for r in f["producedBy"] if r in visible]
    return runs, facts, models


def summary_visible(wh: Warehouse, ids: Iterable[str]) -> list[str]:
    condition, params = SCOPE
    ids = sorted(set(ids))
    rows = wh.query(
        f"/* runs: visible (summary) */ SELECT run_id FROM `{SPIKE}`.summary_g256_small "
        f"WHERE run_id IN {{ids:Array(String)}} AND {condition} LIMIT {{limit:UInt32}}",
        {**params, "ids": ids, "limit": len(ids)},
    )
    return [r[0] for r in rows]


class Prefetched(Timed):
    """The route's detail calls answered from two queries made once per request."""

    packed = False
    cache: tuple[dict[str, Any], dict[Any, Any], dict[Any, Any]] | None = None

    def prefetch(self, walk: Traversal) -> None:
        nodes = list(walk.nodes.values())
        ids = [n.name for n in nodes if n.kind == "run"]
        versions = [n for n in nodes if n.kind == "dataset" and n.version is not None]
        self.cache = details(self, self.database, ids, versions, self.packed)

    def runs(
        self, run_ids: Iterable[str], scope: tuple[str, Mapping[str, Any]] | None = None
    ) -> dict[str, dict[str, Any]]:
        assert self.cache is not None
        return {r: self.cache[0][r] for r in run_ids if r in self.cache[0]}

    def dataset_versions(
        self, versions: Sequence[NodeRef], scope: tuple[str, Mapping[str, Any]] | None = None
    ) -> dict[tuple[str, str, str], Any]:
        assert self.cache is not None
        return self.cache[1]

    def models_of_versions(self, versions: Sequence[NodeRef]) -> dict[tuple[str, str, str], Any]:
        assert self.cache is not None
        return self.cache[2]


def combined(ctx: ApiContext, wh: Prefetched, model: str, version: str) -> str:
    """The best combination: the model, the BFS on small-granule edges, two detail queries,
    the route's answer building and JSON (auth off: every run visible)."""
    found = wh.model_version(model, version)
    assert found is not None
    start: NodeRef = found["dataset"]
    walk = _walk(
        ctx, caller=ANONYMOUS, start=start, direction="upstream", depth=DEPTH, max_nodes=MAX_NODES
    )
    wh.prefetch(walk)
    producer = found["producingRun"]
    assert wh.cache is not None
    if producer and producer not in wh.cache[0] and not wh.visible_runs([producer], SCOPE):
        found["producingRun"] = None
    found = {**found, "dataset": start.id}
    answer = provenance_answer(
        ctx,
        walk=walk,
        direction="upstream",
        depth=DEPTH,
        max_nodes=MAX_NODES,
        model=found,
        caller=ANONYMOUS,
    )
    return answer.model_dump_json()


# -- the run ---------------------------------------------------------------------------------


def fixed_costs(client: Any, wh: Timed) -> dict[str, float]:
    def median(fn: Callable[[], Any], n: int = 50) -> float:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1e3)
        return statistics.median(times)

    return {
        "SELECT 1": median(lambda: wh.query("SELECT 1")),
        "one run from summary_g256_small": median(
            lambda: summary_lookup(wh, "summary_g256_small", ["x"])
        ),
        "RUNS_STATE, no match": median(lambda: wh.runs(["x"], scope=SCOPE)),
    }


@dataclass
class Spike:
    """The warehouses the spike compares, on one client, and what it measured."""

    client: Any
    results: dict[str, Series] = field(default_factory=dict)
    state_mismatches: int = 0
    answer_mismatches: int = 0
    path_only_mismatches: int = 0

    def __post_init__(self) -> None:
        lock = threading.RLock()
        self.base = Timed(self.client, gb.DATABASE, lock)
        self.ctx = ApiContext(self.base, None, ApiLimits(), None)
        self.agg = agg_sql(merge_names(self.client))
        CONVERTERS[:] = _converters(self.client)
        self.best = Prefetched(self.client, EDGE_DBS[256], lock)
        self.best_ctx = ApiContext(self.best, None, ApiLimits(), None)
        self.packed = Prefetched(self.client, EDGE_DBS[256], lock)
        self.packed.packed = True
        self.packed_ctx = ApiContext(self.packed, None, ApiLimits(), None)
        self.edges = {g: Timed(self.client, db, lock) for g, db in EDGE_DBS.items()}

    def run(self, label: str, wh: Timed, fn: Callable[..., Any], *args: Any) -> Any:
        return measure(self.results.setdefault(label, Series()), wh, partial(fn, *args))

    def baseline(self, model: str, version: str) -> str:
        answer = walk_from(
            self.ctx,
            ANONYMOUS,
            model=model,
            version=version,
            node_id=None,
            direction="upstream",
            depth=DEPTH,
            max_nodes=MAX_NODES,
        )
        return answer.model_dump_json()

    def bfs(self, wh: Warehouse, start: NodeRef) -> Traversal:
        ctx = ApiContext(wh, None, ApiLimits(), None)
        return _walk(
            ctx,
            caller=ANONYMOUS,
            start=start,
            direction="upstream",
            depth=DEPTH,
            max_nodes=MAX_NODES,
        )

    def four(self, ids: list[str], versions: list[NodeRef]) -> None:
        self.base.runs(ids, scope=SCOPE)
        self.base.dataset_versions(versions, scope=SCOPE)
        self.base.models_of_versions(versions)

    def two(self, ids: list[str], versions: list[NodeRef], db: str, packed: bool) -> None:
        details(self.base, db, ids, versions, packed)

    def measure_all(self, starts: Sequence[Sequence[str]]) -> None:
        base = self.base
        for m, v in starts[:WARMUP]:
            self.baseline(m, v)
            combined(self.best_ctx, self.best, m, v)
            combined(self.packed_ctx, self.packed, m, v)
        # 1. the baseline: the route's code path; keep each answer's nodes for the rest
        walks: list[tuple[list[str], list[NodeRef], NodeRef]] = []
        answers: list[str] = []
        for m, v in starts:
            body = self.run(
                "baseline: walk_from (the route's code path)", base, self.baseline, m, v
            )
            answers.append(body)
            nodes = [parse_node_id(n["id"]) for n in json.loads(body)["nodes"]]
            runs = [n.name for n in nodes if n.kind == "run"]
            walks.append((runs, [n for n in nodes if n.kind == "dataset"], nodes[0]))
        print("  baseline done", file=sys.stderr, flush=True)
        # 2. run details alone, same runs; every typed variant must equal RUNS_STATE's answer
        for ids, _versions, _start in walks:
            want = self.run("runs: RUNS_STATE over runs", base, base.runs, ids, SCOPE)
            for table in SUMMARIES:
                got = self.run(f"runs: {table}", base, summary_lookup, base, table, ids)
                self.state_mismatches += got != want
            got = self.run(f"runs: {PACKED} (JSON)", base, packed_lookup, base, ids)
            self.state_mismatches += got != want
            got = self.run(f"runs: {AGG} (merge states)", base, agg_lookup, base, self.agg, ids)
            self.state_mismatches += got != want
            for g, wh in self.edges.items():
                label = f"runs: RUNS_STATE over a copy of runs, g{g} small blocks"
                got = self.run(label, wh, wh.runs, ids, SCOPE)
                self.state_mismatches += got != want
        print("  run details done", file=sys.stderr, flush=True)
        # 3. the detail queries of a request, four against two; the BFS on edge copies
        for ids, versions, start in walks:
            label = "details: 4 queries (runs state, dataset_versions, visible, models)"
            self.run(label, base, self.four, ids, versions)
            for g, db in EDGE_DBS.items():
                for packed, kind in ((False, "summary_g256_small"), (True, PACKED)):
                    label = f"details: 2 queries ({kind} + dataset_versions, models g{g})"
                    self.run(label, base, self.two, ids, versions, db, packed)
            self.run("BFS: 5 levels, real tables (g8192)", base, self.bfs, base, start)
            for g, wh in self.edges.items():
                self.run(f"BFS: 5 levels, copies g{g} small blocks", wh, self.bfs, wh, start)
        print("  details and BFS done", file=sys.stderr, flush=True)
        # 4. the best combination end to end, and the same answer as the route's
        for (m, v), want_body in zip(starts, answers, strict=True):
            for wh, ctx, kind in (
                (self.best, self.best_ctx, "summary_g256_small"),
                (self.packed, self.packed_ctx, PACKED),
            ):
                label = f"best: model + BFS g256 + 2 detail queries ({kind}) + answer"
                got_body = self.run(label, wh, combined, ctx, wh, m, v)
                if got_body != want_body:
                    self.answer_mismatches += 1
                    self.path_only_mismatches += _without_paths(got_body) == _without_paths(
                        want_body
                    )


def _without_paths(body: str) -> Any:
    """An answer without its nodes' ``path`` (the first-discovery parent: where two frontier
    nodes reach the same node, the level query's ORDER BY leaves the tie to the storage order,
    which differs between the real tables and their copies)."""
    answer = json.loads(body)
    for node in answer["nodes"]:
        node.pop("path")
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=ROOT / ".cache" / "graph-bench")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rebuild", action="store_true", help="build the scratch tables again")
    parser.add_argument("--drop", action="store_true", help="drop the scratch databases at the end")
    args = parser.parse_args()
    if not (args.dir / "graph.json").exists():
        sys.exit(f"no warehouse in {args.dir}: run bench/graph_bench.py first")
    load_before = os.getloadavg()
    print(f"load average before: {load_before}", file=sys.stderr, flush=True)
    client = gb._client(args.dir.resolve())
    built = build(client, args.rebuild)
    starts = gb.starting_points(client, gb.DATABASE, gb.Shape(), args.samples)["model"]
    spike = Spike(client)
    spike.measure_all(starts)
    load_after = os.getloadavg()
    fixed = fixed_costs(client, spike.base)
    table_sizes = sizes(client)
    if args.drop:
        for db in [SPIKE, *EDGE_DBS.values()]:
            client.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")
    client.close()
    report(spike, built, fixed, table_sizes, (load_before, load_after))


def report(
    spike: Spike,
    built: Mapping[str, float],
    fixed: Mapping[str, float],
    table_sizes: Mapping[str, tuple[int, int, int]],
    load: tuple[tuple[float, float, float], tuple[float, float, float]],
) -> None:
    if built:
        print("\nscratch tables built (s): " + ", ".join(f"{k} {v}" for k, v in built.items()))
    print("\n| table | rows | marks | MiB on disk |\n|---|---:|---:|---:|")
    for name, (rows, marks, size) in table_sizes.items():
        print(f"| {name} | {rows:,} | {marks:,} | {size / 2**20:.1f} |")
    print(
        "\n| measured (per provenance, in process) | p50 ms | p99 ms | mean ms | max ms "
        "| CPU ms | queries | largest parts, mean ms |\n|---|---:|---:|---:|---:|---:|---:|---|"
    )
    for label, series in spike.results.items():
        s = stats(series)
        parts = sorted(s["parts"].items(), key=lambda kv: -kv[1])[:6]
        text = ", ".join(f"{k} {v:.1f}" for k, v in parts) if len(parts) > 1 else ""
        print(
            f"| {label} | {s['p50']:.1f} | {s['p99']:.1f} | {s['mean']:.1f} | {s['max']:.1f} "
            f"| {s['cpu']:.1f} | {s['queries']:.1f} | {text} |"
        )
    print(
        "\nfixed cost per query, median ms: " + ", ".join(f"{k} {v:.2f}" for k, v in fixed.items())
    )
    print(
        f"run states differing from RUNS_STATE's (typed summaries and states): "
        f"{spike.state_mismatches}; best answers differing from the route's (JSON bytes): "
        f"{spike.answer_mismatches}, of which in the nodes' paths only: "
        f"{spike.path_only_mismatches}"
    )
    print(f"load average (1, 5, 15 min) before: {load[0]}, after: {load[1]}")


if __name__ == "__main__":
    main()
