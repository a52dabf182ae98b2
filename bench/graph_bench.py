"""Graph queries at scale: provenance, impact and lineage over HTTP on a 1M-run warehouse (issue 5).

Run:  .venv/bin/python bench/graph_bench.py --profile  (~13 min, plus ~2 min the first time to
                                                       build the warehouse; bench/RESULTS.md)
      .venv/bin/python bench/graph_bench.py --dir .cache/graph-bench --samples 200 --seed 5
      [--pipelines 500 --stages 20 --batches 100] [--rebuild] [--no-mlmd] [--mlmd-pipelines 10]
      [--memory-seconds 60] [--profile] [--index-granularity 1024]
The MLMD comparison needs ``ml-metadata`` (``.venv/bin/pip install ml-metadata``; it pins
``attrs<24``, which the other packages of the venv accept, or ``--no-deps`` plus ``absl-py``,
``protobuf<5`` and ``grpcio`` keeps the venv's attrs).  Without it that part says *skipped*.

What it does:

1. **The warehouse** (``--dir``, built once, reused while the shape is the same; ``--rebuild``
   starts again).  A worker process (one process owns a chdb directory) applies the real
   migrations to ``chdb://DIR/clickhouse`` and fills the tables with ``INSERT ... SELECT`` from
   ``numbers()``: the rows ``consumers.materialize.rows_for_events`` writes for one COMPLETE
   event per run (every edge table, ``job_io``, ``runs``, ``run_nodes``, ``dataset_versions``
   with one row per input and output, ``models``, ``model_versions``), computed in SQL with
   seeded hashes, so the same ``--seed`` gives the same warehouse.

   Graph shape (defaults): 500 pipelines x 20 stages (a job per stage: 10,000 jobs) x 100
   batches (runs of each job, a day apart) = **1,000,000 runs**.  Every run reads 5 dataset
   versions and writes 5: **5,000,000 input + 5,000,000 output edges** (each stored twice, plus
   ``job_io``).  Run (pipeline p, stage s, batch b) writes ``s3://lake-{p%16}:pipeP/stageS/outO``
   at a version hashed from (p, s, o, b); the last stage trains a model: its output 0 is
   ``s3://models:pipeP/model``, registered as model ``pipeP-model`` version ``b+1``
   (50,000 model versions).  Input 0 is output 0 of stage s-1 of the same batch (the main
   chain); inputs 1-4 are a random output of one of the 3 previous stages, of this batch or
   one of the 2 before (features over a window), and 10 % of them come from another pipeline
   (shared feature tables).  Stage 0 reads 5 raw sources (``s3://raw``, no producer).  So a
   run has 1-5 producer runs, upstream grows about 3x per run hop until the node limit
   (provenance at depth 20 is bounded by ``maxNodes``, not by the graph), and a version is
   read by about one run on average.  Run ids are hashed UUIDs, so the runs of a query are
   spread over the whole key space, as real ones are.

2. **Pedigree over HTTP**: a second worker serves the API with ``api.serve.running`` (auth off,
   no consumer) on that directory; this process sends ``--samples`` requests per query, one at
   a time over one keep-alive connection, from deterministic random starting points (model
   versions, dataset versions that some run read, runs, jobs), after 20 untimed warm-up
   requests, with the default ``maxNodes`` (500).  Latency is the client's: request sent to
   body received (JSON parsing of the answer excluded).  Node counts and the truncation rate
   are read from the answers.

3. **Memory**: the server worker's ``VmRSS`` is sampled every 0.1 s from ``/proc`` for its whole
   life, and over ``--memory-seconds`` of depth-20 provenance requests in a loop; ``VmHWM`` is
   its peak resident set (chdb's engine included).

4. **ML Metadata** (``ml-metadata``, SQLite backend, in this process): loading 10M edges
   through MLMD's Python API is not practical here, so it holds a deterministic sample: the
   first ``--mlmd-pipelines`` pipelines (their runs, every edge of those runs, their model
   versions; inputs from other pipelines become versions without a producer).  The same sample
   is copied into a second database of the warehouse and served by Pedigree too, so the ratio
   is like for like: the same questions from the same starting points on the same graph, MLMD's
   ``get_lineage_subgraph`` (``max_num_hops`` = depth, UPSTREAM / DOWNSTREAM) in process, with
   no node limit, against Pedigree over HTTP (with ``maxNodes`` 500 and 5000).

5. **Where the time goes** (``--profile``): the server worker times every warehouse query
   (``Warehouse.query`` wrapped in the worker only) and this process assigns them to requests:
   time per BFS level, in the detail queries, and in the rest (Python: traversal, models, JSON).
   ``EXPLAIN indexes = 1`` of each kind of query is printed (granules read of the total).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MiB = 1024 * 1024
DATABASE = "pedigree"
SAMPLE_DATABASE = "pedigree_mlmd_sample"
WARMUP = 20
GENERATOR = 4  # bump when the SQL below changes: a cached warehouse of another one is rebuilt


# -- the graph ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    pipelines: int = 500
    stages: int = 20
    batches: int = 100
    inputs: int = 5
    outputs: int = 5
    seed: int = 5
    cross_percent: int = 10  # inputs 1.. read another pipeline's output this often
    lookback_stages: int = 3
    lookback_batches: int = 3

    @property
    def runs(self) -> int:
        return self.pipelines * self.stages * self.batches


def _pad(expr: str, width: int) -> str:
    return f"leftPad(toString({expr}), {width}, '0')"


def _h64(shape: Shape, tag: str, *parts: str) -> str:
    """A seeded hash of integer parts (cast, so every statement hashes the same bytes)."""
    return (
        f"sipHash64(toUInt32({shape.seed}), '{tag}', "
        + ", ".join(f"toUInt64({p})" for p in parts)
        + ")"
    )


def _run_columns(shape: Shape, r: str) -> str:
    """p, s, b, run_id, event_id, event_time, job_namespace, job_name of run number ``r``."""
    per_pipeline = shape.stages * shape.batches
    run_hash = f"sipHash128(toUInt32({shape.seed}), 'run', toUInt64(p), toUInt64(s), toUInt64(b))"
    return f"""
        intDiv({r}, {per_pipeline}) AS p,
        intDiv({r} % {per_pipeline}, {shape.stages}) AS b,
        {r} % {shape.stages} AS s,
        toString(reinterpretAsUUID({run_hash})) AS run_id,
        lower(hex(SHA256(concat('{shape.seed}/event/', run_id)))) AS event_id,
        addSeconds(toDateTime64('2026-01-01 00:00:00', 6, 'UTC'), b * 86400 + s * 1200 + p)
            AS event_time,
        concat('team-', {_pad("p % 20", 2)}) AS job_namespace,
        concat('pipe', {_pad("p", 3)}, '.stage', {_pad("s", 2)}) AS job_name"""


def _output_dataset(shape: Shape, p: str, s: str, o: str, b: str) -> tuple[str, str, str]:
    model = f"({s}) = {shape.stages - 1} AND ({o}) = 0"
    ns = f"if({model}, 's3://models', concat('s3://lake-', toString(({p}) % 16)))"
    name = (
        f"if({model}, concat('pipe', {_pad(p, 3)}, '/model'), "
        f"concat('pipe', {_pad(p, 3)}, '/stage', {_pad(s, 2)}, '/out', toString({o})))"
    )
    version = f"lower(hex({_h64(shape, 'version', p, s, o, b)}))"
    return ns, name, version


def _edge_select(columns: str, numbers: int, body: str) -> str:
    return f"SELECT {columns} FROM (SELECT {body} FROM numbers({numbers}))"


EDGE_COLUMNS = (
    "run_id, dataset_namespace, dataset_name, dataset_version, event_id, event_time, "
    "event_type, job_namespace, job_name"
)


def outputs_sql(shape: Shape, db: str) -> str:
    ns, name, version = _output_dataset(shape, "p", "s", "o", "b")
    body = f"""
        intDiv(number, {shape.outputs}) AS r, number % {shape.outputs} AS o,
        {_run_columns(shape, "r")},
        {ns} AS dataset_namespace, {name} AS dataset_name, {version} AS dataset_version,
        'COMPLETE' AS event_type"""
    return f"INSERT INTO `{db}`.run_outputs ({EDGE_COLUMNS}) " + _edge_select(
        EDGE_COLUMNS, shape.runs * shape.outputs, body
    )


def inputs_sql(shape: Shape, db: str) -> str:
    h = _h64(shape, "input", "r", "i")
    back = f"greatest(least(s, {shape.lookback_stages}), 1)"
    up_s = f"if(i = 0, s - 1, s - 1 - (h % {back}))"
    up_p = (
        f"if(i > 0 AND intDiv(h, 8) % 100 < {shape.cross_percent}, "
        f"intDiv(h, 800) % {shape.pipelines}, p)"
    )
    up_b = f"if(i = 0, b, b - least(b, intDiv(h, 1000000) % {shape.lookback_batches}))"
    up_o = f"i % {shape.outputs}"  # input i reads output i: a run's inputs are distinct
    ns, name, version = _output_dataset(shape, "p2", "s2", "o2", "b2")
    raw_version = f"lower(hex({_h64(shape, 'raw', 'p', 'i', 'b')}))"
    body = f"""
        intDiv(number, {shape.inputs}) AS r, number % {shape.inputs} AS i,
        {_run_columns(shape, "r")},
        {h} AS h,
        if(s = 0, 0, {up_s}) AS s2, {up_p} AS p2, {up_b} AS b2, {up_o} AS o2,
        if(s = 0, 's3://raw', {ns}) AS dataset_namespace,
        if(s = 0, concat('pipe', {_pad("p", 3)}, '/source', toString(i)), {name})
            AS dataset_name,
        if(s = 0, {raw_version}, {version}) AS dataset_version,
        'COMPLETE' AS event_type"""
    return f"INSERT INTO `{db}`.run_inputs ({EDGE_COLUMNS}) " + _edge_select(
        EDGE_COLUMNS, shape.runs * shape.inputs, body
    )


RUN_COLUMNS = (
    "run_id, event_id, event_time, event_type, state_rank, end_time, job_namespace, job_name, "
    "git_repo, git_commit, git_branch, git_dirty, image, image_digest, entry_point, arguments, "
    "parameters, submitter, team, requested_cpu_count, requested_memory_bytes, host, "
    "python_version, producer"
)


def runs_sql(shape: Shape, db: str) -> str:
    h = _h64(shape, "params", "r")
    body = f"""
        number AS r, {_run_columns(shape, "r")},
        {h} AS h,
        'COMPLETE' AS event_type, toUInt8(3) AS state_rank, event_time AS end_time,
        concat('https://git.example.com/ml/pipe', {_pad("p", 3)}) AS git_repo,
        lower(hex(SHA1(concat('{shape.seed}/commit/', toString(p), '/', toString(intDiv(b, 5))))))
            AS git_commit,
        'main' AS git_branch, false AS git_dirty,
        concat('registry.example.com/ml/pipe', {_pad("p", 3)}) AS image,
        concat('sha256:', lower(hex(SHA256(concat('{shape.seed}/image/', toString(p), '/',
            toString(intDiv(b, 10))))))) AS image_digest,
        concat('stage', {_pad("s", 2)}, '.py') AS entry_point,
        ['--batch', toString(b)] AS arguments,
        map('learning_rate', toString(round(0.0001 * (1 + h % 100), 4)),
            'batch_size', toString(32 * (1 + intDiv(h, 100) % 8)),
            'epochs', toString(1 + intDiv(h, 1000) % 20),
            'seed', toString(b),
            'optimizer', '"adam"') AS parameters,
        concat('user', toString(p % 50)) AS submitter,
        concat('team-', {_pad("p % 20", 2)}) AS team,
        toFloat64(2 + h % 7) AS requested_cpu_count,
        toInt64(1073741824 * (1 + intDiv(h, 7) % 32)) AS requested_memory_bytes,
        concat('node-', toString(intDiv(h, 1000) % 200)) AS host,
        '3.11.7' AS python_version,
        'https://github.com/pedigree/bench' AS producer"""
    return f"INSERT INTO `{db}`.runs ({RUN_COLUMNS}) " + _edge_select(RUN_COLUMNS, shape.runs, body)


def model_sql(shape: Shape, db: str) -> list[str]:
    last = shape.stages - 1
    r = f"(intDiv(number, {shape.batches}) * {shape.stages * shape.batches} + "
    r += f"(number % {shape.batches}) * {shape.stages} + {last})"
    ns, name, version = _output_dataset(shape, "p", "s", "0", "b")
    h = _h64(shape, "metrics", "r")
    body = f"""
        {r} AS r, {_run_columns(shape, "r")},
        {h} AS h,
        concat('pipe', {_pad("p", 3)}, '-model') AS model_name,
        toString(b + 1) AS model_version,
        'output' AS role,
        'sklearn' AS framework,
        multiIf(b = {shape.batches - 1}, 'production', b >= {shape.batches - 3}, 'staging', '')
            AS stage,
        map('accuracy', 0.8 + (h % 1000) / 10000, 'loss', (intDiv(h, 1000) % 1000) / 1000)
            AS metrics,
        {ns} AS dataset_namespace, {name} AS dataset_name, {version} AS dataset_version"""
    versions = (
        "model_name, model_version, event_id, role, event_time, framework, stage, metrics, "
        "dataset_namespace, dataset_name, dataset_version, run_id"
    )
    models = "model_name, event_id, role, event_time, framework, dataset_namespace, dataset_name"
    n = shape.pipelines * shape.batches
    return [
        f"INSERT INTO `{db}`.model_versions ({versions}) " + _edge_select(versions, n, body),
        f"INSERT INTO `{db}`.models ({models}) " + _edge_select(models, n, body),
    ]


def derived_sql(db: str) -> list[str]:
    """The tables the consumer writes from the same edge and run rows."""
    from consumers.migrate import render
    from consumers.run_nodes import backfill_sql

    return [
        f"INSERT INTO `{db}`.run_inputs_by_dataset SELECT * FROM `{db}`.run_inputs",
        f"INSERT INTO `{db}`.run_outputs_by_dataset SELECT * FROM `{db}`.run_outputs",
        f"INSERT INTO `{db}`.job_io SELECT job_namespace, job_name, 'input', dataset_namespace, "
        f"dataset_name, dataset_version, run_id, event_id, event_time FROM `{db}`.run_inputs",
        f"INSERT INTO `{db}`.job_io SELECT job_namespace, job_name, 'output', dataset_namespace, "
        f"dataset_name, dataset_version, run_id, event_id, event_time FROM `{db}`.run_outputs",
        # dataset_versions: one row per input and per output of each event; outputs carry a
        # schema and statistics (outputStatistics), inputs only the version.
        f"INSERT INTO `{db}`.dataset_versions (dataset_namespace, dataset_name, dataset_version, "
        "event_id, role, event_time, run_id) SELECT dataset_namespace, dataset_name, "
        f"dataset_version, event_id, 'input', event_time, run_id FROM `{db}`.run_inputs",
        f"INSERT INTO `{db}`.dataset_versions (dataset_namespace, dataset_name, dataset_version, "
        "event_id, role, event_time, run_id, schema_fields, row_count, size_bytes, file_count) "
        "SELECT dataset_namespace, dataset_name, dataset_version, event_id, 'output', "
        "event_time, run_id, "
        "[('id', 'int64', 'row key', ''), (concat('feature_', right(dataset_name, 1)), "
        "'float32', '', ''), ('label', 'int64', '', '')], "
        "toInt64(sipHash64(dataset_version) % 1000000), "
        "toInt64(sipHash64(dataset_version) % 1000000000), toInt64(1 + sipHash64(run_id) % 16) "
        f"FROM `{db}`.run_outputs",
        # run_nodes: what migration 0003 backfills from runs (the consumer writes the same rows)
        render(backfill_sql(), db),
    ]


def sample_sql(db: str, sample: str, pipelines: int) -> list[str]:
    """The first ``pipelines`` pipelines of ``db``, copied into ``sample``."""
    in_sample = f"toUInt32(substring(job_name, 5, 3)) < {pipelines}"
    model_in = f"toUInt32(substring(model_name, 5, 3)) < {pipelines}"
    tables = ["runs", "run_inputs", "run_inputs_by_dataset", "run_outputs"]
    tables += ["run_outputs_by_dataset", "job_io"]
    out = [f"INSERT INTO `{sample}`.{t} SELECT * FROM `{db}`.{t} WHERE {in_sample}" for t in tables]
    out += [
        f"INSERT INTO `{sample}`.{t} SELECT * FROM `{db}`.{t} WHERE {model_in}"
        for t in ("models", "model_versions")
    ]
    out += [
        f"INSERT INTO `{sample}`.{t} SELECT * FROM `{db}`.{t} "
        f"WHERE run_id IN (SELECT run_id FROM `{sample}`.runs)"
        for t in ("dataset_versions", "run_nodes")
    ]
    return out


# -- worker: build the warehouse, choose the starting points -----------------------------------


def _client(directory: Path) -> Any:
    import clickhouse_connect

    return clickhouse_connect.get_client(dsn=f"chdb://{directory / 'clickhouse'}")


BULK = {"max_threads": 2, "max_insert_threads": 2, "max_memory_usage": 12 * 1024 * MiB}


def _timed(client: Any, statements: Sequence[str], log: dict[str, float], label: str) -> None:
    start = time.perf_counter()
    for sql in statements:
        client.command(sql, settings=BULK)
    log[label] = round(time.perf_counter() - start, 1)
    print(f"  {label}: {log[label]:.1f} s", file=sys.stderr, flush=True)


def recreate(client: Any, db: str, granularity: int) -> None:
    """The tables of ``db`` again, with ``index_granularity`` (an experiment: the migrations
    use ClickHouse's default of 8192 rows)."""
    tables = client.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree' "
        "AND name != 'schema_migrations'",
        parameters={"db": db},
    ).result_rows
    for (table,) in tables:
        ddl = client.query(f"SHOW CREATE TABLE `{db}`.`{table}`").result_rows[0][0]
        client.command(f"DROP TABLE `{db}`.`{table}` SYNC")
        client.command(
            ddl.replace("SETTINGS ", f"SETTINGS index_granularity = {granularity}, ", 1)
            if "index_granularity" not in ddl
            else ddl.replace("index_granularity = 8192", f"index_granularity = {granularity}")
        )


