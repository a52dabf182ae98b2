"""`pedigree demo`: the pipeline's events go through the spool and come back printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emitters.spool import read_events
from pedigree.cli import main


def test_demo_spools_and_prints_the_pipeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("wrote 6 events to ")
    assert [line.split()[1:3] for line in out[1:]] == [
        ["START", "pipeline"],
        ["START", "prepare"],
        ["COMPLETE", "prepare"],
        ["START", "train"],
        ["COMPLETE", "train"],
        ["COMPLETE", "pipeline"],
    ]
    assert out[5].endswith("-> linear.json")
    train = [e for e in read_events(tmp_path / "spool") if e["job"]["name"] == "train"][-1]
    facets = train["run"]["facets"]
    assert facets["pedigree_parameters"]["parameters"]["optimizer.lr"] == 0.5
    assert facets["parent"]["root"]["job"]["name"] == "pipeline"
    model = train["outputs"][0]["facets"]
    assert model["pedigree_model"]["metrics"]["mse"] < 0.01  # the model really was fitted
    assert model["version"]["datasetVersion"].startswith("sha256:")


def test_demo_again_appends_and_reset_starts_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--dir", str(tmp_path)]) == 0
    assert main(["demo", "--dir", str(tmp_path), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert json.loads(lines[-1])["eventType"] == "COMPLETE"
    assert len(list(read_events(tmp_path / "spool"))) == 12
    assert main(["demo", "--dir", str(tmp_path), "--reset"]) == 0
    assert len(list(read_events(tmp_path / "spool"))) == 6
