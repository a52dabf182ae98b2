"""Lineage out: the Marquez-shaped graph, model provenance, downstream impact, one run.

Run-level graph (start ``run:<id>`` or ``dataset:<ns>:<name>#<version>``): runs and the exact
dataset versions they read and wrote.  Job-level graph (start ``job:<ns>:<name>`` or
``dataset:<ns>:<name>``): jobs and datasets over all their runs, as Marquez draws it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from api.auth import Principal
from api.catalog_store import run_scope
from api.context import ApiContext, Caller, Context, bounded, not_found
from api.graph import Direction, Edge, Traversal, traverse
from api.nodes import NodeRef, parse_node_id
from api.views import dataset_version_view, node_type, run_view

__all__ = [
    "Boundary",
    "Depth",
    "EdgeModel",
    "MaxNodes",
    "ModelName",
    "ModelVersion",
    "Provenance",
    "ProvenanceNode",
    "StartNode",
    "graph_limits",
    "provenance_answer",
    "router",
    "start_walk",
    "walk_from",
]

router = APIRouter(tags=["lineage"])

# The query parameters the graph endpoints share (here and in api.routes_layout)
ModelName = Annotated[str | None, Query(description="model name (with version)", max_length=1024)]
ModelVersion = Annotated[str | None, Query(description="model version", max_length=1024)]
StartNode = Annotated[
    str | None,
    Query(description="or: dataset:NS:NAME#VERSION or run:RUN_ID", max_length=4096),
]
Depth = Annotated[int | None, Query(description="edges from the start node (default 5)")]
MaxNodes = Annotated[int | None, Query(description="nodes at most (default 500)")]


class EdgeModel(BaseModel):
    origin: str
    destination: str


class GraphNode(BaseModel):
    id: str
    type: Literal["JOB", "DATASET", "RUN"]
    data: dict[str, Any]
    inEdges: list[EdgeModel]
    outEdges: list[EdgeModel]


class Boundary(BaseModel):
    hiddenEdges: int = Field(
        description="edges that lead to nodes outside your token's namespaces; the traversal "
        "stopped there and shows nothing of those nodes"
    )


class LineageGraph(BaseModel):
    graph: list[GraphNode]
    truncated: bool = Field(description="maxNodes was reached: some reachable nodes are left out")
    depth: int
    maxNodes: int
    tenantBoundary: Boundary


class ProvenanceNode(BaseModel):
    id: str
    kind: Literal["run", "dataset_version"]
    depth: int
    path: list[str] = Field(description="node ids from the start node to this one")
    run: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None
    models: list[dict[str, str]] | None = None


class Provenance(BaseModel):
    start: str
    direction: Literal["upstream", "downstream"]
    model: dict[str, Any] | None = None
    nodes: list[ProvenanceNode]
    edges: list[EdgeModel]
    truncated: bool
    depth: int
    maxNodes: int
    tenantBoundary: Boundary


def _readable(caller: Principal) -> Any:
    return lambda node: caller.can_read(node.namespace)


def graph_limits(ctx: ApiContext, depth: int | None, max_nodes: int | None) -> tuple[int, int]:
    """A graph request's depth and maxNodes, with the server's defaults; 422 past its limits."""
    limits = ctx.limits
    return (
        bounded("depth", depth, limits.default_depth, limits.max_depth),
        bounded("maxNodes", max_nodes, limits.default_nodes, limits.max_nodes, minimum=1),
    )


def _parse(node_id: str) -> NodeRef:
    try:
        return parse_node_id(node_id)
    except ValueError as err:
        raise HTTPException(400, f"nodeId: {err}") from None


def _resolve(ctx: ApiContext, caller: Principal, node: NodeRef) -> NodeRef:
    """The start node with its namespace (a run's is its job's), or 404."""
    if node.kind == "run":
        state = ctx.warehouse.runs([node.name], scope=run_scope(caller)).get(node.name)
        if state is None:
            raise not_found(node)
        node = NodeRef.run(node.name, state["job_namespace"])
    if not caller.can_read(node.namespace):
        raise not_found(node)
    return node


def _walk(
    ctx: ApiContext,
    *,
    caller: Principal,
    start: NodeRef,
    direction: Direction,
    depth: int,
    max_nodes: int,
) -> Traversal:
    wh = ctx.warehouse
    if start.versioned:

        def up(frontier: Sequence[NodeRef], limit: int) -> list[Edge]:
            runs = [n for n in frontier if n.kind == "run"]
            versions = [n for n in frontier if n.kind == "dataset"]
            return wh.inputs_of(runs, limit) + wh.producers_of(versions, limit)

        def down(frontier: Sequence[NodeRef], limit: int) -> list[Edge]:
            runs = [n for n in frontier if n.kind == "run"]
            versions = [n for n in frontier if n.kind == "dataset"]
            return wh.outputs_of(runs, limit) + wh.consumers_of(versions, limit)

        return traverse(
            start,
            upstream=up,
            downstream=down,
            direction=direction,
            depth=depth,
            max_nodes=max_nodes,
            readable=_readable(caller),
        )

    def jobs_and_datasets(frontier: Sequence[NodeRef], limit: int) -> list[Edge]:
        jobs = [n for n in frontier if n.kind == "job"]
        datasets = [n for n in frontier if n.kind == "dataset"]
        return wh.job_io(jobs, limit) + wh.dataset_jobs(datasets, limit)

    # job_io and dataset_jobs answer both directions at once; traverse() needs the edges that
    # end at (upstream) or start at (downstream) the frontier, or it takes the node at the
    # far end of an edge for the one reached and keeps edges to hidden or dropped nodes.
    def into(frontier: Sequence[NodeRef], limit: int) -> list[Edge]:
        ids = {n.id for n in frontier}
        return [e for e in jobs_and_datasets(frontier, limit) if e.destination.id in ids]

    def out_of(frontier: Sequence[NodeRef], limit: int) -> list[Edge]:
        ids = {n.id for n in frontier}
        return [e for e in jobs_and_datasets(frontier, limit) if e.origin.id in ids]

    return traverse(
        start,
        upstream=into,
        downstream=out_of,
        direction=direction,
        depth=depth,
        max_nodes=max_nodes,
        readable=_readable(caller),
    )


def _details(ctx: ApiContext, walk: Traversal, caller: Principal) -> dict[str, dict[str, Any]]:
    """Per node id: the run's state or the dataset version's details (one query per kind)."""
    nodes = list(walk.nodes.values())
    scope = run_scope(caller)
    run_ids = {n.name for n in nodes if n.kind == "run"}
    runs = ctx.warehouse.runs(run_ids, scope=scope)
    versions = [n for n in nodes if n.kind == "dataset" and n.version is not None]
    # the producers among the walked runs need no visibility query: their states tell it
    visible = {run_id: run_id in runs for run_id in run_ids}
    facts = ctx.warehouse.dataset_versions(versions, scope=scope, visible=visible)
    out: dict[str, dict[str, Any]] = {}
    for node in nodes:
        if node.kind == "run":
            state = runs.get(node.name)
            out[node.id] = run_view(state) if state else {"runId": node.name}
        elif node.kind == "dataset" and node.version is not None:
            key = (node.namespace, node.name, node.version)
            out[node.id] = dataset_version_view(node, facts.get(key))
        else:
            out[node.id] = {"namespace": node.namespace, "name": node.name}
    return out


def _graph(
    ctx: ApiContext, walk: Traversal, depth: int, max_nodes: int, caller: Principal
) -> LineageGraph:
    details = _details(ctx, walk, caller)
    incoming: dict[str, list[EdgeModel]] = {}
    outgoing: dict[str, list[EdgeModel]] = {}
    for origin, destination in sorted(walk.edges):
        edge = EdgeModel(origin=origin, destination=destination)
        outgoing.setdefault(origin, []).append(edge)
        incoming.setdefault(destination, []).append(edge)
    graph = [
        GraphNode(
            id=node_id,
            type=node_type(node),  # type: ignore[arg-type]
            data={"type": node_type(node), **details[node_id]},
            inEdges=incoming.get(node_id, []),
            outEdges=outgoing.get(node_id, []),
        )
        for node_id, node in walk.nodes.items()
    ]
    return LineageGraph(
        graph=graph,
        truncated=walk.truncated,
        depth=depth,
        maxNodes=max_nodes,
        tenantBoundary=Boundary(hiddenEdges=walk.hidden_edges),
    )


@router.get(
    "/api/v1/lineage",
    response_model=LineageGraph,
    summary="The lineage graph around a node, in Marquez's response shape",
    responses={400: {"description": "bad nodeId"}, 404: {"description": "unknown node"}},
)
async def lineage(
    *,
    ctx: Context,
    caller: Caller,
    nodeId: str = Query(
        description="dataset:NS:NAME[#VERSION], job:NS:NAME or run:RUN_ID", max_length=4096
    ),
    depth: Depth = None,
    maxNodes: MaxNodes = None,
) -> LineageGraph:
    depth_, nodes_ = graph_limits(ctx, depth, maxNodes)

    def answer() -> LineageGraph:
        start = _resolve(ctx, caller, _parse(nodeId))
        walk = _walk(
            ctx, caller=caller, start=start, direction="both", depth=depth_, max_nodes=nodes_
        )
        return _graph(ctx, walk, depth_, nodes_, caller)

    return await asyncio.to_thread(answer)


def provenance_answer(
    ctx: ApiContext,
    *,
    walk: Traversal,
    direction: Literal["upstream", "downstream"],
    depth: int,
    max_nodes: int,
    model: dict[str, Any] | None,
    caller: Principal,
) -> Provenance:
    details = _details(ctx, walk, caller)
    versions = [n for n in walk.nodes.values() if n.kind == "dataset"]
    models = ctx.warehouse.models_of_versions(versions)
    nodes = []
    for node_id, node in walk.nodes.items():
        item = ProvenanceNode(
            id=node_id,
            kind="run" if node.kind == "run" else "dataset_version",
            depth=walk.depth_of[node_id],
            path=walk.path(node_id),
        )
        if node.kind == "run":
            item.run = details[node_id]
        else:
            item.dataset = details[node_id]
            item.models = models.get((node.namespace, node.name, node.version or ""))
        nodes.append(item)
    return Provenance(
        start=walk.start.id,
        direction=direction,
        model=model,
        nodes=nodes,
        edges=[EdgeModel(origin=o, destination=d) for o, d in sorted(walk.edges)],
        truncated=walk.truncated,
        depth=depth,
        maxNodes=max_nodes,
        tenantBoundary=Boundary(hiddenEdges=walk.hidden_edges),
    )


def walk_from(
    ctx: ApiContext,
    caller: Principal,
    *,
    model: str | None,
    version: str | None,
    node_id: str | None,
    direction: Literal["upstream", "downstream"],
    depth: int,
    max_nodes: int,
) -> Provenance:
    """Provenance (upstream) or impact (downstream) from a model version (``model`` and
    ``version``) or a node id (a dataset version or a run), as the caller may see it: the walk
    of :func:`start_walk`, then every node's details."""
    walk, found = start_walk(ctx, caller, model=model, version=version, node_id=node_id,
                             direction=direction, depth=depth, max_nodes=max_nodes)  # fmt: skip
    return provenance_answer(
        ctx,
        walk=walk,
        direction=direction,
        depth=depth,
        max_nodes=max_nodes,
        model=found,
        caller=caller,
    )


