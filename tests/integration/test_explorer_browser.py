"""The lineage explorer in a real browser: headless Chromium (Debian's package, driven by
Playwright) against the real API serving the demo's warehouse, with authentication on.

The demo pipeline runs once for the module, in process, through the real SDK, spool and
consumer into the session's ClickHouse engine (a database of its own); then the API serves that
warehouse with a token table.  The tests do what a person does — sign in, search, open the
model's provenance, click the training run, compare the two model versions, download the rerun
spec — and assert what the page shows.  A screenshot of every view goes to the test's
directory and to ``.artifacts/explorer/``; with ``PEDIGREE_UPDATE_SCREENSHOT=1`` the
provenance view is also written to ``docs/img/explorer-provenance.png`` (the README's).

No Chromium at ``/usr/bin/chromium`` (``make test`` installs it) or no Playwright: skipped,
saying which.  Playwright never downloads a browser of its own here.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from api.serve import ServeOptions, Service, running
from tests.api_harness import wait_drained
from tests.integration.test_api import ADMIN, NLP, Api, write_tokens
from tests.pipeline import PRODUCER, RUN_EVENT

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("PEDIGREE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = ROOT / ".artifacts" / "explorer"
README_SHOT = ROOT / "docs" / "img" / "explorer-provenance.png"
MODEL = "demo-classifier"
WIDE = 30
"""Shards the wide fan-in fixture's merge run reads (the page collapses over 12)."""


@dataclass
class Demo:
    base: str
    service: Service
    report: dict[str, Any]
    workdir: Path
    merge_output: str
    """Node id of what the wide fan-in's merge run wrote."""


def _wide_fan_in_events() -> tuple[list[dict[str, Any]], str]:
    """WIDE ingest runs each write a shard; one merge run reads them all."""

    def event(kind: str, run_id: str, job: str, **io: Any) -> dict[str, Any]:
        return {
            "eventType": kind,
            "eventTime": "2026-11-29T12:00:00Z",
            "producer": PRODUCER,
            "schemaURL": RUN_EVENT,
            "run": {"runId": run_id},
            "job": {"namespace": "demo-wide", "name": job},
            "inputs": io.get("inputs", []),
            "outputs": io.get("outputs", []),
        }

    def dataset(name: str, version: str) -> dict[str, Any]:
        facet = {
            "_producer": PRODUCER,
            "datasetVersion": version,
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json",
        }
        return {"namespace": "s3://wide", "name": name, "facets": {"version": facet}}

    events: list[dict[str, Any]] = []
    shards = []
    for i in range(WIDE):
        run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"ingest-{i}"))
        shard = dataset(f"shards/part-{i:03d}", "v1")
        shards.append(shard)
        events += [
            event("START", run_id, "ingest"),
            event("COMPLETE", run_id, "ingest", outputs=[shard]),
        ]
    merge = str(uuid.uuid5(uuid.NAMESPACE_URL, "merge"))
    events += [
        event("START", merge, "merge"),
        event("COMPLETE", merge, "merge", inputs=shards, outputs=[dataset("merged", "v1")]),
    ]
    return events, "dataset:s3://wide:merged#v1"


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory, _clickhouse_admin: Any, clickhouse_dsn: str
) -> Iterator[Demo]:
    from pedigree.demo_report import Demo as DemoRun

    workdir = tmp_path_factory.mktemp("explorer")
    database = f"pedigree_explorer_{uuid.uuid4().hex[:12]}"
    _clickhouse_admin.command(f"CREATE DATABASE {database}")
    options = ServeOptions(
        clickhouse_dsn=clickhouse_dsn,
        database=database,
        spool_dir=str(workdir / "spool"),
        auth=False,
        poll_seconds=0.1,
    )
    try:
        # `pedigree demo`'s own steps (auth off, as the demo runs), then the wide fixture
        with running(options) as (service, base):
            report = DemoRun(workdir, base, options, lambda _line: None).run_all()
            events, merge_output = _wide_fan_in_events()
            response = requests.post(base + "/api/v1/lineage/batch", json=events, timeout=60)
            assert response.status_code == 200, response.text
            wait_drained(Api(base, service), [r["eventId"] for r in response.json()["results"]])
        options.tokens_file = str(write_tokens(workdir / "tokens.json"))
        options.auth = True
        with running(options) as (service, base):
            yield Demo(base, service, report, workdir, merge_output)
    finally:
        _clickhouse_admin.command(f"DROP DATABASE IF EXISTS {database} SYNC")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: `make test` installs Debian's package "
            "(apt-get install chromium); set PEDIGREE_CHROMIUM to use another"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed: pip install -e '.[dev]'"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 800}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_default_timeout(15_000)
    yield page
    context.close()
    # a 401 or 404 the page handles is logged by Chromium as a failed resource: not a bug
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []


