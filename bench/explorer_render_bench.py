"""Explorer: how long the browser takes to draw a large provenance graph (issue 7).

    .venv/bin/python bench/explorer_render_bench.py [--repeat 10] [--chromium /usr/bin/chromium]

The issue asks that "graphs of hundreds of nodes stay readable and render in under a second".
This measures the whole path a person waits for, in headless Chromium (Debian's package,
driven by Playwright; no browser is downloaded) against the real API:

1. **The warehouse**: a chdb directory in a temporary dir.  Two deterministic lineage graphs,
   posted as OpenLineage events (START and COMPLETE per run) to ``POST /api/v1/lineage/batch``
   and materialized by the API's own spool consumer: the provenance of model
   ``render-bench-500`` version 1 has ~500 nodes, that of ``render-bench-200`` version 1 ~200.
   Shape, from the model rightwards to the raw data: the model's dataset version, its training
   run, which reads a fan of feature sets (40 / 16), then alternating levels of runs and the
   dataset versions they read (each version produced by one run and read by 1-3 runs of the
   next level), one run reading a fan of 60 / 20 raw shards; depth 8 (the page's default)
   reaches every node.  Before measuring, the API's provenance answer is checked to hold
   exactly the generated nodes and edges.
2. **The server**: ``api.serve.running`` (auth off) in this process.
3. **The page**, viewport 1366x800, for each case: ``--repeat`` timed loads after one untimed
   warm-up, each in a fresh navigation (``about:blank`` first, so the page really reloads; the
   HTTP cache is warm, as for a person reloading).  An init script watches the DOM: the graph
   is *drawn* when ``svg#graph`` holds the number of nodes the API's layout has for that URL,
   and *painted* after the next animation frame (``requestAnimationFrame`` then a task).  The
   time is ``performance.now()`` at *painted*, i.e. from the navigation's start; the
   ``click`` case navigates in the loaded page from the model's page to its provenance (what
   clicking its Provenance link does: a hash change) and times from that moment.  The
   ``/api/v1/layout`` request is read from the Resource Timing API (its duration and, inside
   it, the wait for the first byte: the server's walk, layout and JSON).  Python's
   ``perf_counter`` around the navigation and the wait is reported as a cross-check.
4. **Readability** (once per case): the on-screen boxes of every node (``getBoundingClientRect``
   of its ``rect``) are checked pairwise for overlaps; the zoom the page chose (it fits the
   width down to 0.85, then scrolls) and the size of a node box and of its text on screen.

Cases: maxNodes 500 with the page's default fan collapsing (fans over 12 become "+k more"
groups) and with ``maxFan=5000`` (nothing collapses: every node drawn), for both graphs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.serve import ServeOptions, running  # noqa: E402
from emitters.facets import facet  # noqa: E402
from emitters.spool import closed_files  # noqa: E402

PRODUCER = "https://github.com/pedigree/bench"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
VERSION_FACET = "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json"
DEPTH = 8
"""The page's default depth: the generated graphs are exactly this deep."""


# -- the graph ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """Widths of the levels at depth 2..8 from the model (even: dataset versions, odd: runs)."""

    name: str
    widths: tuple[int, ...]
    train_fan: int
    """Dataset versions the training run reads (depth 2); included in ``widths[0]``."""
    shards: int
    """Raw shards (no producer) at depth 6, all read by one run at depth 5."""
    seed: int = 7


SHAPES = {
    500: Shape("render-bench-500", (40, 24, 60, 36, 90, 50, 130), train_fan=40, shards=60),
    200: Shape("render-bench-200", (16, 10, 24, 14, 36, 20, 56), train_fan=16, shards=20),
}


@dataclass
class Lineage:
    model: str
    events: list[dict[str, Any]]
    nodes: set[str] = field(default_factory=set)
    edges: set[tuple[str, str]] = field(default_factory=set)
    runs: int = 0


def _time(depth: int, i: int) -> str:
    # upstream work happened earlier: depth 8 at 00:00, the model's run at 07:00
    seconds = (DEPTH - depth) * 3600 + i
    return f"2026-11-30T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"


