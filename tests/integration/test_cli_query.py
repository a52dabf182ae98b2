"""`pedigree lineage | provenance | rerun` against a live API (the real engine behind it)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.integration.test_api import NLP, VISION, Api, api, vision  # noqa: F401 - fixtures
from tests.pipeline import Pipeline

PEDIGREE = [sys.executable, "-m", "pedigree.cli"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PEDIGREE, *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_provenance_prints_the_tree_and_json(api: Api, vision: Pipeline) -> None:  # noqa: F811
    result = cli("provenance", "vision-detector", "1", "--depth", "10",
                 "--api", api.base, "--token", VISION)  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "detector @ sha256:model-1  model vision-detector v1"
    train = next(line for line in lines if "run train COMPLETE" in line)
    assert "epochs=3 lr=0.01 model.depth=4" in train
    assert f"commit {1:040x}"[:19] in train
    assert "image sha256:" + "01" * 32 in train
    assert "GPU" in train
    as_json = cli("provenance", "vision-detector", "1", "--json", "--api", api.base,
                  "--token", VISION)  # fmt: skip
    body: dict[str, Any] = json.loads(as_json.stdout)
    assert body["model"]["producingRun"] == vision.train


def test_rerun_as_text_and_as_a_kubernetes_job(api: Api, vision: Pipeline) -> None:  # noqa: F811
    text = cli("rerun", vision.train, "--api", api.base, "--token", VISION)
    assert text.returncode == 0, text.stderr
    assert "input      s3://vision-data features @ sha256:features-1" in text.stdout
    job = json.loads(cli("rerun", vision.train, "--format", "k8s", "--api", api.base,
                         "--token", VISION).stdout)  # fmt: skip
    assert job["kind"] == "Job"
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["image"].endswith("@sha256:" + "01" * 32)


def test_lineage_lists_nodes_and_edges(api: Api, vision: Pipeline) -> None:  # noqa: F811
    result = cli("lineage", "job:vision:train", "--depth", "1", "--api", api.base,
                 "--token", VISION)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "JOB      job:vision:train  -> dataset:s3://vision-data:models/detector" in (
        result.stdout.splitlines()
    )


def test_errors_are_one_line_with_the_right_exit_code(api: Api, vision: Pipeline) -> None:  # noqa: F811
    other = cli("provenance", "vision-detector", "1", "--api", api.base, "--token", NLP)
    assert other.returncode == 1
    assert other.stderr.startswith("pedigree provenance: 404: ")
    bad = cli("lineage", "table:x", "--api", api.base, "--token", VISION)
    assert bad.returncode == 2
    assert "must start with" in bad.stderr
    down = cli("rerun", "x", "--api", "http://127.0.0.1:9")
    assert down.returncode == 1
    assert "is `pedigree serve` running?" in down.stderr
    assert "Traceback" not in down.stderr + bad.stderr + other.stderr