def shot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, ARTIFACTS / path.name)
    return path


def sign_in(page: Any, token: str) -> None:
    page.fill("#token", token)
    page.click("#signin-form button[type=submit]")


def test_sign_in_search_provenance_run_compare_and_rerun(
    demo: Demo, page: Any, tmp_path: Path
) -> None:
    second = demo.report["models"][1]
    train_run = second["train_run"]
    prov = demo.report["provenance"]
    train_set = next(
        n["dataset"]
        for n in prov["nodes"]
        if n["kind"] == "dataset_version" and n["dataset"]["name"].endswith("features/train.npz")
    )

    page.goto(demo.base + "/")
    page.wait_for_selector("#signin")  # auth on, no token yet: the sign-in prompt, no data
    sign_in(page, ADMIN)
    page.wait_for_selector("#recent-runs tbody tr")
    shot(page, tmp_path, "1-home")

    # search for the model, open it, open version 2's provenance
    page.fill("#search", "demo-class")
    page.press("#search", "Enter")
    page.wait_for_selector("#results")
    page.locator("#r-models + table").get_by_role("link", name=MODEL).click()
    page.wait_for_selector("#versions")
    shot(page, tmp_path, "2-model")
    page.get_by_role("link", name="Provenance of version 2").click()
    page.wait_for_selector("svg#graph .node")
    assert page.locator("h1").inner_text() == f"Provenance of model {MODEL} version 2"
    node_ids = set(
        page.locator("svg#graph .node").evaluate_all("els => els.map(e => e.dataset.id)")
    )
    assert node_ids == {n["id"] for n in prov["nodes"]}  # the API's provenance, all drawn
    assert page.locator("svg#graph .node.run").count() == sum(
        n["kind"] == "run" for n in prov["nodes"]
    )
    assert page.locator("svg#graph path.edge").count() == len(prov["edges"])
    assert page.locator("#truncated").count() == 0
    # data flows left to right: every edge's origin is left of its destination
    boxes = {i: page.locator(f'svg#graph .node[data-id="{i}"]').bounding_box() for i in node_ids}
    assert all(boxes[e["origin"]]["x"] < boxes[e["destination"]]["x"] for e in prov["edges"])
    provenance_png = shot(page, tmp_path, "3-provenance")
    if os.environ.get("PEDIGREE_UPDATE_SCREENSHOT") == "1":
        # the README's: wide enough that the whole graph shows at full size
        page.set_viewport_size({"width": 1900, "height": 900})
        page.reload()
        page.wait_for_selector("svg#graph .node")
        top = page.locator("h1").bounding_box()
        graph = page.locator(".graph-scroll").bounding_box()
        clip = {
            "x": 0,
            "y": top["y"] - 8,
            "width": 1900,
            "height": graph["y"] + graph["height"] - top["y"] + 16,
        }
        page.screenshot(path=str(README_SHOT), clip=clip)
        page.set_viewport_size({"width": 1366, "height": 800})
        page.reload()
        page.wait_for_selector("svg#graph .node")

    # the training run, by keyboard: focus its node and press Enter, then open it
    train_node = page.locator(f'svg#graph .node[data-id="run:{train_run}"]')
    train_node.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#details #open-run")
    page.click("#details #open-run")
    page.wait_for_selector("#parameters")
    assert page.locator("h1").inner_text() == "Run train"
    params = dict(
        zip(
            page.locator("#parameters tbody th").all_inner_texts(),
            page.locator("#parameters tbody td").all_inner_texts(),
            strict=True,
        )
    )
    assert params == {"epochs": "60", "lr": "0.05"}
    assert page.locator("#inputs td[data-version]").evaluate_all(
        "els => els.map(e => e.dataset.version)"
    ) == [train_set["version"]]
    assert train_set["name"] in page.locator("#inputs").inner_text()
    dirty = next(n["run"]["code"]["dirty"] for n in prov["nodes"] if n["id"] == f"run:{train_run}")
    assert (
        page.locator("#dirty").inner_text()
        == {None: "unknown", True: "yes: uncommitted changes", False: "no: clean working tree"}[
            dirty
        ]
    )
    assert page.locator("#usage").count() == 1
    shot(page, tmp_path, "4-run")

    # compare the two model versions
    page.go_back()
    page.go_back()
    page.wait_for_selector("#versions")
    page.select_option("#compare-a", "1")
    page.select_option("#compare-b", "2")
    page.click("#compare-form button[type=submit]")
    page.wait_for_selector("#compare")
    differs = {
        row.get_attribute("data-key"): row.locator("td").all_inner_texts()
        for row in page.locator("#compare tr.differs").all()
    }
    assert differs["job demo:train / parameter lr"] == ["0.5", "0.05"]
    assert differs["job demo:train / parameter epochs"] == ["300", "60"]
    assert differs["model / metric accuracy"] == ["0.965", "0.964"]
    same = page.locator('#compare tr.same[data-key^="job demo:train / input "]')
    assert same.count() == 1  # the same exact training set
    shot(page, tmp_path, "5-compare")

    # the rerun spec: warnings, downloads, the command
    page.goto(f"{demo.base}/#/rerun?id={train_run}")
    page.wait_for_selector("#warnings li")
    assert "no_image" in page.locator("#warnings").inner_text()
    with page.expect_download() as download_info:
        page.click("#download-json")
    spec = json.loads(Path(download_info.value.path()).read_text())
    assert download_info.value.suggested_filename == f"rerun-{train_run}.json"
    assert spec["runId"] == train_run
    assert spec["parameters"] == {"epochs": 60, "lr": 0.05}
    assert spec["inputs"] == [
        {"namespace": "file", "name": train_set["name"], "version": train_set["version"]}
    ]
    assert spec == demo.report["rerun"]  # what the API gave the demo, byte for byte in JSON
    with page.expect_download() as download_info:
        page.click("#download-k8s")
    manifest = json.loads(Path(download_info.value.path()).read_text())
    assert manifest["kind"] == "Job"
    assert manifest["apiVersion"] == "batch/v1"
    command = page.locator("#rerun-command").inner_text()
    assert command == f"pedigree rerun {train_run} --api {demo.base}"
    shot(page, tmp_path, "6-rerun")
    assert provenance_png.stat().st_size > 10_000


