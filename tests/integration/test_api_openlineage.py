"""The API as OpenLineage producers meet it, on the real embedded engine (ingest -> spool ->
the in-process spool consumer -> chdb -> the lineage endpoint).

* The official ``openlineage-python`` client, with its HTTP transport and an API key, emits a
  run; the run-level and job-level graphs show exactly the datasets it named.
* The consumer compatibility scenarios of ``../shared/openlineage/scenarios`` (events from real
  producers: Spark on Dataproc, Spark column lineage) posted as their producers would post them
  draw the graphs their ``scenario.md`` files describe.  Where a ``scenario.md`` says nothing
  (empty) or describes another scenario (copied boilerplate), the expected graph is written out
  here by hand from the events' job names and datasets, and the test says so.  An event Pedigree
  refuses on purpose is asserted refused, with the field named.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import dataset_version_dataset
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport
from openlineage.client.uuid import generate_new_uuid

from tests.api_harness import graph_shape, serve_api, typed, wait_drained
from tests.integration.test_api import NLP, VISION, Api
from tests.integration.test_warehouse import SCENARIOS, scenario

PRODUCER = "https://github.com/pedigree/tests/openlineage-client"
WRITER = "scenario-writer-token"
"""Writes (and so reads) every namespace: the scenarios use ``default``, ``file``, ``hdfs://…``."""


@pytest.fixture
def api(tmp_path: Path, clickhouse: Any, clickhouse_dsn: str) -> Iterator[Api]:
    tokens = {
        VISION: ([], ["vision", "s3://vision-*"]),
        NLP: ([], ["nlp", "s3://nlp-*"]),
        WRITER: ([], ["*"]),
    }
    with serve_api(tmp_path, clickhouse, clickhouse_dsn, tokens) as api:
        yield api


def post_all(api: Api, events: list[dict[str, Any]], token: str = WRITER) -> list[str]:
    """Post each event as a producer's HTTP transport does (one per request); their ids."""
    ids = []
    for event in events:
        response = api.post("/api/v1/lineage", event, token)
        assert response.status_code == 201, (event["eventType"], response.text)
        ids.append(response.json()["eventId"])
    return ids


