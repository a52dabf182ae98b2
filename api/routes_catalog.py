"""Lookup and listing: runs (filtered), jobs, datasets and their versions, models and theirs.

Every listing answers ``{items, nextCursor}``, one page at a time: ``limit`` items (default and
maximum from :class:`api.settings.ApiLimits`), and ``nextCursor`` — opaque, ``null`` on the
last page — to pass as ``cursor`` for the next.  Pagination is by keyset (the sort key of the
last item), so pages stay consistent while events arrive.  A caller sees only items of the
namespaces its token may read, and every page is full when more such items exist.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from api.auth import Principal
from api.catalog_store import (
    InvalidCursor,
    Listed,
    RunFilters,
    dataset_versions,
    decode_cursor,
    encode_cursor,
    list_datasets,
    list_jobs,
    list_models,
    list_runs,
    model_versions,
    parse_params,
    parse_time_key,
    readable_runs,
    time_range,
)
from api.context import ApiContext, Caller, Context, bounded, not_found

__all__ = ["router"]

router = APIRouter(tags=["catalog"])

ItemT = TypeVar("ItemT", bound=BaseModel)

Status = Literal["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]

TEXT = 1024
"""The longest text filter."""


# -- response models ---------------------------------------------------------------------------


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    nextCursor: str | None = Field(
        description="pass as `cursor` for the next page; null on the last page"
    )


class JobRef(BaseModel):
    namespace: str
    name: str


class RunCode(BaseModel):
    gitRepo: str | None
    gitCommit: str | None
    gitBranch: str | None
    image: str | None
    imageDigest: str | None


class RunOwners(BaseModel):
    submitter: str | None
    codeAuthor: str | None
    deployer: str | None
    team: str | None


class RunItem(BaseModel):
    runId: str
    status: str = Field(description="START, RUNNING, COMPLETE, ABORT, FAIL or OTHER")
    job: JobRef
    firstEventTime: datetime = Field(description="what the listing is ordered and filtered by")
    lastEventTime: datetime
    startTime: datetime | None
    endTime: datetime | None
    parentRunId: str | None
    code: RunCode
    parameters: dict[str, str] = Field(description="dotted key -> the value as JSON text")
    owners: RunOwners


class Owner(BaseModel):
    name: str
    type: str


class JobItem(BaseModel):
    id: str = Field(description="node id `job:NS:NAME`")
    namespace: str
    name: str
    jobType: str | None
    integration: str | None
    processingType: str | None
    sourceRepoUrl: str | None
    owners: list[Owner]
    firstSeen: datetime
    lastSeen: datetime


class DatasetItem(BaseModel):
    id: str = Field(description="node id `dataset:NS:NAME`")
    namespace: str
    name: str
    storageLayer: str | None
    fileFormat: str | None
    owners: list[Owner]
    versionCount: int = Field(description="distinct versions (the unversioned one included)")
    firstSeen: datetime
    lastSeen: datetime


class DatasetVersionItem(BaseModel):
    id: str = Field(description="node id `dataset:NS:NAME#VERSION`")
    namespace: str
    name: str
    version: str | None = Field(description="null: events without a version facet")
    unversioned: bool
    firstSeen: datetime
    lastSeen: datetime
    producingRun: str | None = Field(
        description="the run that wrote it (the latest, if several); null if none did or the "
        "run is in a namespace your token may not read"
    )
    rowCount: int | None
    sizeBytes: int | None
    fileCount: int | None
    labelSet: str | None
    labelVersion: str | None


class ModelItem(BaseModel):
    name: str
    framework: str | None
    dataset: str = Field(description="node id of the dataset it was last stored as")
    versionCount: int
    firstSeen: datetime
    lastSeen: datetime


class ModelVersionItem(BaseModel):
    name: str
    version: str
    framework: str | None
    stage: str | None
    metrics: dict[str, float]
    dataset: str = Field(description="node id `dataset:NS:NAME#VERSION` of what it is stored as")
    producingRun: str | None = Field(
        description="the run that wrote it; null if none did (only seen as an input) or the "
        "run is in a namespace your token may not read"
    )
    firstSeen: datetime
    lastSeen: datetime


class RunPage(Page[RunItem]):
    pass


class JobPage(Page[JobItem]):
    pass


class DatasetPage(Page[DatasetItem]):
    pass


class DatasetVersionPage(Page[DatasetVersionItem]):
    pass


class ModelPage(Page[ModelItem]):
    pass


class ModelVersionPage(Page[ModelVersionItem]):
    pass


# -- paging ------------------------------------------------------------------------------------

LIMIT = Query(None, description="items per page (default 50, maximum 500: server limits)")
CURSOR = Query(None, description="`nextCursor` of the previous page")
PAGING_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid cursor"},
    422: {"description": "a limit or filter out of range, named in `detail`"},
}


def _size(ctx: ApiContext, limit: int | None) -> int:
    return bounded(
        "limit", limit, ctx.limits.default_page_size, ctx.limits.max_page_size, minimum=1
    )


def _after(cursor: str | None, kind: str, size: int, *, timed: bool = False) -> Any:
    """The sort key a cursor continues after (``None`` for the first page); 400 if it is not
    one this listing made.  ``timed``: the key starts with a time."""
    if cursor is None:
        return None
    try:
        key = decode_cursor(cursor, kind, size)
        return (parse_time_key(key[0]), *key[1:]) if timed else key
    except InvalidCursor:
        raise HTTPException(400, "invalid cursor") from None


def _page(kind: str, listed: list[Listed], size: int) -> tuple[list[dict[str, Any]], str | None]:
    """The first ``size`` items (of up to ``size + 1`` fetched) and the cursor after them."""
    items = [entry.item for entry in listed[:size]]
    more = len(listed) > size
    return items, encode_cursor(kind, listed[size - 1].key) if more else None


def _hide_foreign_runs(
    ctx: ApiContext, caller: Principal, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``producingRun`` only when the caller may read that run (no ids across tenants)."""
    ids = {item["producingRun"] for item in items if item["producingRun"]}
    if not ids or caller.reads_everything:
        return items
    visible = readable_runs(ctx.warehouse, caller, ids)
    for item in items:
        if item["producingRun"] not in visible:
            item["producingRun"] = None
    return items


