"""`pedigree events validate|encode|decode` and `pedigree --help`, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emitters import codec
from pedigree.cli import main
from tests.events import ml_run_event, simple_run_event


def _write(tmp_path: Path, name: str, value: object) -> Path:
    path = tmp_path / name
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return path


def test_help_lists_the_subcommands_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "events" in out
    assert "demo" in out
    assert "examples:" in out


def test_installed_command_answers_help_without_importing_the_backend() -> None:
    script = (
        "import sys\n"
        "from pedigree.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'fastapi', 'clickhouse_connect', 'chdb', 'uvicorn'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().endswith("[]")
    pedigree = Path(sys.executable).with_name("pedigree")
    if pedigree.exists():  # the console script of the installed package
        result = subprocess.run([pedigree, "--help"], capture_output=True, text=True, check=False)
        assert result.returncode == 0
        assert "usage: pedigree" in result.stdout


def test_validate_reports_one_line_per_bad_file_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(tmp_path, "good.json", simple_run_event())
    bad_uuid = simple_run_event()
    bad_uuid["run"]["runId"] = "nope"
    bad = _write(tmp_path, "bad.json", bad_uuid)
    broken = _write(tmp_path, "broken.json", "{not json")
    missing = tmp_path / "missing.json"
    code = main(["events", "validate", str(good), str(bad), str(broken), str(missing)])
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == f"{good}: ok (run event START)"
    errors = captured.err.strip().splitlines()
    assert len(errors) == 3
    assert errors[0].startswith(f"{bad}: run.runId:")
    assert errors[1].startswith(f"{broken}: not valid JSON")
    assert errors[2].startswith(f"{missing}: ")


def test_validate_accepts_an_array_of_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = simple_run_event()
    bad["eventType"] = "FINISH"
    path = _write(tmp_path, "batch.json", [simple_run_event(), bad])
    assert main(["events", "validate", "-q", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"{path}[1]: eventType:")


def test_encode_then_decode_round_trips_through_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path, "run.json", ml_run_event())
    wire = tmp_path / "run.avro"
    assert main(["events", "encode", str(source), "-o", str(wire)]) == 0
    assert wire.read_bytes()[:2] == codec.MAGIC
    assert main(["events", "decode", str(wire)]) == 0
    assert json.loads(capsys.readouterr().out) == ml_run_event()


def test_encode_several_files_into_a_directory(tmp_path: Path) -> None:
    a = _write(tmp_path, "a.json", simple_run_event())
    b = _write(tmp_path, "b.json", ml_run_event())
    assert main(["events", "encode", str(a), str(b)]) == 2  # needs --out-dir
    assert main(["events", "encode", str(a), str(b), "--out-dir", str(tmp_path / "w")]) == 0
    assert codec.decode((tmp_path / "w" / "b.avro").read_bytes()) == ml_run_event()


def test_stdin_to_stdout_pipeline_in_a_real_process(tmp_path: Path) -> None:
    pedigree = [sys.executable, "-m", "pedigree.cli"]
    event = json.dumps(ml_run_event()).encode()
    wire = subprocess.run(
        [*pedigree, "events", "encode", "-"], input=event, capture_output=True, check=False
    )
    assert wire.returncode == 0, wire.stderr
    back = subprocess.run(
        [*pedigree, "events", "decode", "-"], input=wire.stdout, capture_output=True, check=False
    )
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout) == ml_run_event()
    garbage = subprocess.run(
        [*pedigree, "events", "decode", "-"],
        input=b"\xc3\x01\x00",
        capture_output=True,
        check=False,
    )
    assert garbage.returncode == 1
    assert garbage.stderr.decode().strip() == "-: truncated single-object header: 3 bytes"
    assert b"Traceback" not in garbage.stderr


def test_spool_flush_says_where_it_could_send_and_refuses_a_bad_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PEDIGREE_KAFKA_BOOTSTRAP", "PEDIGREE_TRANSPORT", "PEDIGREE_HTTP_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["spool", "flush", "--dir", str(tmp_path)]) == 2
    assert "pass --bootstrap HOST:PORT or --http URL" in capsys.readouterr().err
    assert main(["spool", "flush", "--dir", str(tmp_path), "--http", "ftp://x"]) == 2
    assert "expected http(s)://host" in capsys.readouterr().err
    # nothing spooled: nothing to send, and it says so
    assert main(["spool", "flush", "--dir", str(tmp_path), "--http", "http://127.0.0.1:9"]) == 0
    assert capsys.readouterr().out.startswith("sent 0 events from 0 files to http://127.0.0.1:9/")