def start_walk(
    ctx: ApiContext,
    caller: Principal,
    *,
    model: str | None,
    version: str | None,
    node_id: str | None,
    direction: Literal["upstream", "downstream"],
    depth: int,
    max_nodes: int,
) -> tuple[Traversal, dict[str, Any] | None]:
    """The walk from a model version (``model`` and ``version``) or a node id (a dataset
    version or a run), and the model version's facts if it started at one; 404 for what the
    caller may not read, 400 for a start that is not a dataset version or a run (or for
    neither or both of a model version and a node id)."""
    if (model is None) == (node_id is None) or (model is not None and version is None):
        raise HTTPException(400, "give either model and version, or nodeId")
    found: dict[str, Any] | None = None
    if model is not None and version is not None:
        found = ctx.warehouse.model_version(model, version)
        if found is None or not caller.can_read(found["dataset"].namespace):
            raise not_found(f"model {model!r} version {version!r}")
        start: NodeRef = found["dataset"]
        producer = found["producingRun"]
        if producer and not ctx.warehouse.visible_runs([producer], run_scope(caller)):
            found["producingRun"] = None  # another tenant's run: not even its id
        found = {**found, "dataset": start.id}
    else:
        assert node_id is not None
        start = _parse(node_id)
        if not start.versioned:
            raise HTTPException(
                400,
                f"{'provenance' if direction == 'upstream' else 'impact'} starts at a dataset "
                "version (dataset:NS:NAME#VERSION) or a run (run:ID); for a job or a whole "
                "dataset use /api/v1/lineage",
            )
        start = _resolve(ctx, caller, start)
    walk = _walk(
        ctx, caller=caller, start=start, direction=direction, depth=depth, max_nodes=max_nodes
    )
    return walk, found


