"""Lookup and listing over real HTTP and the real engine: every filter answers exactly the
items it should, pages add up to the whole listing (each item once, in order), bad cursors,
limits and time ranges are 4xx naming the problem, and a token never sees another tenant's
items on any listing.

The world: vision runs the pipeline of :mod:`tests.pipeline` three times (seeds 1-3, on
2026-11-28, -21 and 2026-09-29; seed 2 submitted by *dave* with ``lr=0.02``), nlp once (seed 4,
2026-11-27), and nlp's *publish* run (only STARTed) writes ``s3://shared:corpus#2026-11``,
which vision may read but nlp may not.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import json
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from api.auth import Principal
from api.catalog_store import Sql, encode_cursor, readable
from emitters.spool import closed_files
from tests.integration.test_api import ADMIN, NLP, VISION, Api, api
from tests.pipeline import PRODUCER, RUN_EVENT, Pipeline, pipeline_events

__all__ = ["api"]  # the fixture, re-exported for pytest

SHARED = "s3://shared"
PUBLISH = str(uuid.UUID(int=9000))


@dataclass(frozen=True)
class World:
    v1: Pipeline
    v2: Pipeline
    v3: Pipeline
    n4: Pipeline

    @property
    def newest_first(self) -> list[str]:
        """Every run id, newest first (first event time, then run id, descending)."""
        runs = [(e["eventTime"], e["run"]["runId"]) for p in self.pipelines for e in p.events]
        runs.append(("2026-11-27T12:00:00Z", PUBLISH))
        first: dict[str, str] = {}
        for when, run in runs:
            first[run] = min(first.get(run, when), when)
        return [run for run, _ in sorted(first.items(), key=lambda x: (x[1], x[0]), reverse=True)]

    @property
    def pipelines(self) -> list[Pipeline]:
        return [self.v1, self.v2, self.v3, self.n4]

    def runs_of(self, *pipelines: Pipeline) -> set[str]:
        return {r for p in pipelines for r in (p.prepare, p.train, p.deploy)}


def _shifted(pipeline: Pipeline, days: int, submitter: str | None = None) -> Pipeline:
    events = copy.deepcopy(pipeline.events)
    for event in events:
        when = datetime.fromisoformat(event["eventTime"]) + timedelta(days=days)
        event["eventTime"] = when.isoformat().replace("+00:00", "Z")
        ownership = event["run"]["facets"].get("pedigree_ownership")
        if submitter and ownership and "submitter" in ownership:
            ownership["submitter"] = submitter
    return Pipeline(**{**pipeline.__dict__, "events": events})


def _publish_event() -> dict[str, Any]:
    corpus = {
        "namespace": SHARED,
        "name": "corpus",
        "facets": {
            "version": {
                "_producer": PRODUCER,
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json",
                "datasetVersion": "2026-11",
            }
        },
    }
    return {
        "eventType": "START",
        "eventTime": "2026-11-27T12:00:00Z",
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT,
        "run": {"runId": PUBLISH, "facets": {}},
        "job": {"namespace": "nlp", "name": "publish"},
        "inputs": [],
        "outputs": [corpus],
    }


def _drained(api: Api, timeout: float = 30) -> None:
    """Until the consumer wrote every table of every accepted event (it deletes a spool file
    once all tables have its rows)."""
    spool = api.service.options.spool_dir
    assert spool is not None
    deadline = time.monotonic() + timeout
    while closed_files(spool, recover=False):
        assert time.monotonic() < deadline, "the spool was not consumed in time"
        time.sleep(0.05)


@pytest.fixture
def world(api: Api) -> World:
    v1 = pipeline_events("vision", seed=1, lr=0.01, model_version="1")
    v2 = _shifted(pipeline_events("vision", seed=2, lr=0.02, model_version="2"), -7, "dave")
    v3 = _shifted(pipeline_events("vision", seed=3, lr=0.01, model_version="3"), -60)
    n4 = _shifted(pipeline_events("nlp", seed=4, lr=0.03, model_version="1"), -1)
    for pipeline, token in ((v1, VISION), (v2, VISION), (v3, VISION), (n4, NLP)):
        api.ingest(pipeline, token)
    response = api.post("/api/v1/lineage", _publish_event(), NLP)
    assert response.status_code == 201, response.text
    for pipeline in (v1, v2, v3, n4):
        api.wait_for_run(pipeline.deploy, "COMPLETE")
    api.wait_for_run(PUBLISH, "START")
    _drained(api)
    return World(v1, v2, v3, n4)


def listing(api: Api, path: str, token: str = ADMIN, **params: Any) -> dict[str, Any]:
    response = api.get(path, token, **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"items", "nextCursor"}
    return body


def every_page(
    api: Api, path: str, token: str, limit: int, cursor: str | None = None, **params: Any
) -> list[Any]:
    """Every item (after ``cursor``), page by page; each page full but the last, which alone
    has no cursor."""
    items: list[Any] = []
    for _ in range(100):
        more = {"cursor": cursor} if cursor else {}
        body = listing(api, path, token, limit=limit, **params, **more)
        items += body["items"]
        cursor = body["nextCursor"]
        if cursor is None:
            assert len(body["items"]) <= limit
            return items
        assert len(body["items"]) == limit
    raise AssertionError("more than 100 pages")


def run_ids(api: Api, token: str = ADMIN, **params: Any) -> list[str]:
    return [r["runId"] for r in listing(api, "/api/v1/runs", token, limit=500, **params)["items"]]


# -- runs ------------------------------------------------------------------------------------


def test_runs_are_newest_first_with_their_state(api: Api, world: World) -> None:
    assert run_ids(api) == world.newest_first
    assert len(world.newest_first) == 13
    v1 = world.v1
    assert world.newest_first[:4] == [v1.deploy, v1.train, v1.prepare, PUBLISH]
    train = next(r for r in listing(api, "/api/v1/runs", VISION)["items"] if r["runId"] == v1.train)
    assert train == {
        "runId": v1.train,
        "status": "COMPLETE",
        "job": {"namespace": "vision", "name": "train"},
        "firstEventTime": "2026-11-28T10:02:00Z",
        "lastEventTime": "2026-11-28T10:30:00Z",
        "startTime": "2026-11-28T10:02:00Z",
        "endTime": "2026-11-28T10:30:00Z",
        "parentRunId": None,
        "code": {
            "gitRepo": "https://git.example.com/vision/models.git",
            "gitCommit": f"{1:040x}",
            "gitBranch": "main",
            "image": "registry.example.com/vision/train:1",
            "imageDigest": "sha256:" + "01" * 32,
        },
        "parameters": {"lr": "0.01", "epochs": "3", "model.depth": "4"},
        "owners": {"submitter": "alice", "codeAuthor": "bob", "deployer": None,
                   "team": "vision"},
    }  # fmt: skip


def test_each_run_filter_answers_exactly_its_runs(api: Api, world: World) -> None:
    v1, v2, v3, n4 = world.v1, world.v2, world.v3, world.n4
    order = world.newest_first

    def only(*runs: str) -> list[str]:
        return [r for r in order if r in runs]

    vision = world.runs_of(v1, v2, v3)
    trains = only(v1.train, v2.train, v3.train, n4.train)
    assert run_ids(api, namespace="vision") == only(*vision)
    assert run_ids(api, namespace="nlp") == only(*world.runs_of(n4), PUBLISH)
    assert run_ids(api, job="train") == trains
    assert run_ids(api, namespace="vision", job="train") == only(v1.train, v2.train, v3.train)
    assert run_ids(api, namespace="vision", job="nope") == []
    assert run_ids(api, status="START") == [PUBLISH]
    assert run_ids(api, status="COMPLETE") == [r for r in order if r != PUBLISH]
    assert run_ids(api, status="FAIL") == []
    # owner: submitter, code author, deployer or team
    assert run_ids(api, owner="dave") == [v2.train]
    assert run_ids(api, owner="alice") == only(v1.train, v3.train, n4.train)
    assert run_ids(api, owner="bob") == trains
    assert run_ids(api, owner="carol") == only(v1.deploy, v2.deploy, v3.deploy, n4.deploy)
    assert run_ids(api, owner="vision") == only(v1.train, v2.train, v3.train)
    # the first event's time: since inclusive, until exclusive
    week = {"since": "2026-11-21T00:00:00Z", "until": "2026-11-22T00:00:00Z"}
    assert run_ids(api, **week) == only(*world.runs_of(v2))
    exact = {"since": "2026-11-28T10:02:00Z", "until": "2026-11-28T11:00:00Z"}
    assert run_ids(api, **exact) == [v1.train]
    naive = {"since": "2026-11-28T10:02:00", "until": "2026-11-28T11:00:00.000001"}
    assert run_ids(api, **naive) == [v1.deploy, v1.train]
    offset = {"since": "2026-11-28T11:02:00+01:00", "until": "2026-11-28T12:00:00+01:00"}
    assert run_ids(api, **offset) == [v1.train]
    # parameters, as the JSON text the run logged
    assert run_ids(api, param="lr=0.01") == only(v1.train, v3.train)
    assert run_ids(api, param="lr=0.02") == [v2.train]
    assert run_ids(api, param=["lr=0.01", "epochs=3"]) == only(v1.train, v3.train)
    assert run_ids(api, param=["lr=0.01", "epochs=4"]) == []
    assert run_ids(api, param="model.depth=4") == trains
    assert run_ids(api, param="lr=") == []
    # code
    assert run_ids(api, imageDigest="sha256:" + "02" * 32) == [v2.train]
    assert run_ids(api, commit=f"{3:040x}") == [v3.train]
    assert run_ids(api, commit="0" * 39) == trains  # a prefix
    assert run_ids(api, commit="1") == []
    # together, and under a token's scope
    assert run_ids(api, owner="alice", namespace="vision", param="lr=0.01") == only(
        v1.train, v3.train
    )
    assert run_ids(api, VISION, job="train") == only(v1.train, v2.train, v3.train)
    assert run_ids(api, NLP, job="train") == [n4.train]
    assert run_ids(api, VISION, namespace="nlp") == []


def test_run_filters_compare_the_latest_state_whichever_events_stated_it(api: Api) -> None:
    """The listing first narrows to runs with an event matching each filter; what it answers
    is still the run's latest state, with its fields taken from different events."""
    pipeline = pipeline_events("vision", seed=5, lr=0.05, model_version="5")
    events = copy.deepcopy(pipeline.events)
    train_start, train_complete = (e for e in events if e["run"]["runId"] == pipeline.train)
    code = copy.deepcopy(train_start["run"]["facets"]["pedigree_code"])
    started_with = code["imageDigest"]
    code["imageDigest"] = "sha256:" + "e5" * 32  # the image the run ended with
    train_complete["run"]["facets"]["pedigree_code"] = code
    api.ingest(Pipeline(**{**pipeline.__dict__, "events": events}), VISION)
    api.wait_for_run(pipeline.deploy, "COMPLETE")
    _drained(api)
    # the digest from COMPLETE, the submitter and parameters from START, the status too
    both = {"imageDigest": code["imageDigest"], "owner": "alice", "param": "lr=0.05"}
    assert run_ids(api, **both) == [pipeline.train]
    assert run_ids(api, **both, status="COMPLETE", job="train") == [pipeline.train]
    assert run_ids(api, **both, status="START") == []
    # an earlier event's value is not the run's state
    assert run_ids(api, imageDigest=started_with) == []
    # since compares the first event: a run that started before it is not listed even though
    # its later events are after it
    until = "2026-11-29T00:00:00Z"  # given: the default (now) would leave the 366-day bound
    assert run_ids(api, since="2026-11-28T10:03:00Z", until=until, job="train") == []
    assert run_ids(api, since="2026-11-28T10:02:00Z", until=until, job="train") == [pipeline.train]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "2025-01-01T00:00:00Z", "until": "2026-11-28T00:00:00Z"}, "366-day limit"),
        ({"since": "2025-01-01T00:00:00Z"}, "366-day limit"),  # until: now
        ({"since": "2026-11-28T00:00:00Z", "until": "2026-11-27T00:00:00Z"}, "is after until"),
        ({"since": "2099-01-01T00:00:00Z"}, "is after until"),
        ({"param": "lr"}, "must be key=value"),
        ({"param": "=1"}, "must be key=value"),
        ({"param": [f"k{i}=1" for i in range(21)]}, "at most 20"),
        ({"limit": 501}, "limit=501 is out of range: 1 <= limit <= 500"),
        ({"limit": 0}, "limit=0 is out of range"),
    ],
)
def test_bad_run_filters_are_422_naming_the_bound(
    api: Api, params: dict[str, Any], message: str
) -> None:
    response = api.get("/api/v1/runs", ADMIN, **params)
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]