def build(directory: Path, shape: Shape, mlmd_pipelines: int, granularity: int) -> dict[str, Any]:
    from consumers.migrate import migrate

    client = _client(directory)
    log: dict[str, float] = {}
    began = time.perf_counter()
    for db in (DATABASE, SAMPLE_DATABASE):
        migrate(client, db)
        if granularity:
            recreate(client, db, granularity)
    print(f"building {shape.runs:,} runs into {directory}", file=sys.stderr, flush=True)
    _timed(client, [runs_sql(shape, DATABASE)], log, "runs")
    _timed(client, [outputs_sql(shape, DATABASE)], log, "run_outputs")
    _timed(client, [inputs_sql(shape, DATABASE)], log, "run_inputs")
    _timed(client, model_sql(shape, DATABASE), log, "model_versions, models")
    for sql, label in zip(
        derived_sql(DATABASE),
        ["run_inputs_by_dataset", "run_outputs_by_dataset", "job_io (inputs)", "job_io (outputs)",
         "dataset_versions (inputs)", "dataset_versions (outputs)", "run_nodes"],
        strict=True,
    ):  # fmt: skip
        _timed(client, [sql], log, label)
    _timed(client, sample_sql(DATABASE, SAMPLE_DATABASE, mlmd_pipelines), log, "MLMD sample")
    # One part per table: the state a warehouse reaches once its merges are done, and no
    # background merge competing with the measured queries for the two cores.
    optimize = [
        f"OPTIMIZE TABLE `{db}`.`{table}` FINAL"
        for db in (DATABASE, SAMPLE_DATABASE)
        for (table,) in client.query(
            "SELECT name FROM system.tables WHERE database = {db:String} "
            "AND engine LIKE '%MergeTree'",
            parameters={"db": db},
        ).result_rows
    ]
    _timed(client, optimize, log, "OPTIMIZE FINAL")
    log["total"] = round(time.perf_counter() - began, 1)
    counts = table_counts(client, DATABASE)
    client.close()
    return {"seconds": log, "rows": counts}