def lineage(shape: Shape) -> Lineage:
    """The events of ``shape``'s graph, and the provenance nodes and edges they must give."""
    rng = random.Random(shape.seed)
    ns = f"s3://{shape.name}"
    job_ns = shape.name

    def dataset(depth: int, i: int, kind: str = "table") -> dict[str, Any]:
        name = f"d{depth}/{kind}-{i:03d}"
        version = hashlib.sha256(f"{shape.name}/{name}".encode()).hexdigest()[:16]
        return {
            "namespace": ns,
            "name": name,
            "facets": {
                "version": {
                    "_producer": PRODUCER,
                    "_schemaURL": VERSION_FACET,
                    "datasetVersion": version,
                }
            },
        }

    def node_id(d: dict[str, Any]) -> str:
        return f"dataset:{d['namespace']}:{d['name']}#{d['facets']['version']['datasetVersion']}"

    # datasets[d]: the dataset versions at (even) depth d; run_counts[d]: runs at (odd) depth d
    datasets: dict[int, list[dict[str, Any]]] = {}
    run_counts: dict[int, int] = {1: 1}
    model = dataset(0, 0, "model")
    model["facets"]["pedigree_model"] = facet(
        "pedigree_model", name=shape.name, version="1", framework="sklearn", stage="production"
    )
    datasets[0] = [model]
    for depth, width in enumerate(shape.widths, start=2):
        if depth % 2:
            run_counts[depth] = width
        else:
            datasets[depth] = [dataset(depth, i) for i in range(width)]
    shards = [dataset(6, i, "shard") for i in range(shape.shards)]

    reads: dict[tuple[int, int], list[dict[str, Any]]] = {}
    writes: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for depth in sorted(run_counts):
        runs = run_counts[depth]
        # outputs: each dataset version of depth - 1 has one producer; each run writes >= 1
        below = datasets[depth - 1]
        producers = list(range(runs)) + [rng.randrange(runs) for _ in range(len(below) - runs)]
        rng.shuffle(producers)
        for d, r in zip(below, producers, strict=True):
            writes.setdefault((depth, r), []).append(d)
        # inputs: each dataset version of depth + 1 is read by 1-3 runs; each run reads >= 1
        above = datasets[depth + 1]
        if depth == 1:
            reads[(1, 0)] = above[: shape.train_fan]
            continue
        order = list(range(runs))
        rng.shuffle(order)
        for i, d in enumerate(above):
            readers = {order[i % runs]} if i < runs else set()
            readers |= set(rng.sample(range(runs), rng.randint(1, min(3, runs))))
            for r in readers:
                reads.setdefault((depth, r), []).append(d)
    reads.setdefault((5, 0), []).extend(shards)

    out = Lineage(model=shape.name, events=[])
    for depth in sorted(run_counts):
        for r in range(run_counts[depth]):
            run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{shape.name}/run/{depth}/{r}"))
            inputs, outputs = reads.get((depth, r), []), writes.get((depth, r), [])
            job = {"namespace": job_ns, "name": f"d{depth}/step-{r:03d}"}
            for kind, when, io in (
                ("START", _time(depth, r), {"inputs": inputs, "outputs": []}),
                ("COMPLETE", _time(depth, r + 1800), {"inputs": inputs, "outputs": outputs}),
            ):
                out.events.append({
                    "eventType": kind, "eventTime": when, "producer": PRODUCER,
                    "schemaURL": RUN_EVENT, "run": {"runId": run_id}, "job": job, **io,
                })  # fmt: skip
            run_node = f"run:{run_id}"
            out.nodes.add(run_node)
            out.runs += 1
            for d in inputs:
                out.nodes.add(node_id(d))
                out.edges.add((node_id(d), run_node))
            for d in outputs:
                out.nodes.add(node_id(d))
                out.edges.add((run_node, node_id(d)))
    return out


