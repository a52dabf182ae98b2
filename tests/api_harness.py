"""What the API integration tests share: the API served with a token table of their own, a
barrier that waits until every accepted event is in the warehouse, and a lineage graph reduced
to its nodes and edges.

The service is the real one (:func:`api.serve.running`): uvicorn on a free loopback port, the
spool as its bus, the spool consumer in the same process, chdb as the warehouse.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from api.auth import hash_token
from api.serve import ServeOptions, running
from emitters.spool import closed_files
from tests.integration.test_api import Api

__all__ = ["Edge", "Scope", "graph_shape", "serve_api", "typed", "wait_drained"]

Edge = tuple[str, str]
Scope = tuple[Sequence[str], Sequence[str]]
"""A token's (read, write) namespace patterns."""


@contextmanager
def serve_api(
    directory: Path, clickhouse: Any, clickhouse_dsn: str, tokens: Mapping[str, Scope]
) -> Iterator[Api]:
    """The API and its consumer on ``clickhouse``'s fresh database, with ``tokens``."""
    entries = [
        {"name": f"token-{i}", "sha256": hash_token(token), "read": list(read),
         "write": list(write)}
        for i, (token, (read, write)) in enumerate(tokens.items())
    ]  # fmt: skip
    tokens_file = directory / "tokens.json"
    tokens_file.write_text(json.dumps({"tokens": entries}))
    options = ServeOptions(
        clickhouse_dsn=clickhouse_dsn,
        database=clickhouse.database,
        spool_dir=str(directory / "spool"),
        tokens_file=str(tokens_file),
        poll_seconds=0.1,
    )
    with running(options) as (service, base):
        yield Api(base, service)


def wait_drained(api: Api, event_ids: Iterable[str] = (), timeout: float = 30) -> None:
    """Until the consumer has materialized everything the API accepted so far.

    The spool consumer deletes a spool file once every table has its rows, so an empty spool
    means every table is written (the ``events`` table alone is written first: a graph read
    as soon as an event is there may miss its edges).  ``event_ids`` (the API's answers) are
    checked to be in the ``events`` table too.
    """
    spool = api.service.options.spool_dir
    assert spool is not None
    warehouse = api.service.warehouse
    wanted = sorted(set(event_ids))
    sql = (
        f"SELECT uniqExact(event_id) FROM `{warehouse.database}`.events "
        "WHERE event_id IN {ids:Array(String)}"
    )
    deadline = time.monotonic() + timeout
    while True:
        pending = closed_files(spool, recover=False)
        [(stored,)] = warehouse.query(sql, {"ids": wanted}) if not pending else [(-1,)]
        if not pending and stored == len(wanted):
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"after {timeout} s: {len(pending)} spool files not consumed, "
                f"{stored} of {len(wanted)} accepted events materialized"
            )
        time.sleep(0.05)


def graph_shape(body: Mapping[str, Any]) -> tuple[dict[str, str], set[Edge]]:
    """A ``/api/v1/lineage`` answer as ``{node id: type}`` and its edges, after checking that
    the edges are consistent: each one listed as an out-edge of its origin and an in-edge of its
    destination, and both ends nodes of the graph."""
    nodes = {n["id"]: n["type"] for n in body["graph"]}
    outgoing = {(e["origin"], e["destination"]) for n in body["graph"] for e in n["outEdges"]}
    incoming = {(e["origin"], e["destination"]) for n in body["graph"] for e in n["inEdges"]}
    dangling = {e for e in outgoing | incoming if e[0] not in nodes or e[1] not in nodes}
    assert not dangling, f"edges to nodes absent from the graph: {sorted(dangling)}"
    assert outgoing == incoming
    for node in body["graph"]:
        assert all(e["origin"] == node["id"] for e in node["outEdges"])
        assert all(e["destination"] == node["id"] for e in node["inEdges"])
    return nodes, outgoing


def typed(ids: Iterable[str]) -> dict[str, str]:
    """``{node id: type}`` for node ids, the type read from the id (``run:`` -> ``RUN``)."""
    return {i: i.partition(":")[0].upper() for i in ids}