def table_counts(client: Any, db: str) -> dict[str, Any]:
    rows = client.query(
        "SELECT table, sum(rows), count(), sum(bytes_on_disk) FROM system.parts "
        "WHERE database = {db:String} AND active GROUP BY table ORDER BY table",
        parameters={"db": db},
    ).result_rows
    return {t: {"rows": n, "parts": parts, "bytes": size} for t, n, parts, size in rows if n}


def _pick(client: Any, sql: str, shape: Shape, n: int) -> list[list[str]]:
    rows = client.query(sql, parameters={"seed": shape.seed, "n": n}).result_rows
    return [list(r) for r in rows]


def starting_points(client: Any, db: str, shape: Shape, n: int) -> dict[str, list[list[str]]]:
    """Deterministic random starting points of each query (ordered by a seeded hash)."""
    t = f"`{db}`"
    return {
        "model": _pick(
            client,
            f"SELECT DISTINCT model_name, model_version FROM {t}.model_versions "
            "ORDER BY sipHash64({seed:UInt32}, 'model', model_name, model_version) "
            "LIMIT {n:UInt32}",
            shape,
            n,
        ),
        "impact": _pick(
            client,
            "SELECT dataset_namespace, dataset_name, dataset_version FROM (SELECT DISTINCT "
            f"dataset_namespace, dataset_name, dataset_version FROM {t}.run_inputs_by_dataset) "
            "ORDER BY sipHash64({seed:UInt32}, 'impact', dataset_namespace, dataset_name, "
            "dataset_version) LIMIT {n:UInt32}",
            shape,
            n,
        ),
        "run": _pick(
            client,
            f"SELECT run_id FROM {t}.runs ORDER BY sipHash64({{seed:UInt32}}, 'run', run_id) "
            "LIMIT {n:UInt32}",
            shape,
            n,
        ),
        "job": _pick(
            client,
            f"SELECT DISTINCT job_namespace, job_name FROM {t}.runs "
            "ORDER BY sipHash64({seed:UInt32}, 'job', job_namespace, job_name) LIMIT {n:UInt32}",
            shape,
            n,
        ),
    }


