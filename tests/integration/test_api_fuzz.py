"""Property-based tests of the whole HTTP surface: no request makes the API answer 5xx.

Against the live server (:func:`api.serve.running`: uvicorn, the spool, the in-process consumer,
chdb), over real HTTP, with a warehouse seeded with a pipeline so lookups reach data.

* ``test_no_generated_request_gets_a_5xx``: schemathesis generates requests for every operation
  of ``app.openapi()`` — valid and invalid (wrong types, out-of-range numbers, missing and
  extra parameters, hostile strings) — with about half of the parameters swapped for ids,
  depths and limits that hit the seeded data (:func:`mix_known`), and arbitrary JSON bodies
  for the ingest endpoints (they read their bodies raw, so the OpenAPI document declares none).
  Every 200 graph is checked to be well formed.
* ``test_every_lineage_answer_is_a_well_formed_graph``: small depths and node limits over the
  seeded graphs, with a token that reads everything and one that reads one tenant: at most
  ``maxNodes`` nodes, only readable ones, no edge to a node the graph does not list.
* ``test_hostile_values_in_real_events_never_break_ingest_or_reading``: hypothesis replaces one
  field of a real event (or adds one) with a hostile value — deep JSON, huge and negative
  numbers, control characters, long strings — and posts it; whatever the API accepted, the
  consumer materializes (it is not wedged) and every read endpoint can show.

Deterministic (``derandomize``, no example database) and bounded, to stay under a minute.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.api_harness import graph_shape, serve_api, wait_drained
from tests.integration.test_api import Api
from tests.pipeline import Pipeline, pipeline_events

FUZZER = "fuzz-token"
"""Reads and writes every namespace."""
LIMITED = "fuzz-nlp-token"
"""Reads and writes only nlp's: every other request uses it, to cross the tenant boundary."""
EXAMPLES = 30

HEAD_LIMIT = 16 * 1024
"""uvicorn's (h11's) bound on a request's line and headers: past it the server answers 400 and
closes the connection before the app sees anything -- and as the client is still sending, the
400 may be lost to a reset.  Either is the HTTP layer refusing, not the app failing."""


def _head_size(case: Any, base_url: str) -> int:
    request = requests.Request(
        case.method, base_url + case.formatted_path, params=case.query, headers=case.headers
    ).prepare()
    return len(request.url or "") + sum(len(k) + len(v) + 4 for k, v in request.headers.items())


"""Per operation and generation mode (positive, negative)."""


@pytest.fixture
def api(tmp_path: Path, clickhouse: Any, clickhouse_dsn: str) -> Iterator[Api]:
    tokens = {FUZZER: (["*"], ["*"]), LIMITED: ([], ["nlp", "s3://nlp-*"])}
    with serve_api(tmp_path, clickhouse, clickhouse_dsn, tokens) as api:
        yield api


@pytest.fixture
def seeded(api: Api) -> Pipeline:
    vision = pipeline_events("vision", seed=1)
    nlp = pipeline_events("nlp", seed=2)
    ids = []
    for event in [*vision.events, *nlp.events]:
        response = api.post("/api/v1/lineage", event, FUZZER)
        assert response.status_code == 201, response.text
        ids.append(response.json()["eventId"])
    wait_drained(api, ids)
    return vision


def known_values(p: Pipeline) -> dict[str, list[Any]]:
    """Parameter name -> values that hit the seeded data."""
    return {
        "nodeId": [
            f"run:{p.train}", f"run:{p.deploy}", "job:vision:train", "job:nlp:prepare",
            p.node("features", p.features), p.node("models/detector", "sha256:model-1"),
            f"dataset:{p.data_ns}:features", f"dataset:{p.data_ns}:raw/images#",
        ],
        "run_id": [p.prepare, p.train, p.deploy, str(uuid.UUID(int=2000 + 1))],
        "model": [p.model, "nlp-detector"],
        "version": ["1"],
        "depth": [0, 1, 2, 50],
        "maxNodes": [1, 2, 3, 5000],
        # the listings' filters and the rerun's format
        "namespace": ["vision", "nlp", p.data_ns], "name": [p.model, "features"],
        "job": ["train"], "prefix": ["train", "vision", "models/"], "owner": ["alice", "vision"],
        "status": ["COMPLETE", "START"], "commit": [f"{1:040x}", f"{1:040x}"[:7]],
        "imageDigest": ["sha256:" + "01" * 32], "limit": [1, 2, 500], "format": ["json", "k8s"],
    }  # fmt: skip


