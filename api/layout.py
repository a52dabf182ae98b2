"""A lineage graph drawn as layers, left to right, the way data flows: pure logic, no I/O.

The explorer draws what :func:`layout` computes, so a graph of hundreds of nodes arrives ready
to draw and the browser only paints.  The steps are the classic layered (Sugiyama) ones, kept
small:

1. **Collapse** wide fans.  Walking away from the start node (upstream: towards inputs;
   downstream: towards consumers), a node with more than ``max_fan`` neighbours keeps the first
   ``max_fan - 1`` (those that lead further first, then by id) and the rest become one *group*
   node, ``+k more``; nodes reachable only through collapsed ones are hidden with them.  A node
   id in ``expanded`` is never collapsed (the page asks again with it when a group is clicked).
2. **Layers** by the longest path from the start node, so every edge points one or more
   columns the way data flows (cycles, which lineage should not have, are broken at the edges
   that close them: those are drawn as they are, and counted in ``reversed_edges``).
3. **Dummy nodes** on every column an edge spans, so long edges are routed between the nodes
   of the columns they cross instead of through them.
4. **Order** within columns by barycenter sweeps, keeping the order with the fewest crossings
   seen — never more than the initial breadth-first order.
5. **Coordinates**: x by column; y per column as close to the neighbours' mean as the order
   and the row spacing allow (isotonic regression, exact and linear-time), over a few sweeps.

Everything is deterministic: the same graph gives the same drawing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

__all__ = [
    "Layout",
    "LayoutOptions",
    "PlacedEdge",
    "PlacedNode",
    "count_crossings",
    "group_id",
    "layout",
]

Walk = Literal["upstream", "downstream"]
GROUP_PREFIX = "group:"


def group_id(parent: str) -> str:
    """The id of the ``+k more`` node standing for ``parent``'s collapsed neighbours."""
    return GROUP_PREFIX + parent


@dataclass(frozen=True)
class LayoutOptions:
    max_fan: int = 12
    """Neighbours a node shows (away from the start) before the rest are collapsed."""
    expanded: frozenset[str] = frozenset()
    """Nodes whose fans are never collapsed."""
    column_width: float = 224.0
    row_height: float = 52.0
    node_width: float = 176.0
    node_height: float = 40.0
    margin: float = 24.0
    sweeps: int = 6


@dataclass(frozen=True)
class PlacedNode:
    id: str
    kind: str
    """The caller's kind (``run``, ``dataset_version``), or ``group``."""
    column: int
    x: float
    """Centre."""
    y: float
    hidden: int = 0
    """``group`` nodes: how many nodes they stand for."""
    parent: str | None = None
    """``group`` nodes: the node whose neighbours they are (pass it in ``expanded``)."""


@dataclass(frozen=True)
class PlacedEdge:
    origin: str
    destination: str
    points: tuple[tuple[float, float], ...]
    """From the origin's right side, through the columns between, to the destination's left."""


@dataclass(frozen=True)
class Layout:
    nodes: tuple[PlacedNode, ...]
    edges: tuple[PlacedEdge, ...]
    width: float
    height: float
    columns: int
    crossings: int
    initial_crossings: int
    """Crossings of the breadth-first order the sweeps started from."""
    collapsed: int
    """Nodes hidden behind group nodes."""
    reversed_edges: int = 0
    options: LayoutOptions = field(default_factory=LayoutOptions)


def _away(
    nodes: Mapping[str, str], edges: Iterable[tuple[str, str]], walk: Walk
) -> dict[str, list[str]]:
    """Per node: its neighbours one step further from the start, sorted."""
    away: dict[str, set[str]] = {n: set() for n in nodes}
    for origin, destination in edges:
        if origin in nodes and destination in nodes and origin != destination:
            if walk == "upstream":
                away[destination].add(origin)
            else:
                away[origin].add(destination)
    return {n: sorted(v) for n, v in away.items()}


def _collapse(
    away: Mapping[str, list[str]], start: str, options: LayoutOptions
) -> tuple[set[str], dict[str, int]]:
    """The visible nodes, and per collapsed parent the number of nodes its group hides."""
    hidden_children: dict[str, list[str]] = {}
    for node, children in away.items():
        if len(children) > options.max_fan and node not in options.expanded:
            keep = max(options.max_fan - 1, 1)
            ranked = sorted(children, key=lambda c: (not away[c], c))
            hidden_children[node] = ranked[keep:]
    cut = {(p, c) for p, cs in hidden_children.items() for c in cs}
    visible = {start}
    queue = [start]
    while queue:
        node = queue.pop()
        for child in away[node]:
            if child not in visible and (node, child) not in cut:
                visible.add(child)
                queue.append(child)
    # what each group stands for: nodes reachable from its hidden children, not visible
    groups: dict[str, int] = {}
    claimed: set[str] = set()
    for parent in sorted(hidden_children):
        if parent not in visible:
            continue
        members: set[str] = set()
        stack = [c for c in hidden_children[parent] if c not in visible]
        while stack:
            node = stack.pop()
            if node in members or node in visible or node in claimed:
                continue
            members.add(node)
            stack.extend(away[node])
        if members:
            claimed |= members
            groups[parent] = len(members)
    return visible, groups