def mlmd_export(client: Any, db: str) -> dict[str, Any]:
    """The sample graph, as MLMD will hold it."""
    t = f"`{db}`"

    def rows(sql: str) -> list[list[Any]]:
        return [list(r) for r in client.query(sql).result_rows]

    return {
        "runs": rows(
            "SELECT run_id, job_namespace, job_name, git_commit, image_digest, parameters, "
            f"event_time FROM {t}.runs ORDER BY run_id"
        ),
        "inputs": rows(
            "SELECT DISTINCT run_id, dataset_namespace, dataset_name, dataset_version "
            f"FROM {t}.run_inputs ORDER BY run_id, dataset_namespace, dataset_name, "
            "dataset_version"
        ),
        "outputs": rows(
            "SELECT DISTINCT run_id, dataset_namespace, dataset_name, dataset_version "
            f"FROM {t}.run_outputs ORDER BY run_id, dataset_namespace, dataset_name, "
            "dataset_version"
        ),
        "models": rows(
            "SELECT DISTINCT model_name, model_version, dataset_namespace, dataset_name, "
            f"dataset_version FROM {t}.model_versions ORDER BY model_name, model_version"
        ),
    }


def explain(client: Any, db: str, starts: dict[str, list[list[str]]]) -> dict[str, str]:
    """``EXPLAIN indexes = 1`` of the traversal and detail queries, on 100 real keys each."""
    from api.store import RUN_NODE_GROUPS

    t = f"`{db}`"
    ids = [r[0] for r in starts["run"][:100]]
    versions = [tuple(v) for v in starts["impact"][:100]]
    vkeys = "{keys:Array(Tuple(String, String, String))}"
    queries = {
        "inputs_of (run_inputs, 100 runs)": (
            f"SELECT DISTINCT dataset_namespace, dataset_name, dataset_version, run_id, "
            f"job_namespace FROM {t}.run_inputs WHERE run_id IN {{ids:Array(String)}}",
            {"ids": ids},
        ),
        "producers_of (run_outputs_by_dataset, 100 versions)": (
            f"SELECT DISTINCT dataset_namespace, dataset_name, dataset_version, run_id, "
            f"job_namespace FROM {t}.run_outputs_by_dataset WHERE "
            f"(dataset_namespace, dataset_name, dataset_version) IN {vkeys}",
            {"keys": versions},
        ),
        "run_nodes (run states, 100 runs)": (
            RUN_NODE_GROUPS.replace("FROM run_nodes", f"FROM {t}.run_nodes"),
            {"ids": ids, "limit": 64 * len(ids)},
        ),
        "dataset_versions (100 versions)": (
            f"SELECT count() FROM {t}.dataset_versions WHERE "
            f"(dataset_namespace, dataset_name, dataset_version) IN {vkeys}",
            {"keys": versions},
        ),
    }
    out = {}
    for label, (sql, params) in queries.items():
        text = client.query(f"EXPLAIN indexes = 1 {sql}", parameters=params).result_rows
        lines = [str(r[0]) for r in text]
        keep = [ln.strip() for ln in lines if "Granules" in ln or "Condition" in ln]
        keep += [ln.strip() for ln in lines if ln.strip() in ("PrimaryKey", "MinMax")]
        out[label] = "; ".join(dict.fromkeys(keep))
    return out


def prepare_worker(args: argparse.Namespace) -> None:
    """Build (if needed), then write the starting points, the MLMD sample and EXPLAINs."""
    directory: Path = args.dir
    shape = Shape(**json.loads(args.shape))
    marker = directory / "graph.json"
    built: dict[str, Any] | None = None
    if marker.exists():
        stored = json.loads(marker.read_text())
        key = ("shape", "generator", "mlmd_pipelines", "index_granularity")
        if tuple(stored.get(k) for k in key) == (
            asdict(shape),
            GENERATOR,
            args.mlmd_pipelines,
            args.index_granularity,
        ):
            built = stored
    if built is None:
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        built = {
            "shape": asdict(shape),
            "generator": GENERATOR,
            "mlmd_pipelines": args.mlmd_pipelines,
            "index_granularity": args.index_granularity,
        }
        built["build"] = build(directory, shape, args.mlmd_pipelines, args.index_granularity)
        marker.write_text(json.dumps(built, indent=1))
        built["fresh"] = True
    client = _client(directory)
    starts = starting_points(client, DATABASE, shape, args.samples)
    result = {
        **built,
        "starts": starts,
        "sample_starts": starting_points(client, SAMPLE_DATABASE, shape, args.samples),
        "sample_counts": table_counts(client, SAMPLE_DATABASE),
        "counts": table_counts(client, DATABASE),
        "explain": explain(client, DATABASE, starts),
    }
    if args.export_mlmd:
        result["mlmd"] = mlmd_export(client, SAMPLE_DATABASE)
    client.close()
    Path(args.out).write_text(json.dumps(result, default=str))


# -- worker: the API -----------------------------------------------------------------------------


def _label(sql: str) -> str:
    for marker, label in (
        (".run_nodes", "runs: state (run_nodes)"),
        ("argMax(event_type", "runs: state (runs aggregation)"),
        ("argMaxIf(job_namespace", "runs: namespaces"),
        ("SELECT DISTINCT run_id FROM", "runs: visible"),
        ("groupUniqArrayIf", "dataset_versions: details"),
        ("DISTINCT dataset_namespace, dataset_name, dataset_version, model_name", "models_of"),
        ("model_name = {name", "model_version"),
        (".run_inputs_by_dataset WHERE (dataset_namespace, dataset_name, dataset_version)",
         "level: consumers_of"),
        (".run_outputs_by_dataset WHERE (dataset_namespace, dataset_name, dataset_version)",
         "level: producers_of"),
        (".run_inputs WHERE run_id", "level: inputs_of"),
        (".run_outputs WHERE run_id", "level: outputs_of"),
        (".job_io", "level: job_io"),
        ("WHERE (dataset_namespace, dataset_name) IN", "level: dataset_jobs"),
    ):  # fmt: skip
        if marker in sql:
            return label
    return "other"


