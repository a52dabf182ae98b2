"""One run: its state and exact inputs/outputs, and its resource usage over time."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.catalog_store import run_scope
from api.context import ApiContext, Caller, Context, bounded, not_found
from api.nodes import NodeRef
from api.views import dataset_version_view, run_view

__all__ = ["readable_run", "router"]

router = APIRouter(tags=["runs"])

RUN_ID = Path(description="the run's id (OpenLineage runId)", max_length=256)


class RunDetail(BaseModel):
    run: dict[str, Any]
    inputs: list[dict[str, Any]] = Field(description="the exact dataset versions it read")
    outputs: list[dict[str, Any]] = Field(description="the dataset versions it wrote")


class ResourceSeries(BaseModel):
    runId: str
    samples: list[dict[str, Any]]
    truncated: bool


def readable_run(ctx: ApiContext, caller: Any, run_id: str) -> dict[str, Any]:
    """The run's state (``api.store.RUNS_STATE`` row), or 404 when unknown or not readable."""
    state = ctx.warehouse.runs([run_id], scope=run_scope(caller)).get(run_id)
    if state is None or not caller.can_read(state["job_namespace"]):
        raise not_found(f"run {run_id}")
    return state


@router.get(
    "/api/v1/runs/{run_id}",
    response_model=RunDetail,
    summary="A run: status, times, job, code, parameters, resources, owners, exact inputs "
    "and outputs",
    responses={404: {"description": "unknown run"}},
)
async def run_detail(ctx: Context, caller: Caller, run_id: str = RUN_ID) -> RunDetail:
    def answer() -> RunDetail:
        state = readable_run(ctx, caller, run_id)
        run = NodeRef.run(run_id, state["job_namespace"])
        limit = ctx.limits.max_nodes
        # only the edges of events this caller may read (the run end carries their namespace)
        inputs = [e.origin for e in ctx.warehouse.inputs_of([run], limit)
                  if caller.can_read(e.destination.namespace)]  # fmt: skip
        outputs = [e.destination for e in ctx.warehouse.outputs_of([run], limit)
                   if caller.can_read(e.origin.namespace)]  # fmt: skip
        facts = ctx.warehouse.dataset_versions(inputs + outputs, scope=run_scope(caller))
        models = ctx.warehouse.models_of_versions(outputs)

        def show(node: NodeRef) -> dict[str, Any]:
            key = (node.namespace, node.name, node.version or "")
            view = {"id": node.id, **dataset_version_view(node, facts.get(key))}
            if key in models:
                view["models"] = models[key]
            return view

        return RunDetail(
            run=run_view(state),
            inputs=[show(n) for n in inputs if caller.can_read(n.namespace)],
            outputs=[show(n) for n in outputs if caller.can_read(n.namespace)],
        )

    return await asyncio.to_thread(answer)


@router.get(
    "/api/v1/runs/{run_id}/resources",
    response_model=ResourceSeries,
    summary="A run's resource usage samples (CPU, memory, GPU) over time, per host and device",
    responses={404: {"description": "unknown run"}},
)
async def run_resources(
    ctx: Context,
    caller: Caller,
    run_id: str = RUN_ID,
    limit: int | None = Query(None, description="samples at most (default 1000, max 10000)"),
) -> ResourceSeries:
    count = bounded("limit", limit, 1000, 10_000, minimum=1)

    def answer() -> ResourceSeries:
        readable_run(ctx, caller, run_id)
        rows = ctx.warehouse.resource_samples(run_id, count + 1, scope=run_scope(caller))
        keys = ("host", "device", "time", "cpuPercent", "rssBytes", "gpuUtilPercent",
                "gpuMemoryBytes")  # fmt: skip
        samples = [dict(zip(keys, row, strict=True)) for row in rows[:count]]
        return ResourceSeries(runId=run_id, samples=samples, truncated=len(rows) > count)

    return await asyncio.to_thread(answer)
