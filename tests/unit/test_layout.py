"""api.layout: layers follow the data, nothing overlaps, crossings go down, wide fans collapse,
and the same graph always gives the same drawing."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest

from api.layout import Layout, LayoutOptions, count_crossings, group_id, layout

Edges = list[tuple[str, str]]


def pipeline(width: int = 3) -> tuple[dict[str, str], Edges]:
    """raw -> prepare -> features -> train -> model, labels -> train; ``width`` shards read by
    prepare, each written by a run of its own."""
    nodes = {
        "d:model": "dataset_version",
        "r:train": "run",
        "d:features": "dataset_version",
        "d:labels": "dataset_version",
        "r:prepare": "run",
    }
    edges = [
        ("r:train", "d:model"),
        ("d:features", "r:train"),
        ("d:labels", "r:train"),
        ("r:prepare", "d:features"),
    ]
    for i in range(width):
        nodes[f"d:shard{i}"] = "dataset_version"
        nodes[f"r:ingest{i}"] = "run"
        edges += [(f"d:shard{i}", "r:prepare"), (f"r:ingest{i}", f"d:shard{i}")]
    return nodes, edges


def random_dag(seed: int, size: int, columns: int = 8) -> tuple[dict[str, str], Edges, str]:
    """A provenance-like graph: every node but the sink feeds one to three nodes of later
    columns, in shuffled input order (a bad order for drawing)."""
    rng = random.Random(seed)
    levels = [[f"n{c}_{i}" for i in range(max(1, size // columns))] for c in range(columns)]
    levels[-1] = ["sink"]
    edges: Edges = []
    for c, level in enumerate(levels[:-1]):
        for node in level:
            for target in rng.sample(levels[c + 1], min(len(levels[c + 1]), rng.randint(1, 3))):
                edges.append((node, target))
    nodes = {n: "run" if c % 2 else "dataset_version" for c, lv in enumerate(levels) for n in lv}
    shuffled = list(nodes.items())
    rng.shuffle(shuffled)
    return dict(shuffled), edges, "sink"


def placed(result: Layout) -> dict[str, tuple[float, float, int]]:
    return {n.id: (n.x, n.y, n.column) for n in result.nodes}


def test_every_edge_points_right_the_way_data_flows_upstream_and_downstream() -> None:
    nodes, edges = pipeline()
    up = placed(layout(nodes, edges, "d:model", "upstream"))
    assert set(up) == set(nodes)
    assert all(up[o][2] < up[d][2] for o, d in edges)
    assert up["d:model"][2] == max(c for _x, _y, c in up.values())  # the start at the right
    # downstream from a raw shard: the start at the left, and only what it fed
    down_edges = [e for e in edges if e[0] != "d:labels"]
    down = placed(layout(nodes, down_edges, "r:ingest0", "downstream"))
    assert down["r:ingest0"][2] == 0
    assert all(down[o][2] < down[d][2] for o, d in down_edges if o in down and d in down)


def test_layers_are_longest_paths_and_long_edges_are_routed_through_each_column() -> None:
    # labels goes straight into train; features takes the long way: labels' edge spans two
    # columns less than the path through prepare would suggest, so it gets bends
    nodes = {
        "m": "dataset_version",
        "t": "run",
        "f": "dataset_version",
        "p": "run",
        "raw": "dataset_version",
    }
    edges = [("t", "m"), ("f", "t"), ("p", "f"), ("raw", "p"), ("raw", "t")]
    result = layout(nodes, edges, "m", "upstream")
    columns = {n.id: n.column for n in result.nodes}
    assert columns == {"raw": 0, "p": 1, "f": 2, "t": 3, "m": 4}
    long_edge = next(e for e in result.edges if (e.origin, e.destination) == ("raw", "t"))
    assert len(long_edge.points) == 2 + 2  # the two ends and one bend per column between
    xs = [x for x, _y in long_edge.points]
    assert xs == sorted(xs)


def test_no_two_nodes_share_a_position_and_rows_keep_their_spacing() -> None:
    nodes, edges, start = random_dag(seed=7, size=200)
    options = LayoutOptions(max_fan=1000)
    result = layout(nodes, edges, start, "upstream", options)
    positions = [(n.x, n.y) for n in result.nodes]
    assert len(set(positions)) == len(positions) == len(nodes)
    by_column: dict[int, list[float]] = {}
    for node in result.nodes:
        by_column.setdefault(node.column, []).append(node.y)
    for ys in by_column.values():
        ys.sort()
        assert all(b - a >= options.row_height - 1e-6 for a, b in pairwise(ys))
    assert all(0 < n.x < result.width and 0 < n.y < result.height for n in result.nodes)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_crossing_reduction_never_does_worse_than_the_input_order(seed: int) -> None:
    nodes, edges, start = random_dag(seed=seed, size=120)
    result = layout(nodes, edges, start, "upstream", LayoutOptions(max_fan=1000))
    assert result.crossings <= result.initial_crossings
    assert result.crossings < result.initial_crossings  # on these fixtures it really helps


def test_count_crossings_counts_each_crossing_pair_once() -> None:
    assert count_crossings([["a", "b"], ["c", "d"]], [("a", "c"), ("b", "d")]) == 0
    assert count_crossings([["a", "b"], ["c", "d"]], [("a", "d"), ("b", "c")]) == 1
    assert (
        count_crossings([["a", "b", "e"], ["c", "d", "f"]], [("a", "f"), ("b", "d"), ("e", "c")])
        == 3
    )


def test_a_wide_fan_in_collapses_into_one_group_that_expands_on_request() -> None:
    nodes, edges = pipeline(width=30)
    collapsed = layout(nodes, edges, "d:model", "upstream", LayoutOptions(max_fan=5))
    ids = {n.id for n in collapsed.nodes}
    group = next(n for n in collapsed.nodes if n.kind == "group")
    assert group.id == group_id("r:prepare")
    assert group.parent == "r:prepare"
    shown = sorted(i for i in ids if i.startswith("d:shard"))
    assert len(shown) == 4  # max_fan - 1 shards, and the group for the other 26
    assert group.hidden == 26 * 2  # each hidden shard with the run that wrote it
    assert collapsed.collapsed == 52
    assert len(ids) == len(nodes) - 52 + 1
    assert any((e.origin, e.destination) == (group.id, "r:prepare") for e in collapsed.edges)
    expanded = layout(
        nodes,
        edges,
        "d:model",
        "upstream",
        LayoutOptions(max_fan=5, expanded=frozenset({"r:prepare"})),
    )
    assert {n.id for n in expanded.nodes} == set(nodes)
    assert expanded.collapsed == 0


def test_a_node_reached_another_way_is_not_hidden_by_a_collapsed_fan() -> None:
    nodes = {"s": "run", **{f"d{i}": "dataset_version" for i in range(6)}, "r": "run"}
    edges = [(f"d{i}", "s") for i in range(6)] + [("d5", "r"), ("r", "s")]
    result = layout(nodes, edges, "s", "upstream", LayoutOptions(max_fan=3))
    ids = {n.id for n in result.nodes}
    assert "d5" in ids  # collapsed under s, but r reads it and r is shown
    group = next(n for n in result.nodes if n.kind == "group")
    assert group.hidden == len(nodes) - len(ids) + 1


def test_the_same_graph_gives_the_same_drawing_whatever_the_input_order() -> None:
    nodes, edges, start = random_dag(seed=11, size=150)
    first = layout(nodes, edges, start, "upstream")
    shuffled_nodes = dict(reversed(list(nodes.items())))
    second = layout(shuffled_nodes, list(reversed(edges)), start, "upstream")
    assert first == second


def test_a_cycle_is_drawn_and_counted_not_looped_on() -> None:
    nodes = {"v": "dataset_version", "r": "run", "u": "dataset_version"}
    edges = [("r", "v"), ("v", "r"), ("u", "r")]  # r read and wrote v
    result = layout(nodes, edges, "v", "upstream")
    assert result.reversed_edges == 1
    assert {n.id for n in result.nodes} == set(nodes)
    assert len(result.edges) == 3


def test_bad_input_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="start node"):
        layout({"a": "run"}, [], "b", "upstream")
    with pytest.raises(ValueError, match="max_fan"):
        layout({"a": "run"}, [], "a", "upstream", LayoutOptions(max_fan=1))
    single = layout({"a": "run"}, [], "a", "downstream")
    assert [(n.id, n.column) for n in single.nodes] == [("a", 0)]
