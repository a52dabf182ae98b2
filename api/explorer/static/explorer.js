// Pedigree lineage explorer: a page over the JSON API, no build step, no dependencies.
// Every datum comes from /api/v1 with the signed-in bearer token (sessionStorage); text is
// written with textContent and DOM calls only (never parsed as HTML), as the page's CSP expects.
"use strict";

const TOKEN_KEY = "pedigree.token";
const SVG = "http://www.w3.org/2000/svg";
const main = () => document.getElementById("main");

class AuthRequired extends Error {}
class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

// -- the API --------------------------------------------------------------------------------

function token() { return sessionStorage.getItem(TOKEN_KEY); }

function url(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) query.append(key, String(v));
  }
  const text = query.toString();
  return path + (text ? "?" + text : "");
}

// the view being rendered: a newer navigation aborts the older one's requests, so a slow
// answer never paints over the page the user moved on to
let current = new AbortController();

async function api(path, params, { raw = false } = {}) {
  const signal = current.signal;
  const headers = { Accept: "application/json" };
  if (token()) headers.Authorization = "Bearer " + token();
  const response = await fetch(url(path, params), { headers, signal });
  if (response.status === 401) {
    const detail = await response.json().then((b) => b.detail, () => "");
    throw new AuthRequired(token() ? "The API refused the token: " + detail : "Sign in with an API token to see lineage.");
  }
  if (!response.ok) {
    const detail = await response.json().then((b) => JSON.stringify(b.detail), () => response.statusText);
    throw new ApiError(response.status, `${response.status}: ${detail}`);
  }
  const body = raw ? response : await response.json();
  if (signal.aborted) throw new DOMException("a newer view replaced this one", "AbortError");
  return body;
}

async function optional(promise) {
  try { return await promise; } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 422)) return null;
    throw err;
  }
}

// -- DOM helpers ------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

function link(hash, text, attrs) { return h("a", { href: hash, ...attrs }, text); }

function route(name, params) { return url("#/" + name, params); }

function status(text, kind) {
  const el = document.getElementById("status");
  el.className = kind || "";
  el.textContent = text || "";
}

function show(title, ...content) {
  const el = main();
  el.replaceChildren(h("h1", null, title), ...content.filter(Boolean));
  el.classList.toggle("wide", title.startsWith("Provenance") || title.startsWith("Impact"));
  document.title = title + " · Pedigree explorer";
}

function dash(value) { return value === null || value === undefined || value === "" ? "—" : String(value); }

function shortVersion(version) {
  if (!version) return "(unversioned)";
  return version.length > 24 ? version.slice(0, 19) + "…" : version;
}

function basename(name) {
  const parts = String(name).split("/").filter(Boolean);
  return parts.length ? parts[parts.length - 1] : String(name);
}

function when(value) { return value ? String(value).replace("T", " ").replace(/(\.\d{3})\d*/, "$1") : "—"; }

