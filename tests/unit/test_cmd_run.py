"""`pedigree run -- COMMAND`: lineage for any command, exit code passed through."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from emitters.spool import read_events
from emitters.validation import validate_event
from pedigree.cmd_run import command_parameters

PEDIGREE = [sys.executable, "-m", "pedigree.cli", "run"]


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PEDIGREE_SPOOL_DIR": str(tmp_path / "spool"),
        "PEDIGREE_SAMPLE_INTERVAL": "0",
        "PEDIGREE_NAMESPACE": "ci",
    }


def _events(tmp_path: Path) -> list[dict[str, Any]]:
    return list(read_events(tmp_path / "spool"))


def test_a_successful_command_completes_with_its_arguments_inputs_and_outputs(
    tmp_path: Path,
) -> None:
    data = tmp_path / "in.csv"
    data.write_text("a\n1\n")
    out = tmp_path / "out.txt"
    script = tmp_path / "train.py"
    script.write_text(f"open({str(out)!r}, 'w').write('model')\n")
    result = subprocess.run(
        [*PEDIGREE, "--input", str(data), "--input", "s3://bucket/raw@v9", "--output", str(out),
         "--param", "owner=alice", "--", sys.executable, str(script), "--lr", "0.1", "--amp"],
        env=_env(tmp_path), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    start, complete = _events(tmp_path)
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert complete["job"] == {**complete["job"], "namespace": "ci", "name": "train.py"}
    params = complete["run"]["facets"]["pedigree_parameters"]["parameters"]
    assert params["args.lr"] == "0.1"
    assert params["args.amp"] == "true"
    assert params["owner"] == "alice"
    assert params["command"][-3:] == ["--lr", "0.1", "--amp"]
    versions = [i["facets"]["version"]["datasetVersion"] for i in complete["inputs"]]
    assert versions == ["sha256:" + hashlib.sha256(b"a\n1\n").hexdigest(), "v9"]
    [output] = complete["outputs"]
    assert output["facets"]["version"]["datasetVersion"].endswith(
        hashlib.sha256(b"model").hexdigest()
    )
    code = start["run"]["facets"]["pedigree_code"]  # what ran is the command, not the wrapper
    assert code["entryPoint"] == str(script)
    assert code["arguments"] == ["--lr", "0.1", "--amp"]
    for event in (start, complete):
        validate_event(event)


def test_a_failing_command_fails_and_its_exit_code_passes_through(tmp_path: Path) -> None:
    result = subprocess.run(
        [*PEDIGREE, "--job", "flaky", "--", sys.executable, "-c", "import sys; sys.exit(3)"],
        env=_env(tmp_path), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 3
    fail = _events(tmp_path)[-1]
    assert fail["eventType"] == "FAIL"
    assert fail["run"]["facets"]["errorMessage"]["message"] == "command exited with code 3"


def test_sigterm_is_forwarded_and_recorded_as_abort(tmp_path: Path) -> None:
    wrapper = subprocess.Popen(
        [*PEDIGREE, "--job", "long", "--", sys.executable, "-c",
         "import time; print('ready', flush=True); time.sleep(60)"],
        env=_env(tmp_path), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert wrapper.stdout is not None
    assert wrapper.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    wrapper.send_signal(signal.SIGTERM)
    assert wrapper.wait(timeout=30) == 128 + signal.SIGTERM
    assert [e["eventType"] for e in _events(tmp_path)] == ["START", "ABORT"]


def test_a_missing_program_fails_like_a_shell_would(tmp_path: Path) -> None:
    result = subprocess.run(
        [*PEDIGREE, "--", "no-such-program-xyz"],
        env=_env(tmp_path), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 127
    assert result.stderr.startswith("pedigree run: could not start 'no-such-program-xyz'")
    assert [e["eventType"] for e in _events(tmp_path)] == ["START", "FAIL"]


def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    for args, message in (
        ([], "nothing to run"),
        (["--param", "novalue", "--", "true"], "--param 'novalue': expected KEY=VALUE"),
        (["--input", "s3://", "--", "true"], "--input:"),
    ):
        result = subprocess.run(
            [*PEDIGREE, *args], env=_env(tmp_path), capture_output=True, text=True, check=False
        )
        assert result.returncode == 2, args
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_command_parameters_parse_flags() -> None:
    params = command_parameters(["python", "train.py", "--lr=0.1", "--epochs", "3", "--amp"])
    assert params == {
        "command": ["python", "train.py", "--lr=0.1", "--epochs", "3", "--amp"],
        "args.lr": "0.1",
        "args.epochs": "3",
        "args.amp": "true",
    }


def test_command_parameters_never_carry_secrets() -> None:
    params = command_parameters(
        ["python", "train.py", "--api-key", "s3cr3t-value", "--db=postgres://u:hunter2@db/x",
         "--token=ghp_" + "a" * 36, "--lr", "0.1"]
    )  # fmt: skip
    text = repr(params)
    for secret in ("s3cr3t-value", "hunter2", "ghp_"):
        assert secret not in text
    assert params["args.api-key"] == "<redacted>"
    assert params["args.token"] == "<redacted>"
    assert params["args.db"] == "postgres://db/x"
    assert params["args.lr"] == "0.1"


def test_a_command_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    wrapper = subprocess.Popen(
        [*PEDIGREE, "--job", "stubborn", "--kill-after", "1", "--", sys.executable, "-c",
         "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
         " print('ready', flush=True); time.sleep(60)"],
        env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert wrapper.stdout is not None
    assert wrapper.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    wrapper.send_signal(signal.SIGTERM)
    assert wrapper.wait(timeout=30) == 128 + signal.SIGTERM
    assert [e["eventType"] for e in _events(tmp_path)] == ["START", "ABORT"]


def test_a_command_killed_by_an_unusual_signal_fails_with_its_number(tmp_path: Path) -> None:
    result = subprocess.run(
        [*PEDIGREE, "--job", "rt", "--", sys.executable, "-c",
         "import os, signal; os.kill(os.getpid(), signal.SIGRTMIN + 6)"],
        env=_env(tmp_path), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 128 + signal.SIGRTMIN + 6
    assert "Traceback" not in result.stderr
    message = _events(tmp_path)[-1]["run"]["facets"]["errorMessage"]["message"]
    assert message.startswith(f"command killed by signal {signal.SIGRTMIN + 6}")