def test_a_bad_status_is_422(api: Api) -> None:
    assert api.get("/api/v1/runs", ADMIN, status="DONE").status_code == 422


def test_until_alone_reaches_back_the_longest_range(api: Api, world: World) -> None:
    # since defaults to 366 days before until: everything here is within it
    assert run_ids(api, until="2026-11-28T10:01:00Z") == world.newest_first[2:]
    # ... and no further: seed 3 ran at 10:00-11:00 on 2026-09-29
    assert run_ids(api, until="2027-09-30T12:00:00Z") == world.newest_first[:-3]
    assert run_ids(api, until="2027-09-30T00:00:00Z") == world.newest_first


# -- pagination --------------------------------------------------------------------------------

LISTINGS: list[tuple[str, dict[str, Any]]] = [
    ("/api/v1/runs", {}),
    ("/api/v1/runs", {"namespace": "vision"}),
    ("/api/v1/runs", {"owner": "carol"}),
    ("/api/v1/jobs", {}),
    ("/api/v1/datasets", {}),
    ("/api/v1/datasets", {"namespace": "s3://vision-data"}),
    ("/api/v1/datasets/versions", {"namespace": "s3://vision-data", "name": "features"}),
    ("/api/v1/models", {}),
    ("/api/v1/models/vision-detector/versions", {}),
]


