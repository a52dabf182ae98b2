"""A run's rerun spec: everything needed to run it again, as JSON or as a Kubernetes Job.

The logic is :mod:`api.rerun`'s; this module reads the run, its inputs and its
``pedigree_environment`` facets (kept as JSON in the ``facets`` table: the facet has no typed
columns beyond host, Python version and packages hash) and answers.
"""

# ruff: noqa: S608 -- the database name is the server's own; values are bound {x:Type}

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.catalog_store import run_scope
from api.context import Caller, Context
from api.nodes import NodeRef
from api.rerun import (
    WARNING_CODES,
    environment_from_facets,
    job_manifest,
    manifest_json,
    rerun_spec,
)
from api.routes_runs import RUN_ID, readable_run
from api.store import Warehouse

__all__ = ["RerunSpec", "router"]

router = APIRouter(tags=["runs"])

FORMATS = ("json", "k8s")
MAX_ENVIRONMENT_FACETS = 100
WARNINGS_HEADER = "X-Pedigree-Rerun-Warnings"


class JobRef(BaseModel):
    namespace: str
    name: str


class ImageSpec(BaseModel):
    reference: str | None = Field(
        description="what to pull: repository@digest when the digest is known, else the image "
        "as recorded (a tag)"
    )
    name: str | None = Field(description="the image as the run recorded it")
    digest: str | None
    pinned: bool = Field(description="the reference names the image by its digest")


class GitSpec(BaseModel):
    repo: str | None
    commit: str | None
    branch: str | None
    dirty: bool | None = Field(
        description="uncommitted changes in the working tree (None: unknown)"
    )
    diffHash: str | None


class InputVersion(BaseModel):
    namespace: str
    name: str
    version: str | None = Field(description="None: read without a version")


class RequestedResources(BaseModel):
    cpuCount: float | None
    memoryBytes: int | None
    gpuCount: int | None
    gpuModel: str | None
    gpuMemoryBytes: int | None


class EnvironmentSpec(BaseModel):
    variables: dict[str, str] | None = Field(
        description="the allow-listed variables the emitter captured, minus any that look "
        "secret; None: none were captured (see warnings)"
    )
    pythonVersion: str | None
    packagesHash: str | None


class RerunWarning(BaseModel):
    code: str = Field(description="one of: " + ", ".join(WARNING_CODES))
    message: str


class RerunSpec(BaseModel):
    runId: str
    status: str
    job: JobRef
    image: ImageSpec
    entryPoint: str | None
    arguments: list[str]
    command: list[str] | None = Field(
        description="the container command the entry point runs as (the arguments follow); "
        "None: the image's own ENTRYPOINT"
    )
    git: GitSpec
    parameters: dict[str, Any] = Field(description="the parameters, with the values posted")
    inputs: list[InputVersion] = Field(description="the exact dataset versions it read")
    resources: RequestedResources = Field(description="what the run requested")
    environment: EnvironmentSpec
    kubernetesNamespace: str | None = Field(description="where the run ran, if in Kubernetes")
    reproducible: bool = Field(description="no warnings: the rerun is exact")
    warnings: list[RerunWarning] = Field(description="what keeps the rerun from being exact")


def environment_facets(
    warehouse: Warehouse, run_id: str, scope: tuple[str, Mapping[str, Any]]
) -> list[str]:
    """The run's ``pedigree_environment`` facets as JSON, oldest first (a primary-key read),
    from the events ``scope`` admits only: another tenant posting under the same run id must
    not put variables into this caller's rerun Job."""
    condition, params = scope
    rows = warehouse.query(
        f"SELECT DISTINCT event_time, event_id, facet_json FROM `{warehouse.database}`.facets "
        "WHERE run_id = {id:String} AND container = 'run' "
        f"AND facet_key = 'pedigree_environment' AND {condition} ORDER BY event_time, event_id "
        "LIMIT {limit:UInt32}",
        {**params, "id": run_id, "limit": MAX_ENVIRONMENT_FACETS},
    )
    return [row[2] for row in rows]


@router.get(
    "/api/v1/runs/{run_id}/rerun",
    response_model=RerunSpec,
    summary="How to run a run again: image digest, entry point, arguments, git commit, "
    "parameters, exact input versions, resources, environment, and what is not exact",
    responses={
        200: {
            "description": "the rerun spec; with format=k8s, a Kubernetes batch/v1 Job manifest "
            f"(JSON; its warnings in the {WARNINGS_HEADER} header, by code, and in its "
            "pedigree.dev/rerun-warnings annotation)",
        },
        404: {"description": "unknown run"},
        422: {"description": "unknown format"},
    },
)
async def rerun(
    ctx: Context,
    caller: Caller,
    run_id: str = RUN_ID,
    format: str = Query(
        "json",
        description="json: the rerun spec; k8s: a Kubernetes batch/v1 Job that runs it",
        json_schema_extra={"enum": list(FORMATS)},
    ),
) -> Any:
    if format not in FORMATS:
        raise HTTPException(
            422, f"format={format[:50]!r} is not supported: use one of {', '.join(FORMATS)}"
        )

    def answer() -> dict[str, Any]:
        state = readable_run(ctx, caller, run_id)
        run = NodeRef.run(run_id, state["job_namespace"])
        limit = ctx.limits.max_nodes
        read = [e.origin for e in ctx.warehouse.inputs_of([run], limit + 1)
                if caller.can_read(e.destination.namespace)]  # fmt: skip
        truncated = len(read) > limit
        read = read[:limit]
        visible = [n for n in read if caller.can_read(n.namespace)]
        environment = environment_from_facets(
            environment_facets(ctx.warehouse, run_id, run_scope(caller))
        )
        return rerun_spec(
            state,
            visible,
            environment=environment,
            hidden_inputs=len(read) - len(visible),
            inputs_truncated=truncated,
        )

    spec = await asyncio.to_thread(answer)
    if format == "json":
        return RerunSpec.model_validate(spec)
    manifest = manifest_json(job_manifest(spec))
    listed = json.loads(manifest["metadata"]["annotations"]["pedigree.dev/rerun-warnings"])
    codes = ",".join(dict.fromkeys(w["code"] for w in listed))
    return JSONResponse(manifest, headers={WARNINGS_HEADER: codes} if codes else None)
