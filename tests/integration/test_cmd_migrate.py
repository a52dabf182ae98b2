"""`pedigree migrate` as an operator runs it: idempotent, printable, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PEDIGREE = [sys.executable, "-m", "pedigree.cli", "migrate"]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # a separate process: chdb opens one data directory per process
    return subprocess.run([*PEDIGREE, *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_migrating_twice_applies_once_on_the_embedded_engine(tmp_path: Path) -> None:
    first = _run(["--database", "lineage"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "applied 0001_initial to lineage",
        "applied 0002_job_io to lineage",
        "applied 0003_run_nodes to lineage",
    ]
    assert (tmp_path / "pedigree-data" / "clickhouse").is_dir()
    second = _run(["--database", "lineage"], tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "lineage is up to date"


def test_print_shows_the_cluster_variant_without_connecting(tmp_path: Path) -> None:
    result = _run(
        ["--cluster", "lineage_cluster", "--print", "--clickhouse", "http://127.0.0.1:9"], tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "ON CLUSTER lineage_cluster" in result.stdout
    assert "ReplicatedReplacingMergeTree" in result.stdout
    assert not (tmp_path / "pedigree-data").exists()


def test_an_unreachable_server_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = _run(["--clickhouse", "http://admin:hunter2@127.0.0.1:9"], tmp_path)
    assert result.returncode == 1
    assert "pedigree migrate: cannot connect to http://127.0.0.1:9" in result.stderr
    assert "hunter2" not in result.stderr  # the password in the URL is never printed
    assert "Traceback" not in result.stderr


def test_a_bad_cluster_name_is_refused(tmp_path: Path) -> None:
    result = _run(["--cluster", "x; DROP TABLE y", "--print"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("pedigree migrate: ")


def test_consume_from_spool_materializes_wrapped_runs_once(tmp_path: Path) -> None:
    env = {**os.environ, "PEDIGREE_SPOOL_DIR": str(tmp_path / "d" / "spool"),
           "PEDIGREE_SAMPLE_INTERVAL": "0"}  # fmt: skip
    for job in ("prepare", "train"):  # each: START and COMPLETE, in a spool file of its own
        wrapped = subprocess.run(
            [sys.executable, "-m", "pedigree.cli", "run", "--job", job, "--", sys.executable,
             "-c", "pass"],
            env=env, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert wrapped.returncode == 0, wrapped.stderr
    consume = [
        sys.executable,
        "-m",
        "pedigree.cli",
        "consume",
        "--from-spool",
        str(tmp_path / "d" / "spool"),
    ]
    first = subprocess.run(consume, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    assert (
        first.stdout.strip() == "materialized 4 events from 2 spool files into pedigree; 0 rejected"
    )
    again = subprocess.run(consume, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert again.stdout.startswith("materialized 0 events from 0 spool files")
    missing = subprocess.run(
        [sys.executable, "-m", "pedigree.cli", "consume"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2
    assert "--from-spool" in missing.stderr


def test_every_command_migrates_with_the_cluster_of_the_environment(tmp_path: Path) -> None:
    """PEDIGREE_CLICKHOUSE_CLUSTER set: migrate prints the cluster variant, and a consumer
    started against a warehouse without that cluster refuses rather than create local tables."""
    env = {**os.environ, "PEDIGREE_CLICKHOUSE_CLUSTER": "lineage"}
    printed = subprocess.run([*PEDIGREE, "--print"], cwd=tmp_path, env=env, capture_output=True,
                             text=True, check=False, timeout=60)  # fmt: skip
    assert "CREATE TABLE IF NOT EXISTS `pedigree`.runs ON CLUSTER lineage" in printed.stdout
    assert "ReplicatedReplacingMergeTree" in printed.stdout
    consume = subprocess.run(
        [sys.executable, "-m", "pedigree.cli", "consume", "--from-spool", str(tmp_path / "spool")],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert consume.returncode == 1
    assert "Requested cluster 'lineage' not found" in consume.stderr
    assert "Traceback" not in consume.stderr
