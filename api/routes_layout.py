"""The provenance or impact graph with a drawing computed for it (what the explorer shows).

The walk is :func:`api.routes_lineage.start_walk`'s — the same tenancy, limits and answers as
``/api/v1/provenance`` and ``/api/v1/impact`` — and the drawing :func:`api.layout.layout`'s:
columns left to right the way data flows, wide fans collapsed into ``+k more`` groups that
``expand`` opens.  ``nodes`` and ``edges`` are those the drawing shows, and only their details
are fetched (a shown node's ``path`` may pass through a collapsed one).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from api.context import Caller, Context, bounded
from api.layout import Layout, LayoutOptions, layout
from api.routes_lineage import (
    Depth,
    MaxNodes,
    ModelName,
    ModelVersion,
    Provenance,
    StartNode,
    graph_limits,
    provenance_answer,
    start_walk,
)

__all__ = ["GraphLayout", "router"]

router = APIRouter(tags=["lineage"])

MAX_EXPANDED = 200
DEFAULT_FAN = LayoutOptions.max_fan  # one default: the layout's
MAX_FAN = 5000


class LayoutNode(BaseModel):
    id: str
    kind: Literal["run", "dataset_version", "group"]
    column: int = Field(description="0 is the leftmost; data flows left to right")
    x: float = Field(description="centre")
    y: float = Field(description="centre")
    hidden: int = Field(0, description="group nodes: how many nodes they stand for")
    parent: str | None = Field(
        None, description="group nodes: the node whose neighbours they are (pass it in `expand`)"
    )


class LayoutEdge(BaseModel):
    origin: str
    destination: str
    points: list[tuple[float, float]] = Field(
        description="polyline from the origin's right side to the destination's left side"
    )


class Drawing(BaseModel):
    width: float
    height: float
    nodeWidth: float
    nodeHeight: float
    columns: int
    crossings: int = Field(description="edge crossings between adjacent columns")
    collapsed: int = Field(description="nodes hidden behind `group` nodes")
    nodes: list[LayoutNode]
    edges: list[LayoutEdge]


class GraphLayout(Provenance):
    layout: Drawing


def _drawing(result: Layout) -> Drawing:
    return Drawing(
        width=result.width,
        height=result.height,
        nodeWidth=result.options.node_width,
        nodeHeight=result.options.node_height,
        columns=result.columns,
        crossings=result.crossings,
        collapsed=result.collapsed,
        nodes=[LayoutNode.model_validate(n, from_attributes=True) for n in result.nodes],
        edges=[
            LayoutEdge(origin=e.origin, destination=e.destination, points=list(e.points))
            for e in result.edges
        ],
    )


@router.get(
    "/api/v1/layout",
    response_model=GraphLayout,
    summary="The provenance (upstream) or impact (downstream) graph with a left-to-right "
    "layered drawing: node positions, edge routes, wide fans collapsed",
    responses={400: {"description": "bad arguments"}, 404: {"description": "unknown"}},
)
async def graph_layout(
    *,
    ctx: Context,
    caller: Caller,
    model: ModelName = None,
    version: ModelVersion = None,
    nodeId: StartNode = None,
    direction: Annotated[
        Literal["upstream", "downstream"],
        Query(description="upstream: where it came from; downstream: what it fed"),
    ] = "upstream",
    depth: Depth = None,
    maxNodes: MaxNodes = None,
    maxFan: int | None = Query(
        None,
        description=f"neighbours a node shows before the rest collapse into one group "
        f"(default {DEFAULT_FAN}, 2 to {MAX_FAN})",
    ),
    expand: Annotated[
        list[Annotated[str, Query(max_length=4096)]] | None,
        Query(description=f"node ids whose fans are shown whole ({MAX_EXPANDED} at most)"),
    ] = None,
) -> GraphLayout:
    depth_, nodes_ = graph_limits(ctx, depth, maxNodes)
    fan = bounded("maxFan", maxFan, DEFAULT_FAN, MAX_FAN, minimum=2)
    expanded = frozenset(expand or ())
    if len(expanded) > MAX_EXPANDED:
        raise HTTPException(422, f"expand names {len(expanded)} nodes, over {MAX_EXPANDED}")

    def answer() -> GraphLayout:
        walk, found = start_walk(ctx, caller, model=model, version=version, node_id=nodeId,
                                 direction=direction, depth=depth_, max_nodes=nodes_)  # fmt: skip
        kinds = {i: "run" if n.kind == "run" else "dataset_version" for i, n in walk.nodes.items()}
        drawn = layout(kinds, sorted(walk.edges), walk.start.id, direction,
                       LayoutOptions(max_fan=fan, expanded=expanded))  # fmt: skip
        # details only for what is drawn: a collapsed fan's nodes are never fetched
        shown = {n.id for n in drawn.nodes}
        drawn_walk = replace(
            walk,
            nodes={i: n for i, n in walk.nodes.items() if i in shown},
            edges={(o, d) for o, d in walk.edges if o in shown and d in shown},
        )
        graph = provenance_answer(ctx, walk=drawn_walk, direction=direction, depth=depth_,
                                  max_nodes=nodes_, model=found, caller=caller)  # fmt: skip
        return GraphLayout(**dict(graph), layout=_drawing(drawn))

    return await asyncio.to_thread(answer)