@router.get(
    "/api/v1/provenance",
    response_model=Provenance,
    summary="Where did this come from? The upstream graph of a model version, dataset "
    "version or run, with every run's code, parameters, resources and owners",
    responses={400: {"description": "bad arguments"}, 404: {"description": "unknown"}},
)
async def provenance(
    *,
    ctx: Context,
    caller: Caller,
    model: ModelName = None,
    version: ModelVersion = None,
    nodeId: StartNode = None,
    depth: Depth = None,
    maxNodes: MaxNodes = None,
) -> Provenance:
    depth_, nodes_ = graph_limits(ctx, depth, maxNodes)
    return await asyncio.to_thread(
        walk_from,
        ctx,
        caller,
        model=model,
        version=version,
        node_id=nodeId,
        direction="upstream",
        depth=depth_,
        max_nodes=nodes_,
    )


@router.get(
    "/api/v1/impact",
    response_model=Provenance,
    summary="What did this feed? Every run, dataset version and model version downstream",
    responses={400: {"description": "bad nodeId"}, 404: {"description": "unknown"}},
)
async def impact(
    *,
    ctx: Context,
    caller: Caller,
    nodeId: str = Query(description="dataset:NS:NAME#VERSION or run:RUN_ID", max_length=4096),
    depth: Depth = None,
    maxNodes: MaxNodes = None,
) -> Provenance:
    depth_, nodes_ = graph_limits(ctx, depth, maxNodes)

    return await asyncio.to_thread(
        walk_from,
        ctx,
        caller,
        model=None,
        version=None,
        node_id=nodeId,
        direction="downstream",
        depth=depth_,
        max_nodes=nodes_,
    )
