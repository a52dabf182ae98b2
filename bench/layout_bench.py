"""Layout time of a provenance-like graph of about 500 nodes (api.layout, pure Python).

    .venv/bin/python bench/layout_bench.py [--nodes 500] [--repeat 20]

The graph: a model version at the right; columns alternate runs and dataset versions, each node
feeding one to three nodes of the next column, in shuffled input order (a bad order to draw);
one run in the middle reads 60 shards.  Laid out as the API does by default (fans over 12
collapsed: the model's 48 inputs and the 60 shards) and whole.  Prints the best and median of
``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from api.layout import LayoutOptions, layout


def graph(size: int, seed: int = 5) -> tuple[dict[str, str], list[tuple[str, str]], str, str]:
    rng = random.Random(seed)
    columns = 10
    width = max(1, (size - 60) // (columns - 1))
    levels = [[f"n{c}_{i}" for i in range(width)] for c in range(columns - 1)] + [["model"]]
    edges = []
    for c, level in enumerate(levels[:-1]):
        for node in level:
            targets = rng.sample(levels[c + 1], min(len(levels[c + 1]), rng.randint(1, 3)))
            edges += [(node, t) for t in targets]
    wide = levels[5][0]
    shards = [f"shard{i}" for i in range(60)]
    edges += [(s, wide) for s in shards]
    nodes = {n: "run" if c % 2 else "dataset_version" for c, lv in enumerate(levels) for n in lv}
    nodes.update(dict.fromkeys(shards, "dataset_version"))
    order = list(nodes.items())
    rng.shuffle(order)
    return dict(order), edges, "model", wide


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    nodes, edges, start, _wide = graph(args.nodes)
    for label, options in (
        ("default (fans over 12 collapsed)", LayoutOptions()),
        ("whole graph (nothing collapsed)", LayoutOptions(max_fan=10_000)),
    ):
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            result = layout(nodes, edges, start, "upstream", options)
            times.append(time.perf_counter() - started)
        print(
            f"{len(nodes)} nodes, {len(edges)} edges, {label}: {len(result.nodes)} drawn, "
            f"{result.columns} columns, crossings {result.initial_crossings} -> "
            f"{result.crossings}; best {min(times) * 1000:.1f} ms, "
            f"median {statistics.median(times) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
