"""Every query of the SQL cookbook (docs/sql.md) on the real ClickHouse engine.

The warehouse is seeded with a small, deterministic set of training runs (two teams, a
parameter sweep, failures, an abort, a run still going, usage samples, unversioned inputs, a
deployment), each event Avro-encoded and decoded as the consumer receives it from an emitter,
materialized by ``rows_for_events`` and inserted per table as the consumer does
(``tests.integration.test_warehouse.load``).  Every event is then inserted a second time (a
replay under another deduplication token, in reverse order) with merges stopped, so every table
holds each row twice when the queries run: a query that is not duplicate-proof gets a different
answer.  Each ```sql block of the cookbook is found by the ``<!-- query: ID -->`` comment before
it; a block without an id, or an id without a case here, fails the coverage test.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from consumers.migrate import migrate
from consumers.tables import COLUMNS
from emitters.codec import decode, encode
from emitters.facets import facet
from tests.integration.test_warehouse import load
from tests.pipeline import PRODUCER, _event, _version

pytestmark = pytest.mark.integration

COOKBOOK = Path(__file__).resolve().parents[2] / "docs" / "sql.md"
_BLOCK = re.compile(r"<!-- query: ([a-z0-9_]+) -->\n```sql\n(.*?)\n```", re.DOTALL)
GIB = 2**30


def cookbook() -> dict[str, str]:
    """The cookbook's queries by id, in document order."""
    text = COOKBOOK.read_text(encoding="utf-8")
    found = _BLOCK.findall(text)
    queries = dict(found)
    assert len(queries) == len(found), "two ```sql blocks share an id"
    return queries


# ---------------------------------------------------------------------------------------------
# The seed: what happened, with round numbers


def rid(n: int) -> str:
    return str(uuid.UUID(int=n))


# vision/train: a learning-rate sweep
SWEEP_LR01 = rid(0x11)  # 2 GPUs, 4 h, COMPLETE, model vision-detector v1 (accuracy 0.81)
SWEEP_LR03 = rid(0x12)  # 2 GPUs, 1.5 h, COMPLETE, model vision-detector v2 (accuracy 0.86)
SWEEP_LR10 = rid(0x13)  # 2 GPUs, 0.5 h, FAIL (loss is NaN)
SWEEP_LR003 = rid(0x14)  # 2 GPUs, started the next week, still RUNNING
PREPARE = rid(0x15)  # vision/prepare: no GPU, reads an unversioned raw bucket
DEPLOY = rid(0x16)  # vision/deploy/detector: reads model v2 (role input), trains nothing
# nlp/finetune
FINETUNE_OK = rid(0x21)  # 8 GPUs, Sunday 22:00 -> Monday 01:00 (3 h), COMPLETE
FINETUNE_OOM = rid(0x22)  # 4 GPUs, 3 h, FAIL
FINETUNE_ABORT = rid(0x23)  # 8 GPUs, 15 min, ABORT
FINETUNE_NAN = rid(0x24)  # 4 GPUs, 30 min, FAIL

DIGEST_A = "sha256:" + "a1" * 32  # vision/train image 1.0
DIGEST_B = "sha256:" + "b2" * 32  # vision/train image 1.1
DIGEST_N = "sha256:" + "c3" * 32  # nlp/finetune image

VISION = "s3://vision-data"
NLP = "s3://nlp-data"


def dataset(namespace: str, name: str, version: str | None = None, **facets: Any) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "name": name,
        "facets": {**(_version(version) if version else {}), **facets},
    }


def model(namespace: str, name: str, version: str, metrics: dict[str, float]) -> dict[str, Any]:
    return dataset(
        namespace,
        f"models/{name}",
        f"sha256:{name}-{version}",
        pedigree_model=facet(
            "pedigree_model",
            name=name,
            version=version,
            framework="pytorch",
            stage="candidate",
            metrics=metrics,
        ),
    )


