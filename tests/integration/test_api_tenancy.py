"""Tenancy over real HTTP and the real engine: a token sees nothing of namespaces it may not
read, on every GET endpoint, and a graph walk stops at the boundary.

Two teams share one warehouse.  *vision* (job namespace ``vision``, data in
``s3://vision-data``) runs the pipeline of :mod:`tests.pipeline` (with resource samples) and
publishes a corpus and a model into ``s3://shared``; *nlp* (``nlp``, ``s3://nlp-data``) runs
the same pipeline shape, its training run also reading one exact version of vision's
features, and reads the shared corpus.  Both tokens may read ``s3://shared``; neither may read
the other's namespaces.

:data:`CASES` says, for every GET path of the OpenAPI document, how to ask it for *vision's*
things (:data:`Kind`: by id, listing, public).  The test of that table enumerates the paths
from ``app.openapi()``, so an endpoint added without a case fails it.  "Nothing of vision's"
is checked as text: none of vision's namespaces, run ids, versions, commit, image digest or
host anywhere in the body, once the values the caller sent itself (a 404 names the id it was
asked for) are blanked out.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest

from emitters.facets import facet
from tests.api_harness import graph_shape, serve_api, wait_drained
from tests.integration.test_api import ADMIN, NLP, VISION, Api
from tests.pipeline import PRODUCER, RUN_EVENT, Pipeline, pipeline_events

SHARED = "s3://shared"
FEATURES_1 = "sha256:features-1"
"""The version of vision's features that nlp's training run reads."""


@dataclass(frozen=True)
class World:
    vision: Pipeline
    nlp: Pipeline
    publish: str
    """vision's run that wrote ``s3://shared:corpus#2026-11``."""
    read_corpus: str
    """nlp's run that read it."""

    @property
    def vision_secrets(self) -> list[str]:
        """Strings that identify vision's things: none may reach an nlp caller."""
        v = self.vision
        return [
            "vision",  # the job namespace, s3://vision-data, the model name, the team owner
            v.prepare, v.train, v.deploy, self.publish,
            v.features, "sha256:model-1", f"{1:040x}", "sha256:" + "01" * 32,
            "vision-gpu-01",
        ]  # fmt: skip


def _event(kind: str, time: str, run_id: str, namespace: str, job: str, **io: Any) -> Any:
    return {
        "eventType": kind,
        "eventTime": time,
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT,
        "run": {"runId": run_id, "facets": io.pop("run_facets", {})},
        "job": {"namespace": namespace, "name": job},
        "inputs": io.get("inputs", []),
        "outputs": io.get("outputs", []),
    }


def _version(value: str) -> dict[str, Any]:
    return {
        "_producer": PRODUCER,
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json",
        "datasetVersion": value,
    }


def _corpus() -> dict[str, Any]:
    return {"namespace": SHARED, "name": "corpus", "facets": {"version": _version("2026-11")}}


def _embedder() -> dict[str, Any]:
    """A model vision registers in the shared namespace."""
    model = facet("pedigree_model", name="shared-embedder", version="1", framework="numpy")
    facets = {"version": _version("sha256:embedder-1"), "pedigree_model": model}
    return {"namespace": SHARED, "name": "models/embedder", "facets": facets}


def _samples() -> dict[str, Any]:
    sample = {"time": "2026-11-28T10:10:00Z", "host": "vision-gpu-01", "device": "gpu0",
              "cpuPercent": 87.5, "rssBytes": 2**30, "gpuUtilPercent": 99.0}  # fmt: skip
    return {"pedigree_resources": facet("pedigree_resources", samples=[sample])}


def _ingest(api: Api, events: list[dict[str, Any]], token: str) -> list[str]:
    ids = []
    for event in events:
        response = api.post("/api/v1/lineage", event, token)
        assert response.status_code == 201, response.text
        ids.append(response.json()["eventId"])
    return ids


@pytest.fixture
def api(tmp_path: Path, clickhouse: Any, clickhouse_dsn: str) -> Iterator[Api]:
    tokens = {
        VISION: ([SHARED], ["vision", "s3://vision-*"]),
        NLP: ([SHARED], ["nlp", "s3://nlp-*"]),
        ADMIN: (["*"], []),
    }
    with serve_api(tmp_path, clickhouse, clickhouse_dsn, tokens) as api:
        yield api


