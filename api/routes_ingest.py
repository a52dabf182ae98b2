"""OpenLineage ingest: ``POST /api/v1/lineage`` (one event, as Marquez and the OpenLineage HTTP
transport do) and ``POST /api/v1/lineage/batch`` (a JSON array, with partial success).

An event is checked as the consumer will check it (JSON, the OpenLineage schema, a timestamp
with a time zone, the message size limit), then published to the bus; the answer comes only
once the bus has it durably (Kafka acknowledged, or the spool file fsynced).  The API never
writes the warehouse: the log stays the source of truth.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.auth import Principal
from api.context import Caller, Context
from consumers.materialize import event_id, parse_time
from emitters.codec import parse_json
from emitters.errors import InvalidEvent
from emitters.spool import SpooledMessage
from emitters.validation import validate_event

__all__ = ["router"]

router = APIRouter(tags=["ingest"])


class Accepted(BaseModel):
    eventId: str


class ItemResult(BaseModel):
    index: int
    eventId: str | None = None
    status: int
    error: str | None = None
    field: str | None = None


class BatchResult(BaseModel):
    accepted: int
    rejected: int
    results: list[ItemResult]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` bytes: before parsing,
    and before reading all of it when ``Content-Length`` already says so."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body is {declared} bytes, over the {limit}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"request body is over the {limit}-byte limit")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "gzip":  # the OpenLineage HTTP transport's `compression: gzip`
        return _gunzip(body, limit)
    if encoding not in ("", "identity"):
        raise HTTPException(415, f"Content-Encoding {encoding[:40]!r} is not supported (gzip is)")
    return body


def _gunzip(body: bytes, limit: int) -> bytes:
    """Decompress at most ``limit`` bytes: a small body cannot expand without bound."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as err:
        raise HTTPException(400, f"the body is not valid gzip: {err}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise HTTPException(413, f"the decompressed body is over the {limit}-byte limit")
    if not inflater.eof:
        raise HTTPException(400, "the body is not valid gzip: truncated")
    return out


def _owner_namespace(event: Mapping[str, Any]) -> str:
    if "run" in event or ("job" in event and "dataset" not in event):
        return str(event["job"]["namespace"])
    return str(event["dataset"]["namespace"])


class _Refused(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def _prepare(event: Any, caller: Principal, traceparent: str | None) -> SpooledMessage:
    """Check one event as the consumer will; its message, or :class:`_Refused`."""
    try:
        validate_event(event)
        parse_time(event.get("eventTime"))
    except InvalidEvent as err:
        raise _Refused(422, err.reason, err.field) from None
    namespace = _owner_namespace(event)
    if not caller.can_write(namespace):
        raise _Refused(403, f"your token may not write to namespace {namespace!r}")
    headers = [("traceparent", traceparent.encode())] if traceparent else []
    try:
        return SpooledMessage.for_event(event, headers=headers)
    except InvalidEvent as err:
        raise _Refused(413, err.reason, err.field) from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def _parse_array(body: bytes) -> Any:
    """Strict JSON (UTF-8, no NaN/Infinity), as :func:`emitters.codec.parse_json`, any top."""
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as err:
        raise ValueError(f"not UTF-8: {err.reason} at byte {err.start}") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _traceparent(request: Request) -> str | None:
    value = request.headers.get("traceparent")
    return value if value and len(value) <= 128 else None


@router.post(
    "/api/v1/lineage",
    status_code=201,
    response_model=Accepted,
    summary="Ingest one OpenLineage event",
    responses={
        400: {"description": "not JSON"},
        401: {"description": "no or unknown token"},
        403: {"description": "the token may not write the event's namespace"},
        413: {"description": "body (or its gzip content) or encoded event over the size limit"},
        415: {"description": "a Content-Encoding other than gzip"},
        422: {"description": "not a valid OpenLineage event (the field is named)"},
        503: {"description": "the bus did not take the event; retry"},
    },
)
async def ingest_one(request: Request, ctx: Context, caller: Caller) -> Any:
    body = await read_body(request, ctx.limits.max_body_bytes)
    try:
        event = parse_json(body)
    except InvalidEvent as err:
        raise HTTPException(400, f"the body is not JSON: {err.reason}") from None
    try:
        message = _prepare(event, caller, _traceparent(request))
    except _Refused as refused:
        detail = f"{refused.field}: {refused.message}" if refused.field else refused.message
        raise HTTPException(refused.status, detail) from None
    publisher = ctx.publisher
    if publisher is None:
        raise HTTPException(503, "this API runs read-only: no bus is configured for ingest")
    [error] = await asyncio.to_thread(publisher.publish, [message])
    if error is not None:
        raise HTTPException(503, f"event not stored, retry: {error}")
    return Accepted(eventId=event_id(event))


@router.post(
    "/api/v1/lineage/batch",
    response_model=BatchResult,
    summary="Ingest a JSON array of OpenLineage events, reporting each one",
    responses={
        207: {"model": BatchResult, "description": "some events were refused (see results)"},
        400: {"description": "not a JSON array, or empty"},
        413: {"description": "body over the size limit, or more events than the batch limit"},
        422: {"model": BatchResult, "description": "every event was refused"},
        503: {"model": BatchResult, "description": "the bus took none of them; retry"},
    },
)
async def ingest_batch(request: Request, ctx: Context, caller: Caller) -> Any:
    body = await read_body(request, ctx.limits.max_body_bytes)
    try:
        events = _parse_array(body)
    except ValueError as err:
        raise HTTPException(400, f"the body is not JSON: {err}") from None
    if not isinstance(events, list) or not events:
        raise HTTPException(400, "the body must be a non-empty JSON array of OpenLineage events")
    if len(events) > ctx.limits.max_batch_events:
        raise HTTPException(
            413, f"{len(events)} events, over the {ctx.limits.max_batch_events}-event batch limit"
        )
    traceparent = _traceparent(request)
    results: list[ItemResult] = []
    ready: list[tuple[int, SpooledMessage, str]] = []
    for index, event in enumerate(events):
        try:
            message = _prepare(event, caller, traceparent)
        except _Refused as refused:
            results.append(
                ItemResult(
                    index=index, status=refused.status, error=refused.message, field=refused.field
                )
            )
            continue
        ready.append((index, message, event_id(event)))
    if ready:
        if ctx.publisher is None:
            raise HTTPException(503, "this API runs read-only: no bus is configured for ingest")
        errors = await asyncio.to_thread(ctx.publisher.publish, [m for _i, m, _e in ready])
        for (index, _message, eid), error in zip(ready, errors, strict=True):
            if error is None:
                results.append(ItemResult(index=index, eventId=eid, status=201))
            else:
                results.append(ItemResult(index=index, eventId=eid, status=503, error=error))
    results.sort(key=lambda r: r.index)
    accepted = sum(r.status == 201 for r in results)
    outcome = BatchResult(accepted=accepted, rejected=len(results) - accepted, results=results)
    if accepted == len(results):
        status = 200
    elif accepted:
        status = 207
    elif any(r.status == 503 for r in results):
        status = 503
    else:
        status = 422
    return JSONResponse(outcome.model_dump(), status_code=status)