function bytes(value) {
  if (value === null || value === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(value), i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function badge(text) { return h("span", { class: "badge " + text }, text); }

function facts(rows) {
  return h("dl", { class: "facts" }, rows.filter(Boolean).map(([key, value, attrs]) => [
    h("dt", null, key), h("dd", attrs || null, value instanceof Node ? value : dash(value)),
  ]));
}

function table(caption, head, rows, attrs) {
  return h("table", attrs || null,
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", null, h("tr", null, head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", null, rows.length ? rows : h("tr", null, h("td", { colspan: head.length, class: "muted" }, "none"))));
}

function download(name, text) {
  const blob = new Blob([text], { type: "application/json" });
  const href = URL.createObjectURL(blob);
  const a = h("a", { href, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
}

// -- views ------------------------------------------------------------------------------------

function runRows(runs) {
  return runs.map((r) => h("tr", null,
    h("td", null, link(route("run", { id: r.runId }), `${r.job.namespace}:${r.job.name}`)),
    h("td", null, badge(r.status)),
    h("td", null, when(r.startTime || r.firstEventTime)),
    h("td", { class: "mono" }, r.runId)));
}

async function home() {
  const [models, runs] = await Promise.all([api("/api/v1/models", { limit: 20 }), api("/api/v1/runs", { limit: 20 })]);
  show("Lineage explorer",
    h("div", { class: "columns" },
      h("section", { class: "card", "aria-labelledby": "models-h" },
        h("h2", { id: "models-h" }, "Models"),
        table("Models", ["model", "versions", "last seen"], models.items.map((m) => h("tr", null,
          h("td", null, link(route("model", { name: m.name }), m.name)),
          h("td", null, m.versionCount), h("td", null, when(m.lastSeen)))))),
      h("section", { class: "card", "aria-labelledby": "recent-h" },
        h("h2", { id: "recent-h" }, "Recent runs"),
        table("Recent runs", ["job", "status", "started", "run id"], runRows(runs.items), { id: "recent-runs" }))));
}

async function search(params) {
  const q = (params.get("q") || "").trim();
  document.getElementById("search").value = q;
  if (!q) return home();
  const [models, jobs, jobsNs, datasets, datasetsNs, runsByJob, runsByNs, run] = await Promise.all([
    api("/api/v1/models", { prefix: q, limit: 20 }),
    api("/api/v1/jobs", { prefix: q, limit: 20 }),
    api("/api/v1/jobs", { namespace: q, limit: 20 }),
    api("/api/v1/datasets", { prefix: q, limit: 20 }),
    api("/api/v1/datasets", { namespace: q, limit: 20 }),
    api("/api/v1/runs", { job: q, limit: 20 }),
    api("/api/v1/runs", { namespace: q, limit: 20 }),
    /^[\w.-]{8,256}$/.test(q) ? optional(api("/api/v1/runs/" + encodeURIComponent(q))) : null,
  ]);
  const unique = (items, key) => [...new Map(items.map((i) => [key(i), i])).values()];
  const allJobs = unique([...jobs.items, ...jobsNs.items], (j) => j.id);
  const allData = unique([...datasets.items, ...datasetsNs.items], (d) => d.id);
  const runs = unique([...(run ? [{ ...run.run, firstEventTime: run.run.startTime }] : []), ...runsByJob.items, ...runsByNs.items], (r) => r.runId);
  const section = (id, title, count, body) => h("section", { class: "card", "aria-labelledby": id },
    h("h2", { id }, `${title} (${count})`), body);
  show(`Results for “${q}”`,
    h("div", { class: "columns", id: "results" },
      section("r-models", "Models", models.items.length, table("Models", ["model", "versions"], models.items.map((m) =>
        h("tr", null, h("td", null, link(route("model", { name: m.name }), m.name)), h("td", null, m.versionCount))))),
      section("r-jobs", "Jobs", allJobs.length, table("Jobs", ["job", "last seen"], allJobs.map((j) =>
        h("tr", null, h("td", null, link(route("job", { namespace: j.namespace, name: j.name }), `${j.namespace}:${j.name}`)),
          h("td", null, when(j.lastSeen)))))),
      section("r-datasets", "Datasets", allData.length, table("Datasets", ["dataset", "versions"], allData.map((d) =>
        h("tr", null, h("td", { class: "mono" }, link(route("dataset", { namespace: d.namespace, name: d.name }), `${d.namespace}:${d.name}`)),
          h("td", null, d.versionCount))))),
      section("r-runs", "Runs", runs.length, table("Runs", ["job", "status", "started", "run id"], runRows(runs)))));
}

async function model(params) {
  const name = params.get("name");
  const versions = await api(`/api/v1/models/${encodeURIComponent(name)}/versions`, { limit: 100 });
  const items = versions.items;
  const pick = (id, label, index) => h("label", null, label + " ",
    h("select", { id, name: id }, items.map((v, i) => h("option", { value: v.version, selected: i === index }, `version ${v.version}`))));
  const compare = h("form", { class: "actions", id: "compare-form", "aria-label": "Compare two versions" },
    pick("compare-a", "Compare", Math.min(1, items.length - 1)), pick("compare-b", "with", 0),
    h("button", { type: "submit", class: "primary" }, "Compare"));
  compare.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = route("compare", { model: name, a: compare.elements["compare-a"].value, b: compare.elements["compare-b"].value });
  });
  show(`Model ${name}`,
    h("section", { class: "card" }, h("h2", null, "Versions"),
      table(`Versions of ${name}`, ["version", "stage", "metrics", "produced by", ""], items.map((v) => h("tr", null,
        h("td", null, v.version), h("td", null, dash(v.stage)),
        h("td", null, Object.entries(v.metrics).map(([k, m]) => `${k}=${m}`).join(", ") || "—"),
        h("td", null, v.producingRun ? link(route("run", { id: v.producingRun }), v.producingRun.slice(0, 8)) : "—"),
        h("td", null, link(route("graph", { model: name, version: v.version }), "Provenance", { "aria-label": `Provenance of version ${v.version}` })))),
      { id: "versions" })),
    items.length > 1 ? compare : null);
}

async function dataset(params) {
  const namespace = params.get("namespace"), name = params.get("name");
  const versions = await api("/api/v1/datasets/versions", { namespace, name, limit: 100 });
  show(`Dataset ${basename(name)}`,
    h("p", { class: "mono" }, `${namespace}:${name}`),
    h("section", { class: "card" }, h("h2", null, "Versions"),
      table("Versions", ["version", "first seen", "written by", ""], versions.items.map((v) => h("tr", null,
        h("td", { class: "mono" }, dash(v.version)), h("td", null, when(v.firstSeen)),
        h("td", null, v.producingRun ? link(route("run", { id: v.producingRun }), v.producingRun.slice(0, 8)) : "—"),
        h("td", null, link(route("graph", { nodeId: v.id }), "Provenance"), " ",
          link(route("graph", { nodeId: v.id, direction: "downstream" }), "Impact")))))));
}

async function job(params) {
  const namespace = params.get("namespace"), name = params.get("name");
  const runs = await api("/api/v1/runs", { namespace, job: name, limit: 50 });
  show(`Job ${namespace}:${name}`,
    h("section", { class: "card" }, h("h2", null, "Runs"), table("Runs", ["job", "status", "started", "run id"], runRows(runs.items))));
}

// -- the graph ------------------------------------------------------------------------------

function nodeLabel(node) {
  if (node.kind === "run") {
    const run = node.run || {};
    return [run.job ? run.job.name : node.id, `run · ${run.status || "?"}`];
  }
  const d = node.dataset || {};
  const models = (node.models || []).map((m) => `${m.name} v${m.version}`).join(", ");
  return [basename(d.name || node.id), models ? `model ${models}` : `@ ${shortVersion(d.version)}`];
}

function clip(text, max) { return text.length > max ? text.slice(0, max - 1) + "…" : text; }

function edgePath(points) {
  let d = `M${points[0][0]},${points[0][1]}`;
  for (let i = 1; i < points.length; i += 1) {
    const [x0, y0] = points[i - 1], [x1, y1] = points[i];
    const mx = (x0 + x1) / 2;
    d += ` C${mx},${y0} ${mx},${y1} ${x1},${y1}`;
  }
  return d;
}

async function graph(params) {
  const direction = params.get("direction") || "upstream";
  const query = {
    model: params.get("model"), version: params.get("version"), nodeId: params.get("nodeId"),
    direction, depth: params.get("depth") || 8, maxFan: params.get("maxFan") || 12,
    maxNodes: params.get("maxNodes"),
    expand: params.getAll("expand"),
  };
  const started = performance.now();
  const data = await api("/api/v1/layout", query);
  const byId = new Map(data.nodes.map((n) => [n.id, n]));
  const what = query.model ? `model ${query.model} version ${query.version}` : (byId.get(data.start) ? nodeLabel(byId.get(data.start))[0] : data.start);
  const title = `${direction === "upstream" ? "Provenance" : "Impact"} of ${what}`;

  const tools = h("form", { class: "graph-tools", id: "graph-tools", "aria-label": "Graph options" },
    h("label", null, "Direction", h("select", { name: "direction", id: "direction" },
      h("option", { value: "upstream", selected: direction === "upstream" }, "Upstream (where it came from)"),
      h("option", { value: "downstream", selected: direction === "downstream" }, "Downstream (what it fed)"))),
    h("label", null, "Depth", h("input", { type: "number", name: "depth", id: "depth", min: 1, max: 50, value: query.depth })),
    h("label", null, "Collapse fans over", h("input", { type: "number", name: "maxFan", id: "max-fan", min: 2, max: 5000, value: query.maxFan })),
    h("button", { type: "submit", class: "primary" }, "Apply"),
    h("button", { type: "button", id: "zoom-out", "aria-label": "Zoom out" }, "−"),
    h("button", { type: "button", id: "zoom-in", "aria-label": "Zoom in" }, "+"));
  tools.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = { ...query, direction: tools.elements.direction.value, depth: tools.elements.depth.value, maxFan: tools.elements.maxFan.value };
    location.hash = route("graph", next);
  });

  const banners = [];
  if (data.truncated) {
    banners.push(h("p", { class: "banner truncated", id: "truncated", role: "alert" },
      `Truncated: the graph reached ${data.maxNodes} nodes, so the API left some out. Lower the depth or start closer.`));
  }
  if (data.tenantBoundary.hiddenEdges) {
    banners.push(h("p", { class: "banner boundary" },
      `${data.tenantBoundary.hiddenEdges} edge(s) lead to namespaces your token may not read; the walk stopped there.`));
  }
  if (data.layout.collapsed) {
    banners.push(h("p", { class: "banner boundary" },
      `${data.layout.collapsed} node(s) are collapsed into “+ more” groups: activate one to expand it.`));
  }

  const side = h("aside", { class: "side", id: "details", "aria-live": "polite" },
    h("p", { class: "muted" }, "Select a node (click, or Tab and Enter) to see its details. Arrow keys move between nodes."));
  const { svg, focusables } = drawGraph(data, (node) => select(node));
  let scale = 1;
  const zoom = (factor) => {
    scale = Math.min(2, Math.max(0.25, scale * factor));
    svg.setAttribute("width", data.layout.width * scale);
    svg.setAttribute("height", data.layout.height * scale);
  };
  tools.querySelector("#zoom-in").addEventListener("click", () => zoom(1.25));
  tools.querySelector("#zoom-out").addEventListener("click", () => zoom(0.8));

  function select(placed) {
    for (const el of focusables) el.classList.toggle("selected", el.dataset.id === placed.id);
    if (placed.kind === "group") {
      location.hash = route("graph", { ...query, expand: [...query.expand, placed.parent] });
      return;
    }
    const node = byId.get(placed.id);
    side.replaceChildren(...nodeDetails(node, data));
  }

  show(title,
    tools, ...banners,
    h("div", { class: "legend", "aria-hidden": "true" },
      h("span", { class: "l-run" }, "run"), h("span", { class: "l-data" }, "dataset version"),
      h("span", { class: "l-group" }, "collapsed group"),
      h("span", null, `${data.nodes.length} nodes, ${data.edges.length} edges, data flows left to right`)),
    h("div", { class: "graph-wrap" }, h("div", { class: "graph-scroll" }, svg), side));
  // fit the width when that keeps the text readable; past that, scroll (and zoom by hand)
  const room = svg.parentElement.clientWidth - 2;
  if (room > 0 && data.layout.width > room) zoom(Math.max(0.85, room / data.layout.width));
  const elapsed = Math.round(performance.now() - started);
  svg.dataset.renderMs = String(elapsed);
  const start = focusables.find((el) => el.dataset.id === data.start);
  if (start) start.scrollIntoView({ block: "center", inline: "center" });
}