IMAGES_V1 = dataset(VISION, "images", "v1")
IMAGES_V2 = dataset(VISION, "images", "v2")
BOXES_V3 = dataset(
    VISION,
    "labels/boxes",
    "v3",
    pedigree_annotations=facet(
        "pedigree_annotations", labelSet="boxes", labelVersion="2026-11-01", task="detection"
    ),
)
DETECTOR_V1 = model(VISION, "vision-detector", "1", {"accuracy": 0.81, "loss": 0.4})
DETECTOR_V2 = model(VISION, "vision-detector", "2", {"accuracy": 0.86, "loss": 0.3})
SUMMARIZER_V1 = model(NLP, "nlp-summarizer", "1", {"rougeL": 0.41})


def run(
    run_id: str,
    namespace: str,
    job: str,
    *,
    start: str,
    end: str | None = None,
    status: str = "COMPLETE",
    team: str | None = None,
    gpus: int | None = None,
    digest: str | None = None,
    params: dict[str, Any] | None = None,
    inputs: tuple[dict[str, Any], ...] = (),
    outputs: tuple[dict[str, Any], ...] = (),
    error: str | None = None,
    samples: tuple[list[dict[str, Any]], ...] = (),
) -> list[dict[str, Any]]:
    """A run as an emitter reports it: START with the code, parameters, resources and owner;
    one RUNNING per list of usage samples; the terminal event with only its inputs, outputs
    and error (so every query must carry START's facets over to the terminal state)."""
    facets: dict[str, Any] = {}
    if digest:
        facets["pedigree_code"] = facet(
            "pedigree_code",
            gitRepo=f"https://git.example.com/{namespace}/models.git",
            gitCommit=digest[7:47],
            gitBranch="main",
            image=f"registry.example.com/{namespace}/{job}",
            imageDigest=digest,
        )
    if params:
        facets["pedigree_parameters"] = facet("pedigree_parameters", parameters=params)
    if gpus is not None:
        facets["pedigree_resources"] = facet(
            "pedigree_resources", requested={"cpuCount": 8.0, "gpuCount": gpus}
        )
    if team:
        facets["pedigree_ownership"] = facet("pedigree_ownership", submitter="alice", team=team)
    events = [_event("START", start, run_id, namespace, job, run_facets=facets, inputs=[*inputs])]
    for batch in samples:
        events.append(
            _event(
                "RUNNING",
                batch[0]["time"],
                run_id,
                namespace,
                job,
                run_facets={"pedigree_resources": facet("pedigree_resources", samples=batch)},
            )
        )
    if end is not None:
        done: dict[str, Any] = {}
        if error:
            done["errorMessage"] = {
                "_producer": PRODUCER,
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
                "message": error,
                "programmingLanguage": "python",
                "stackTrace": f"Traceback (most recent call last):\n{error}",
            }
        events.append(
            _event(
                status,
                end,
                run_id,
                namespace,
                job,
                run_facets=done,
                inputs=[*inputs],
                outputs=[*outputs],
            )
        )
    return events


def gpu(time: str, device: str, memory_gib: int, util: float) -> dict[str, Any]:
    return {
        "time": time,
        "host": "gpu-node-1",
        "device": device,
        "gpuMemoryBytes": memory_gib * GIB,
        "gpuUtilPercent": util,
    }