def test_pages_give_every_item_once_in_order(api: Api, world: World) -> None:
    for path, params in LISTINGS:
        whole = listing(api, path, ADMIN, limit=500, **params)
        assert whole["nextCursor"] is None
        assert whole["items"], path
        for limit in (1, 2, 5):
            paged = every_page(api, path, ADMIN, limit, **params)
            assert paged == whole["items"], (path, params, limit)
    # the default page size is the server's (50): everything here fits
    assert listing(api, "/api/v1/runs")["nextCursor"] is None


def test_pages_stay_consistent_while_events_arrive(api: Api, world: World) -> None:
    first = listing(api, "/api/v1/runs", ADMIN, limit=4)
    assert [r["runId"] for r in first["items"]] == world.newest_first[:4]
    newer = _shifted(pipeline_events("vision", seed=5), 1)
    api.ingest(newer, VISION)
    api.wait_for_run(newer.deploy, "COMPLETE")
    rest = every_page(api, "/api/v1/runs", ADMIN, 4, cursor=first["nextCursor"])
    assert [r["runId"] for r in rest] == world.newest_first[4:]
    assert run_ids(api)[:3] == [newer.deploy, newer.train, newer.prepare]


@pytest.mark.parametrize("path", sorted({p for p, _ in LISTINGS}))
def test_a_cursor_that_is_not_this_listings_is_400(api: Api, path: str) -> None:
    params = {"namespace": "s3://vision-data", "name": "features"}
    foreign = encode_cursor("elsewhere", ["2026-11-28 10:00:00.000000", "x"])
    wrong_shape = base64.urlsafe_b64encode(json.dumps({"a": 1}).encode()).decode()
    for cursor in ("garbage!", "", "e30", "%%%", foreign, wrong_shape, "A" * 5000):
        response = api.get(path, ADMIN, cursor=cursor, **params)
        assert response.status_code == 400, (path, cursor, response.text)
        assert response.json()["detail"] == "invalid cursor"
    assert api.get(path, ADMIN, limit=501, **params).status_code == 422
    assert "limit=501" in api.get(path, ADMIN, limit=501, **params).json()["detail"]