function drawGraph(data, onSelect) {
  const L = data.layout, w = L.nodeWidth, hgt = L.nodeHeight;
  const byId = new Map(data.nodes.map((n) => [n.id, n]));
  const svg = s("svg", { class: "graph", id: "graph", width: L.width, height: L.height, viewBox: `0 0 ${L.width} ${L.height}`,
    role: "group", "aria-label": `Lineage graph: ${L.nodes.length} nodes in ${L.columns} columns` });
  svg.append(s("defs", null, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
    s("path", { d: "M0,0 L10,5 L0,10 z" }))));
  const edges = s("g", { class: "edges", "aria-hidden": "true" });
  const edgeEls = new Map();
  for (const edge of L.edges) {
    const path = s("path", { class: "edge", d: edgePath(edge.points), "marker-end": "url(#arrow)" });
    edges.append(path);
    for (const end of [edge.origin, edge.destination]) {
      if (!edgeEls.has(end)) edgeEls.set(end, []);
      edgeEls.get(end).push(path);
    }
  }
  svg.append(edges);
  const layer = s("g", { class: "nodes" });
  const ordered = [...L.nodes].sort((a, b) => a.column - b.column || a.y - b.y);
  const focusables = [];
  for (const placed of ordered) {
    const node = byId.get(placed.id);
    const [line1, line2] = placed.kind === "group" ? [`+${placed.hidden} more`, "activate to expand"] : nodeLabel(node);
    const status = node && node.run ? node.run.status : "";
    const kindName = { run: "run", dataset_version: "dataset version", group: "collapsed group" }[placed.kind];
    const g = s("g", {
      class: `node ${placed.kind} ${status} ${placed.id === data.start ? "start" : ""}`,
      transform: `translate(${placed.x - w / 2},${placed.y - hgt / 2})`,
      tabindex: 0, role: "button", "data-id": placed.id, "data-kind": placed.kind,
      "aria-label": `${kindName}: ${line1}, ${line2}`,
    },
      s("title", null, placed.kind === "group" ? `${placed.hidden} nodes collapsed` : placed.id),
      s("rect", { width: w, height: hgt, rx: placed.kind === "run" ? 10 : 2 }),
      s("text", { x: 8, y: 16 }, clip(line1, 25)),
      s("text", { x: 8, y: 31, class: "sub" }, clip(line2, 28)));
    const activate = () => onSelect(placed);
    g.addEventListener("click", activate);
    g.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); activate(); return; }
      const next = neighbour(placed, event.key, ordered);
      if (next) { event.preventDefault(); focusables.find((el) => el.dataset.id === next.id).focus(); }
    });
    const hot = (on) => (edgeEls.get(placed.id) || []).forEach((p) => p.classList.toggle("hot", on));
    g.addEventListener("focus", () => hot(true));
    g.addEventListener("blur", () => hot(false));
    g.addEventListener("mouseenter", () => hot(true));
    g.addEventListener("mouseleave", () => hot(false));
    layer.append(g);
    focusables.push(g);
  }
  svg.append(layer);
  return { svg, focusables };
}

