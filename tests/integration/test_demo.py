"""`pedigree demo`, the README's main job, run as a newcomer runs it: a fresh directory, the
embedded default, then again (appends), with --reset (clean), and through the Kafka broker."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PEDIGREE = [sys.executable, "-m", "pedigree.cli", "demo", "--no-serve"]


def demo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*PEDIGREE, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_demo_prints_the_models_provenance_rerun_spec_and_version_diff(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    out = demo(tmp_path).stdout
    elapsed = time.monotonic() - started
    home = tmp_path / "pedigree-demo"
    train_set = home / "data" / "features" / "train.npz"
    lines = out.splitlines()
    assert "[5/5] where did demo-classifier version 2 come from?" in lines
    tree = out.split("[5/5]")[1].split("how to run")[0]
    # the model version, its training run with the second run's hyperparameters, and the
    # exact dataset version (content hash of the file on disk) the training consumed
    assert "model demo-classifier v2" in tree
    assert "run train COMPLETE  epochs=60 lr=0.05" in tree
    assert f"train.npz @ {sha256(train_set)[:19]}…" in tree
    assert "labels.csv @ v1  labels sensor-faults v1" in tree
    assert "run generate COMPLETE  rows=4000 seed=20261129" in tree
    rerun = out.split("how to run its training again")[1].split("version 1 vs")[0]
    assert "parameters {'epochs': 60, 'lr': 0.05}" in rerun
    assert f"input      file {train_set} @ {sha256(train_set)[:19]}…" in rerun
    assert "warning    no_image:" in rerun  # a local run has no image: said, not hidden
    diff = out.split("version 1 vs version 2:")[1]
    assert "parameter lr                 0.5                      0.05" in diff
    assert "training inputs              same" in diff
    assert elapsed < 120  # generous: the README states the measured figure


def test_the_demo_again_appends_and_reset_starts_clean(tmp_path: Path) -> None:
    demo(tmp_path)
    report = json.loads(demo(tmp_path, "--json").stdout)
    assert [m["model_version"] for m in report["models"]] == ["3", "4"]
    nodes = {n["id"]: n for n in report["provenance"]["nodes"]}
    train = next(n for n in nodes.values() if n["kind"] == "run"
                 and n["run"]["job"]["name"] == "train")  # fmt: skip
    assert train["run"]["parameters"] == {"lr": "0.05", "epochs": "60"}
    assert train["run"]["runId"] == report["models"][1]["train_run"]
    # the same data: every pipeline consumed the one version of the training set
    train_set = tmp_path / "pedigree-demo" / "data" / "features" / "train.npz"
    assert f"dataset:file:{train_set}#{sha256(train_set)}" in nodes
    reset = json.loads(demo(tmp_path, "--json", "--reset").stdout)
    assert [m["model_version"] for m in reset["models"]] == ["1", "2"]


def test_the_demo_runs_through_kafka_and_the_consumer_group(
    tmp_path: Path, kafka_bootstrap: str, new_topic: Any
) -> None:
    topic = new_topic(partitions=2)
    report = json.loads(
        demo(tmp_path, "--json", "--bus", f"kafka://{kafka_bootstrap}", "--topic", topic).stdout
    )
    assert report["models"][1]["model_version"] == "2"
    assert any(n["kind"] == "run" and n["run"]["job"]["name"] == "train"
               for n in report["provenance"]["nodes"])  # fmt: skip
    assert not (tmp_path / "pedigree-demo" / "spool").exists()  # nothing went the spool way
