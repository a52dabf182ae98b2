"""``pedigree topics create``: the plan it makes, and the arguments it refuses (no broker)."""

from __future__ import annotations

import pytest

from consumers.topics import TopicSpec, compare, plan
from pedigree.cli import main


def test_the_plan_is_the_events_topic_and_the_consumers_dead_letter_topic() -> None:
    events, dead = plan("lineage", partitions=6, replication_factor=3, min_insync_replicas=2,
                        retention_ms=1000, dead_letter_retention_ms=2000)  # fmt: skip
    assert events == TopicSpec(
        "lineage", 6, 3,
        {"min.insync.replicas": "2", "cleanup.policy": "delete", "retention.ms": "1000"},
    )  # fmt: skip
    # the name `pedigree consume` writes refused messages to by default
    from consumers.kafka_consumer import ConsumerConfig

    assert dead.name == ConsumerConfig("k:9092", ("lineage",), "db").dead_letter_for("lineage")
    assert (dead.partitions, dead.replication_factor) == (1, 3)
    assert dead.configs["retention.ms"] == "2000"
    assert dead.configs["min.insync.replicas"] == "2"


def test_compare_names_every_difference_and_ignores_configs_it_did_not_set() -> None:
    spec = plan("t", partitions=12, replication_factor=3, min_insync_replicas=2)[0]
    assert compare(spec, 12, 3, {**spec.configs, "segment.bytes": "1"}) == ()
    assert compare(spec, 6, 1, {"min.insync.replicas": "1"}) == (
        "has 6 partitions, wanted 12",
        "has replication factor 1, wanted 3",
        "has min.insync.replicas=1, wanted 2",
    )


def test_dry_run_prints_the_plan_without_a_broker(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PEDIGREE_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("PEDIGREE_KAFKA_TOPIC", "ol.events")
    assert main(["topics", "create", "--dry-run", "--partitions", "24"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "would create ol.events: 24 partitions, replication factor 3, cleanup.policy=delete, "
        "min.insync.replicas=2, retention.ms=604800000",
        "would create ol.events.dlq: 1 partitions, replication factor 3, cleanup.policy=delete, "
        "min.insync.replicas=2, retention.ms=2592000000",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--partitions", "0"], "--partitions 0: must be at least 1"),
        (["--min-insync-replicas", "0"], "--min-insync-replicas 0: must be at least 1"),
        (["--replication-factor", "1"], "--min-insync-replicas 2 is above --replication-factor 1"),
        (["--retention-ms", "0"], "--retention-ms 0: must be positive, or -1"),
        (["--topic", "x", "--dead-letter-topic", "x"], "must differ from the events topic"),
        ([], "needs --bootstrap HOST:PORT"),
        (["--bootstrap", "k:9092", "--timeout", "0"], "--timeout must be positive"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PEDIGREE_KAFKA_BOOTSTRAP", raising=False)
    assert main(["topics", "create", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["topics", "create", "--help"])
    assert "pedigree topics create --bootstrap kafka:9092" in capsys.readouterr().out