def lineage(api: Api, node_id: str, depth: int = 10, token: str = WRITER) -> dict[str, Any]:
    response = api.get("/api/v1/lineage", token, nodeId=node_id, depth=depth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["truncated"] is False
    assert body["tenantBoundary"]["hiddenEdges"] == 0
    return body


# ---------------------------------------------------------------------------------------------
# The official client


def _client(api: Api, token: str) -> OpenLineageClient:
    config = HttpConfig(
        url=api.base,
        endpoint="api/v1/lineage",
        timeout=10,
        auth=ApiKeyTokenProvider({"apiKey": token}),
    )
    return OpenLineageClient(transport=HttpTransport(config))


def _version(value: str) -> dict[str, Any]:
    return {"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=value)}


def _run_events(run_id: str, namespace: str) -> list[RunEvent]:
    """A training run's START and COMPLETE, built with the client's own classes."""
    job = Job(namespace=namespace, name="ol-client/train")
    data = f"s3://{namespace}-data"
    images = InputDataset(namespace=data, name="images/train", facets=_version("v7"))
    model = OutputDataset(namespace=data, name="models/classifier", facets=_version("sha256:c1a55"))
    return [
        RunEvent(
            eventType=RunState.START,
            eventTime="2026-11-28T10:00:00.000Z",
            run=Run(runId=run_id),
            job=job,
            producer=PRODUCER,
            inputs=[images],
        ),
        RunEvent(
            eventType=RunState.COMPLETE,
            eventTime="2026-11-28T10:05:00.000Z",
            run=Run(runId=run_id),
            job=job,
            producer=PRODUCER,
            inputs=[images],
            outputs=[model],
        ),
    ]


def test_the_official_http_transport_delivers_a_run_the_graph_shows_exactly(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``openlineage-python``'s HttpTransport, pointed at the API with an API key (sent as
    ``Authorization: Bearer``), emits START and COMPLETE; the run-level graph of the run and
    the job-level graph of its job hold exactly the input and output it named."""
    monkeypatch.delenv("OPENLINEAGE_DISABLED", raising=False)
    client = _client(api, VISION)
    assert client.transport.kind == "http"
    run_id = str(generate_new_uuid())
    start, complete = _run_events(run_id, "vision")
    client.emit(start)
    client.emit(complete)
    client.close()
    wait_drained(api)

    images = "dataset:s3://vision-data:images/train"
    model = "dataset:s3://vision-data:models/classifier"
    run_level = lineage(api, f"run:{run_id}", token=VISION)
    nodes, edges = graph_shape(run_level)
    assert nodes == typed([f"run:{run_id}", f"{images}#v7", f"{model}#sha256:c1a55"])
    assert edges == {(f"{images}#v7", f"run:{run_id}"), (f"run:{run_id}", f"{model}#sha256:c1a55")}
    run = next(n for n in run_level["graph"] if n["id"] == f"run:{run_id}")["data"]
    assert run["status"] == "COMPLETE"
    assert run["job"] == {"namespace": "vision", "name": "ol-client/train"}
    assert run["startTime"].startswith("2026-11-28T10:00:00")
    assert run["endTime"].startswith("2026-11-28T10:05:00")

    job = "job:vision:ol-client/train"
    nodes, edges = graph_shape(lineage(api, job, token=VISION))
    assert nodes == typed([job, images, model])
    assert edges == {(images, job), (job, model)}


def test_the_official_http_transport_gets_the_apis_refusals(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transport raises what the API answers: its key is checked, and so is its scope."""
    monkeypatch.delenv("OPENLINEAGE_DISABLED", raising=False)
    start, _complete = _run_events(str(generate_new_uuid()), "vision")
    with pytest.raises(requests.HTTPError) as unknown:
        _client(api, "not-a-token").emit(start)
    assert unknown.value.response.status_code == 401
    with pytest.raises(requests.HTTPError) as foreign:
        _client(api, NLP).emit(start)  # nlp may not write namespace vision
    assert foreign.value.response.status_code == 403
    assert "'vision'" in foreign.value.response.json()["detail"]


# ---------------------------------------------------------------------------------------------
# The OpenLineage consumer compatibility scenarios


COVERED = {
    "CLL",
    "simple_run_event",
    "spark_dataproc_bigquery_shakespare",
    "spark_dataproc_simple_producer_test",
    "spark_dataproc_simple_producer_test_complete",
}
"""The scenarios with a test below: a new one fails :func:`test_every_scenario_has_a_test`."""


def test_every_scenario_has_a_test() -> None:
    if not SCENARIOS.is_dir():
        pytest.skip(f"{SCENARIOS} is absent (the shared OpenLineage scenarios are not checked out)")
    assert {p.name for p in SCENARIOS.iterdir() if (p / "events").is_dir()} == COVERED


def test_column_lineage_scenario_draws_the_ctas_from_both_sources(api: Api) -> None:
    """CLL/scenario.md: ``CREATE TABLE cll_source1``, ``CREATE TABLE cll_source2``, then
    ``CREATE TABLE tbl1 ... AS SELECT ... FROM cll_source2 JOIN cll_source1`` (Spark SQL, hive
    tables at ``/tmp/cll_test/*``): each source is written by its CREATE TABLE job and read by
    the CTAS, which writes tbl1 (with the schema ident, trans, agg)."""
    events = scenario("CLL")
    wait_drained(api, post_all(api, events))
    prefix = "testColumnLevelLineage:open_lineage_integration_create_table"
    ctas = f"job:{prefix}.execute_create_hive_table_as_select_command.default_tbl1"
    create1 = f"job:{prefix}.execute_create_table_command.cll_test_cll_source1"
    create2 = f"job:{prefix}.execute_create_table_command.cll_test_cll_source2"
    source1, source2 = (
        "dataset:file:/tmp/cll_test/cll_source1",
        "dataset:file:/tmp/cll_test/cll_source2",
    )
    tbl1 = "dataset:file:/tmp/cll_test/tbl1"

    nodes, edges = graph_shape(lineage(api, ctas))
    assert nodes == typed([ctas, create1, create2, source1, source2, tbl1])
    assert edges == {
        (create1, source1), (create2, source2), (source1, ctas), (source2, ctas), (ctas, tbl1),
    }  # fmt: skip
    # The parent application job wrote and read nothing: it is no node of the lineage graph.
    assert f"job:{prefix}" not in nodes

    # Run level: the same shape, with the (unversioned: no version facet) dataset nodes ``#``.
    ctas_run, create1_run = (
        "019127df-0850-72bc-b214-b255290588a6",
        "019127df-00a2-743c-b714-df7e6dcadb2b",
    )
    create2_run = "019127df-074d-7d1b-b8d8-8a2c16a2fe60"
    body = lineage(api, f"run:{ctas_run}")
    nodes, edges = graph_shape(body)
    runs = [f"run:{r}" for r in (ctas_run, create1_run, create2_run)]
    assert nodes == typed([*runs, f"{source1}#", f"{source2}#", f"{tbl1}#"])
    assert edges == {
        (f"run:{create1_run}", f"{source1}#"), (f"run:{create2_run}", f"{source2}#"),
        (f"{source1}#", f"run:{ctas_run}"), (f"{source2}#", f"run:{ctas_run}"),
        (f"run:{ctas_run}", f"{tbl1}#"),
    }  # fmt: skip
    data = {n["id"]: n["data"] for n in body["graph"]}
    assert data[f"run:{ctas_run}"]["status"] == "COMPLETE"
    assert data[f"run:{ctas_run}"]["parentRunId"] == "019127de-fd25-7707-bfa4-3ec02693a531"
    assert data[f"{tbl1}#"]["unversioned"] is True
    assert [f["name"] for f in data[f"{tbl1}#"]["schema"]] == ["ident", "trans", "agg"]
    assert data[f"{tbl1}#"]["producedBy"] == [ctas_run]


def test_simple_run_event_is_refused_for_its_run_id_and_says_so(api: Api) -> None:
    """simple_run_event/scenario.md: the simplest run event (bigquery ``test.table.input`` ->
    ``test.table.output``).  Its ``run.runId`` is the placeholder ``"run_id"``, not the UUID
    the OpenLineage spec requires (``"format": "uuid"``): Pedigree refuses it (422, field
    named), on the single and the batch endpoint, and stores nothing.  With a UUID as run id,
    the same event draws the graph scenario.md describes."""
    [event] = scenario("simple_run_event")
    assert event["run"]["runId"] == "run_id"
    single = api.post("/api/v1/lineage", event, WRITER)
    assert single.status_code == 422
    assert single.json()["detail"].startswith("run.runId: ")
    batch = api.post("/api/v1/lineage/batch", [event], WRITER)
    assert batch.status_code == 422
    [result] = batch.json()["results"]
    assert (result["status"], result["field"]) == (422, "run.runId")

    fixed = {**event, "run": {**event["run"], "runId": "0187e5a8-0f1b-7a4e-9c3f-5d2a1b0c9e8f"}}
    wait_drained(api, post_all(api, [fixed]))
    job = "job:job_namespace:job_name"
    source, target = "dataset:bigquery:test.table.input", "dataset:bigquery:test.table.output"
    nodes, edges = graph_shape(lineage(api, job))
    assert nodes == typed([job, source, target])
    assert edges == {(source, job), (job, target)}
    # Only the fixed copy was stored: the refused one left no run behind.
    events = api.service.warehouse.query(
        f"SELECT DISTINCT run_id FROM `{api.service.warehouse.database}`.events"
    )
    assert events == [(fixed["run"]["runId"],)]


def test_spark_bigquery_shakespeare_scenario_reads_the_public_table(api: Api) -> None:
    """spark_dataproc_bigquery_shakespare/scenario.md is empty.  By its events: the Spark
    application ``shakespeare_on_spark`` (namespace ``default``) reads the BigQuery table
    ``bigquery-public-data.samples.shakespeare`` in its ``adaptive_spark_plan`` job and writes
    ``file:/tmp/outputs/1729097570970`` in ``adaptive_spark_plan.outputs_1729097570970``."""
    wait_drained(api, post_all(api, scenario("spark_dataproc_bigquery_shakespare")))
    shakespeare = "dataset:bigquery:bigquery-public-data.samples.shakespeare"
    plan = "job:default:shakespeare_on_spark.adaptive_spark_plan"
    write = f"{plan}.outputs_1729097570970"
    output = "dataset:file:/tmp/outputs/1729097570970"
    nodes, edges = graph_shape(lineage(api, shakespeare))
    assert nodes == typed([shakespeare, plan, write, output])
    assert edges == {(shakespeare, plan), (shakespeare, write), (write, output)}

    write_run = "0192963f-f6f8-71c0-8380-500bc70883ee"
    nodes, edges = graph_shape(lineage(api, f"run:{write_run}", depth=1))
    assert nodes == typed([f"run:{write_run}", f"{shakespeare}#", f"{output}#"])
    assert edges == {(f"{shakespeare}#", f"run:{write_run}"), (f"run:{write_run}", f"{output}#")}


HDFS = "dataset:hdfs://dataproc-producer-test-m:/user/hive/warehouse"
APP = "job:default:cl_i_test_application"


def test_spark_dataproc_insert_scenario_copies_t1_into_t2(api: Api) -> None:
    """spark_dataproc_simple_producer_test/scenario.md is boilerplate copied from
    simple_run_event (it names bigquery tables cll_source1/cll_source2, which none of its events
    mention).  By its events: one Spark job, ``INSERT INTO t2 SELECT ... FROM t1`` on hive
    tables in HDFS, a child run of the application run ``019299c5-12f5-…`` (not in the
    scenario)."""
    wait_drained(api, post_all(api, scenario("spark_dataproc_simple_producer_test")))
    insert = f"{APP}.execute_insert_into_hive_table.warehouse_t2"
    t1, t2 = f"{HDFS}/t1", f"{HDFS}/t2"
    nodes, edges = graph_shape(lineage(api, insert))
    assert nodes == typed([insert, t1, t2])
    assert edges == {(t1, insert), (insert, t2)}
    run_id = "019299c5-73cf-7069-a70f-74eb8070b577"
    detail = api.get(f"/api/v1/runs/{run_id}", WRITER).json()
    assert detail["run"]["status"] == "COMPLETE"
    assert detail["run"]["parentRunId"] == "019299c5-12f5-7946-b5b2-c6abab662e20"
    assert [i["id"] for i in detail["inputs"]] == [f"{t1}#"]
    assert [o["id"] for o in detail["outputs"]] == [f"{t2}#"]


def test_spark_dataproc_complete_scenario_draws_the_whole_application(api: Api) -> None:
    """spark_dataproc_simple_producer_test_complete/scenario.md is the same copied boilerplate.
    By its events, the application ``cl_i_test_application`` drops t1 and t2, creates t1,
    inserts into t1, creates t2 as a select, and inserts t1 into t2: every job that wrote t1
    or t2, and the one that read t1, around the two tables."""
    wait_drained(api, post_all(api, scenario("spark_dataproc_simple_producer_test_complete")))
    t1, t2 = f"{HDFS}/t1", f"{HDFS}/t2"
    drop = f"{APP}.drop_table"
    create_t1 = f"{APP}.execute_create_table_command.warehouse_t1"
    insert_t1 = f"{APP}.execute_insert_into_hive_table.warehouse_t1"
    ctas_t2 = f"{APP}.execute_create_hive_table_as_select_command.default_t2"
    insert_t2 = f"{APP}.execute_insert_into_hive_table.warehouse_t2"
    nodes, edges = graph_shape(lineage(api, t2))
    assert nodes == typed([t1, t2, drop, create_t1, insert_t1, ctas_t2, insert_t2])
    assert edges == {
        (drop, t1), (create_t1, t1), (insert_t1, t1), (t1, insert_t2),
        (drop, t2), (ctas_t2, t2), (insert_t2, t2),
    }  # fmt: skip
    assert APP not in nodes  # the application run's own events name no dataset

    # Run level from the last insert: t1 exactly as the earlier runs left it (unversioned).
    insert_t2_run = "019299c5-73cf-7069-a70f-74eb8070b577"
    body = lineage(api, f"run:{insert_t2_run}", depth=2)
    nodes, _edges = graph_shape(body)
    writers_of_t1 = {
        "019299c5-364c-79a9-9d83-659761b84279",  # drop_table (t1)
        "019299c5-4f43-7e45-aa6f-c65164159854",  # create table t1
        "019299c5-5488-7db5-a64e-11439fc53117",  # insert into t1
    }
    writers_of_t2 = {
        "019299c5-4630-75cc-a27a-33e6e55ec50d",  # drop_table (t2)
        "019299c5-6ff9-7864-8dd7-e8142a2b6047",  # create t2 as select
    }
    expected_runs = {f"run:{r}" for r in {insert_t2_run} | writers_of_t1 | writers_of_t2}
    assert nodes == typed([*expected_runs, f"{t1}#", f"{t2}#"])
    data = {n["id"]: n["data"] for n in body["graph"]}
    assert set(data[f"{t1}#"]["producedBy"]) == writers_of_t1
