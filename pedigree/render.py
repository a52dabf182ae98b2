"""Text renderings of API answers for people: the provenance tree, rerun specs, graphs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["render_graph", "render_rerun", "render_tree", "short_version"]


def short_version(version: str | None) -> str:
    if not version:
        return "(unversioned)"
    return version[:19] + "…" if len(version) > 20 else version


def _gib(value: Any) -> str:
    return f"{value / 2**30:.1f} GiB" if isinstance(value, int | float) else "?"


def _run_line(run: dict[str, Any]) -> str:
    code, res = run.get("code", {}), run.get("resources", {})
    observed, owners = res.get("observed", {}), run.get("owners", {})
    parts = [f"run {run['job']['name']} {run['status']}"]
    if run.get("parameters"):
        parts.append(" ".join(f"{k}={v}" for k, v in sorted(run["parameters"].items())))
    if code.get("gitCommit"):
        parts.append(f"commit {code['gitCommit'][:12]}" + (" (dirty)" if code.get("dirty") else ""))
    parts.append(f"image {code.get('imageDigest') or code.get('image') or 'none (local)'}")
    machine = [observed.get("host") or "?"]
    if observed.get("cpuCount"):
        machine.append(f"{observed['cpuCount']:g} CPU")
    if observed.get("memoryBytes"):
        machine.append(_gib(observed["memoryBytes"]))
    machine.append(f"GPU {observed.get('gpuModel') or 'none'}")
    parts.append("on " + ", ".join(machine))
    if owners.get("submitter"):
        parts.append(f"by {owners['submitter']}")
    return "  ".join(parts)


def _dataset_line(dataset: dict[str, Any]) -> str:
    name = dataset["name"]
    line = f"{Path(name).name if '/' in name else name} @ {short_version(dataset.get('version'))}"
    if dataset.get("labelSet"):
        line += f"  labels {dataset['labelSet']} {dataset.get('labelVersion')}"
    if dataset.get("models"):
        line += "  model " + ", ".join(f"{m['name']} v{m['version']}" for m in dataset["models"])
    return line


def render_tree(provenance: dict[str, Any]) -> list[str]:
    """The provenance graph as an indented tree: each node under the node it was first reached
    from; an upstream node already shown elsewhere is named again with ``↑`` (a DAG, not a
    tree: two runs may have read or written the very same dataset version)."""
    nodes = {n["id"]: n for n in provenance["nodes"]}
    first_parent = {n["id"]: n["path"][-2] for n in provenance["nodes"] if len(n["path"]) > 1}
    upstream: dict[str, list[str]] = {}
    for edge in provenance["edges"]:
        upstream.setdefault(edge["destination"], []).append(edge["origin"])

    def label(node: dict[str, Any]) -> str:
        if node["kind"] == "run":
            return _run_line(node["run"])
        dataset = dict(node["dataset"])
        if node.get("models"):
            dataset["models"] = node["models"]
        return _dataset_line(dataset)

    def brief(node: dict[str, Any]) -> str:
        elsewhere = "(shown elsewhere in this tree)"
        if node["kind"] == "run":
            return f"↑ run {node['run']['job']['name']} {node['id'][4:12]} {elsewhere}"
        return f"↑ {_dataset_line(node['dataset'])} {elsewhere}"

    lines: list[str] = []

    def walk(node_id: str, prefix: str, last: bool, root: bool) -> None:
        branch = "" if root else ("└─ " if last else "├─ ")
        lines.append(prefix + branch + label(nodes[node_id]))
        ups = sorted(set(upstream.get(node_id, [])) & set(nodes))
        inner = prefix + ("" if root else ("   " if last else "│  "))
        for i, up in enumerate(ups):
            is_last = i == len(ups) - 1
            if first_parent.get(up) == node_id:
                walk(up, inner, is_last, False)
            else:
                lines.append(inner + ("└─ " if is_last else "├─ ") + brief(nodes[up]))

    walk(provenance["start"], "", True, True)
    if provenance.get("truncated"):
        lines.append("… truncated at the node limit (ask for more with maxNodes)")
    return lines


def _git_line(git: dict[str, Any]) -> str:
    if not git.get("commit"):
        return "(no commit recorded)"
    where = f"{git['repo']} @ " if git.get("repo") else ""
    return f"{where}{git['commit']}" + (" (dirty tree)" if git.get("dirty") else "")


def render_rerun(spec: dict[str, Any]) -> list[str]:
    """A rerun spec's essentials, warnings last."""
    git = spec.get("git") or {}
    lines = [
        f"run        {spec.get('runId')}",
        f"image      {(spec.get('image') or {}).get('reference') or '(none)'}",
        f"command    {' '.join(spec.get('command') or spec.get('arguments') or []) or '(none)'}",
        f"git        {_git_line(git)}",
        f"parameters {spec.get('parameters')}",
    ]
    for item in spec.get("inputs") or []:
        lines.append(
            f"input      {item['namespace']} {item['name']} @ {short_version(item.get('version'))}"
        )
    for warning in spec.get("warnings") or []:
        lines.append(f"warning    {warning['code']}: {warning['message']}")
    return lines


def render_graph(graph: dict[str, Any]) -> list[str]:
    """A Marquez-shaped lineage graph as one line per node with its outgoing edges."""
    lines = []
    for node in graph["graph"]:
        targets = ", ".join(e["destination"] for e in node["outEdges"])
        lines.append(f"{node['type']:<8} {node['id']}" + (f"  -> {targets}" if targets else ""))
    if graph.get("truncated"):
        lines.append("… truncated at the node limit (ask for more with --max-nodes)")
    hidden = (graph.get("tenantBoundary") or {}).get("hiddenEdges")
    if hidden:
        lines.append(f"… {hidden} edges lead outside your token's namespaces (not shown)")
    return lines