def test_a_runs_cursor_with_a_bad_time_is_400(api: Api) -> None:
    cursor = encode_cursor("runs", ["yesterday", "x"])
    assert api.get("/api/v1/runs", ADMIN, cursor=cursor).status_code == 400


# -- jobs, datasets, versions, models --------------------------------------------------------


def ids(api: Api, path: str, token: str = ADMIN, key: str = "id", **params: Any) -> list[Any]:
    return [item[key] for item in listing(api, path, token, limit=500, **params)["items"]]


def test_jobs(api: Api, world: World) -> None:
    vision = ["job:vision:deploy/detector", "job:vision:prepare", "job:vision:train"]
    nlp = ["job:nlp:deploy/detector", "job:nlp:prepare", "job:nlp:publish", "job:nlp:train"]
    assert ids(api, "/api/v1/jobs") == nlp + vision
    assert ids(api, "/api/v1/jobs", VISION) == vision
    assert ids(api, "/api/v1/jobs", NLP) == nlp
    assert ids(api, "/api/v1/jobs", namespace="vision") == vision
    assert ids(api, "/api/v1/jobs", prefix="p") == [
        "job:nlp:prepare", "job:nlp:publish", "job:vision:prepare"
    ]  # fmt: skip
    assert ids(api, "/api/v1/jobs", namespace="nlp", prefix="pr") == ["job:nlp:prepare"]
    assert ids(api, "/api/v1/jobs", VISION, namespace="nlp") == []
    [train] = listing(api, "/api/v1/jobs", VISION, namespace="vision", prefix="train")["items"]
    assert train["namespace"] == "vision"
    assert train["name"] == "train"
    assert train["firstSeen"] == "2026-09-29T10:02:00Z"  # seed 3's START
    assert train["lastSeen"] == "2026-11-28T10:30:00Z"  # seed 1's COMPLETE


