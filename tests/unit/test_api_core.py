"""The API's pure core: node ids, tokens and scopes, bounded traversal, limit settings."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from api.auth import AuthConfigError, TokenTable, hash_token
from api.graph import Edge, Traversal, traverse
from api.nodes import NodeRef, parse_node_id
from api.settings import ApiLimits, ApiSettings

# -- node ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("job:vision:train", NodeRef("job", "vision", "train")),
        ("dataset:s3://bucket:images/train", NodeRef("dataset", "s3://bucket", "images/train")),
        ("dataset:s3://bucket:images#v3", NodeRef("dataset", "s3://bucket", "images", "v3")),
        ("dataset:s3://bucket:images#", NodeRef("dataset", "s3://bucket", "images", "")),
        (
            "dataset:postgres://db:5432:public.users#sha256:ab",
            NodeRef("dataset", "postgres://db:5432", "public.users", "sha256:ab"),
        ),
        ("run:0190c6b0-0000-7000-8000-000000000001", NodeRef("run", "", "0190c6b0-0000-7000-8000-000000000001")),  # noqa: E501
    ],
)  # fmt: skip
def test_node_ids_parse_as_marquez_does_and_round_trip(text: str, expected: NodeRef) -> None:
    node = parse_node_id(text)
    assert node == expected
    assert node.id == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("table:x:y", "must start with"),
        ("run:", "needs a run id"),
        ("job:onlynamespace", "expected job:<namespace>:<name>"),
        ("dataset::name", "expected dataset"),
        ("job:" + "x" * 5000, "over the 4096 limit"),
    ],
)
def test_bad_node_ids_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_node_id(text)


def test_versioned_nodes_are_runs_and_dataset_versions() -> None:
    assert parse_node_id("run:x").versioned
    assert parse_node_id("dataset:a:b#").versioned
    assert not parse_node_id("dataset:a:b").versioned
    assert not parse_node_id("job:a:b").versioned


# -- tokens --------------------------------------------------------------------------------------


def test_tokens_authenticate_by_hash_and_scope_by_glob(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    entry = {"name": "vision", "sha256": hash_token("secret"), "read": ["s3://vision-*"],
             "write": ["vision"]}  # fmt: skip
    path.write_text(json.dumps({"tokens": [entry]}))
    table = TokenTable.load(path)
    assert table.authenticate("wrong") is None
    principal = table.authenticate("secret")
    assert principal is not None
    assert principal.can_read("s3://vision-data")
    assert principal.can_read("vision")  # write implies read
    assert principal.can_write("vision")
    assert not principal.can_write("s3://vision-data")
    assert not principal.can_read("nlp")
    assert not principal.can_read("s3://vision")  # the glob wants the dash
    assert "secret" not in path.read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not JSON"),
        ('{"tokens": {}}', "must hold"),
        ('{"tokens": [{"name": "a", "sha256": "secret-in-clear"}]}', "64-hex-digit SHA-256"),
        ('{"tokens": [{"name": "", "sha256": "' + "0" * 64 + '"}]}', "name must be"),
        ('{"tokens": [{"name": "a", "sha256": "' + "z" * 64 + '"}]}', "not hexadecimal"),
        ('{"tokens": [{"name": "a", "sha256": "' + "0" * 64 + '", "read": "x"}]}', "list of"),
    ],
)
def test_a_bad_token_file_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(content)
    with pytest.raises(AuthConfigError, match=message):
        TokenTable.load(path)


def test_a_missing_token_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="cannot read the token file"):
        TokenTable.load(tmp_path / "absent.json")


# -- traversal ----------------------------------------------------------------------------------


def run(name: str, namespace: str = "a") -> NodeRef:
    return NodeRef.run(name, namespace)


def version(name: str, namespace: str = "a") -> NodeRef:
    return NodeRef.dataset_version(namespace, name, "1")


# a chain d0 -> r1 -> d1 -> r2 -> d2 -> r3 -> d3, plus r2 also reads x (namespace "b")
EDGES = [
    Edge(version("d0"), run("r1")),
    Edge(run("r1"), version("d1")),
    Edge(version("d1"), run("r2")),
    Edge(version("x", "b"), run("r2")),
    Edge(run("r2"), version("d2")),
    Edge(version("d2"), run("r3")),
    Edge(run("r3"), version("d3")),
]
CALLS: list[int] = []


def upstream(frontier: Sequence[NodeRef], limit: int) -> list[Edge]:
    CALLS.append(len(frontier))
    ids = {n.id for n in frontier}
    return [e for e in EDGES if e.destination.id in ids][:limit]


def downstream(frontier: Sequence[NodeRef], limit: int) -> list[Edge]:
    ids = {n.id for n in frontier}
    return [e for e in EDGES if e.origin.id in ids][:limit]


def walk(start: NodeRef, direction: str = "upstream", **kw: Any) -> Traversal:
    return traverse(
        start,
        upstream=upstream,
        downstream=downstream,
        direction=direction,  # type: ignore[arg-type]
        depth=kw.get("depth", 10),
        max_nodes=kw.get("max_nodes", 100),
        readable=lambda n: n.namespace != kw.get("hide", "none"),
    )


def test_upstream_walks_back_with_depth_and_paths() -> None:
    CALLS.clear()
    result = walk(version("d3"))
    assert set(result.nodes) == {e.id for edge in EDGES for e in (edge.origin, edge.destination)}
    assert result.depth_of[version("d0").id] == 6
    assert result.path(version("d0").id) == [
        version("d3").id, "run:r3", version("d2").id, "run:r2", version("d1").id, "run:r1",
        version("d0").id,
    ]  # fmt: skip
    assert len(CALLS) == 7  # one call per level, however wide the level
    assert not result.truncated


def test_depth_bounds_the_walk() -> None:
    result = walk(version("d3"), depth=2)
    assert set(result.nodes) == {version("d3").id, "run:r3", version("d2").id}
    assert not result.truncated


def test_the_node_limit_truncates_and_says_so() -> None:
    result = walk(version("d3"), max_nodes=4)
    assert len(result.nodes) == 4
    assert result.truncated
    # every kept edge joins kept nodes
    assert all(o in result.nodes and d in result.nodes for o, d in result.edges)


def test_the_tenant_boundary_hides_nodes_and_counts_edges() -> None:
    result = walk(version("d3"), hide="b")
    assert version("x", "b").id not in result.nodes
    assert result.hidden_edges == 1
    assert version("d0").id in result.nodes


def test_downstream_and_both() -> None:
    down = walk(version("d1"), "downstream")
    assert set(down.nodes) == {version("d1").id, "run:r2", version("d2").id, "run:r3",
                               version("d3").id}  # fmt: skip
    both = walk(run("r2"), "both", depth=1)
    assert set(both.nodes) == {"run:r2", version("d1").id, version("x", "b").id,
                               version("d2").id}  # fmt: skip


# -- limits from the environment ---------------------------------------------------------------


def test_limits_come_from_the_environment_and_bad_values_are_named() -> None:
    limits = ApiSettings.limits_from_environment(
        {"PEDIGREE_API_MAX_DEPTH": "20", "PEDIGREE_API_QUERY_SECONDS": "2.5"}
    )
    assert limits == ApiLimits(max_depth=20, query_seconds=2.5)
    with pytest.raises(ValueError, match="PEDIGREE_API_MAX_NODES='lots' is not a number"):
        ApiSettings.limits_from_environment({"PEDIGREE_API_MAX_NODES": "lots"})
    with pytest.raises(ValueError, match="PEDIGREE_API_MAX_DEPTH must be positive"):
        ApiSettings.limits_from_environment({"PEDIGREE_API_MAX_DEPTH": "0"})


def test_paths_do_not_depend_on_the_order_storage_returns_edges_in() -> None:
    """Two runs both wrote inputs of the model's run: the shared upstream dataset is reached
    from both, and its path must be the same however the level query ordered its rows."""
    model = NodeRef.dataset_version("m", "model", "v1")
    train = NodeRef.run("r-train", "ns")
    a, b = NodeRef.dataset_version("d", "a", "1"), NodeRef.dataset_version("d", "b", "1")
    prep_a, prep_b = NodeRef.run("r-prep-a", "ns"), NodeRef.run("r-prep-b", "ns")
    raw = NodeRef.dataset_version("d", "raw", "1")
    edges = [Edge(train, model), Edge(a, train), Edge(b, train), Edge(prep_a, a),
             Edge(prep_b, b), Edge(raw, prep_a), Edge(raw, prep_b)]  # fmt: skip

    def answers(reverse: bool) -> dict[str, list[str]]:
        def upstream_of(frontier: Sequence[NodeRef], _limit: int) -> list[Edge]:
            ids = {n.id for n in frontier}
            found = [e for e in edges if e.destination.id in ids]
            return found[::-1] if reverse else found

        result = traverse(model, upstream=upstream_of, downstream=None, direction="upstream",
                          depth=10, max_nodes=100, readable=lambda _n: True)  # fmt: skip
        return {node: result.path(node) for node in result.nodes}

    assert answers(reverse=False) == answers(reverse=True)
    assert answers(reverse=True)[raw.id][-2] == prep_a.id  # the first in id order