# -- routes ------------------------------------------------------------------------------------


@router.get(
    "/api/v1/runs",
    response_model=RunPage,
    summary="Runs, newest first, filtered by job, status, owner, time, parameters, image, commit",
    responses=PAGING_ERRORS,
)
async def runs(
    *,
    ctx: Context,
    caller: Caller,
    namespace: str | None = Query(None, description="the job's namespace", max_length=TEXT),
    job: str | None = Query(None, description="the job's name", max_length=TEXT),
    status: Annotated[Status | None, Query(description="the run's current status")] = None,
    owner: str | None = Query(
        None, description="submitter, code author, deployer or team", max_length=TEXT
    ),
    since: Annotated[
        datetime | None,
        Query(
            description="first event at or after (ISO 8601; UTC without an offset); with "
            "`until` at most max_time_range_days (366) apart: `until` defaults to now, `since` "
            "to that many days before `until`"
        ),
    ] = None,
    until: Annotated[datetime | None, Query(description="first event before (ISO 8601)")] = None,
    param: Annotated[
        list[str] | None,
        Query(
            description="`key=value`, repeatable (all must match): a parameter as the run "
            "logged it, as JSON text (`lr=0.01`, `model.depth=4`; a string matches with or "
            "without its JSON quotes: `optimizer=adam`)"
        ),
    ] = None,
    image_digest: str | None = Query(None, alias="imageDigest", max_length=TEXT),
    commit: str | None = Query(
        None, description="the git commit, or a prefix of it", max_length=TEXT
    ),
    limit: int | None = LIMIT,
    cursor: str | None = CURSOR,
) -> RunPage:
    size = _size(ctx, limit)
    try:
        start, end = time_range(since, until, ctx.limits.max_time_range_days, datetime.now(UTC))
        params = parse_params(param or [])
    except ValueError as err:
        raise HTTPException(422, str(err)) from None
    after = _after(cursor, "runs", 2, timed=True)
    filters = RunFilters(
        namespace=namespace,
        job=job,
        status=status,
        owner=owner,
        since=start,
        until=end,
        params=params,
        image_digest=image_digest,
        commit=commit,
    )

    def answer() -> RunPage:
        listed = list_runs(ctx.warehouse, caller, filters=filters, after=after, limit=size + 1)
        items, next_cursor = _page("runs", listed, size)
        return RunPage.model_validate({"items": items, "nextCursor": next_cursor})

    return await asyncio.to_thread(answer)


@router.get(
    "/api/v1/jobs",
    response_model=JobPage,
    summary="Jobs, by namespace and name",
    responses=PAGING_ERRORS,
)
async def jobs(
    *,
    ctx: Context,
    caller: Caller,
    namespace: str | None = Query(None, description="only this namespace", max_length=TEXT),
    prefix: str | None = Query(None, description="names that start with this", max_length=TEXT),
    limit: int | None = LIMIT,
    cursor: str | None = CURSOR,
) -> JobPage:
    size = _size(ctx, limit)
    after = _after(cursor, "jobs", 2)

    def answer() -> JobPage:
        listed = list_jobs(
            ctx.warehouse, caller, namespace=namespace, prefix=prefix, after=after, limit=size + 1
        )
        items, next_cursor = _page("jobs", listed, size)
        return JobPage.model_validate({"items": items, "nextCursor": next_cursor})

    return await asyncio.to_thread(answer)


