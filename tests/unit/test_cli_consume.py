"""``pedigree consume`` and ``pedigree rebuild`` refuse bad arguments before touching anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from pedigree.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["consume"], "name a source: --bootstrap HOST:PORT (Kafka) or --from-spool DIR"),
        (["consume", "--bootstrap", "k:9092", "--batch-size", "0"], "--batch-size must be"),
        (["consume", "--bootstrap", "k:9092", "--batch-seconds", "0"], "must be positive"),
        (["consume", "--bootstrap", "k:9092", "-X", "session.timeout.ms"], "-X wants KEY=VALUE"),
        (["rebuild", "--from-kafka", "--into", "fresh"], "needs --bootstrap HOST:PORT"),
        (["rebuild", "--from-kafka", "--bootstrap", "k:9092"], "and --into NEW_DB"),
    ],
)
def test_bad_arguments_exit_2_with_a_message_and_create_nothing(
    argv: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PEDIGREE_KAFKA_BOOTSTRAP", raising=False)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no ./pedigree-data created


def test_the_sources_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["consume", "--bootstrap", "k:9092", "--from-spool", "spool"])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
