"""The API on the real embedded ClickHouse engine, in embedded mode (ingest -> spool -> the
spool consumer in the same process -> chdb): what goes in over HTTP comes out of the lineage,
provenance, impact and run endpoints with the exact values it carried."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from api.auth import hash_token
from api.serve import ServeOptions, Service, running
from emitters.facets import facet
from tests.pipeline import Pipeline, pipeline_events

VISION, NLP, ADMIN = "vision-token", "nlp-token", "admin-token"


def write_tokens(path: Path) -> Path:
    entries = [
        {"name": "vision", "sha256": hash_token(VISION), "read": ["s3://shared"],
         "write": ["vision", "s3://vision-*"]},
        {"name": "nlp", "sha256": hash_token(NLP), "read": [], "write": ["nlp", "s3://nlp-*"]},
        {"name": "admin", "sha256": hash_token(ADMIN), "read": ["*"], "write": []},
    ]  # fmt: skip
    path.write_text(json.dumps({"tokens": entries}))
    return path


class Api:
    def __init__(self, base: str, service: Service) -> None:
        self.base = base
        self.service = service
        self.http = requests.Session()

    def get(self, path: str, token: str | None = VISION, **params: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.http.get(self.base + path, params=params, headers=headers, timeout=30)

    def post(self, path: str, body: Any, token: str | None = VISION) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
        return self.http.post(self.base + path, data=data, headers=headers, timeout=30)

    def ingest(self, pipeline: Pipeline, token: str) -> None:
        for event in pipeline.events:
            response = self.post("/api/v1/lineage", event, token)
            assert response.status_code == 201, response.text

    def wait_for_run(self, run_id: str, status: str, token: str = ADMIN) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            response = self.get(f"/api/v1/runs/{run_id}", token)
            if response.status_code == 200 and response.json()["run"]["status"] == status:
                return response.json()  # type: ignore[no-any-return]
            time.sleep(0.2)
        raise AssertionError(f"run {run_id} never reached {status}: {response.text}")


@pytest.fixture
def api(tmp_path: Path, clickhouse: Any, clickhouse_dsn: str) -> Iterator[Api]:
    options = ServeOptions(
        clickhouse_dsn=clickhouse_dsn,
        database=clickhouse.database,
        spool_dir=str(tmp_path / "spool"),
        tokens_file=str(write_tokens(tmp_path / "tokens.json")),
        poll_seconds=0.1,
    )
    with running(options) as (service, base):
        yield Api(base, service)


@pytest.fixture
def vision(api: Api) -> Pipeline:
    pipeline = pipeline_events("vision", seed=1, lr=0.01)
    api.ingest(pipeline, VISION)
    api.wait_for_run(pipeline.deploy, "COMPLETE")
    return pipeline


def test_model_provenance_carries_the_exact_values_posted(api: Api, vision: Pipeline) -> None:
    response = api.get("/api/v1/provenance", model="vision-detector", version="1", depth=10)
    assert response.status_code == 200, response.text
    body = response.json()
    model_node = vision.node("models/detector", "sha256:model-1")
    assert body["start"] == model_node
    assert body["model"]["metrics"] == {"accuracy": 0.901}
    assert body["model"]["producingRun"] == vision.train
    nodes = {n["id"]: n for n in body["nodes"]}
    train = nodes[f"run:{vision.train}"]["run"]
    assert nodes[f"run:{vision.train}"]["path"] == [model_node, f"run:{vision.train}"]
    assert train["status"] == "COMPLETE"
    assert train["parameters"] == {"lr": "0.01", "epochs": "3", "model.depth": "4"}
    assert train["code"]["gitCommit"] == f"{1:040x}"
    assert train["code"]["imageDigest"] == "sha256:" + "01" * 32
    assert train["resources"]["requested"]["gpuModel"] == "NVIDIA A100"
    assert train["resources"]["requested"]["gpuCount"] == 1
    assert train["owners"] == {"submitter": "alice", "codeAuthor": "bob", "deployer": None,
                               "team": "vision"}  # fmt: skip
    # the exact versions the training run consumed, and what produced them
    features = vision.node("features", "sha256:features-1")
    assert nodes[features]["dataset"]["version"] == "sha256:features-1"
    assert nodes[vision.node("labels/boxes", "v3")]["dataset"]["labelVersion"] == "v3"
    assert nodes[f"run:{vision.prepare}"]["path"] == [
        model_node,
        f"run:{vision.train}",
        features,
        f"run:{vision.prepare}",
    ]
    assert vision.node("raw/images", "v1") in nodes
    assert f"run:{vision.deploy}" not in nodes  # downstream, not provenance
    assert {"origin": features, "destination": f"run:{vision.train}"} in body["edges"]
    assert body["truncated"] is False


def test_impact_of_a_dataset_version_reaches_the_model_and_its_deployment(
    api: Api, vision: Pipeline
) -> None:
    response = api.get("/api/v1/impact", nodeId=vision.node("raw/images", "v1"), depth=10)
    assert response.status_code == 200, response.text
    nodes = {n["id"]: n for n in response.json()["nodes"]}
    model = nodes[vision.node("models/detector", "sha256:model-1")]
    assert model["models"] == [{"name": "vision-detector", "version": "1"}]
    assert nodes[f"run:{vision.deploy}"]["run"]["owners"]["deployer"] == "carol"
    assert nodes[f"run:{vision.deploy}"]["depth"] == 5


def test_the_lineage_graph_has_marquez_shape_and_respects_depth(api: Api, vision: Pipeline) -> None:
    body = api.get("/api/v1/lineage", nodeId="job:vision:train", depth=2).json()
    graph = {n["id"]: n for n in body["graph"]}
    assert set(graph) == {
        "job:vision:train", "dataset:s3://vision-data:features",
        "dataset:s3://vision-data:labels/boxes", "dataset:s3://vision-data:models/detector",
        "job:vision:prepare", "job:vision:deploy/detector",
    }  # fmt: skip
    train = graph["job:vision:train"]
    assert train["type"] == "JOB"
    assert {"origin": "dataset:s3://vision-data:features", "destination": "job:vision:train"} in (
        train["inEdges"]
    )
    assert train["outEdges"] == [
        {"origin": "job:vision:train", "destination": "dataset:s3://vision-data:models/detector"}
    ]
    run_level = api.get("/api/v1/lineage", nodeId=f"run:{vision.train}", depth=1).json()
    assert {n["type"] for n in run_level["graph"]} == {"RUN", "DATASET"}
    assert len(run_level["graph"]) == 4  # the run, its two inputs and its output


def test_truncation_is_said_never_silent(api: Api, vision: Pipeline) -> None:
    body = api.get("/api/v1/lineage", nodeId=f"run:{vision.train}", depth=10, maxNodes=3).json()
    assert len(body["graph"]) == 3
    assert body["truncated"] is True


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"nodeId": "table:x"}, "must start with"),
        ({"nodeId": "run:x", "depth": 51}, "depth=51 is out of range"),
        ({"nodeId": "run:x", "maxNodes": 0}, "maxNodes=0 is out of range"),
    ],
)
def test_bad_arguments_are_4xx_naming_the_problem(
    api: Api, params: dict[str, Any], message: str
) -> None:
    response = api.get("/api/v1/lineage", **params)
    assert 400 <= response.status_code < 500
    assert message in response.json()["detail"]


def test_ingest_refuses_bad_events_with_the_field_named(api: Api) -> None:
    event = pipeline_events("vision").events[0]
    bad = {**event, "run": {"runId": "not-a-uuid"}}
    response = api.post("/api/v1/lineage", bad)
    assert response.status_code == 422
    assert "run.runId" in response.json()["detail"]
    assert api.post("/api/v1/lineage", b"{not json").status_code == 400
    assert api.post("/api/v1/lineage", event, token=None).status_code == 401
    assert api.post("/api/v1/lineage", event, token="wrong").status_code == 401
    refused = api.post("/api/v1/lineage", event, token=NLP)
    assert refused.status_code == 403
    assert "'vision'" in refused.json()["detail"]
    huge = b" " * (5 * 1024 * 1024 + 1)
    assert api.post("/api/v1/lineage", huge).status_code == 413


def test_batch_ingest_reports_partial_success(api: Api) -> None:
    pipeline = pipeline_events("vision", seed=5)
    events: list[Any] = [*pipeline.events[:2], {"eventType": "START"}, 7]
    response = api.post("/api/v1/lineage/batch", events)
    assert response.status_code == 207
    body = response.json()
    assert body["accepted"] == 2
    assert [r["status"] for r in body["results"]] == [201, 201, 422, 422]
    assert body["results"][0]["eventId"]
    api.wait_for_run(pipeline.prepare, "COMPLETE")
    too_many = api.post("/api/v1/lineage/batch", [pipeline.events[0]] * 1001)
    assert too_many.status_code == 413
    assert "1000-event batch limit" in too_many.json()["detail"]


def test_health_and_readiness(api: Api) -> None:
    assert api.get("/healthz", token=None).json() == {"status": "ok"}
    ready = api.get("/readyz", token=None)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"warehouse": "ok", "bus": "ok"}


def test_a_run_id_reused_by_another_tenant_leaks_nothing_either_way(
    api: Api, vision: Pipeline
) -> None:
    """nlp posts an event under vision's training run id: each tenant sees its own events of
    that run id only -- neither vision's parameters nor its edges reach nlp, and vision's run
    is unchanged for vision."""
    intruder = pipeline_events("nlp", seed=9).events[3]  # nlp's train COMPLETE
    planted = facet("pedigree_environment", envVars={"CUDA_VISIBLE_DEVICES": "7"})
    sample = {"time": "2026-11-28T10:02:30Z", "host": "nlp-box", "cpuPercent": 12.5}
    usage = facet("pedigree_resources", samples=[sample])
    intruder = {
        **intruder,
        "run": {
            "runId": vision.train,
            "facets": {"pedigree_environment": planted, "pedigree_resources": usage},
        },
    }
    assert api.post("/api/v1/lineage", intruder, NLP).status_code == 201
    seen = api.wait_for_run(vision.train, "COMPLETE", token=NLP)
    assert seen["run"]["job"] == {"namespace": "nlp", "name": "train"}
    assert seen["run"]["parameters"] == {}
    assert seen["run"]["code"]["gitCommit"] is None
    assert {i["namespace"] for i in seen["inputs"]} == {"s3://nlp-data"}
    graph = api.get("/api/v1/lineage", NLP, nodeId=f"run:{vision.train}", depth=3).json()
    assert not [n for n in graph["graph"] if "vision" in n["id"]]
    assert "vision" not in json.dumps(graph)
    mine = api.get(f"/api/v1/runs/{vision.train}", VISION).json()
    assert mine["run"]["job"] == {"namespace": "vision", "name": "train"}
    assert mine["run"]["parameters"]["lr"] == "0.01"
    assert {i["namespace"] for i in mine["inputs"]} == {"s3://vision-data"}
    # nor can it plant variables in vision's rerun Job
    assert "CUDA_VISIBLE_DEVICES" not in api.get(f"/api/v1/runs/{vision.train}/rerun").text
    theirs = api.get(f"/api/v1/runs/{vision.train}/rerun", NLP).json()
    assert theirs["environment"]["variables"] == {"CUDA_VISIBLE_DEVICES": "7"}
    # resource usage too: each tenant sees the samples its own events carried
    hosts = {
        token: {s["host"] for s in api.get(f"/api/v1/runs/{vision.train}/resources", token)
                .json()["samples"]}
        for token in (NLP, VISION, ADMIN)
    }  # fmt: skip
    assert hosts == {NLP: {"nlp-box"}, VISION: set(), ADMIN: {"nlp-box"}}


def test_gzip_bodies_are_accepted_and_bounded(api: Api) -> None:
    import gzip

    event = pipeline_events("vision", seed=11).events[0]
    headers = {"Authorization": f"Bearer {VISION}", "Content-Type": "application/json",
               "Content-Encoding": "gzip"}  # fmt: skip
    url = api.base + "/api/v1/lineage"
    ok = api.http.post(url, data=gzip.compress(json.dumps(event).encode()), headers=headers)
    assert ok.status_code == 201, ok.text
    bomb = gzip.compress(b" " * (6 * 1024 * 1024))  # 6 MiB of spaces in a few KiB
    assert len(bomb) < 100_000
    refused = api.http.post(url, data=bomb, headers=headers)
    assert refused.status_code == 413
    assert "decompressed body is over the 5242880-byte limit" in refused.json()["detail"]
    assert api.http.post(url, data=b"not gzip", headers=headers).status_code == 400
    other = {**headers, "Content-Encoding": "br"}
    assert api.http.post(url, data=b"{}", headers=other).status_code == 415


def test_large_answers_are_compressed_for_clients_that_ask(api: Api, vision: Pipeline) -> None:
    import gzip

    url = f"{api.base}/api/v1/lineage?nodeId=run:{vision.train}&depth=5"
    auth = {"Authorization": f"Bearer {ADMIN}"}
    plain = api.http.get(url, headers={**auth, "Accept-Encoding": "identity"})
    packed = api.http.get(url, headers={**auth, "Accept-Encoding": "gzip"}, stream=True)
    wire = packed.raw.read(decode_content=False)
    assert len(plain.content) > 4096  # over the threshold: worth compressing
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert len(wire) < len(plain.content) / 3
    assert json.loads(gzip.decompress(wire)) == plain.json()


def test_graph_endpoints_need_a_model_version_or_a_node_id(api: Api, vision: Pipeline) -> None:
    node = f"run:{vision.train}"
    for path in ("/api/v1/provenance", "/api/v1/layout"):
        for params in ({}, {"model": "vision-detector"},
                       {"model": "vision-detector", "version": "1", "nodeId": node}):  # fmt: skip
            refused = api.get(path, **params)
            assert refused.status_code == 400, (path, params, refused.text)
            assert refused.json()["detail"] == "give either model and version, or nodeId"
        assert api.get(path, nodeId=node).status_code == 200