@pytest.fixture
def world(api: Api) -> World:
    vision = pipeline_events("vision", seed=1)
    their_features = {"namespace": "s3://vision-data", "name": "features",
                      "facets": {"version": _version(FEATURES_1)}}  # fmt: skip
    nlp = pipeline_events("nlp", seed=2, extra_input=their_features)
    publish, read_corpus = str(uuid.UUID(int=9001)), str(uuid.UUID(int=9002))
    vision_events = [
        *vision.events,
        _event("RUNNING", "2026-11-28T10:10:00Z", vision.train, "vision", "train",
               run_facets=_samples()),
        _event("COMPLETE", "2026-11-28T09:00:00Z", publish, "vision", "publish-corpus",
               outputs=[_corpus(), _embedder()]),
    ]  # fmt: skip
    nlp_events = [
        *nlp.events,
        _event("COMPLETE", "2026-11-28T12:00:00Z", read_corpus, "nlp", "tokenize",
               inputs=[_corpus()]),
    ]  # fmt: skip
    ids = _ingest(api, vision_events, VISION) + _ingest(api, nlp_events, NLP)
    wait_drained(api, ids)
    return World(vision, nlp, publish, read_corpus)


# ---------------------------------------------------------------------------------------------
# Every GET endpoint, asked for vision's things with nlp's token

Kind = Literal["public", "by id", "listing"]
"""How an endpoint answers a token for another tenant's things.

* ``by id``: the request names one of vision's things.  Vision's token gets 200 (the thing is
  there); nlp's 403 or 404, with nothing of vision's in the body, and the very answer a
  never-seen id gets (no existence oracle).
* ``listing``: the request lists, maybe filtered by vision's namespace, ids or values.  Vision's
  token gets 200 showing vision's things (there is something to hide); nlp's 200 (or 403/404)
  showing none of them.
* ``public``: no tenant data at all (health): 200 for anyone, nothing of vision's.
"""


@dataclass(frozen=True)
class Ask:
    """One request: how the endpoint should treat it, path and query parameters."""

    kind: Kind
    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)

    def url(self, template: str) -> str:
        return template.format(**self.path)

    def values(self) -> list[str]:
        return [str(v) for v in (*self.path.values(), *self.query.values())]


def by_id(**query: Any) -> Ask:
    return Ask("by id", query=query)


def listing(**query: Any) -> Ask:
    return Ask("listing", query=query)


CASES: dict[str, Callable[[World], list[Ask]]] = {
    "/healthz": lambda _w: [Ask("public")],
    "/readyz": lambda _w: [Ask("public")],
    "/api/v1/lineage": lambda w: [
        by_id(nodeId=f"run:{w.vision.train}"),
        by_id(nodeId=w.vision.node("features", w.vision.features)),
        by_id(nodeId="job:vision:train"),
        by_id(nodeId=f"dataset:{w.vision.data_ns}:features"),
    ],
    "/api/v1/provenance": lambda w: [
        by_id(model=w.vision.model, version="1"),
        by_id(nodeId=f"run:{w.vision.train}"),
        by_id(nodeId=w.vision.node("models/detector", "sha256:model-1")),
    ],
    "/api/v1/layout": lambda w: [
        by_id(model=w.vision.model, version="1"),
        by_id(nodeId=f"run:{w.vision.train}"),
        by_id(nodeId=w.vision.node("raw/images", "v1"), direction="downstream"),
    ],
    "/api/v1/impact": lambda w: [
        by_id(nodeId=w.vision.node("raw/images", "v1")),
        by_id(nodeId=f"run:{w.vision.prepare}"),
    ],
    "/api/v1/runs/{run_id}": lambda w: [
        Ask("by id", path={"run_id": w.vision.train}),
        Ask("by id", path={"run_id": w.publish}),
    ],
    "/api/v1/runs/{run_id}/resources": lambda w: [
        Ask("by id", path={"run_id": w.vision.train}, query={"limit": 10}),
    ],
    "/api/v1/runs/{run_id}/rerun": lambda w: [
        Ask("by id", path={"run_id": w.vision.train}),
        Ask("by id", path={"run_id": w.vision.train}, query={"format": "k8s"}),
    ],
    "/api/v1/runs": lambda w: [
        listing(),
        listing(namespace="vision"),
        listing(job="train"),
        listing(commit=f"{1:040x}"),
        listing(imageDigest="sha256:" + "01" * 32),
        listing(owner="vision"),
        listing(param="lr=0.01"),
    ],
    "/api/v1/jobs": lambda _w: [listing(), listing(namespace="vision"), listing(prefix="train")],
    "/api/v1/datasets": lambda w: [
        listing(),
        listing(namespace=w.vision.data_ns),
        listing(prefix="features"),
    ],
    "/api/v1/datasets/versions": lambda w: [
        by_id(namespace=w.vision.data_ns, name="features"),
        listing(namespace=SHARED, name="corpus"),  # nlp reads it: not who wrote it
    ],
    "/api/v1/models": lambda _w: [listing(), listing(prefix="vision")],
    "/api/v1/models/{name}/versions": lambda w: [
        Ask("by id", path={"name": w.vision.model}),
        Ask("listing", path={"name": "shared-embedder"}),  # nlp reads it: not who made it
    ],
}
"""Every GET path of the API -> how to ask it for vision's things (see :data:`Kind`).  Paths
the running API does not have are not asked (cases may be written before an endpoint lands)."""


