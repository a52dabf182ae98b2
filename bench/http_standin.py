"""A minimal stand-in for the API's single-event endpoint: the Marquez-style ingest path that
``bench/ingest_bench.py`` compares the Kafka consumer with, until the real API service exists.

``POST /api/v1/lineage`` takes one OpenLineage event as JSON (what an OpenLineage HTTP transport
sends), decodes and validates it (``emitters.codec.decode``), maps it to rows
(``consumers.materialize.rows_for_events``) and inserts each table's rows at once -- one insert
per table per request, as a writer that handles one event at a time does -- then answers 201.
Invalid events get 422.  ``GET /healthz`` answers 200 once the warehouse is migrated.

Run:  PEDIGREE_STANDIN_CLICKHOUSE=chdb:///tmp/standin \\
      .venv/bin/python -m uvicorn http_standin:app --app-dir bench --port 8080

The handler is ``async`` and does its work inline: requests are served one at a time, which is
what a single keep-alive client sees anyway, and it spares the thread-pool hop a ``def``
handler would take (the favourable case for this path).
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consumers.materialize import EventMeta, rows_for_events
from consumers.migrate import migrate
from consumers.tables import COLUMNS, TABLES
from emitters.codec import decode
from emitters.errors import InvalidEvent

DSN_ENV = "PEDIGREE_STANDIN_CLICKHOUSE"
DATABASE_ENV = "PEDIGREE_STANDIN_DATABASE"

_state: dict[str, Any] = {}
_offsets = itertools.count()


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    import clickhouse_connect

    dsn = os.environ.get(DSN_ENV, "chdb:///tmp/pedigree-http-standin")
    database = os.environ.get(DATABASE_ENV, "pedigree")
    client = clickhouse_connect.get_client(dsn=dsn)
    migrate(client, database)
    _state.update(client=client, database=database)
    try:
        yield
    finally:
        client.close()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/api/v1/lineage")
async def lineage(request: Request) -> Response:
    body = await request.body()
    try:
        event = decode(body)
    except InvalidEvent as err:
        return JSONResponse({"error": str(err)}, status_code=422)
    meta = EventMeta(
        topic="http",
        partition=0,
        offset=next(_offsets),
        message=body,
        received_time=datetime.now(UTC),
    )
    rows = rows_for_events([(meta, event)])
    client, database = _state["client"], _state["database"]
    for table in TABLES:
        if rows.get(table):
            client.insert(f"`{database}`.{table}", rows[table], column_names=COLUMNS[table])
    return Response(status_code=201)