def seed_events() -> list[Mapping[str, Any]]:
    sweep: dict[str, Any] = {"namespace": "vision", "job": "train", "team": "vision", "gpus": 2}
    finetune: dict[str, Any] = {
        "namespace": "nlp",
        "job": "finetune",
        "team": "nlp",
        "digest": DIGEST_N,
    }
    corpus = dataset(NLP, "corpus", "v5")
    tokenizer = dataset(NLP, "tokenizer")  # no version facet
    built = [
        *run(
            SWEEP_LR01,
            **sweep,
            start="2026-11-24T08:00:00Z",
            end="2026-11-24T12:00:00Z",
            digest=DIGEST_A,
            params={"lr": 0.01, "batch_size": 64, "optimizer": "adam"},
            inputs=(IMAGES_V1, BOXES_V3),
            outputs=(DETECTOR_V1,),
            samples=(
                [
                    gpu("2026-11-24T09:00:00Z", "gpu0", 30, 91.0),
                    gpu("2026-11-24T09:00:00Z", "gpu1", 28, 89.5),
                    {"time": "2026-11-24T09:00:00Z", "device": "cpu", "cpuPercent": 250.0},
                ],
                [
                    gpu("2026-11-24T10:00:00Z", "gpu0", 38, 97.0),
                    gpu("2026-11-24T10:00:00Z", "gpu1", 29, 93.0),
                ],
            ),
        ),
        *run(
            SWEEP_LR03,
            **sweep,
            start="2026-11-25T08:00:00Z",
            end="2026-11-25T09:30:00Z",
            digest=DIGEST_A,
            params={"lr": 0.03, "batch_size": 64, "optimizer": "adam"},
            inputs=(IMAGES_V2, BOXES_V3),
            outputs=(DETECTOR_V2,),
        ),
        *run(
            SWEEP_LR10,
            **sweep,
            start="2026-11-25T10:00:00Z",
            end="2026-11-25T10:30:00Z",
            status="FAIL",
            digest=DIGEST_B,
            params={"lr": 0.1, "batch_size": 64, "optimizer": "adam"},
            inputs=(IMAGES_V2, BOXES_V3),
            error="loss is NaN",
        ),
        *run(
            SWEEP_LR003,
            **sweep,
            start="2026-12-01T09:00:00Z",
            digest=DIGEST_B,
            params={"lr": 0.003, "batch_size": 128, "optimizer": "sgd"},
            inputs=(IMAGES_V2, BOXES_V3),
            samples=([gpu("2026-12-01T09:15:00Z", "gpu0", 70, 99.0)],),
        ),
        *run(
            PREPARE,
            "vision",
            "prepare",
            team="vision",
            start="2026-11-24T06:00:00Z",
            end="2026-11-24T07:00:00Z",
            inputs=(dataset("s3://vision-raw", "images"),),
            outputs=(IMAGES_V2,),
        ),
        *run(
            DEPLOY,
            "vision",
            "deploy/detector",
            start="2026-11-26T12:00:00Z",
            end="2026-11-26T12:05:00Z",
            inputs=(DETECTOR_V2,),
            outputs=(dataset("https://serving.example.com", "detector", "2"),),
        ),
        *run(
            FINETUNE_OK,
            **finetune,
            gpus=8,
            start="2026-11-29T22:00:00Z",
            end="2026-11-30T01:00:00Z",
            params={"lr": 0.0001, "epochs": 2},
            inputs=(corpus, tokenizer),
            outputs=(SUMMARIZER_V1,),
        ),
        *run(
            FINETUNE_OOM,
            **finetune,
            gpus=4,
            start="2026-11-26T22:00:00Z",
            end="2026-11-27T01:00:00Z",
            status="FAIL",
            params={"lr": 0.0001, "epochs": 4},
            inputs=(corpus, tokenizer),
            error="CUDA out of memory",
        ),
        *run(
            FINETUNE_ABORT,
            **finetune,
            gpus=8,
            start="2026-11-30T04:00:00Z",
            end="2026-11-30T04:15:00Z",
            status="ABORT",
            inputs=(corpus,),
        ),
        *run(
            FINETUNE_NAN,
            **finetune,
            gpus=4,
            start="2026-11-30T05:00:00Z",
            end="2026-11-30T05:30:00Z",
            status="FAIL",
            params={"lr": 0.001, "epochs": 2},
            inputs=(corpus,),
            error="loss is NaN",
        ),
    ]
    # What the consumer materializes: the event as decoded from an emitter's Avro message.
    return [decode(encode(event)) for event in built]


@pytest.fixture
def seeded(clickhouse: Any) -> Any:
    """A migrated warehouse holding every seed event twice, merges stopped so the copies stay."""
    migrate(clickhouse, clickhouse.database)
    for table in COLUMNS:
        clickhouse.command(f"SYSTEM STOP MERGES {table}")
    events = seed_events()
    load(clickhouse, events, token="seed")
    load(clickhouse, events[::-1], token="replay")  # every event again, in reverse order
    for table in COLUMNS:
        total = int(clickhouse.command(f"SELECT count() FROM {table}"))
        distinct = int(clickhouse.command(f"SELECT count() FROM {table} FINAL"))
        assert total == 2 * distinct, f"{table}: the replay did not land as duplicates"
    return clickhouse


# ---------------------------------------------------------------------------------------------
# What each query must answer on the seed