@router.get(
    "/api/v1/datasets",
    response_model=DatasetPage,
    summary="Datasets, by namespace and name",
    responses=PAGING_ERRORS,
)
async def datasets(
    *,
    ctx: Context,
    caller: Caller,
    namespace: str | None = Query(None, description="only this namespace", max_length=TEXT),
    prefix: str | None = Query(None, description="names that start with this", max_length=TEXT),
    limit: int | None = LIMIT,
    cursor: str | None = CURSOR,
) -> DatasetPage:
    size = _size(ctx, limit)
    after = _after(cursor, "datasets", 2)

    def answer() -> DatasetPage:
        listed = list_datasets(
            ctx.warehouse, caller, namespace=namespace, prefix=prefix, after=after, limit=size + 1
        )
        items, next_cursor = _page("datasets", listed, size)
        return DatasetPage.model_validate({"items": items, "nextCursor": next_cursor})

    return await asyncio.to_thread(answer)


@router.get(
    "/api/v1/datasets/versions",
    response_model=DatasetVersionPage,
    summary="The versions of one dataset, newest first: when first seen, the run that wrote it",
    responses={**PAGING_ERRORS, 404: {"description": "unknown dataset"}},
)
async def versions_of_dataset(
    *,
    ctx: Context,
    caller: Caller,
    namespace: str = Query(description="the dataset's namespace", max_length=TEXT),
    name: str = Query(description="the dataset's name", max_length=TEXT),
    limit: int | None = LIMIT,
    cursor: str | None = CURSOR,
) -> DatasetVersionPage:
    size = _size(ctx, limit)
    after = _after(cursor, "datasetVersions", 2, timed=True)
    dataset = f"dataset:{namespace}:{name}"
    if not caller.can_read(namespace):
        raise not_found(dataset)

    def answer() -> DatasetVersionPage:
        listed = dataset_versions(
            ctx.warehouse, caller, namespace=namespace, name=name, after=after, limit=size + 1
        )
        if not listed and after is None:
            raise not_found(dataset)
        items, next_cursor = _page("datasetVersions", listed, size)
        items = _hide_foreign_runs(ctx, caller, items)
        return DatasetVersionPage.model_validate({"items": items, "nextCursor": next_cursor})

    return await asyncio.to_thread(answer)


@router.get(
    "/api/v1/models",
    response_model=ModelPage,
    summary="Models, by name",
    responses=PAGING_ERRORS,
)
async def models(
    *,
    ctx: Context,
    caller: Caller,
    prefix: str | None = Query(None, description="names that start with this", max_length=TEXT),
    limit: int | None = LIMIT,
    cursor: str | None = CURSOR,
) -> ModelPage:
    size = _size(ctx, limit)
    after = _after(cursor, "models", 1)

    def answer() -> ModelPage:
        listed = list_models(ctx.warehouse, caller, prefix=prefix, after=after, limit=size + 1)
        items, next_cursor = _page("models", listed, size)
        return ModelPage.model_validate({"items": items, "nextCursor": next_cursor})

    return await asyncio.to_thread(answer)


@router.get(
    "/api/v1/models/{name}/versions",
    response_model=ModelVersionPage,
    summary="A model's versions, newest first: metrics, stage, the dataset version it is "
    "stored as, the run that produced it",
    responses={**PAGING_ERRORS, 404: {"description": "unknown model"}},
)
async def versions_of_model(
    *,
    ctx: Context,
    caller: Caller,
    name: str = Path(description="the model's name", max_length=256),
    limit: int | None = LIMIT,
    cursor: str | None = CURSOR,
) -> ModelVersionPage:
    size = _size(ctx, limit)
    after = _after(cursor, "modelVersions", 2, timed=True)

    def answer() -> ModelVersionPage:
        listed = model_versions(ctx.warehouse, caller, model=name, after=after, limit=size + 1)
        if not listed and after is None:
            raise not_found(f"model {name}")
        items, next_cursor = _page("modelVersions", listed, size)
        items = _hide_foreign_runs(ctx, caller, items)
        return ModelVersionPage.model_validate({"items": items, "nextCursor": next_cursor})

    return await asyncio.to_thread(answer)