function neighbour(from, key, nodes) {
  const same = nodes.filter((n) => n.column === from.column);
  const i = same.indexOf(from);
  if (key === "ArrowUp") return same[i - 1];
  if (key === "ArrowDown") return same[i + 1];
  const column = key === "ArrowLeft" ? from.column - 1 : key === "ArrowRight" ? from.column + 1 : null;
  if (column === null) return null;
  const there = nodes.filter((n) => n.column === column);
  return there.reduce((best, n) => (!best || Math.abs(n.y - from.y) < Math.abs(best.y - from.y) ? n : best), null);
}

function nodeDetails(node, data) {
  if (!node) return [h("p", null, "Not in this graph.")];
  if (node.kind === "run") {
    const run = node.run;
    return [h("h2", null, `Run ${run.job.name}`), facts([
      ["status", badge(run.status)], ["job", `${run.job.namespace}:${run.job.name}`],
      ["started", when(run.startTime)], ["ended", when(run.endTime)],
      ["parameters", Object.entries(run.parameters).map(([k, v]) => `${k}=${v}`).join(", ") || "—"],
      ["commit", run.code.gitCommit ? run.code.gitCommit.slice(0, 12) : "—"],
      ["depth", node.depth]]),
    h("div", { class: "actions" },
      link(route("run", { id: run.runId }), "Open run", { id: "open-run" }),
      link(route("rerun", { id: run.runId }), "Rerun spec"),
      link(route("graph", { nodeId: node.id, direction: data.direction }), "Walk from here"))];
  }
  const d = node.dataset;
  return [h("h2", null, basename(d.name)), facts([
    ["namespace", d.namespace], ["name", d.name, { class: "mono" }], ["version", d.version, { class: "mono" }],
    ["models", (node.models || []).map((m) => `${m.name} v${m.version}`).join(", ") || null],
    ["rows", d.rowCount], ["size", d.sizeBytes === null || d.sizeBytes === undefined ? null : bytes(d.sizeBytes)],
    ["labels", d.labelSet ? `${d.labelSet} ${dash(d.labelVersion)}` : null], ["depth", node.depth]]),
  h("div", { class: "actions" },
    link(route("graph", { nodeId: node.id }), "Provenance"),
    link(route("graph", { nodeId: node.id, direction: "downstream" }), "Impact"))];
}