def serve_worker(args: argparse.Namespace) -> None:
    """Serve the API on ``--dir`` until stdin closes; with --profile, time every query."""
    from api.serve import ServeOptions, running

    options = ServeOptions(
        clickhouse_dsn=f"chdb://{args.dir / 'clickhouse'}",
        database=args.database,
        auth=False,
        consume=False,
    )
    log: list[tuple[float, float, str, int, int]] = []  # wall start, ms, label, keys, rows
    with running(options) as (service, base):
        if args.profile:
            warehouse = service.warehouse
            query = warehouse.query

            def timed(sql: str, parameters: Any = None) -> list[tuple[Any, ...]]:
                wall, start = time.time(), time.perf_counter()
                rows = query(sql, parameters)
                params = parameters or {}
                keys = len(params.get("ids", params.get("keys", ())))
                ms = (time.perf_counter() - start) * 1000
                log.append((wall, ms, _label(sql), keys, len(rows)))
                return rows

            warehouse.query = timed  # type: ignore[method-assign]
        print(json.dumps({"base": base}), flush=True)
        for line in sys.stdin:  # the driver asks for the query log, then closes stdin
            if line.strip() == "log":
                print(json.dumps(log), flush=True)
                log.clear()


# -- the driver ------------------------------------------------------------------------------------


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far, every thread included (chdb's too)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])  # KiB
    except OSError:
        pass
    return out


@dataclass
class Server:
    proc: subprocess.Popen[str]
    base: str
    samples: list[tuple[float, int]] = field(default_factory=list)  # monotonic, RSS KiB
    hwm_kib: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def watch(self) -> None:
        while not self.stop.is_set():
            status = _status(self.proc.pid)
            if "VmRSS" in status:
                self.samples.append((time.monotonic(), status["VmRSS"]))
                self.hwm_kib = max(self.hwm_kib, status.get("VmHWM", 0))
            self.stop.wait(0.1)

    def rss_between(self, start: float, end: float) -> list[int]:
        return [kib for t, kib in self.samples if start <= t <= end]

    def query_log(self) -> list[tuple[float, float, str, int, int]]:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write("log\n")
        self.proc.stdin.flush()
        entries: list[list[Any]] = json.loads(self.proc.stdout.readline())
        return [(float(a), float(b), str(c), int(d), int(e)) for a, b, c, d, e in entries]


def _worker_cmd(mode: str, args: argparse.Namespace, *extra: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", mode, "--dir",
            str(args.dir), *extra]  # fmt: skip


@contextlib.contextmanager
def serving(args: argparse.Namespace, database: str) -> Iterator[Server]:
    cmd = _worker_cmd("serve", args, "--database", database)
    cmd += ["--profile"] if args.profile else []
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        raise RuntimeError(f"the API worker exited ({proc.returncode}) before serving")
    server = Server(proc, json.loads(line)["base"])
    watcher = threading.Thread(target=server.watch, daemon=True)
    watcher.start()
    try:
        yield server
    finally:
        server.stop.set()
        watcher.join()
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Request:
    path: str
    params: dict[str, str]
    start: str  # the starting node, for the MLMD comparison


@dataclass
class Measured:
    label: str
    latencies_ms: list[float] = field(default_factory=list)
    nodes: list[int] = field(default_factory=list)
    truncated: list[bool] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    windows: list[tuple[float, float]] = field(default_factory=list)  # wall start, end
    server_cpu_ms: float = float("nan")  # the API process's CPU time per request

    def stats(self) -> dict[str, float]:
        return summary(self.latencies_ms)


def summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "mean": float("nan"), "max": float("nan")}
    ordered = sorted(values)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else None
    return {
        "p50": statistics.median(ordered),
        "p99": cuts[98] if cuts else ordered[0],
        "mean": statistics.fmean(ordered),
        "max": ordered[-1],
    }


def node_count(body: dict[str, Any]) -> int:
    return len(body["nodes"]) if "nodes" in body else len(body["graph"])


def run_requests(http: Any, base: str, label: str, requests: Sequence[Request]) -> Measured:
    out = Measured(label)
    for request in requests:
        wall, start = time.time(), time.perf_counter()
        response = http.get(base + request.path, params=request.params, timeout=120)
        content = response.content
        elapsed = (time.perf_counter() - start) * 1000
        out.windows.append((wall, time.time()))
        if response.status_code != 200:
            out.errors.append(f"{response.status_code} {content[:200]!r}")
            continue
        body = json.loads(content)
        out.latencies_ms.append(elapsed)
        out.nodes.append(node_count(body))
        out.truncated.append(bool(body["truncated"]))
    return out


def transport_check(http: Any, base: str, count: int = 50) -> dict[str, float]:
    """p50 ms of ``GET /healthz``: on the keep-alive connection and on a new one each time."""
    import requests

    def median_ms(get: Callable[[], Any]) -> float:
        times = []
        for _ in range(count):
            start = time.perf_counter()
            get().raise_for_status()
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    return {
        "keepalive_ms": median_ms(lambda: http.get(base + "/healthz", timeout=30)),
        "new_connection_ms": median_ms(lambda: requests.get(base + "/healthz", timeout=30)),
    }


def provenance_requests(starts: list[list[str]], depth: int, max_nodes: int = 0) -> list[Request]:
    extra = {"maxNodes": str(max_nodes)} if max_nodes else {}
    return [
        Request(
            "/api/v1/provenance",
            {"model": m, "version": v, "depth": str(depth), **extra},
            f"model:{m}:{v}",
        )
        for m, v in starts
    ]


def version_id(ns: str, name: str, version: str) -> str:
    return f"dataset:{ns}:{name}#{version}"


def impact_requests(starts: list[list[str]], depth: int = 5, max_nodes: int = 0) -> list[Request]:
    extra = {"maxNodes": str(max_nodes)} if max_nodes else {}
    return [
        Request(
            "/api/v1/impact",
            {"nodeId": version_id(*s), "depth": str(depth), **extra},
            f"version:{s[0]}:{s[1]}:{s[2]}",
        )
        for s in starts
    ]


def lineage_requests(starts: dict[str, list[list[str]]]) -> tuple[list[Request], list[Request]]:
    runs = [
        Request("/api/v1/lineage", {"nodeId": f"run:{r}"}, f"run:{r}") for (r,) in starts["run"]
    ]
    jobs = [
        Request("/api/v1/lineage", {"nodeId": f"job:{ns}:{name}"}, "") for ns, name in starts["job"]
    ]
    return runs, jobs