def test_datasets(api: Api, world: World) -> None:
    names = ["features", "labels/boxes", "models/detector", "raw/images", "serving/detector"]
    nlp = [f"dataset:s3://nlp-data:{n}" for n in names]
    vision = [f"dataset:s3://vision-data:{n}" for n in names]
    corpus = f"dataset:{SHARED}:corpus"
    assert ids(api, "/api/v1/datasets") == [*nlp, corpus, *vision]
    assert ids(api, "/api/v1/datasets", VISION) == [corpus, *vision]  # it may read s3://shared
    assert ids(api, "/api/v1/datasets", NLP) == nlp  # it may not, though it wrote the corpus
    assert ids(api, "/api/v1/datasets", namespace="s3://vision-data") == vision
    assert ids(api, "/api/v1/datasets", prefix="models/") == [nlp[2], vision[2]]
    assert ids(api, "/api/v1/datasets", namespace="s3://vision-data", prefix="l") == [vision[1]]
    assert ids(api, "/api/v1/datasets", NLP, namespace=SHARED) == []
    counts = {
        d["name"]: d["versionCount"]
        for d in listing(api, "/api/v1/datasets", VISION, namespace="s3://vision-data")["items"]
    }
    assert counts == {"features": 3, "labels/boxes": 1, "models/detector": 3, "raw/images": 1,
                      "serving/detector": 3}  # fmt: skip


def test_dataset_versions(api: Api, world: World) -> None:
    path = "/api/v1/datasets/versions"
    where = {"namespace": "s3://vision-data", "name": "features"}
    body = listing(api, path, VISION, **where)
    assert [(v["version"], v["firstSeen"], v["producingRun"]) for v in body["items"]] == [
        ("sha256:features-1", "2026-11-28T10:01:00Z", world.v1.prepare),
        ("sha256:features-2", "2026-11-21T10:01:00Z", world.v2.prepare),
        ("sha256:features-3", "2026-09-29T10:01:00Z", world.v3.prepare),
    ]
    assert body["items"][0]["id"] == "dataset:s3://vision-data:features#sha256:features-1"
    assert body["items"][0]["lastSeen"] == "2026-11-28T10:30:00Z"  # read by training
    labels = listing(api, path, VISION, namespace="s3://vision-data", name="labels/boxes")
    [v3] = labels["items"]
    assert (v3["version"], v3["labelSet"], v3["labelVersion"]) == ("v3", "boxes", "v3")
    assert v3["producingRun"] is None  # only ever read
    # a run of a namespace the caller may not read is not named
    corpus = {"namespace": SHARED, "name": "corpus"}
    assert [v["producingRun"] for v in listing(api, path, ADMIN, **corpus)["items"]] == [PUBLISH]
    assert [v["producingRun"] for v in listing(api, path, VISION, **corpus)["items"]] == [None]
    # not readable and unknown answer alike
    for token, params in ((NLP, where), (NLP, corpus), (VISION, {**where, "name": "nope"})):
        response = api.get(path, token, **params)
        assert response.status_code == 404, response.text
        assert "not found" in response.json()["detail"]