// -- one run ----------------------------------------------------------------------------------

function dirty(value) {
  if (value === null || value === undefined) return "unknown";
  return value ? "yes: uncommitted changes" : "no: clean working tree";
}

function versionRows(items) {
  return items.map((d) => h("tr", null,
    h("td", { class: "mono" }, `${d.namespace}:${d.name}`),
    h("td", { class: "mono", "data-version": d.version || "" }, dash(d.version)),
    h("td", null, (d.models || []).map((m) => `${m.name} v${m.version}`).join(", ") || ""),
    h("td", null, link(route("graph", { nodeId: d.id }), "Provenance"))));
}

async function runView(params) {
  const id = params.get("id");
  const [detail, resources] = await Promise.all([
    api(`/api/v1/runs/${encodeURIComponent(id)}`),
    api(`/api/v1/runs/${encodeURIComponent(id)}/resources`, { limit: 2000 }),
  ]);
  const run = detail.run, code = run.code, req = run.resources.requested, obs = run.resources.observed;
  const params_ = Object.entries(run.parameters).sort(([a], [b]) => a.localeCompare(b));
  show(`Run ${run.job.name}`,
    h("div", { class: "actions" },
      link(route("graph", { nodeId: "run:" + run.runId }), "Provenance of this run"),
      link(route("graph", { nodeId: "run:" + run.runId, direction: "downstream" }), "Impact"),
      link(route("rerun", { id: run.runId }), "Rerun spec", { id: "rerun-link" }),
      compareForm(run.runId)),
    run.errorMessage ? h("section", null, h("h2", null, "Error"), h("pre", { class: "error", id: "error-message" }, run.errorMessage)) : null,
    h("div", { class: "columns" },
      h("section", { class: "card", "aria-labelledby": "run-h" }, h("h2", { id: "run-h" }, "Run"), facts([
        ["status", badge(run.status)], ["run id", run.runId, { class: "mono" }],
        ["job", link(route("job", { namespace: run.job.namespace, name: run.job.name }), `${run.job.namespace}:${run.job.name}`)],
        ["started", when(run.startTime)], ["ended", when(run.endTime)],
        ["parent run", run.parentRunId ? link(route("run", { id: run.parentRunId }), run.parentRunId) : null],
        ["submitter", run.owners.submitter], ["code author", run.owners.codeAuthor],
        ["deployer", run.owners.deployer], ["team", run.owners.team],
        ["host", obs.host], ["kubernetes", run.kubernetes.pod ? `${run.kubernetes.namespace}/${run.kubernetes.pod}` : null]])),
      h("section", { class: "card", "aria-labelledby": "code-h" }, h("h2", { id: "code-h" }, "Code"), facts([
        ["repository", code.gitRepo], ["commit", code.gitCommit, { class: "mono", id: "commit" }], ["branch", code.gitBranch],
        ["dirty", dirty(code.dirty), { id: "dirty" }], ["image", code.image, { class: "mono" }],
        ["image digest", code.imageDigest, { class: "mono", id: "image-digest" }],
        ["entry point", code.entryPoint, { class: "mono" }], ["arguments", code.arguments.join(" ") || null, { class: "mono" }]]))),
    h("section", { class: "card", "aria-labelledby": "params-h" }, h("h2", { id: "params-h" }, "Parameters"),
      table("Parameters", ["parameter", "value"], params_.map(([k, v]) => h("tr", null, h("th", { scope: "row" }, k), h("td", { class: "mono" }, v))), { id: "parameters" })),
    h("div", { class: "columns" },
      h("section", { class: "card", "aria-labelledby": "in-h" }, h("h2", { id: "in-h" }, "Inputs (exact versions)"),
        table("Inputs", ["dataset", "version", "models", ""], versionRows(detail.inputs), { id: "inputs" })),
      h("section", { class: "card", "aria-labelledby": "out-h" }, h("h2", { id: "out-h" }, "Outputs"),
        table("Outputs", ["dataset", "version", "models", ""], versionRows(detail.outputs), { id: "outputs" }))),
    h("div", { class: "columns" },
      h("section", { class: "card", "aria-labelledby": "res-h" }, h("h2", { id: "res-h" }, "Resources"),
        table("Resources", ["", "requested", "observed"], [
          ["CPUs", req.cpuCount, obs.cpuCount], ["memory", bytes(req.memoryBytes), bytes(obs.memoryBytes)],
          ["GPUs", req.gpuCount, obs.gpuCount], ["GPU model", req.gpuModel, obs.gpuModel],
          ["GPU memory", bytes(req.gpuMemoryBytes), bytes(obs.gpuMemoryBytes)],
        ].map(([k, a, b]) => h("tr", null, h("th", { scope: "row" }, k), h("td", null, dash(a)), h("td", null, dash(b)))), { id: "resources" })),
      h("section", { class: "card", "aria-labelledby": "usage-h" }, h("h2", { id: "usage-h" }, "Resource usage over time"),
        usageChart(resources.samples, resources.truncated))));
}