class Expect(NamedTuple):
    columns: tuple[str, ...]
    cases: list[tuple[dict[str, str], list[tuple[Any, ...]]]]
    """(query parameters, the exact rows in order)"""


def at(text: str) -> datetime:
    """A DateTime64(6, 'UTC') value as clickhouse-connect returns it (naive, UTC)."""
    return datetime.fromisoformat(text)


WEEK_NOV_23 = date(2026, 11, 23)  # Monday
WEEK_NOV_30 = date(2026, 11, 30)  # Monday
SWEEP_PARAMS = {
    SWEEP_LR01: {"lr": "0.01", "batch_size": "64", "optimizer": '"adam"'},
    SWEEP_LR03: {"lr": "0.03", "batch_size": "64", "optimizer": '"adam"'},
    SWEEP_LR10: {"lr": "0.1", "batch_size": "64", "optimizer": '"adam"'},
    SWEEP_LR003: {"lr": "0.003", "batch_size": "128", "optimizer": '"sgd"'},
}
VISION_TRAIN = {"job_namespace": "vision", "job_name": "train"}
NLP_FINETUNE = {"job_namespace": "nlp", "job_name": "finetune"}

EXPECTED: dict[str, Expect] = {
    "gpu_hours_per_team_week": Expect(
        ("team", "week", "gpu_hours", "runs"),
        [
            (
                {},
                [
                    # nlp: OOM 4 GPUs x 3 h + the 8-GPU run that started on Sunday 29 Nov
                    # 22:00 and ended on Monday (3 h, credited to the week it started in)
                    ("nlp", WEEK_NOV_23, 36.0, 2),
                    # vision: 2 GPUs x (4 h + 1.5 h + the failed 0.5 h); prepare has no GPU
                    ("vision", WEEK_NOV_23, 12.0, 3),
                    # nlp: the abort (8 x 0.25 h) and the NaN failure (4 x 0.5 h); the
                    # vision run of this week is still going
                    ("nlp", WEEK_NOV_30, 4.0, 2),
                ],
            )
        ],
    ),
    "models_trained_on_dataset_version": Expect(
        ("model_name", "model_version", "run_id", "job_namespace", "job_name"),
        [
            (
                {"namespace": VISION, "name": "labels/boxes", "version": "v3"},
                [
                    ("vision-detector", "1", SWEEP_LR01, "vision", "train"),
                    ("vision-detector", "2", SWEEP_LR03, "vision", "train"),
                ],
            ),
            (
                {"namespace": VISION, "name": "images", "version": "v2"},
                [("vision-detector", "2", SWEEP_LR03, "vision", "train")],
            ),
            ({"namespace": VISION, "name": "images", "version": "v9"}, []),
            # the deployment read model v2 (role input): it trained nothing
            (
                {
                    "namespace": VISION,
                    "name": "models/vision-detector",
                    "version": "sha256:vision-detector-2",
                },
                [],
            ),
            (
                {"namespace": NLP, "name": "tokenizer", "version": ""},
                [("nlp-summarizer", "1", FINETUNE_OK, "nlp", "finetune")],
            ),
        ],
    ),
    "runs_by_image_digest": Expect(
        ("run_id", "job_ns", "job", "status", "started", "ended", "commit_sha", "image_ref"),
        [
            (
                {"digest": DIGEST_A},
                [
                    (
                        SWEEP_LR01,
                        "vision",
                        "train",
                        "COMPLETE",
                        at("2026-11-24T08:00"),
                        at("2026-11-24T12:00"),
                        "a1" * 20,
                        "registry.example.com/vision/train",
                    ),
                    (
                        SWEEP_LR03,
                        "vision",
                        "train",
                        "COMPLETE",
                        at("2026-11-25T08:00"),
                        at("2026-11-25T09:30"),
                        "a1" * 20,
                        "registry.example.com/vision/train",
                    ),
                ],
            ),
            (
                {"digest": DIGEST_B},
                [
                    (
                        SWEEP_LR10,
                        "vision",
                        "train",
                        "FAIL",
                        at("2026-11-25T10:00"),
                        at("2026-11-25T10:30"),
                        "b2" * 20,
                        "registry.example.com/vision/train",
                    ),
                    (
                        SWEEP_LR003,
                        "vision",
                        "train",
                        "RUNNING",
                        at("2026-12-01T09:00"),
                        None,
                        "b2" * 20,
                        "registry.example.com/vision/train",
                    ),
                ],
            ),
            ({"digest": "sha256:" + "00" * 32}, []),
        ],
    ),
    "parameter_sweep_by_metric": Expect(
        ("run_id", "status", "parameters", "model_name", "model_version", "metric"),
        [
            (
                {**VISION_TRAIN, "metric": "accuracy"},
                [
                    (
                        SWEEP_LR03,
                        "COMPLETE",
                        SWEEP_PARAMS[SWEEP_LR03],
                        "vision-detector",
                        "2",
                        0.86,
                    ),
                    (
                        SWEEP_LR01,
                        "COMPLETE",
                        SWEEP_PARAMS[SWEEP_LR01],
                        "vision-detector",
                        "1",
                        0.81,
                    ),
                    (SWEEP_LR10, "FAIL", SWEEP_PARAMS[SWEEP_LR10], None, None, None),
                    (SWEEP_LR003, "RUNNING", SWEEP_PARAMS[SWEEP_LR003], None, None, None),
                ],
            ),
            (
                {**VISION_TRAIN, "metric": "loss"},
                [
                    (SWEEP_LR01, "COMPLETE", SWEEP_PARAMS[SWEEP_LR01], "vision-detector", "1", 0.4),
                    (SWEEP_LR03, "COMPLETE", SWEEP_PARAMS[SWEEP_LR03], "vision-detector", "2", 0.3),
                    (SWEEP_LR10, "FAIL", SWEEP_PARAMS[SWEEP_LR10], None, None, None),
                    (SWEEP_LR003, "RUNNING", SWEEP_PARAMS[SWEEP_LR003], None, None, None),
                ],
            ),
            (
                {**NLP_FINETUNE, "metric": "rougeL"},
                [
                    (
                        FINETUNE_OK,
                        "COMPLETE",
                        {"lr": "0.0001", "epochs": "2"},
                        "nlp-summarizer",
                        "1",
                        0.41,
                    ),
                    (FINETUNE_OOM, "FAIL", {"lr": "0.0001", "epochs": "4"}, None, None, None),
                    (FINETUNE_ABORT, "ABORT", {}, None, None, None),
                    (FINETUNE_NAN, "FAIL", {"lr": "0.001", "epochs": "2"}, None, None, None),
                ],
            ),
        ],
    ),
    "failed_run_rate_per_job": Expect(
        ("job_namespace", "job_name", "finished", "failed", "aborted", "failed_rate"),
        [
            (
                {},
                [
                    ("nlp", "finetune", 4, 2, 1, 0.5),
                    ("vision", "train", 3, 1, 0, 0.333),  # the RUNNING run is not counted
                    ("vision", "deploy/detector", 1, 0, 0, 0.0),
                    ("vision", "prepare", 1, 0, 0, 0.0),
                ],
            )
        ],
    ),
    "latest_status_of_job_runs": Expect(
        ("run_id", "status", "started", "ended", "duration_s", "error"),
        [
            (
                VISION_TRAIN,
                [
                    (SWEEP_LR003, "RUNNING", at("2026-12-01T09:00"), None, None, ""),
                    (
                        SWEEP_LR10,
                        "FAIL",
                        at("2026-11-25T10:00"),
                        at("2026-11-25T10:30"),
                        1800,
                        "loss is NaN",
                    ),
                    (
                        SWEEP_LR03,
                        "COMPLETE",
                        at("2026-11-25T08:00"),
                        at("2026-11-25T09:30"),
                        5400,
                        "",
                    ),
                    (
                        SWEEP_LR01,
                        "COMPLETE",
                        at("2026-11-24T08:00"),
                        at("2026-11-24T12:00"),
                        14400,
                        "",
                    ),
                ],
            ),
            (
                NLP_FINETUNE,
                [
                    (
                        FINETUNE_NAN,
                        "FAIL",
                        at("2026-11-30T05:00"),
                        at("2026-11-30T05:30"),
                        1800,
                        "loss is NaN",
                    ),
                    (
                        FINETUNE_ABORT,
                        "ABORT",
                        at("2026-11-30T04:00"),
                        at("2026-11-30T04:15"),
                        900,
                        "",
                    ),
                    (
                        FINETUNE_OK,
                        "COMPLETE",
                        at("2026-11-29T22:00"),
                        at("2026-11-30T01:00"),
                        10800,
                        "",
                    ),
                    (
                        FINETUNE_OOM,
                        "FAIL",
                        at("2026-11-26T22:00"),
                        at("2026-11-27T01:00"),
                        10800,
                        "CUDA out of memory",
                    ),
                ],
            ),
        ],
    ),
    "runs_with_unversioned_inputs": Expect(
        ("job_namespace", "job_name", "run_id", "dataset_namespace", "dataset_name"),
        [
            (
                {},
                [
                    ("nlp", "finetune", FINETUNE_OK, NLP, "tokenizer"),
                    ("nlp", "finetune", FINETUNE_OOM, NLP, "tokenizer"),
                    ("vision", "prepare", PREPARE, "s3://vision-raw", "images"),
                ],
            )
        ],
    ),
    "peak_gpu_memory_per_run": Expect(
        (
            "run_id",
            "job_namespace",
            "job_name",
            "host",
            "device",
            "peak_gpu_memory_gib",
            "peak_gpu_util_percent",
            "samples",
        ),
        [
            (
                {},
                [
                    (SWEEP_LR003, "vision", "train", "gpu-node-1", "gpu0", 70.0, 99.0, 1),
                    (SWEEP_LR01, "vision", "train", "gpu-node-1", "gpu0", 38.0, 97.0, 2),
                    (SWEEP_LR01, "vision", "train", "gpu-node-1", "gpu1", 29.0, 93.0, 2),
                ],
            )
        ],
    ),
    "training_data_of_model_version": Expect(
        (
            "run_id",
            "dataset_namespace",
            "dataset_name",
            "dataset_version",
            "label_set",
            "label_version",
        ),
        [
            (
                {"model_name": "vision-detector", "model_version": "1"},
                [
                    (SWEEP_LR01, VISION, "images", "v1", "", ""),
                    (SWEEP_LR01, VISION, "labels/boxes", "v3", "boxes", "2026-11-01"),
                ],
            ),
            (
                {"model_name": "nlp-summarizer", "model_version": "1"},
                [
                    (FINETUNE_OK, NLP, "corpus", "v5", "", ""),
                    (FINETUNE_OK, NLP, "tokenizer", "", "", ""),
                ],
            ),
            ({"model_name": "vision-detector", "model_version": "3"}, []),
        ],
    ),
}