def seed(base: str, spool: str, graphs: Sequence[Lineage], timeout: float = 120) -> None:
    """Post every graph's events and wait until the API's provenance is each graph, exactly."""
    for g in graphs:
        for i in range(0, len(g.events), 500):
            answer = requests.post(
                base + "/api/v1/lineage/batch", json=g.events[i : i + 500], timeout=60
            )
            answer.raise_for_status()
            refused = [r for r in answer.json()["results"] if r.get("status") != 201]
            if refused:
                raise RuntimeError(f"events refused: {refused[:3]}")
    deadline = time.monotonic() + timeout
    for g in graphs:
        params: dict[str, str | int] = {
            "model": g.model, "version": "1", "depth": DEPTH, "maxNodes": 5000,
        }  # fmt: skip
        while True:
            prov = requests.get(base + "/api/v1/provenance", params=params, timeout=60)
            if prov.status_code == 200 and not closed_files(spool, recover=False):
                body = prov.json()
                nodes = {n["id"] for n in body["nodes"]}
                edges = {(e["origin"], e["destination"]) for e in body["edges"]}
                if nodes == g.nodes and edges == g.edges and not body["truncated"]:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{g.model}: the warehouse did not reach the generated graph")
            time.sleep(0.2)


# -- the browser --------------------------------------------------------------------------------

WATCH = """
window.__bench = { expected: %d, t0: 0, drawnAt: null, paintedAt: null };
const check = () => {
  const b = window.__bench;
  if (b.drawnAt !== null) return;
  if (document.querySelectorAll("svg#graph .node").length < b.expected) return;
  b.drawnAt = performance.now();
  requestAnimationFrame(() => setTimeout(() => { b.paintedAt = performance.now(); }, 0));
};
new MutationObserver(check).observe(document, { childList: true, subtree: true });
"""

TIMINGS = """() => {
  const b = window.__bench;
  const layout = performance.getEntriesByType("resource")
    .filter((e) => e.name.includes("/api/v1/layout")).pop();
  const svg = document.querySelector("svg#graph");
  return {
    painted: b.paintedAt - b.t0, drawn: b.drawnAt - b.t0,
    requestStart: layout ? layout.startTime - b.t0 : null,
    request: layout ? layout.responseEnd - layout.startTime : null,
    serverWait: layout ? layout.responseStart - layout.requestStart : null,
    afterResponse: layout ? b.drawnAt - layout.responseEnd : null,
    paint: b.paintedAt - b.drawnAt,
    bytes: layout ? layout.encodedBodySize : null,
    renderMs: svg ? Number(svg.dataset.renderMs) : null,
  };
}"""

READABILITY = """() => {
  const rects = [...document.querySelectorAll("svg#graph .node rect")]
    .map((r) => r.getBoundingClientRect())
    .map((r) => ({ l: r.left, t: r.top, r: r.right, b: r.bottom }));
  rects.sort((a, b) => a.l - b.l);
  let overlaps = 0;
  for (let i = 0; i < rects.length; i += 1) {
    for (let j = i + 1; j < rects.length && rects[j].l < rects[i].r - 0.5; j += 1) {
      if (rects[j].t < rects[i].b - 0.5 && rects[i].t < rects[j].b - 0.5) overlaps += 1;
    }
  }
  let overflowing = 0;
  for (const g of document.querySelectorAll("svg#graph .node")) {
    const box = g.querySelector("rect").getBoundingClientRect();
    for (const t of g.querySelectorAll("text")) {
      if (t.getBoundingClientRect().right > box.right + 0.5) overflowing += 1;
    }
  }
  const svg = document.querySelector("svg#graph");
  const first = document.querySelector("svg#graph .node text");
  const text = first.getBoundingClientRect();
  const scroll = document.querySelector(".graph-scroll").getBoundingClientRect();
  const box = rects[0];
  return {
    nodes: rects.length, overlaps, overflowing,
    fontPx: parseFloat(getComputedStyle(first).fontSize),
    svgPx: [Number(svg.getAttribute("width")), Number(svg.getAttribute("height"))],
    scrollPx: [scroll.width, scroll.height],
    edges: document.querySelectorAll("svg#graph path.edge").length,
    scale: Number(svg.getAttribute("width")) / svg.viewBox.baseVal.width,
    box: [box.r - box.l, box.b - box.t], textHeight: text.height,
    truncated: document.querySelector("#truncated") !== null,
  };
}"""