def warm_up(http: Any, base: str, batches: Sequence[Sequence[Request]]) -> None:
    mixed = [r for batch in batches for r in batch[-WARMUP // len(batches) :]]
    run_requests(http, base, "warm-up", mixed)


def memory_loop(
    http: Any, server: Server, requests: Sequence[Request], seconds: float
) -> dict[str, Any]:
    """Depth-20 provenance requests in a loop for ``seconds``: the server's RSS meanwhile."""
    start = time.monotonic()
    count = 0
    while time.monotonic() - start < seconds:
        for request in requests:
            response = http.get(server.base + request.path, params=request.params, timeout=120)
            response.raise_for_status()
            count += 1
            if time.monotonic() - start >= seconds:
                break
    end = time.monotonic()
    time.sleep(0.2)
    rss = server.rss_between(start, end)
    return {
        "requests": count,
        "seconds": end - start,
        "rss_min_mib": min(rss) / 1024,
        "rss_max_mib": max(rss) / 1024,
        "rss_first_mib": rss[0] / 1024,
        "rss_last_mib": rss[-1] / 1024,
        "hwm_mib": server.hwm_kib / 1024,
    }


def assign_queries(
    measured: Measured, log: list[tuple[float, float, str, int, int]]
) -> dict[str, Any]:
    """Per request: the warehouse queries that ran in its window (requests are sequential)."""
    per_label: dict[str, list[float]] = {}
    levels: list[list[float]] = []
    query_ms: list[float] = []
    keys: dict[str, list[int]] = {}
    for start, end in measured.windows:
        inside = [q for q in log if start <= q[0] <= end]
        level_times = [q[1] for q in inside if q[2].startswith("level")]
        levels.append(level_times)
        query_ms.append(sum(q[1] for q in inside))
        by_label: dict[str, float] = {}
        for _wall, ms, label, n_keys, _rows in inside:
            by_label[label] = by_label.get(label, 0.0) + ms
            keys.setdefault(label, []).append(n_keys)
        for label, ms in by_label.items():
            per_label.setdefault(label, []).append(ms)
    total = measured.latencies_ms
    n = max(len(measured.windows), 1)
    return {
        "requests": len(measured.windows),
        "mean_total_ms": statistics.fmean(total) if total else 0.0,
        "mean_query_ms": statistics.fmean(query_ms) if query_ms else 0.0,
        "mean_levels": statistics.fmean(len(x) for x in levels) if levels else 0.0,
        "mean_level_ms": statistics.fmean(t for x in levels for t in x) if any(levels) else 0.0,
        "max_level_ms": max((t for x in levels for t in x), default=0.0),
        "by_label_mean_ms": {k: sum(v) / n for k, v in sorted(per_label.items())},
        "keys_mean": {k: statistics.fmean(v) for k, v in sorted(keys.items())},
    }


# -- MLMD ----------------------------------------------------------------------------------------


def _pb() -> Any:
    """ml_metadata's protobuf module (untyped)."""
    from ml_metadata.proto import metadata_store_pb2

    return metadata_store_pb2


def mlmd_available() -> str | None:
    """None if ml-metadata imports, else why not."""
    try:
        from ml_metadata.metadata_store import metadata_store  # noqa: F401
    except Exception as err:  # noqa: BLE001 -- ImportError, or protobuf/attrs mismatches at import
        return f"{type(err).__name__}: {err}"
    return None


@dataclass
class Mlmd:
    store: Any
    artifact_ids: dict[str, int]  # "ns:name:version" -> id
    execution_ids: dict[str, int]  # run id -> id
    model_ids: dict[str, int]  # "model:name:version" -> artifact id
    load_seconds: float
    artifacts: int
    executions: int
    events: int


def _mlmd_types(store: Any) -> dict[str, int]:
    pb = _pb()

    out = {}
    for name, props in (
        ("DatasetVersion", ["namespace", "name", "version"]),
        ("ModelVersion", ["namespace", "name", "version", "model_name", "model_version"]),
    ):
        t = pb.ArtifactType(name=name)
        for p in props:
            t.properties[p] = pb.STRING
        out[name] = int(store.put_artifact_type(t))
    run_type = pb.ExecutionType(name="Run")
    for p in ("job_namespace", "job_name", "git_commit", "image_digest"):
        run_type.properties[p] = pb.STRING
    out["Run"] = int(store.put_execution_type(run_type))
    return out


def _mlmd_artifact(
    types: dict[str, int], key: str, version: tuple[str, str, str], model: tuple[str, str] | None
) -> Any:
    pb = _pb()

    ns, name, ver = version
    a = pb.Artifact(type_id=types["ModelVersion" if model else "DatasetVersion"], name=key)
    a.uri = f"{ns}/{name}@{ver}"
    a.state = pb.Artifact.LIVE
    a.properties["namespace"].string_value = ns
    a.properties["name"].string_value = name
    a.properties["version"].string_value = ver
    if model:
        a.properties["model_name"].string_value = model[0]
        a.properties["model_version"].string_value = model[1]
    return a


def _mlmd_execution(type_id: int, run: Sequence[Any]) -> Any:
    """A run: (run id, job namespace, job name, git commit, image digest, parameters, ...)."""
    pb = _pb()

    run_id, job_ns, job_name, commit, digest, params = run[:6]
    e = pb.Execution(type_id=type_id, name=run_id)
    e.last_known_state = pb.Execution.COMPLETE
    e.properties["job_namespace"].string_value = job_ns
    e.properties["job_name"].string_value = job_name
    e.properties["git_commit"].string_value = commit
    e.properties["image_digest"].string_value = digest
    for k, v in params.items():
        e.custom_properties[k].string_value = v
    return e


def load_mlmd(path: Path, graph: dict[str, Any]) -> Mlmd:
    """The sample graph in MLMD (SQLite file ``path``, rebuilt each run)."""
    from ml_metadata.metadata_store import metadata_store

    pb = _pb()

    path.unlink(missing_ok=True)
    config = pb.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    began = time.perf_counter()

    types = _mlmd_types(store)
    models = {(ns, name, ver): (m, v) for m, v, ns, name, ver in graph["models"]}
    keys: dict[str, tuple[str, str, str]] = {}
    for rows in (graph["inputs"], graph["outputs"]):
        for _run, ns, name, ver in rows:
            keys.setdefault(f"{ns}:{name}:{ver}", (ns, name, ver))
    artifacts = [_mlmd_artifact(types, key, v, models.get(v)) for key, v in keys.items()]
    artifact_ids: dict[str, int] = {}
    names = list(keys)
    chunk = 5000
    for i in range(0, len(artifacts), chunk):
        ids = store.put_artifacts(artifacts[i : i + chunk])
        artifact_ids.update(zip(names[i : i + chunk], (int(x) for x in ids), strict=True))
    executions = [_mlmd_execution(types["Run"], run) for run in graph["runs"]]
    execution_ids: dict[str, int] = {}
    run_ids = [r[0] for r in graph["runs"]]
    for i in range(0, len(executions), chunk):
        ids = store.put_executions(executions[i : i + chunk])
        execution_ids.update(zip(run_ids[i : i + chunk], (int(x) for x in ids), strict=True))
    events = []
    for rows, kind in ((graph["inputs"], pb.Event.INPUT), (graph["outputs"], pb.Event.OUTPUT)):
        for run_id, ns, name, ver in rows:
            events.append(
                pb.Event(
                    artifact_id=artifact_ids[f"{ns}:{name}:{ver}"],
                    execution_id=execution_ids[run_id],
                    type=kind,
                )
            )
    for i in range(0, len(events), chunk):
        store.put_events(events[i : i + chunk])
    model_ids = {
        f"model:{m}:{v}": artifact_ids[f"{ns}:{name}:{ver}"]
        for m, v, ns, name, ver in graph["models"]
    }
    return Mlmd(
        store,
        artifact_ids,
        execution_ids,
        model_ids,
        time.perf_counter() - began,
        len(artifacts),
        len(executions),
        len(events),
    )


def mlmd_queries(
    mlmd: Mlmd, label: str, requests: Sequence[Request], depth: int, direction: str
) -> Measured:
    """The same questions through ``get_lineage_subgraph`` (artifacts, executions, events and
    types: every field, as the Pedigree answer carries every node's details)."""
    pb = _pb()

    options = pb.LineageSubgraphQueryOptions
    out = Measured(label)
    for request in requests:
        start_id = (
            mlmd.model_ids[request.start]
            if request.start.startswith("model:")
            else mlmd.artifact_ids[request.start.removeprefix("version:")]
        )
        query = options(
            starting_artifacts=options.StartingNodes(filter_query=f"id = {start_id}"),
            max_num_hops=depth,
            direction=getattr(options, direction),
        )
        begin = time.perf_counter()
        graph = mlmd.store.get_lineage_subgraph(query)
        out.latencies_ms.append((time.perf_counter() - begin) * 1000)
        out.nodes.append(len(graph.artifacts) + len(graph.executions))
        out.truncated.append(False)
    return out


# -- report ------------------------------------------------------------------------------------


def row(m: Measured, target: str = "") -> str:
    s = m.stats()
    nodes = summary([float(x) for x in m.nodes])
    trunc = 100 * sum(m.truncated) / max(len(m.truncated), 1)
    errors = f" ({len(m.errors)} errors)" if m.errors else ""
    return (
        f"| {m.label}{errors} | {len(m.latencies_ms)} | **{s['p50']:.1f}** | **{s['p99']:.1f}** | "
        f"{s['mean']:.1f} | {s['max']:.1f} | {m.server_cpu_ms:.0f} | "
        f"{nodes['p50']:.0f} / {nodes['mean']:.0f} / "
        f"{nodes['max']:.0f} | {trunc:.0f} % | {target} |"
    )


HEADER = (
    "| query | requests | p50 ms | p99 ms | mean ms | max ms | server CPU ms / request | "
    "nodes p50 / mean / max | truncated | target |\n"
    "|---|---:|---:|---:|---:|---:|---:|---|---:|---|"
)


def speed(pedigree_ms: float, mlmd_ms: float) -> str:
    """Pedigree against MLMD: "12.0x faster" or "3.1x slower"."""
    if pedigree_ms <= mlmd_ms:
        return f"{mlmd_ms / pedigree_ms:.1f}x faster"
    return f"{pedigree_ms / mlmd_ms:.1f}x slower"


def verdict(value: float, limit: float) -> str:
    return f"< {limit:.0f} ms: {'met' if value < limit else '**missed**'}"


# -- main --------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=ROOT / ".cache" / "graph-bench")
    parser.add_argument("--rebuild", action="store_true", help="build the warehouse again")
    parser.add_argument("--pipelines", type=int, default=Shape.pipelines)
    parser.add_argument("--stages", type=int, default=Shape.stages)
    parser.add_argument("--batches", type=int, default=Shape.batches)
    parser.add_argument("--seed", type=int, default=Shape.seed)
    parser.add_argument("--samples", type=int, default=200, help="requests per query")
    parser.add_argument("--memory-seconds", type=float, default=60.0)
    parser.add_argument("--mlmd-pipelines", type=int, default=10)
    parser.add_argument("--no-mlmd", action="store_true")
    parser.add_argument("--profile", action="store_true", help="time every warehouse query")
    parser.add_argument(
        "--index-granularity",
        type=int,
        default=0,
        help="experiment: build the tables with this index_granularity (0: the migrations')",
    )
    parser.add_argument("--worker", choices=["prepare", "serve"], help=argparse.SUPPRESS)
    parser.add_argument("--database", default=DATABASE, help=argparse.SUPPRESS)
    parser.add_argument("--shape", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--export-mlmd", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.dir = args.dir.resolve()
    return args


def prepare(args: argparse.Namespace, shape: Shape, export: bool) -> dict[str, Any]:
    out = args.dir.parent / f"{args.dir.name}-prepared.json"
    cmd = _worker_cmd("prepare", args, "--shape", json.dumps(asdict(shape)), "--out", str(out))
    cmd += ["--samples", str(args.samples), "--mlmd-pipelines", str(args.mlmd_pipelines)]
    cmd += ["--index-granularity", str(args.index_granularity)]
    if export:
        cmd.append("--export-mlmd")
    args.dir.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    result: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    result["prepare_seconds"] = time.perf_counter() - start
    return result


def timed_phase(label: str, fn: Callable[[], Measured]) -> Measured:
    start = time.perf_counter()
    m = fn()
    print(f"  {label}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return m


def bench_big(args: argparse.Namespace, prepared: dict[str, Any]) -> dict[str, Any]:
    import requests

    starts = prepared["starts"]
    d5 = provenance_requests(starts["model"], 5)
    d20 = provenance_requests(starts["model"], 20)
    impact = impact_requests(starts["impact"])
    runs, jobs = lineage_requests(starts)
    out: dict[str, Any] = {}
    with serving(args, DATABASE) as server, requests.Session() as http:
        started = time.monotonic()
        while not server.samples and server.proc.poll() is None:
            time.sleep(0.05)
        out["startup_rss_mib"] = (server.samples[-1][1] if server.samples else 0) / 1024
        out["transport"] = transport_check(http, server.base)
        warm_up(http, server.base, [d5, d20, impact, runs, jobs])
        if args.profile:
            server.query_log()
        results = []
        for label, batch in (
            ("model provenance, depth 5", d5),
            ("model provenance, depth 20", d20),
            ("impact of a dataset version, depth 5", impact),
            ("lineage graph from a run, depth 5", runs),
            ("lineage graph from a job (job level), depth 5", jobs),
        ):
            cpu = cpu_seconds(server.proc.pid)
            m = timed_phase(label, partial(run_requests, http, server.base, label, batch))
            m.server_cpu_ms = (cpu_seconds(server.proc.pid) - cpu) * 1000 / len(batch)
            results.append(m)
            if args.profile:
                out.setdefault("profile", {})[label] = assign_queries(m, server.query_log())
        out["results"] = results
        out["memory"] = memory_loop(http, server, d20, args.memory_seconds)
        if args.profile:
            server.query_log()
        life = server.rss_between(started, time.monotonic())
        out["rss_all_max_mib"] = max(life) / 1024
        out["hwm_mib"] = server.hwm_kib / 1024
    out["worker_hwm_mib"] = server.hwm_kib / 1024
    return out


def bench_sample(args: argparse.Namespace, prepared: dict[str, Any]) -> dict[str, Any]:
    import requests

    out: dict[str, Any] = {}
    why = mlmd_available()
    if why is not None:
        out["skipped"] = why
        return out
    starts = prepared["sample_starts"]
    questions = [
        ("model provenance, depth 5", provenance_requests(starts["model"], 5), 5, "UPSTREAM"),
        ("model provenance, depth 20", provenance_requests(starts["model"], 20), 20, "UPSTREAM"),
        (
            "model provenance, depth 20, maxNodes 5000",
            provenance_requests(starts["model"], 20, 5000),
            20,
            "UPSTREAM",
        ),
        ("impact, depth 5", impact_requests(starts["impact"]), 5, "DOWNSTREAM"),
    ]
    mlmd = load_mlmd(args.dir / "mlmd.sqlite", prepared["mlmd"])
    print(f"  MLMD loaded in {mlmd.load_seconds:.1f} s", file=sys.stderr, flush=True)
    out["mlmd_graph"] = {
        "artifacts": mlmd.artifacts,
        "executions": mlmd.executions,
        "events": mlmd.events,
        "load_seconds": mlmd.load_seconds,
    }
    pairs: list[tuple[Measured, Measured]] = []
    with serving(args, SAMPLE_DATABASE) as server, requests.Session() as http:
        warm_up(http, server.base, [q[1] for q in questions])
        for label, batch, depth, direction in questions:
            cpu = cpu_seconds(server.proc.pid)
            ped = timed_phase(
                f"sample: {label}", partial(run_requests, http, server.base, label, batch)
            )
            ped.server_cpu_ms = (cpu_seconds(server.proc.pid) - cpu) * 1000 / len(batch)
            if "maxNodes 5000" in label:
                mine = pairs[-1][1]  # MLMD has no node limit: one run serves both rows
            else:
                mlmd_queries(mlmd, label, batch[:WARMUP], depth, direction)  # warm-up
                mine = timed_phase(
                    f"MLMD: {label}", partial(mlmd_queries, mlmd, label, batch, depth, direction)
                )
            pairs.append((ped, mine))
    out["pairs"] = pairs
    return out


def print_report(args: argparse.Namespace, shape: Shape, prepared: dict[str, Any],
                 big: dict[str, Any], sample: dict[str, Any]) -> None:  # fmt: skip
    build = prepared.get("build", {})
    counts = prepared["counts"]
    print(f"\n### Warehouse: {shape.runs:,} runs ({shape.pipelines} pipelines x {shape.stages} "
          f"stages x {shape.batches} batches), seed {shape.seed}, `{args.dir}`")  # fmt: skip
    built = "built in this run" if prepared.get("fresh") else "reused (built earlier)"
    print(
        f"Build: {build.get('seconds', {}).get('total', 0):.0f} s ({built}); per table, s: "
        + ", ".join(f"{k} {v}" for k, v in build.get("seconds", {}).items() if k != "total")
    )
    print("\n| table | rows | parts | on disk MiB |\n|---|---:|---:|---:|")
    for table, c in counts.items():
        print(f"| {table} | {c['rows']:,} | {c['parts']} | {c['bytes'] / MiB:,.0f} |")
    results: list[Measured] = big["results"]
    d5, d20 = results[0].stats(), results[1].stats()
    met = d5["p50"] < 30 and d5["p99"] < 150
    targets = {
        "model provenance, depth 5": "p50 < 30, p99 < 150: " + ("met" if met else "**missed**"),
        "model provenance, depth 20": "p99 " + verdict(d20["p99"], 500),
    }
    print(f"\n### Pedigree over HTTP: {args.samples} starting points per query, default maxNodes "
          "(500), one request at a time\n")  # fmt: skip
    print(HEADER)
    for m in results:
        print(row(m, targets.get(m.label, "")))
    mem = big["memory"]
    print(
        f"\nMemory of the API process (embedded engine included): RSS after start-up "
        f"{big['startup_rss_mib']:,.0f} MiB; over {mem['seconds']:.0f} s of depth-20 provenance "
        f"in a loop ({mem['requests']:,} requests) RSS {mem['rss_min_mib']:,.0f} - "
        f"{mem['rss_max_mib']:,.0f} MiB (first {mem['rss_first_mib']:,.0f}, last "
        f"{mem['rss_last_mib']:,.0f}); peak over the whole benchmark (VmHWM, = ru_maxrss) "
        f"{big['hwm_mib']:,.0f} MiB: "
        + ("met (< 1 GB)" if big["hwm_mib"] < 1024 else "**missed** (>= 1 GB)")
    )
    tr = big["transport"]
    print(
        f"\nTransport: GET /healthz p50 {tr['keepalive_ms']:.1f} ms on the keep-alive "
        f"connection, {tr['new_connection_ms']:.1f} ms on a new connection each time"
    )
    print("\nEXPLAIN indexes = 1 (primary key, granules read / total):")
    for label, text in prepared["explain"].items():
        print(f"- {label}: {text}")
    if "profile" in big:
        print("\n### Where the time goes (server-side query times, mean per request)\n")
        print("| query | total ms | in queries ms | levels | ms per level (mean / max) | "
              "by query, ms (mean keys) |\n|---|---:|---:|---:|---|---|")  # fmt: skip
        for label, p in big["profile"].items():
            parts = ", ".join(
                f"{k} {v:.1f} ({p['keys_mean'].get(k, 0):.0f})"
                for k, v in p["by_label_mean_ms"].items()
            )
            print(
                f"| {label} | {p['mean_total_ms']:.1f} | {p['mean_query_ms']:.1f} | "
                f"{p['mean_levels']:.1f} | {p['mean_level_ms']:.1f} / {p['max_level_ms']:.1f} | "
                f"{parts} |"
            )
    print("\n### ML Metadata on the same sample graph\n")
    if "skipped" in sample:
        print(f"*skipped*: {sample['skipped']}")
        return
    g = sample["mlmd_graph"]
    sc = prepared["sample_counts"]
    print(
        f"Sample: the first {args.mlmd_pipelines} pipelines: {sc['runs']['rows']:,} runs, "
        f"{sc['run_inputs']['rows'] + sc['run_outputs']['rows']:,} edges; in MLMD "
        f"{g['executions']:,} executions, {g['artifacts']:,} artifacts, {g['events']:,} events "
        f"(loaded in {g['load_seconds']:.0f} s through put_artifacts / put_executions / "
        "put_events). Pedigree serves the same sample from its own database.\n"
    )
    print("| question | Pedigree p50 / p99 ms | MLMD p50 / p99 ms | Pedigree p50 | Pedigree p99 | "
          "nodes Pedigree / MLMD (mean) | same node count | truncated (Pedigree) |\n"
          "|---|---|---|---:|---:|---|---:|---:|")  # fmt: skip
    for ped, mine in sample["pairs"]:
        a, b = ped.stats(), mine.stats()
        same = sum(x == y for x, y in zip(ped.nodes, mine.nodes, strict=False))
        print(
            f"| {ped.label} | {a['p50']:.1f} / {a['p99']:.1f} | {b['p50']:.1f} / {b['p99']:.1f} | "
            f"**{speed(a['p50'], b['p50'])}** | {speed(a['p99'], b['p99'])} | "
            f"{statistics.fmean(ped.nodes):.0f} / {statistics.fmean(mine.nodes):.0f} | "
            f"{same}/{len(ped.nodes)} | {100 * sum(ped.truncated) / len(ped.truncated):.0f} % |"
        )


def main() -> None:
    args = parse_args()
    if args.worker == "prepare":
        prepare_worker(args)
        return
    if args.worker == "serve":
        serve_worker(args)
        return
    began = time.monotonic()
    shape = Shape(
        pipelines=args.pipelines, stages=args.stages, batches=args.batches, seed=args.seed
    )
    if args.rebuild:
        shutil.rmtree(args.dir, ignore_errors=True)
    export = not args.no_mlmd and mlmd_available() is None
    prepared = prepare(args, shape, export)
    print(f"prepared in {prepared['prepare_seconds']:.0f} s", file=sys.stderr, flush=True)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    big = bench_big(args, prepared)
    sample: dict[str, Any] = {"skipped": "--no-mlmd"} if args.no_mlmd else {}
    if not args.no_mlmd:
        sample = bench_sample(args, prepared)
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print_report(args, shape, prepared, big, sample)
    print(f"\nLoad average before / after: {load_before} / {load_after}; "
          f"total {time.monotonic() - began:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