def get_paths(api: Api) -> set[str]:
    schema = api.service.app.openapi()
    return {path for path, operations in schema["paths"].items() if "get" in operations}


def test_every_get_endpoint_has_a_cross_tenant_case(api: Api) -> None:
    missing = sorted(get_paths(api) - set(CASES))
    assert not missing, (
        f"GET endpoints without a cross-tenant case in {__name__}.CASES: {missing}. Add one: "
        "how to ask the endpoint for another tenant's things (see Kind)."
    )


def leaks(body: str, secrets: list[str], asked: list[str]) -> list[str]:
    """The secrets in ``body`` once what the caller itself sent (echoed in a 404's detail or a
    422's ``input``) is blanked out."""
    body = _blank(body, asked)
    lowered = body.lower()
    return [s for s in secrets if s.lower() in lowered]


def _blank(body: str, asked: list[str]) -> str:
    for value in sorted(asked, key=len, reverse=True):
        body = body.replace(value, "<asked>").replace(json.dumps(value)[1:-1], "<asked>")
    return body


def _ghost(w: World, ask: Ask) -> Ask:
    """The same request for things nobody ever wrote (vision's ids swapped for unknown ones)."""
    swaps = {r: str(uuid.uuid5(uuid.NAMESPACE_URL, r)) for r in w.vision_secrets[1:5]}

    def swap(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for old, new in swaps.items():
            value = value.replace(old, new)
        return value.replace("vision", "ghost")

    return Ask(
        ask.kind,
        path={k: swap(v) for k, v in ask.path.items()},
        query={k: swap(v) for k, v in ask.query.items()},
    )


def _check(api: Api, world: World, template: str, ask: Ask) -> list[str]:
    """What is wrong with the answers to ``ask`` (see :data:`Kind`)."""
    where = f"GET {ask.url(template)} {ask.query}"
    problems = []
    theirs = api.get(ask.url(template), NLP, **ask.query)
    found = leaks(theirs.text, world.vision_secrets, ask.values())
    if found:
        problems.append(f"{where}: nlp's answer ({theirs.status_code}) shows {found}")
    if ask.kind == "public":
        if theirs.status_code != 200:
            problems.append(f"{where}: {theirs.status_code} for a public endpoint")
        return problems
    owner = api.get(ask.url(template), VISION, **ask.query)
    if owner.status_code != 200:
        problems.append(f"{where}: vision's own token gets {owner.status_code}: {owner.text}")
    if ask.kind == "listing":
        if not leaks(owner.text, world.vision_secrets, []):
            problems.append(f"{where}: shows vision nothing of its own: the ask tests nothing")
        if theirs.status_code not in (200, 403, 404):
            problems.append(f"{where}: nlp gets {theirs.status_code}")
        return problems
    if theirs.status_code not in (403, 404):
        problems.append(f"{where}: nlp gets {theirs.status_code}, not 403/404")
    ghost = _ghost(world, ask)
    unknown = api.get(ghost.url(template), NLP, **ghost.query)
    if (unknown.status_code, _blank(unknown.text, ghost.values())) != (
        theirs.status_code,
        _blank(theirs.text, ask.values()),
    ):
        problems.append(
            f"{where}: answers otherwise than for a never-seen id ({theirs.status_code} "
            f"{theirs.text[:200]} vs {unknown.status_code} {unknown.text[:200]})"
        )
    return problems


def test_no_get_endpoint_shows_one_tenant_anything_of_another(api: Api, world: World) -> None:
    problems: list[str] = []
    asked = 0
    for template in sorted(get_paths(api)):
        cases = CASES.get(template)
        if cases is None:
            problems.append(f"{template}: no case (see test_every_get_endpoint_has_a_case)")
            continue
        for ask in cases(world):
            problems += _check(api, world, template, ask)
            asked += 1
    assert not problems, "\n".join(problems)
    assert asked >= 20


# ---------------------------------------------------------------------------------------------
# Graph walks stop at the boundary


def _no_vision(body: dict[str, Any], world: World) -> None:
    found = leaks(json.dumps(body), world.vision_secrets, [])
    assert not found, f"vision's {found} shown to nlp: {json.dumps(body)[:2000]}"


def test_run_level_walk_from_nlps_run_stops_before_visions_dataset_version(
    api: Api, world: World
) -> None:
    nlp, vision = world.nlp, world.vision
    theirs_features = vision.node("features", FEATURES_1)
    # The admin sees that nlp's training run read vision's features, produced by vision.
    admin = api.get("/api/v1/lineage", ADMIN, nodeId=f"run:{nlp.train}", depth=3).json()
    nodes, edges = graph_shape(admin)
    assert (theirs_features, f"run:{nlp.train}") in edges
    assert (f"run:{vision.prepare}", theirs_features) in edges
    assert admin["tenantBoundary"]["hiddenEdges"] == 0

    body = api.get("/api/v1/lineage", NLP, nodeId=f"run:{nlp.train}", depth=3).json()
    nodes, edges = graph_shape(body)
    assert body["tenantBoundary"]["hiddenEdges"] == 1  # features -> nlp's train, and no further
    assert theirs_features not in nodes
    assert nlp.node("features", nlp.features) in nodes  # its own upstream is all there
    assert f"run:{nlp.prepare}" in nodes
    _no_vision(body, world)


def test_job_level_walk_from_nlps_job_stops_before_visions_dataset(api: Api, world: World) -> None:
    admin = api.get("/api/v1/lineage", ADMIN, nodeId="job:nlp:train", depth=2).json()
    _nodes, edges = graph_shape(admin)
    assert ("dataset:s3://vision-data:features", "job:nlp:train") in edges

    body = api.get("/api/v1/lineage", NLP, nodeId="job:nlp:train", depth=2).json()
    nodes, edges = graph_shape(body)
    assert body["tenantBoundary"]["hiddenEdges"] >= 1
    assert ("dataset:s3://nlp-data:features", "job:nlp:train") in edges
    assert "job:nlp:prepare" in nodes
    _no_vision(body, world)


def test_provenance_run_detail_and_rerun_of_nlps_run_hide_visions_input(
    api: Api, world: World
) -> None:
    nlp = world.nlp
    body = api.get("/api/v1/provenance", NLP, model="nlp-detector", version="1", depth=10).json()
    assert body["tenantBoundary"]["hiddenEdges"] == 1
    assert {n["id"] for n in body["nodes"]} >= {f"run:{nlp.train}", f"run:{nlp.prepare}"}
    _no_vision(body, world)

    detail = api.get(f"/api/v1/runs/{nlp.train}", NLP)
    assert detail.status_code == 200
    assert [i["id"] for i in detail.json()["inputs"]] == [
        nlp.node("features", nlp.features),
        nlp.node("labels/boxes", "v3"),
    ]
    _no_vision(detail.json(), world)
    admin = api.get(f"/api/v1/runs/{nlp.train}", ADMIN).json()
    assert world.vision.node("features", FEATURES_1) in [i["id"] for i in admin["inputs"]]

    for params in ({}, {"format": "k8s"}):
        rerun = api.get(f"/api/v1/runs/{nlp.train}/rerun", NLP, **params)
        assert rerun.status_code == 200, rerun.text
        _no_vision(rerun.json(), world)
    spec = api.get(f"/api/v1/runs/{nlp.train}/rerun", NLP).json()
    assert [i["name"] for i in spec["inputs"]] == ["features", "labels/boxes"]
    assert spec["reproducible"] is False  # an input it may not see: said, not silently dropped


def test_a_shared_dataset_shows_neither_who_wrote_it_nor_their_run(api: Api, world: World) -> None:
    """Both teams read ``s3://shared``; vision wrote the corpus and a model there, nlp read the
    corpus.  nlp sees both, not vision's run that produced them: not even its id (a dataset
    version's ``producedBy``, a model's ``producingRun``)."""
    corpus = f"dataset:{SHARED}:corpus#2026-11"
    admin = api.get("/api/v1/lineage", ADMIN, nodeId=f"run:{world.read_corpus}").json()
    nodes, _edges = graph_shape(admin)
    assert f"run:{world.publish}" in nodes
    embedder = f"dataset:{SHARED}:models/embedder#sha256:embedder-1"
    for token, visible in (
        (NLP, {corpus, f"run:{world.read_corpus}"}),
        (VISION, {corpus, f"run:{world.publish}", embedder}),
    ):
        body = api.get("/api/v1/lineage", token, nodeId=corpus).json()
        nodes, _edges = graph_shape(body)
        assert set(nodes) == visible, token
        assert body["tenantBoundary"]["hiddenEdges"] == 1  # the other team's run
    for path, params in (
        ("/api/v1/lineage", {"nodeId": f"run:{world.read_corpus}"}),
        ("/api/v1/lineage", {"nodeId": corpus}),
        ("/api/v1/lineage", {"nodeId": f"dataset:{SHARED}:corpus"}),
        ("/api/v1/provenance", {"nodeId": corpus}),
        ("/api/v1/impact", {"nodeId": corpus}),
        ("/api/v1/provenance", {"model": "shared-embedder", "version": "1"}),
        ("/api/v1/provenance", {"nodeId": embedder}),
        (f"/api/v1/runs/{world.read_corpus}", {}),
    ):
        response = api.get(path, NLP, **params)
        assert response.status_code == 200, (path, params, response.text)
        _no_vision(response.json(), world)
