"""Bounded breadth-first traversal of the lineage graph: pure logic, no I/O.

The graph alternates kinds: runs and dataset versions (the run-level graph), or jobs and
datasets (the job-level graph, Marquez's).  An :class:`Edge` points the way data flows: a
dataset (version) into the run (job) that read it, a run (job) into what it wrote.  *Upstream*
follows edges backwards (what did this come from?), *downstream* forwards (what did this feed?).

:func:`traverse` expands one level at a time through callbacks that answer for a whole frontier
at once (one warehouse query per level and direction), and bounds everything it builds:

* ``depth`` — edges from the start node; a node's ``depth`` is its distance;
* ``max_nodes`` — nodes kept; past it the traversal stops adding nodes and says ``truncated``
  (never a silent cut), and each callback is asked for at most ``max_nodes + 1`` edges;
* ``readable`` — the tenant boundary: a node the caller may not read is never added nor
  expanded; the edges that led to one are counted in ``hidden_edges`` and nothing else about
  the node is returned.

Every kept node remembers the node it was reached from, so :meth:`Traversal.path` gives the
path from the start to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from api.nodes import NodeRef

__all__ = ["Direction", "Edge", "Expand", "Traversal", "traverse"]

Direction = Literal["upstream", "downstream", "both"]


@dataclass(frozen=True, slots=True)
class Edge:
    """Data flows from ``origin`` to ``destination``."""

    origin: NodeRef
    destination: NodeRef


Expand = Callable[[Sequence[NodeRef], int], Sequence[Edge]]
"""Given a frontier and a row limit: the edges that end (upstream) or start (downstream) at
frontier nodes."""


@dataclass
class Traversal:
    start: NodeRef
    nodes: dict[str, NodeRef] = field(default_factory=dict)
    depth_of: dict[str, int] = field(default_factory=dict)
    parent_of: dict[str, str | None] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)
    truncated: bool = False
    hidden_edges: int = 0
    depth_reached: int = 0

    def add(self, node: NodeRef, depth: int, parent: str | None) -> None:
        self.nodes[node.id] = node
        self.depth_of[node.id] = depth
        self.parent_of[node.id] = parent
        self.depth_reached = max(self.depth_reached, depth)

    def path(self, node_id: str) -> list[str]:
        """Node ids from the start to ``node_id`` (both included), along first discovery."""
        path: list[str] = []
        current: str | None = node_id
        while current is not None:
            path.append(current)
            current = self.parent_of[current]
        return path[::-1]

    def in_edges(self, node_id: str) -> list[tuple[str, str]]:
        return sorted(e for e in self.edges if e[1] == node_id)

    def out_edges(self, node_id: str) -> list[tuple[str, str]]:
        return sorted(e for e in self.edges if e[0] == node_id)


def traverse(
    start: NodeRef,
    *,
    upstream: Expand | None,
    downstream: Expand | None,
    direction: Direction,
    depth: int,
    max_nodes: int,
    readable: Callable[[NodeRef], bool],
) -> Traversal:
    """Walk from ``start`` (assumed readable) up to ``depth`` edges away, keeping at most
    ``max_nodes`` nodes (``start`` included)."""
    if depth < 0 or max_nodes < 1:
        raise ValueError("depth must be >= 0 and max_nodes >= 1")
    result = Traversal(start)
    result.add(start, 0, None)
    frontier = [start]
    hidden: set[tuple[str, str]] = set()
    for level in range(1, depth + 1):
        if not frontier:
            break
        found: list[tuple[NodeRef, NodeRef, Edge]] = []  # (from frontier, reached, edge)
        if direction in ("upstream", "both") and upstream is not None:
            found += [(e.destination, e.origin, e) for e in upstream(frontier, max_nodes + 1)]
        if direction in ("downstream", "both") and downstream is not None:
            found += [(e.origin, e.destination, e) for e in downstream(frontier, max_nodes + 1)]
        # in a stable order, whatever order storage returned them in: a node reached from two
        # frontier nodes always gets the same path (and a truncated answer the same nodes)
        found.sort(key=lambda item: (item[0].id, item[1].id))
        next_frontier: list[NodeRef] = []
        for source, reached, edge in found:
            key = (edge.origin.id, edge.destination.id)
            # both ends: a run node's namespace is that of the event that made the edge, so
            # another tenant's edge of the same run id stays theirs
            if not readable(reached) or not readable(edge.origin if reached is edge.destination
                                                     else edge.destination):  # fmt: skip
                hidden.add(key)
                continue
            if reached.id not in result.nodes:
                if len(result.nodes) >= max_nodes:
                    result.truncated = True
                    continue
                result.add(reached, level, source.id)
                next_frontier.append(reached)
            result.edges.add(key)
        frontier = next_frontier
    result.hidden_edges = len(hidden)
    return result
