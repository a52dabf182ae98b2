"""The Kafka key: one partition per pipeline, the same key the official client computes."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from openlineage.client import event_v2 as ev
from openlineage.client import facet_v2 as fv
from openlineage.client.serde import Serde
from openlineage.client.transport.kafka import KafkaTransport

from emitters.kafka_key import kafka_key

TIME = "2026-11-28T10:00:00Z"


def _run(job: str, parent: fv.parent_run.ParentRunFacet | None = None) -> ev.RunEvent:
    facets = {"parent": parent} if parent else {}
    return ev.RunEvent(
        eventType=ev.RunState.START,
        eventTime=TIME,
        run=ev.Run(runId=str(uuid.uuid4()), facets=facets),
        job=ev.Job(namespace="ml", name=job),
    )


def _parent(job: str, root: str | None) -> fv.parent_run.ParentRunFacet:
    return fv.parent_run.ParentRunFacet(
        run=fv.parent_run.Run(runId=str(uuid.uuid4())),
        job=fv.parent_run.Job(namespace="ml", name=job),
        root=fv.parent_run.Root(
            run=fv.parent_run.RootRun(runId=str(uuid.uuid4())),
            job=fv.parent_run.RootJob(namespace="ml", name=root),
        )
        if root
        else None,
    )


EVENTS: dict[str, Any] = {
    "no parent": _run("train"),
    "parent without root": _run("train.step", _parent("train", None)),
    "parent with root": _run("train.step.sub", _parent("train.step", "pipeline")),
    "job event": ev.JobEvent(eventTime=TIME, job=ev.Job(namespace="ml", name="nightly")),
    "dataset event": ev.DatasetEvent(
        eventTime=TIME, dataset=ev.StaticDataset(namespace="s3://b", name="features")
    ),
}
EXPECTED = {
    "no parent": b"run:ml/train",
    "parent without root": b"run:ml/train",
    "parent with root": b"run:ml/pipeline",
    "job event": b"job:ml/nightly",
    "dataset event": b"dataset:s3://b/features",
}


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_key_is_the_root_job(name: str) -> None:
    event = json.loads(Serde.to_json(EVENTS[name]))
    assert kafka_key(event) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_key_equals_the_official_clients_so_partitions_are_shared(name: str) -> None:
    # The key method needs no producer: build the transport without connecting anywhere.
    transport = object.__new__(KafkaTransport)
    official = transport._get_message_key(EVENTS[name])
    assert kafka_key(json.loads(Serde.to_json(EVENTS[name]))) == official.encode()


def test_steps_of_one_pipeline_share_a_key() -> None:
    keys = {
        kafka_key(json.loads(Serde.to_json(_run(step, _parent("pipeline", "pipeline")))))
        for step in ("prepare", "train", "evaluate", "deploy")
    }
    assert keys == {b"run:ml/pipeline"}


def test_an_event_without_names_cannot_be_keyed() -> None:
    with pytest.raises(ValueError, match="needs a namespace and name"):
        kafka_key({"run": {"runId": "x"}, "job": {"namespace": "", "name": "n"}})