def test_without_a_valid_token_the_page_shows_no_data(
    demo: Demo, page: Any, tmp_path: Path
) -> None:
    run_id = demo.report["models"][1]["train_run"]
    page.goto(f"{demo.base}/#/run?id={run_id}")
    page.wait_for_selector("#signin")
    assert "Sign in with an API token" in page.locator("#signin").inner_text()
    assert page.locator("#parameters").count() == 0
    sign_in(page, "not-a-token")
    page.wait_for_selector("#signin >> text=refused the token")
    assert page.locator("#parameters").count() == 0
    assert page.evaluate("sessionStorage.getItem('pedigree.token')") is None
    shot(page, tmp_path, "refused")
    # a token that may not read the demo's namespaces sees "not found", not the run
    sign_in(page, NLP)
    page.wait_for_selector("#status:has-text('404')")
    assert page.locator("#parameters").count() == 0
    # the page itself is static and public; the API behind it is not
    assert requests.get(demo.base + "/api/v1/runs", timeout=10).status_code == 401
    page_response = requests.get(demo.base + "/", timeout=10)
    assert "script-src 'self'" in page_response.headers["Content-Security-Policy"]
    assert run_id not in page_response.text


def test_with_auth_off_the_page_needs_no_sign_in(demo: Demo, page: Any, tmp_path: Path) -> None:
    options = ServeOptions(
        clickhouse_dsn=demo.service.options.clickhouse_dsn,
        database=demo.service.options.database,
        auth=False,
        consume=False,
    )
    with running(options) as (_service, base):
        page.goto(base + "/")
        page.wait_for_selector("#recent-runs tbody tr")
        assert page.locator("#signin").count() == 0
        assert page.locator("#signin-form").is_hidden()
        shot(page, tmp_path, "auth-off")


def test_a_wide_fan_in_collapses_expands_and_a_truncated_graph_says_so(
    demo: Demo, page: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    page.goto(demo.base + "/")
    sign_in(page, ADMIN)
    page.wait_for_selector("#recent-runs")
    page.goto(f"{demo.base}/#/graph?nodeId={demo.merge_output}&depth=4")
    group = page.locator("svg#graph .node.group")
    group.wait_for()
    assert page.locator("svg#graph .node").count() == 2 + 11 * 2 + 1  # 11 shards + writers
    assert group.get_attribute("aria-label") == "collapsed group: +38 more, activate to expand"
    shot(page, tmp_path, "wide-collapsed")
    group.focus()
    page.keyboard.press("Enter")
    expect(page.locator("svg#graph .node")).to_have_count(2 + WIDE * 2)
    assert page.locator("svg#graph .node.group").count() == 0
    shot(page, tmp_path, "wide-expanded")
    page.goto(f"{demo.base}/#/graph?nodeId={demo.merge_output}&depth=4&maxNodes=10")
    page.wait_for_selector("#truncated")
    assert "Truncated" in page.locator("#truncated").inner_text()
    shot(page, tmp_path, "wide-truncated")