def test_models_and_their_versions(api: Api, world: World) -> None:
    assert ids(api, "/api/v1/models", key="name") == ["nlp-detector", "vision-detector"]
    assert ids(api, "/api/v1/models", NLP, key="name") == ["nlp-detector"]
    assert ids(api, "/api/v1/models", key="name", prefix="vis") == ["vision-detector"]
    [model] = listing(api, "/api/v1/models", VISION)["items"]
    assert model == {
        "name": "vision-detector",
        "framework": "numpy",
        "dataset": "dataset:s3://vision-data:models/detector",
        "versionCount": 3,
        "firstSeen": "2026-09-29T10:30:00Z",
        "lastSeen": "2026-11-28T11:01:00Z",
    }
    versions = listing(api, "/api/v1/models/vision-detector/versions", VISION)["items"]
    assert versions == [
        {
            "name": "vision-detector",
            "version": str(seed),
            "framework": "numpy",
            "stage": "production",
            "metrics": {"accuracy": 0.9 + seed / 1000},
            "dataset": f"dataset:s3://vision-data:models/detector#sha256:model-{seed}",
            "producingRun": pipeline.train,
            "firstSeen": f"2026-{day}T10:30:00Z",
            "lastSeen": f"2026-{day}T11:01:00Z",
        }
        for seed, pipeline, day in ((1, world.v1, "11-28"), (2, world.v2, "11-21"),
                                    (3, world.v3, "09-29"))
    ]  # fmt: skip
    for token, model_name in ((NLP, "vision-detector"), (VISION, "nlp-detector"), (ADMIN, "x")):
        response = api.get(f"/api/v1/models/{model_name}/versions", token)
        assert response.status_code == 404, response.text


# -- tenancy ---------------------------------------------------------------------------------


def test_no_listing_shows_a_token_another_tenants_items(api: Api, world: World) -> None:
    vision_runs = world.runs_of(world.v1, world.v2, world.v3)
    nlp_runs = {*world.runs_of(world.n4), PUBLISH}
    asks: list[tuple[str, dict[str, Any]]] = [
        ("/api/v1/runs", {}),
        ("/api/v1/runs", {"job": "train"}),
        ("/api/v1/runs", {"owner": "alice"}),
        ("/api/v1/runs", {"param": "epochs=3"}),
        ("/api/v1/runs", {"since": "2026-11-01T00:00:00Z", "until": "2026-12-01T00:00:00Z"}),
        ("/api/v1/jobs", {}),
        ("/api/v1/datasets", {}),
        ("/api/v1/datasets", {"prefix": "models/"}),
        ("/api/v1/datasets/versions", {"namespace": SHARED, "name": "corpus"}),
        ("/api/v1/models", {}),
    ]
    for token, own, foreign, word in ((VISION, vision_runs, nlp_runs, "nlp"),
                                      (NLP, nlp_runs, vision_runs, "vision")):  # fmt: skip
        seen = 0
        for path, params in asks:
            for limit in (1, 500):
                response = api.get(path, token, limit=limit, **params)
                if response.status_code == 404:
                    assert (token, path) == (NLP, "/api/v1/datasets/versions")
                    continue
                assert response.status_code == 200, response.text
                text = json.dumps(response.json()["items"])
                seen += len(response.json()["items"])
                assert word not in text, (token, path, params, text)
                assert not any(run in text for run in foreign), (token, path, params)
        assert seen
        assert set(run_ids(api, token)) == own
    # the other tenant's model versions do not exist
    assert api.get("/api/v1/models/nlp-detector/versions", VISION).status_code == 404
    assert api.get("/api/v1/models/vision-detector/versions", NLP).status_code == 404


def test_namespace_globs_select_in_clickhouse_what_fnmatch_matches(clickhouse: Any) -> None:
    """The SQL tenancy filter and :meth:`Principal.can_read` agree, on the engine itself."""
    rng = random.Random(5)
    alphabet = "ab-*?[]!^\\.$|()"
    names = sorted(
        {"".join(rng.choice("ab-[]!^\\.$|()\n") for _ in range(rng.randint(0, 4)))
         for _ in range(300)}
        | {"", "a", "ab", "a-b", "[a]", "a\nb", "s3://vision-data", "vision", "visionary"}
    )  # fmt: skip
    patterns = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(150)
    ] + ["s3://vision-*", "vision", "*", "[a-b]*", "[!a]", "[]]", "[!]]", "[b-a]", "[!b-a]"]
    for pattern in patterns:
        for principal in (Principal("p", (pattern,), ()), Principal("q", ("b", "a*"), (pattern,))):
            sql = Sql()
            condition = readable(principal, "ns", sql)
            names_param = sql.bind(names, "Array(String)")
            rows = clickhouse.query(
                f"SELECT ns FROM (SELECT arrayJoin({names_param}) AS ns) WHERE {condition} "
                "ORDER BY ns",
                parameters=sql.params,
            ).result_rows
            expected = sorted(n for n in names if principal.can_read(n))
            assert [r[0] for r in rows] == expected, (principal, condition, sql.params)
            assert expected == sorted(
                n for n in names if any(fnmatch.fnmatchcase(n, p) for p in principal.read
                                        + principal.write)
            )  # fmt: skip