def with_bodies(openapi: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with JSON request bodies on the ingest operations (they read
    their bodies raw, so FastAPI declares none): any JSON value for one event, an array for
    the batch."""
    document = copy.deepcopy(openapi)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "post" and path.startswith("/api/v1/lineage"):
                body = {} if path == "/api/v1/lineage" else {"type": "array", "maxItems": 5}
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": body}},
                }
    return document


def mix_known(case: Any, data: st.DataObject, known: dict[str, list[Any]]) -> None:
    """Swap about half of the generated parameters that have known values for one of them
    (and add absent optional query parameters that have some), so lookups hit the seeded data.

    (Mixing them into the schema as ``anyOf: [{enum: known}, declared]`` does not work: the
    schema is simplified to the declared type, and the enum is never drawn.)"""
    declared = {p["name"] for p in case.operation.definition.raw.get("parameters", [])}
    for container in (case.path_parameters, case.query):
        if container is None:
            continue
        for name in list(container):
            if name in known and data.draw(st.booleans(), label=f"known {name}?"):
                container[name] = data.draw(st.sampled_from(known[name]), label=name)
    if case.query is not None:
        for name in sorted(declared - set(case.query)):
            if name in known and data.draw(st.booleans(), label=f"add {name}?"):
                case.query[name] = data.draw(st.sampled_from(known[name]), label=name)


def test_no_generated_request_gets_a_5xx(api: Api, seeded: Pipeline) -> None:
    """Each operation, in schemathesis' positive and negative modes, ``EXAMPLES`` requests."""
    document = with_bodies(api.service.app.openapi())
    known = known_values(seeded)
    schema = schemathesis.openapi.from_dict(document)
    calls = itertools.count()
    tried: list[tuple[str, str]] = []
    unnegatable: set[tuple[str, str]] = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        tried.append((operation.method.upper(), operation.path))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
            def call(case: Any, data: st.DataObject) -> None:
                mix_known(case, data, known)
                token = LIMITED if next(calls) % 2 else FUZZER
                auth = {"Authorization": f"Bearer {token}"}
                if _head_size(case, api.base) > HEAD_LIMIT - 1024:
                    try:
                        refused = case.call(base_url=api.base, headers=auth, timeout=30)
                    except requests.RequestException:
                        return  # reset while sending: the HTTP layer refused it
                    assert 400 <= refused.status_code < 500, refused.text[:300]
                    return
                response = case.call(base_url=api.base, headers=auth, timeout=30)
                assert response.status_code < 500, (
                    f"{case.method} {case.formatted_path} {case.query} {case.body!r:.300} -> "
                    f"{response.status_code}: {response.text[:500]}"
                )
                lineage = case.method == "GET" and case.path == "/api/v1/lineage"
                if lineage and response.status_code == 200:
                    body = response.json()
                    nodes, _edges = graph_shape(body)
                    assert len(nodes) <= body["maxNodes"]

            try:
                call()
            except Unsatisfiable:
                if mode is GenerationMode.POSITIVE:
                    raise
                unnegatable.add((operation.method.upper(), operation.path))
    everything = {(m.upper(), p) for p, operations in document["paths"].items() for m in operations}
    assert set(tried) == everything
    # Negative cases exist wherever there is something to get wrong: a parameter, a typed body.
    fixed = {
        (m.upper(), p)
        for p, operations in document["paths"].items()
        for m, op in operations.items()
        if not op.get("parameters") and _body_schema(op) in (None, {})
    }
    assert unnegatable <= fixed, unnegatable - fixed


def _body_schema(operation: dict[str, Any]) -> Any:
    content = operation.get("requestBody", {}).get("content", {})
    return content["application/json"]["schema"] if content else None


def test_every_lineage_answer_is_a_well_formed_graph(api: Api, seeded: Pipeline) -> None:
    """Small limits over the seeded graphs, with both tokens: every answer lists at most
    ``maxNodes`` nodes, only ones the token may read, and no edge to a node it does not list."""
    known = known_values(seeded)
    vision_runs = {f"run:{seeded.train}", f"run:{seeded.deploy}"}
    nlp_nodes = [
        "job:nlp:train",
        "dataset:s3://nlp-data:features",
        "run:" + str(uuid.UUID(int=2001)),
    ]

    @settings(max_examples=60, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(
        node_id=st.sampled_from(known["nodeId"] + nlp_nodes),
        depth=st.integers(0, 4),
        max_nodes=st.integers(1, 6),
        token=st.sampled_from([FUZZER, LIMITED]),
    )
    def check(node_id: str, depth: int, max_nodes: int, token: str) -> None:
        response = api.get("/api/v1/lineage", token, nodeId=node_id, depth=depth,
                           maxNodes=max_nodes)  # fmt: skip
        visions = "vision" in node_id or node_id in vision_runs
        if token == LIMITED and visions:
            assert response.status_code == 404, response.text
            return
        assert response.status_code == 200, response.text
        body = response.json()
        nodes, _edges = graph_shape(body)
        assert node_id in nodes
        assert len(nodes) <= max_nodes
        if token == LIMITED:
            assert not [n for n in nodes if "vision" in n]

    check()


# ---------------------------------------------------------------------------------------------
# Hostile values inside real events

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**40, -1, 0])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e308, -0.0, 5e-324])
    | st.text(max_size=40)
    | st.sampled_from(["", "\x00", "\u202e", "'; DROP TABLE runs; --", "{x:String}", "../../x"])
    | st.text(alphabet=st.characters(codec="utf-8"), min_size=5000, max_size=5000)
)
HOSTILE = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
) | st.sampled_from([[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]], {"a": {"b": {"c": {"d": {}}}}}])


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside a JSON document (the root excluded)."""
    items: Any = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


def _mutated(event: dict[str, Any], path: tuple[Any, ...], value: Any, add: bool) -> dict[str, Any]:
    copied = copy.deepcopy(event)
    parent: Any = copied
    for key in path[:-1]:
        parent = parent[key]
    if add and isinstance(parent[path[-1]], dict):
        parent[path[-1]]["hostile"] = value
    else:
        parent[path[-1]] = value
    return copied


def test_hostile_values_in_real_events_never_break_ingest_or_reading(
    api: Api, seeded: Pipeline
) -> None:
    start_train, complete_train = seeded.events[2], seeded.events[3]
    templates = [start_train, complete_train]
    paths = [(i, p) for i, t in enumerate(templates) for p in _paths(t)]
    accepted: list[str] = []
    counter = itertools.count(1)

    @settings(max_examples=60, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(where=st.sampled_from(paths), value=HOSTILE, add=st.booleans())
    def post(where: tuple[int, tuple[Any, ...]], value: Any, add: bool) -> None:
        index, path = where
        event = copy.deepcopy(templates[index])
        event["run"]["runId"] = str(uuid.UUID(int=10**6 + next(counter)))
        event = _mutated(event, path, value, add)
        response = api.post("/api/v1/lineage", event, FUZZER)
        assert response.status_code < 500, (path, value, response.text[:500])
        assert response.status_code in (201, 400, 413, 422), response.text[:500]
        if response.status_code == 201:
            accepted.append(response.json()["eventId"])
            run = event.get("run")
            if isinstance(run, dict) and isinstance(run.get("runId"), str):
                runs.append(run["runId"])

    runs: list[str] = []
    post()
    assert accepted  # most mutations are still valid events
    wait_drained(api, accepted)  # every accepted event is stored: none wedged the consumer
    spool = api.service.options.spool_dir
    assert spool is not None
    rejected = Path(spool) / "rejected"
    # Accepted means checked as the consumer checks: it set none of them aside.
    assert not (rejected.exists() and list(rejected.iterdir()))
    for run_id in sorted(set(runs)):
        for path, params in (
            (f"/api/v1/runs/{run_id}", {}),
            (f"/api/v1/runs/{run_id}/resources", {}),
            (f"/api/v1/runs/{run_id}/rerun", {}),
            (f"/api/v1/runs/{run_id}/rerun", {"format": "k8s"}),
            ("/api/v1/lineage", {"nodeId": f"run:{run_id}", "depth": 2}),
            ("/api/v1/provenance", {"nodeId": f"run:{run_id}", "depth": 2}),
            ("/api/v1/impact", {"nodeId": f"run:{run_id}", "depth": 2}),
        ):
            response = api.get(path, FUZZER, **params)
            assert response.status_code < 500, (path, params, response.text[:500])
    for node_id in ("job:vision:train", f"dataset:{seeded.data_ns}:features"):
        response = api.get("/api/v1/lineage", FUZZER, nodeId=node_id, depth=3)
        assert response.status_code == 200, response.text[:500]
        graph_shape(response.json())