def _ranks(away: Mapping[str, Sequence[str]], start: str) -> tuple[dict[str, int], int]:
    """Longest-path rank from ``start`` over the acyclic part, and how many edges closed a
    cycle (depth-first, in sorted order: deterministic)."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    postorder: list[str] = []
    back: set[tuple[str, str]] = set()
    stack: list[tuple[str, int]] = [(start, 0)]
    state[start] = 1
    while stack:
        node, i = stack[-1]
        children = away[node]
        if i < len(children):
            stack[-1] = (node, i + 1)
            child = children[i]
            if state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, 0))
        else:
            state[node] = 2
            postorder.append(node)
            stack.pop()
    rank = {start: 0}
    for node in reversed(postorder):
        for child in away[node]:
            if (node, child) not in back:
                rank[child] = max(rank.get(child, 0), rank[node] + 1)
    return rank, len(back)


def count_crossings(columns: Sequence[Sequence[str]], edges: Iterable[tuple[str, str]]) -> int:
    """Crossings between adjacent columns (edges from column c to c + 1; others ignored)."""
    where: dict[str, tuple[int, int]] = {}
    for c, column in enumerate(columns):
        for i, node in enumerate(column):
            where[node] = (c, i)
    between: dict[int, list[tuple[int, int]]] = {}
    for a, b in edges:
        (ca, ia), (cb, ib) = where[a], where[b]
        if cb == ca + 1:
            between.setdefault(ca, []).append((ia, ib))
        elif ca == cb + 1:
            between.setdefault(cb, []).append((ib, ia))
    total = 0
    for c, pairs in between.items():
        total += _inversions([b for _a, b in sorted(pairs)], len(columns[c + 1]))
    return total


def _inversions(values: Sequence[int], size: int) -> int:
    """Pairs i < j with values[i] > values[j] (a Fenwick tree over positions)."""
    tree = [0] * (size + 1)
    count = 0
    for seen, value in enumerate(values):
        i, not_greater = value + 1, 0
        while i > 0:
            not_greater += tree[i]
            i -= i & -i
        count += seen - not_greater
        i = value + 1
        while i <= size:
            tree[i] += 1
            i += i & -i
    return count


def _isotonic(desired: Sequence[float], gap: float) -> list[float]:
    """y closest (least squares) to ``desired`` with y[i + 1] - y[i] >= gap: pool adjacent
    violators on z = y - i * gap, which must not decrease."""
    blocks: list[list[float]] = []  # [mean, weight]
    for i, d in enumerate(desired):
        blocks.append([d - i * gap, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2 = blocks.pop()
            m1, w1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2])
    out: list[float] = []
    for mean, weight in blocks:
        out.extend([mean] * int(weight))
    return [z + i * gap for i, z in enumerate(out)]


def layout(
    nodes: Mapping[str, str],
    edges: Iterable[tuple[str, str]],
    start: str,
    walk: Walk,
    options: LayoutOptions | None = None,
) -> Layout:
    """Lay out ``nodes`` (id -> kind) joined by ``edges`` ((origin, destination), the way data
    flows), as reached from ``start`` walking ``walk``."""
    options = options or LayoutOptions()
    if options.max_fan < 2:
        raise ValueError("max_fan must be at least 2")
    if start not in nodes:
        raise ValueError(f"the start node {start!r} is not among the nodes")
    edge_list = sorted(set(edges))
    away = _away(nodes, edge_list, walk)
    visible, groups = _collapse(away, start, options)
    shown: dict[str, list[str]] = {n: [c for c in away[n] if c in visible] for n in visible}
    for parent in groups:
        shown[parent].append(group_id(parent))
        shown[group_id(parent)] = []
    rank, reversed_edges = _ranks(shown, start)
    last = max(rank.values())
    column = {n: (last - r if walk == "upstream" else r) for n, r in rank.items()}

    # the drawn edges, left to right, with a dummy node on every column between their ends
    drawn: list[tuple[str, str]] = []  # (left, right) between adjacent columns
    routes: list[tuple[str, str, list[str]]] = []  # (origin, destination, chain left to right)
    for parent, children in shown.items():
        for child in children:
            origin, destination = (child, parent) if walk == "upstream" else (parent, child)
            left, right = column[origin], column[destination]
            chain = [origin]
            for c in range(left + 1, right):
                dummy = f"~{origin}~{destination}~{c}"
                column[dummy] = c
                chain.append(dummy)
            chain.append(destination)
            routes.append((origin, destination, chain))
            if right > left:
                drawn.extend(pairwise(chain))

    columns = _initial_order(start, column, drawn, last + 1)
    initial = count_crossings(columns, drawn)
    columns, crossings = _reduce_crossings(columns, drawn, initial, options.sweeps)
    y = _coordinates(columns, drawn, options)
    x = {n: options.margin + options.node_width / 2 + c * options.column_width
         for n, c in column.items()}  # fmt: skip
    half = options.node_width / 2

    placed = []
    for node in sorted(n for n in column if not n.startswith("~")):
        if node.startswith(GROUP_PREFIX) and node not in nodes:
            parent = node[len(GROUP_PREFIX) :]
            placed.append(PlacedNode(node, "group", column[node], x[node], y[node],
                                     hidden=groups[parent], parent=parent))  # fmt: skip
        else:
            placed.append(PlacedNode(node, nodes[node], column[node], x[node], y[node]))
    placed_edges = []
    for origin, destination, chain in sorted(routes):
        points = [(x[origin] + half, y[origin])]
        points += [(x[d], y[d]) for d in chain[1:-1]]
        points.append((x[destination] - half, y[destination]))
        placed_edges.append(PlacedEdge(origin, destination, tuple(points)))
    height = max(y.values()) + options.node_height / 2 + options.margin
    width = options.margin * 2 + options.node_width + last * options.column_width
    return Layout(
        nodes=tuple(placed),
        edges=tuple(placed_edges),
        width=width,
        height=height,
        columns=last + 1,
        crossings=crossings,
        initial_crossings=initial,
        collapsed=sum(groups.values()),
        reversed_edges=reversed_edges,
        options=options,
    )


def _initial_order(
    start: str, column: Mapping[str, int], drawn: Sequence[tuple[str, str]], count: int
) -> list[list[str]]:
    """Columns in breadth-first order of discovery from the start (ties by id)."""
    neighbours: dict[str, list[str]] = {n: [] for n in column}
    for a, b in drawn:
        neighbours[a].append(b)
        neighbours[b].append(a)
    seen = {start}
    order = [start]
    for node in order:
        for other in sorted(neighbours[node]):
            if other not in seen:
                seen.add(other)
                order.append(other)
    order += sorted(n for n in column if n not in seen)  # only via reversed edges
    columns: list[list[str]] = [[] for _ in range(count)]
    for node in order:
        columns[column[node]].append(node)
    return columns


def _reduce_crossings(
    columns: list[list[str]], drawn: Sequence[tuple[str, str]], initial: int, sweeps: int
) -> tuple[list[list[str]], int]:
    left_of: dict[str, list[str]] = {}
    right_of: dict[str, list[str]] = {}
    for a, b in drawn:
        right_of.setdefault(a, []).append(b)
        left_of.setdefault(b, []).append(a)
    best, best_count = [list(c) for c in columns], initial
    current = [list(c) for c in columns]
    for _ in range(sweeps):
        if best_count == 0:
            break
        for forward in (True, False):
            indices = range(1, len(current)) if forward else range(len(current) - 2, -1, -1)
            for c in indices:
                reference = current[c - 1] if forward else current[c + 1]
                position = {n: i for i, n in enumerate(reference)}
                links = left_of if forward else right_of

                def barycenter(item: tuple[int, str], links: dict[str, list[str]] = links,
                               position: dict[str, int] = position) -> float:  # fmt: skip
                    i, node = item
                    near = [position[n] for n in links.get(node, ()) if n in position]
                    return sum(near) / len(near) if near else float(i)

                ranked = sorted(enumerate(current[c]), key=lambda item: (barycenter(item), item[0]))
                current[c] = [node for _i, node in ranked]
            count = count_crossings(current, drawn)
            if count < best_count:
                best, best_count = [list(c) for c in current], count
    return best, best_count


def _coordinates(
    columns: Sequence[Sequence[str]], drawn: Sequence[tuple[str, str]], options: LayoutOptions
) -> dict[str, float]:
    gap = options.row_height
    neighbours: dict[str, list[str]] = {}
    for a, b in drawn:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    tallest = max(len(c) for c in columns)
    y: dict[str, float] = {}
    for column in columns:  # start centred on the tallest column
        offset = (tallest - len(column)) * gap / 2
        for i, node in enumerate(column):
            y[node] = offset + i * gap
    order = list(range(len(columns)))
    for sweep in range(4):
        for c in order if sweep % 2 == 0 else order[::-1]:
            desired = []
            for node in columns[c]:
                near = [y[n] for n in neighbours.get(node, ())]
                desired.append(sum(near) / len(near) if near else y[node])
            for node, value in zip(columns[c], _isotonic(desired, gap), strict=True):
                y[node] = value
    top = min(y.values())
    shift = options.margin + options.node_height / 2 - top
    return {n: v + shift for n, v in y.items()}