@dataclass
class Case:
    label: str
    model: str
    max_fan: int | None
    click: bool = False
    samples: list[dict[str, float]] = field(default_factory=list)
    readable: dict[str, Any] = field(default_factory=dict)
    expected_nodes: int = 0
    expected_edges: int = 0
    server: dict[str, list[float]] = field(default_factory=dict)


def case_route(case: Case) -> str:
    params: dict[str, Any] = {"model": case.model, "version": "1", "maxNodes": 500}
    if case.max_fan is not None:
        params["maxFan"] = case.max_fan
    return "#/graph?" + urlencode(params)


def measure(browser: Any, base: str, case: Case, repeat: int) -> None:
    # what the page will draw for this URL: the API's own layout of it
    query: dict[str, Any] = {"model": case.model, "version": "1", "depth": DEPTH, "maxNodes": 500}
    query["maxFan"] = case.max_fan or 12
    layout = requests.get(base + "/api/v1/layout", params=query, timeout=60).json()["layout"]
    case.expected_nodes, case.expected_edges = len(layout["nodes"]), len(layout["edges"])
    # the server's share, from Python: the same walk without the drawing, and with it
    with requests.Session() as http:
        for path in ("provenance", "layout"):
            for i in range(repeat + 1):
                started = time.perf_counter()
                http.get(f"{base}/api/v1/{path}", params=query, timeout=60).raise_for_status()
                if i > 0:
                    case.server.setdefault(path, []).append((time.perf_counter() - started) * 1e3)
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.set_default_timeout(30_000)
    page.add_init_script(script=WATCH % case.expected_nodes)
    target = base + "/" + case_route(case)
    for i in range(repeat + 1):
        page.goto("about:blank")
        started = time.perf_counter()
        if case.click:
            page.goto(base + "/#/model?" + urlencode({"name": case.model}))
            page.wait_for_selector("#versions")
            started = time.perf_counter()
            page.evaluate(
                """(route) => {
                  performance.clearResourceTimings();
                  window.__bench.t0 = performance.now();
                  location.hash = route;
                }""",
                case_route(case),
            )
        else:
            page.goto(target, wait_until="commit")
        page.wait_for_function("() => window.__bench && window.__bench.paintedAt !== null")
        wall = (time.perf_counter() - started) * 1000
        sample = page.evaluate(TIMINGS)
        sample["wall"] = wall
        if i > 0:  # the first is a warm-up
            case.samples.append(sample)
    case.readable = page.evaluate(READABILITY)
    context.close()
    if errors:
        raise RuntimeError(f"{case.label}: page errors {errors}")
    drawn = (case.readable["nodes"], case.readable["edges"])
    if drawn != (case.expected_nodes, case.expected_edges):
        raise RuntimeError(f"{case.label}: drew {drawn}, the API's layout has "
                           f"{(case.expected_nodes, case.expected_edges)}")  # fmt: skip


# -- the report ---------------------------------------------------------------------------------


def p50(values: Sequence[float]) -> float:
    return statistics.median(values)


