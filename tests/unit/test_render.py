"""The text renderings the CLI and the demo print: what a person reads must say what is known
and say plainly what is not (never ``None``)."""

from __future__ import annotations

from pedigree.render import render_graph, render_rerun, render_tree, short_version

RUN = "run:0193a4f2-0000-7000-8000-000000000001"


def _spec(**overrides: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "runId": RUN[4:],
        "image": {"reference": "registry.example.com/train@sha256:" + "ab" * 32},
        "command": ["python", "train.py"],
        "arguments": ["--lr", "0.1"],
        "git": {"repo": "https://git.example.com/ml.git", "commit": "c0ffee" * 6, "dirty": False},
        "parameters": {"lr": 0.1},
        "inputs": [{"namespace": "s3://data", "name": "features", "version": "v7"}],
        "warnings": [{"code": "no_environment_variables", "message": "none captured"}],
    }
    spec.update(overrides)
    return spec


def test_a_rerun_spec_names_image_command_commit_inputs_and_warnings() -> None:
    lines = render_rerun(_spec())
    assert lines[1] == "image      registry.example.com/train@sha256:" + "ab" * 32
    assert lines[2] == "command    python train.py"
    assert lines[3] == "git        https://git.example.com/ml.git @ " + "c0ffee" * 6
    assert "input      s3://data features @ v7" in lines
    assert lines[-1] == "warning    no_environment_variables: none captured"


def test_what_a_run_did_not_record_is_said_not_printed_as_none() -> None:
    lines = render_rerun(_spec(git=None, image=None, command=None, arguments=None))
    assert "git        (no commit recorded)" in lines
    assert "image      (none)" in lines
    assert "command    (none)" in lines
    assert not any("None" in line for line in lines)
    dirty = render_rerun(_spec(git={"repo": None, "commit": "abc", "dirty": True}))
    assert "git        abc (dirty tree)" in dirty


def test_long_versions_are_shortened_and_missing_ones_named() -> None:
    assert short_version(None) == "(unversioned)"
    assert short_version("v3") == "v3"
    assert short_version("sha256:" + "f" * 64) == "sha256:ffffffffffff…"


def test_a_provenance_tree_shows_each_node_once_and_marks_shared_ones() -> None:
    model = "dataset:models:m#v2"
    train = {
        "id": RUN,
        "kind": "run",
        "path": [model, RUN],
        "run": {
            "job": {"name": "train"},
            "status": "COMPLETE",
            "parameters": {"lr": "0.1"},
            "code": {"gitCommit": "c0ffee" * 6, "imageDigest": None},
            "resources": {"observed": {"host": "gpu-1", "cpuCount": 8, "memoryBytes": 2**34}},
            "owners": {"submitter": "alice"},
        },
    }
    features = {
        "id": "dataset:data:features#v7",
        "kind": "dataset",
        "path": [model, RUN, "dataset:data:features#v7"],
        "dataset": {"name": "features", "version": "v7"},
    }
    provenance = {
        "start": model,
        "nodes": [
            {
                "id": model,
                "kind": "dataset",
                "path": [model],
                "dataset": {"name": "m", "version": "v2"},
            },
            train,
            features,
        ],
        "edges": [
            {"origin": RUN, "destination": model},
            {"origin": "dataset:data:features#v7", "destination": RUN},
            {"origin": "dataset:data:features#v7", "destination": model},
        ],
        "truncated": True,
    }
    lines = render_tree(provenance)
    assert lines[0] == "m @ v2"
    # the model's direct input is listed by reference: its place in the tree is under the run
    assert lines[1] == "├─ ↑ features @ v7 (shown elsewhere in this tree)"
    assert lines[2] == (
        "└─ run train COMPLETE  lr=0.1  commit c0ffeec0ffee  image none (local)"
        "  on gpu-1, 8 CPU, 16.0 GiB, GPU none  by alice"
    )
    assert lines[3] == "   └─ features @ v7"
    assert lines[-1].startswith("… truncated")


def test_a_graph_lists_out_edges_and_says_what_it_hid() -> None:
    graph = {
        "graph": [
            {"id": "job:ns:a", "type": "JOB", "outEdges": [{"destination": "dataset:ns:b"}]},
            {"id": "dataset:ns:b", "type": "DATASET", "outEdges": []},
        ],
        "truncated": False,
        "tenantBoundary": {"hiddenEdges": 2},
    }
    assert render_graph(graph) == [
        "JOB      job:ns:a  -> dataset:ns:b",
        "DATASET  dataset:ns:b",
        "… 2 edges lead outside your token's namespaces (not shown)",
    ]