# ---------------------------------------------------------------------------------------------


def test_every_sql_block_of_the_cookbook_has_an_id_and_a_test() -> None:
    text = COOKBOOK.read_text(encoding="utf-8")
    queries = cookbook()
    assert len(queries) == text.count("```sql"), (
        "every ```sql block of docs/sql.md needs a `<!-- query: ID -->` line right before it"
    )
    untested = [q for q in queries if q not in EXPECTED]
    assert not untested, f"queries of docs/sql.md without a test here: {untested}"
    gone = [q for q in EXPECTED if q not in queries]
    assert not gone, f"tested queries that docs/sql.md no longer has: {gone}"
    assert len(queries) >= 8


@pytest.mark.parametrize("query_id", list(EXPECTED))
def test_the_cookbook_query_answers_exactly_on_a_replayed_warehouse(
    seeded: Any, query_id: str
) -> None:
    queries = cookbook()
    assert query_id in queries, f"docs/sql.md has no `<!-- query: {query_id} -->` block"
    sql = queries[query_id]
    assert not re.search(r"\bFINAL\b", sql, re.IGNORECASE), "cookbook queries never need FINAL"
    expect = EXPECTED[query_id]
    for params, rows in expect.cases:
        # the parameters the test binds are exactly those the query declares
        assert set(re.findall(r"\{(\w+):\w+\}", sql)) == set(params)
        result = seeded.query(sql, parameters=params)
        assert result.result_rows == rows, params
        if rows:  # an empty result has no column names (chdb)
            assert tuple(result.column_names) == expect.columns