function usageChart(samples, truncated) {
  const cpu = samples.filter((x) => x.cpuPercent !== null && x.time);
  if (!cpu.length) return h("p", { class: "muted", id: "usage" }, "No resource samples were recorded for this run.");
  const W = 420, H = 140, pad = 30;
  const times = cpu.map((x) => Date.parse(x.time.endsWith("Z") ? x.time : x.time + "Z"));
  const t0 = Math.min(...times), t1 = Math.max(...times), span = Math.max(t1 - t0, 1);
  const cpuMax = Math.max(100, ...cpu.map((x) => x.cpuPercent));
  const rssMax = Math.max(1, ...cpu.map((x) => x.rssBytes || 0));
  const X = (t) => pad + ((t - t0) / span) * (W - 2 * pad) + (t1 === t0 ? (W - 2 * pad) / 2 : 0);
  const Y = (v, max) => H - pad + 10 - (v / max) * (H - pad - 10);
  const line = (key, max) => cpu.map((x, i) => `${i ? "L" : "M"}${X(times[i])},${Y(x[key] || 0, max)}`).join(" ");
  const peakCpu = Math.max(...cpu.map((x) => x.cpuPercent)), peakRss = Math.max(...cpu.map((x) => x.rssBytes || 0));
  const summary = `${cpu.length} sample(s) over ${((t1 - t0) / 1000).toFixed(1)} s: CPU peak ${peakCpu.toFixed(1)} %, memory peak ${bytes(peakRss)}`;
  const svg = s("svg", { class: "chart", id: "usage", width: W, height: H, role: "img", "aria-label": summary },
    s("line", { class: "axis", x1: pad, y1: H - pad + 10, x2: W - pad, y2: H - pad + 10 }),
    s("text", { x: pad, y: 12 }, `CPU % (max ${cpuMax.toFixed(0)})`),
    s("text", { x: W - pad - 150, y: 12 }, `RSS (max ${bytes(rssMax)})`),
    s("text", { x: pad, y: H - 4 }, when(cpu[0].time)),
    cpu.length > 1 ? s("path", { class: "cpu", d: line("cpuPercent", cpuMax) }) : null,
    cpu.length > 1 ? s("path", { class: "rss", d: line("rssBytes", rssMax) }) : null,
    cpu.map((x, i) => [
      s("circle", { class: "dot-cpu", cx: X(times[i]), cy: Y(x.cpuPercent, cpuMax), r: 3 }),
      s("circle", { class: "dot-rss", cx: X(times[i]), cy: Y(x.rssBytes || 0, rssMax), r: 3 })]));
  return h("figure", null, svg, h("figcaption", { class: "muted" }, summary + (truncated ? " (first samples only)" : "")));
}

function compareForm(runId) {
  const form = h("form", { class: "actions", "aria-label": "Compare with another run" },
    h("label", { for: "other-run" }, "Compare with run"),
    h("input", { id: "other-run", name: "other", placeholder: "run id", required: true, size: 36 }),
    h("button", { type: "submit" }, "Compare"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = route("compare", { runA: runId, runB: form.elements.other.value.trim() });
  });
  return form;
}

// -- compare ----------------------------------------------------------------------------------

function pipelineRuns(provenance) {
  // per job: the run of that job in this provenance (nearest first), with its exact inputs
  const inputs = new Map();
  for (const e of provenance.edges) {
    if (!inputs.has(e.destination)) inputs.set(e.destination, []);
    inputs.get(e.destination).push(e.origin);
  }
  const byId = new Map(provenance.nodes.map((n) => [n.id, n]));
  const jobs = new Map();
  for (const node of [...provenance.nodes].sort((a, b) => a.depth - b.depth)) {
    if (node.kind !== "run") continue;
    let key = `${node.run.job.namespace}:${node.run.job.name}`;
    for (let i = 2; jobs.has(key); i += 1) key = `${node.run.job.namespace}:${node.run.job.name} #${i}`;
    const read = (inputs.get(node.id) || []).map((id) => byId.get(id)).filter((n) => n && n.dataset).map((n) => n.dataset);
    jobs.set(key, { run: node.run, inputs: read, depth: node.depth });
  }
  return jobs;
}