def report(cases: Sequence[Case], graphs: dict[str, Lineage], repeat: int) -> None:
    print(
        "\n| view | drawn nodes / edges | time to painted p50 / max ms | Python wall p50 ms | "
        "`/api/v1/layout` request p50 ms (server wait) | JSON + DOM p50 ms | "
        "style, layout, paint p50 ms | overlapping boxes | zoom |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for case in cases:
        s, r = case.samples, case.readable
        col = {k: [x[k] for x in s if x[k] is not None] for k in s[0]}
        g = graphs[case.model]
        print(
            f"| {case.label} | {r['nodes']} / {r['edges']} of {len(g.nodes)} / {len(g.edges)} | "
            f"**{p50(col['painted']):.0f}** / {max(col['painted']):.0f} | "
            f"{p50(col['wall']):.0f} | {p50(col['request']):.0f} ({p50(col['serverWait']):.0f}) | "
            f"{p50(col['afterResponse']):.0f} | {p50(col['paint']):.0f} | {r['overlaps']} | "
            f"{r['scale']:.2f} |"
        )
    print(f"\n{repeat} timed loads per view after one warm-up.  Details:")
    for case in cases:
        s, r = case.samples, case.readable
        print(
            f"- {case.label}: layout request starts at p50 "
            f"{p50([x['requestStart'] for x in s]):.0f} ms, answer "
            f"{s[0]['bytes'] / 1024:.0f} KiB; explorer's own renderMs p50 "
            f"{p50([x['renderMs'] for x in s]):.0f}; node box on screen "
            f"{r['box'][0]:.0f}x{r['box'][1]:.0f} px, {r['fontPx']:.0f} px text at zoom "
            f"{r['scale']:.2f} = {r['fontPx'] * r['scale']:.1f} px on screen (line box "
            f"{r['textHeight']:.1f} px), {r['overflowing']} text lines overflow their box; graph "
            f"{r['svgPx'][0]:.0f}x{r['svgPx'][1]:.0f} px in a {r['scrollPx'][0]:.0f}x"
            f"{r['scrollPx'][1]:.0f} px scroll box; "
            f"truncated banner: {r['truncated']}; from Python, GET /api/v1/provenance p50 "
            f"{p50(case.server['provenance']):.0f} ms, /api/v1/layout p50 "
            f"{p50(case.server['layout']):.0f} ms; painted all: "
            + ", ".join(f"{x['painted']:.0f}" for x in s)
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="\n".join(__doc__.splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--repeat", type=int, default=10, help="timed loads per view (10)")
    parser.add_argument(
        "--chromium",
        default=os.environ.get("PEDIGREE_CHROMIUM", "/usr/bin/chromium"),
        help="the Chromium binary (Debian's package; Playwright downloads nothing)",
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    began = time.monotonic()
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    graphs = {s.name: lineage(s) for s in SHAPES.values()}
    for g in graphs.values():
        print(
            f"{g.model} version 1: provenance of {len(g.nodes)} nodes ({g.runs} runs), "
            f"{len(g.edges)} edges, {len(g.events)} events",
            file=sys.stderr,
        )
    big, small = SHAPES[500].name, SHAPES[200].name
    cases = [
        Case(f"~500 nodes ({big}), default fan (over 12 collapsed)", big, None),
        Case(f"~500 nodes ({big}), maxFan=5000 (nothing collapsed)", big, 5000),
        Case(
            "~500 nodes, default fan, opened from the model's page (hash change)",
            big,
            None,
            click=True,
        ),
        Case(f"~200 nodes ({small}), default fan", small, None),
        Case(f"~200 nodes ({small}), maxFan=5000", small, 5000),
    ]
    with tempfile.TemporaryDirectory(prefix="pedigree-render-bench-") as tmp:
        options = ServeOptions(
            clickhouse_dsn=f"chdb://{tmp}/clickhouse",
            spool_dir=f"{tmp}/spool",
            auth=False,
            poll_seconds=0.1,
        )
        with running(options) as (_service, base):
            seeded = time.monotonic()
            seed(base, f"{tmp}/spool", list(graphs.values()))
            print(f"seeded in {time.monotonic() - seeded:.1f} s", file=sys.stderr)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, headless=True)
                print(f"Chromium {browser.version}", file=sys.stderr)
                try:
                    for case in cases:
                        measure(browser, base, case, args.repeat)
                        print(f"measured: {case.label}", file=sys.stderr)
                finally:
                    browser.close()
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report(cases, graphs, args.repeat)
    print(
        f"\nLoad average before / after: {load_before} / {load_after}; {os.cpu_count()} cores; "
        f"total {time.monotonic() - began:.0f} s"
    )


if __name__ == "__main__":
    main()