function runFacts(entry) {
  const rows = new Map();
  if (!entry) return rows;
  const run = entry.run;
  rows.set("run", run.runId);
  rows.set("status", run.status);
  rows.set("code commit", run.code.gitCommit);
  rows.set("dirty", run.code.dirty === null || run.code.dirty === undefined ? null : String(run.code.dirty));
  rows.set("image digest", run.code.imageDigest);
  rows.set("entry point", run.code.entryPoint);
  for (const [k, v] of Object.entries(run.parameters)) rows.set(`parameter ${k}`, v);
  for (const d of entry.inputs) rows.set(`input ${d.namespace}:${basename(d.name)}`, d.version || "(unversioned)");
  for (const [k, v] of Object.entries(entry.metrics || {})) rows.set(`metric ${k}`, v);
  return rows;
}

function compareSection(title, a, b, sameKeys) {
  const keys = [...new Set([...a.keys(), ...b.keys()])];
  const order = (k) => ["run", "status", "code commit", "dirty", "image digest", "entry point"].indexOf(k);
  keys.sort((x, y) => (order(x) === -1 ? 99 : order(x)) - (order(y) === -1 ? 99 : order(y)) || x.localeCompare(y));
  let differences = 0;
  const rows = [h("tr", { class: "section" }, h("th", { colspan: 3, scope: "colgroup" }, title))];
  for (const key of keys) {
    const va = a.has(key) ? a.get(key) : undefined, vb = b.has(key) ? b.get(key) : undefined;
    const same = sameKeys.has(key) || String(va) === String(vb);
    if (!same) differences += 1;
    rows.push(h("tr", { class: same ? "same" : "differs", "data-key": `${title} / ${key}` },
      h("th", { scope: "row" }, key, same ? null : h("span", { class: "visually-hidden" }, " (differs)")),
      h("td", { class: "mono" }, va === undefined ? "(absent)" : dash(va)),
      h("td", { class: "mono" }, vb === undefined ? "(absent)" : dash(vb))));
  }
  return { rows, differences };
}

async function compare(params) {
  let title, headA, headB;
  const sections = [];
  const ignore = new Set(["run"]);
  if (params.get("model")) {
    const name = params.get("model"), a = params.get("a"), b = params.get("b");
    title = `Model ${name}: version ${a} vs version ${b}`;
    headA = `version ${a}`; headB = `version ${b}`;
    const [provA, provB] = await Promise.all([
      api("/api/v1/provenance", { model: name, version: a, depth: 20 }),
      api("/api/v1/provenance", { model: name, version: b, depth: 20 })]);
    const model = (p) => new Map([["stage", p.model.stage], ["framework", p.model.framework],
      ...Object.entries(p.model.metrics || {}).map(([k, v]) => [`metric ${k}`, v])]);
    sections.push(compareSection("model", model(provA), model(provB), new Set()));
    const jobsA = pipelineRuns(provA), jobsB = pipelineRuns(provB);
    const keys = [...new Set([...jobsA.keys(), ...jobsB.keys()])];
    const depth = (k) => Math.min((jobsA.get(k) || {}).depth ?? 99, (jobsB.get(k) || {}).depth ?? 99);
    keys.sort((x, y) => depth(x) - depth(y) || x.localeCompare(y));
    for (const key of keys) sections.push(compareSection(`job ${key}`, runFacts(jobsA.get(key)), runFacts(jobsB.get(key)), ignore));
  } else {
    const idA = params.get("runA"), idB = params.get("runB");
    const [ra, rb] = await Promise.all([api(`/api/v1/runs/${encodeURIComponent(idA)}`), api(`/api/v1/runs/${encodeURIComponent(idB)}`)]);
    const metrics = async (detail) => {
      const out = {};
      for (const o of detail.outputs) for (const m of o.models || []) {
        const versions = await optional(api(`/api/v1/models/${encodeURIComponent(m.name)}/versions`, { limit: 500 }));
        const found = versions && versions.items.find((v) => v.version === m.version);
        for (const [k, v] of Object.entries(found ? found.metrics : {})) out[`${m.name} ${k}`] = v;
      }
      return out;
    };
    const [ma, mb] = await Promise.all([metrics(ra), metrics(rb)]);
    title = `Run ${ra.run.job.name} vs run ${rb.run.job.name}`;
    headA = `run ${idA.slice(0, 8)}`; headB = `run ${idB.slice(0, 8)}`;
    sections.push(compareSection("runs", runFacts({ run: ra.run, inputs: ra.inputs, metrics: ma }),
      runFacts({ run: rb.run, inputs: rb.inputs, metrics: mb }), new Set()));
  }
  const differences = sections.reduce((n, x) => n + x.differences, 0);
  const only = h("input", { type: "checkbox", id: "only-diff" });
  const tbl = h("table", { class: "compare", id: "compare" },
    h("caption", { class: "visually-hidden" }, title),
    h("thead", null, h("tr", null, h("th", { scope: "col" }, ""), h("th", { scope: "col" }, headA), h("th", { scope: "col" }, headB))),
    h("tbody", null, sections.map((x) => x.rows)));
  only.addEventListener("change", () => tbl.classList.toggle("only-diff", only.checked));
  show(title,
    h("p", { id: "diff-count" }, `${differences} difference(s), highlighted and marked ≠.`),
    h("p", null, h("label", null, only, " Show only differences")),
    h("div", { class: "card" }, tbl));
}

// -- rerun ------------------------------------------------------------------------------------

async function rerun(params) {
  const id = params.get("id");
  const spec = await api(`/api/v1/runs/${encodeURIComponent(id)}/rerun`);
  const command = `pedigree rerun ${id} --api ${location.origin}`;
  const copyStatus = h("span", { role: "status", class: "muted" });
  const copy = h("button", { type: "button", id: "copy-command" }, "Copy command");
  const code = h("code", { id: "rerun-command" }, command);
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(command);
      copyStatus.textContent = "Copied.";
    } catch (err) {
      const range = document.createRange();
      range.selectNodeContents(code);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      copyStatus.textContent = "Selected: press Ctrl+C to copy.";
    }
  });
  const json = h("button", { type: "button", id: "download-json" }, "Download spec (JSON)");
  json.addEventListener("click", () => download(`rerun-${id}.json`, JSON.stringify(spec, null, 2) + "\n"));
  const k8s = h("button", { type: "button", id: "download-k8s" }, "Download Kubernetes Job");
  k8s.addEventListener("click", async () => {
    const manifest = await api(`/api/v1/runs/${encodeURIComponent(id)}/rerun`, { format: "k8s" }).catch(failed);
    if (manifest) download(`rerun-${id}-job.json`, JSON.stringify(manifest, null, 2) + "\n");
  });
  show(`Rerun ${spec.job.name}`,
    h("p", null, spec.reproducible ? badge("exact") : h("span", { class: "badge warn" }, "not exact"), " ",
      spec.reproducible ? "Everything needed to run it again exactly is recorded." : `${spec.warnings.length} reason(s) the rerun cannot be exact:`),
    spec.warnings.length ? h("ul", { class: "warnings", id: "warnings" }, spec.warnings.map((w) =>
      h("li", null, h("strong", null, w.code), ": ", w.message))) : null,
    h("div", { class: "actions" }, json, k8s),
    h("p", null, code, " ", copy, " ", copyStatus),
    h("p", { class: "muted" }, "With authentication on, the command reads the token from PEDIGREE_API_TOKEN; add --format k8s for the Job manifest."),
    h("div", { class: "columns" },
      h("section", { class: "card" }, h("h2", null, "What runs"), facts([
        ["run", link(route("run", { id: spec.runId }), spec.runId)], ["job", `${spec.job.namespace}:${spec.job.name}`],
        ["image", spec.image.reference, { class: "mono" }], ["pinned by digest", spec.image.pinned ? "yes" : "no"],
        ["entry point", spec.entryPoint, { class: "mono" }], ["command", (spec.command || []).join(" ") || null, { class: "mono" }],
        ["arguments", spec.arguments.join(" ") || null, { class: "mono" }],
        ["git", spec.git.repo], ["commit", spec.git.commit, { class: "mono" }], ["dirty", dirty(spec.git.dirty)],
        ["kubernetes namespace", spec.kubernetesNamespace]])),
      h("section", { class: "card" }, h("h2", null, "With"),
        table("Parameters", ["parameter", "value"], Object.entries(spec.parameters).sort().map(([k, v]) =>
          h("tr", null, h("th", { scope: "row" }, k), h("td", { class: "mono" }, JSON.stringify(v)))), { id: "rerun-parameters" }),
        h("h2", null, "Exact inputs"),
        table("Inputs", ["dataset", "version"], spec.inputs.map((d) => h("tr", null,
          h("td", { class: "mono" }, `${d.namespace}:${d.name}`), h("td", { class: "mono" }, dash(d.version)))), { id: "rerun-inputs" }))));
}

// -- routing, sign-in ---------------------------------------------------------------------------

const ROUTES = { "": home, search, model, dataset, job, graph, run: runView, compare, rerun };

function failed(err) {
  if (err && err.name === "AbortError") return null;
  if (err instanceof AuthRequired) {
    signIn(err.message);
    return null;
  }
  status(err.message || String(err));
  return null;
}

function signIn(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  main().replaceChildren(h("section", { class: "card signin", id: "signin" },
    h("h1", null, "Sign in"),
    h("p", { role: "alert" }, message),
    h("p", { class: "muted" }, "Paste an API token (ask your Pedigree operator, or run `pedigree token`). It is kept in this browser tab only.")));
  document.title = "Sign in · Pedigree explorer";
  document.getElementById("signin-form").hidden = false;
  document.getElementById("signout").hidden = true;
  document.getElementById("token").focus();
}

async function render() {
  current.abort();
  current = new AbortController();
  status("");
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  const view = ROUTES[path] || home;
  // the sign-in form only when the API asks for a token (with auth off it never does)
  document.getElementById("signin-form").hidden = true;
  document.getElementById("signout").hidden = !token();
  main().setAttribute("aria-busy", "true");
  try {
    await view(new URLSearchParams(query || ""));
    main().focus({ preventScroll: true });
  } catch (err) {
    failed(err);
  } finally {
    main().setAttribute("aria-busy", "false");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = route("search", { q: document.getElementById("search").value.trim() });
  });
  document.getElementById("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("token");
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    input.value = "";
    render();
  });
  document.getElementById("signout").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    render();
  });
  window.addEventListener("hashchange", render);
  render();
});
