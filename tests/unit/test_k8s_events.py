"""Pods as runs, without a server: what each recorded pod state implies, as OpenLineage events.

The pods are recorded API responses (``tests/fixtures/k8s/watch/``): a CronJob's GPU training
pod (pending, running, succeeded), a generated fine-tuning Job that fails with exit code 1, a
preprocessing pod killed for memory, and an evaluation pod deleted while it runs.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Set
from pathlib import Path
from typing import Any

import pytest

from consumers.materialize import event_id
from emitters import codec
from emitters._k8s_events import POD_RUN_NAMESPACE, job_name, job_namespace, pod_run_id, run_event
from emitters._k8s_lifecycle import transitions
from emitters._k8s_tracker import PodTracker
from emitters.validation import validate_event
from tests.avro_records import plain

FIXTURES = Path(__file__).parents[1] / "fixtures" / "k8s" / "watch"
NOW = "2026-12-01T00:00:00Z"
TRAIN_UID = "3b9d6c1e-4f2a-4e8b-9c71-0a5d2e6f8b13"
TRAIN_DIGEST = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/finetune.py", line 88, in <module>\n'
    "    main()\n"
    '  File "/app/finetune.py", line 41, in main\n'
    '    raise ValueError(f"learning rate must be positive, got {lr}")\n'
    "ValueError: learning rate must be positive, got -0.001\n"
)


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def events(
    pod: dict[str, Any],
    *,
    job: dict[str, Any] | None = None,
    emitted: Set[str] = frozenset(),
    deleted: bool = False,
) -> list[dict[str, Any]]:
    """The events the pod state implies; each one valid and typed, checked here."""
    found = [
        run_event(pod, step, job=job)
        for step in transitions(pod, emitted=emitted, deleted=deleted, now=NOW)
    ]
    for event in found:
        assert validate_event(event) == "run"
        assert extras(plain(codec.to_record(event))) == {}  # every facet typed
        assert codec.decode(codec.encode(event)) == event
    return found


def extras(record: Any, path: str = "") -> dict[str, Any]:
    """Every non-empty ``_extra`` map of an Avro record, by path."""
    found: dict[str, Any] = {}
    if isinstance(record, dict):
        for key, value in record.items():
            if key == "_extra" and value:
                found[path or "."] = value
            else:
                found.update(extras(value, f"{path}.{key}"))
    elif isinstance(record, list):
        for i, value in enumerate(record):
            found.update(extras(value, f"{path}[{i}]"))
    return found


def types(found: list[dict[str, Any]]) -> list[str]:
    return [e["eventType"] for e in found]


# --- the lifecycle ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pod-train-pending", "pod-train-unschedulable"])
def test_a_pod_that_has_not_started_implies_nothing_yet(name: str) -> None:
    assert events(load(name)) == []


def test_a_running_pod_starts_a_run_with_its_image_resources_placement_and_owners() -> None:
    [start] = events(load("pod-train-running"), job=load("job-nightly-train-29402400"))
    assert start["eventType"] == "START"
    assert start["eventTime"] == "2026-11-28T02:00:41Z"  # the container's startedAt
    assert start["run"]["runId"] == str(uuid.uuid5(POD_RUN_NAMESPACE, TRAIN_UID))
    assert start["job"]["namespace"] == "k8s://kubernetes/ml"
    assert start["job"]["name"] == "nightly-train"  # the CronJob that made the Job
    assert start["job"]["facets"]["jobType"]["jobType"] == "JOB"
    facets = start["run"]["facets"]
    assert set(facets) == {
        "pedigree_code",
        "pedigree_resources",
        "pedigree_environment",
        "pedigree_ownership",
    }
    code = facets["pedigree_code"]
    assert code["image"] == "registry.example.com/vision/train:1.4"
    assert code["imageDigest"] == TRAIN_DIGEST
    assert code["arguments"] == [
        "python", "-m", "vision.train", "--epochs", "30", "--batch-size", "256",
        "--wandb-key", "<redacted>",
    ]  # fmt: skip
    assert facets["pedigree_resources"]["requested"] == {
        "cpuCount": 3.5,
        "memoryBytes": 24 * 2**30,
        "gpuCount": 2,
        "gpuModel": "NVIDIA-A100-SXM4-80GB",  # from the pod's nodeSelector
        "gpuMemoryBytes": 80 * 2**30,
    }
    assert facets["pedigree_environment"]["kubernetes"] == {
        "namespace": "ml",
        "pod": "nightly-train-29402400-7hx2q",
        "node": "gpu-node-3",
        "serviceAccount": "trainer",
        "ownerKind": "Job",
        "ownerName": "nightly-train-29402400",
    }
    ownership = facets["pedigree_ownership"]
    assert (ownership["submitter"], ownership["codeAuthor"], ownership["team"]) == (
        "alice@example.com",
        "bob@example.com",
        "vision",
    )
    assert [(i["namespace"], i["name"]) for i in start["inputs"]] == [
        ("s3://datasets", "imagenet/train"),
        ("gs://labels-vision", "boxes"),
    ]
    assert [i["facets"]["version"]["datasetVersion"] for i in start["inputs"]] == [
        "2026-11-27",
        "v7",
    ]
    assert start["outputs"] == []


def test_a_succeeded_pod_seen_first_gives_start_then_complete_with_its_outputs() -> None:
    start, complete = events(load("pod-train-succeeded"), job=load("job-nightly-train-29402400"))
    assert types([start, complete]) == ["START", "COMPLETE"]
    assert start["eventTime"] == "2026-11-28T02:00:41Z"
    assert complete["eventTime"] == "2026-11-28T05:12:09Z"  # the main container's finishedAt
    assert start["run"]["runId"] == complete["run"]["runId"] == pod_run_id(TRAIN_UID)
    assert start["run"]["facets"]["pedigree_code"]["imageDigest"] == TRAIN_DIGEST
    assert complete["run"]["facets"] == {}
    [output] = complete["outputs"]
    assert (output["namespace"], output["name"]) == ("s3://models", "resnet50/nightly")
    assert output["facets"]["version"]["datasetVersion"] == "29402400"
    assert len(complete["inputs"]) == 2


def test_what_was_emitted_is_not_implied_again() -> None:
    done = load("pod-train-succeeded")
    assert types(events(done, emitted={"START"})) == ["COMPLETE"]
    assert events(done, emitted={"START", "COMPLETE"}) == []
    assert events(load("pod-train-running"), emitted={"START"}) == []


def test_exit_code_1_fails_with_the_last_line_of_the_termination_message() -> None:
    start, fail = events(load("pod-finetune-failed"), job=load("job-finetune-8xq2z"))
    assert types([start, fail]) == ["START", "FAIL"]
    assert fail["eventTime"] == "2026-11-28T08:16:54Z"
    error = fail["run"]["facets"]["errorMessage"]
    assert error["message"] == (
        'container "finetune" failed with exit code 1 (Error): '
        "ValueError: learning rate must be positive, got -0.001"
    )
    assert error["stackTrace"] == TRACEBACK
    assert error["programmingLanguage"] == "unknown"
    assert fail["job"]["name"] == "finetune"  # the Job's generateName, without its suffix
    assert fail["outputs"] == []
    assert start["run"]["facets"]["pedigree_code"]["arguments"] == ["--lr", "-0.001"]
    assert "pedigree_resources" in start["run"]["facets"]
    assert start["run"]["facets"]["pedigree_resources"]["requested"] == {
        "cpuCount": 2.0,
        "memoryBytes": 8 * 2**30,
    }


def test_the_parent_annotations_make_the_run_a_task_of_that_parent_on_every_event() -> None:
    for event in events(load("pod-finetune-failed")):
        parent = event["run"]["facets"]["parent"]
        assert parent["run"] == {"runId": "0d9f8e7c-6b5a-4f3e-8d2c-1b0a9f8e7d6c"}
        assert parent["job"] == {"namespace": "vision", "name": "nightly-pipeline"}
        assert "root" not in parent
        assert event["job"]["facets"]["jobType"]["jobType"] == "TASK"


def test_oomkilled_is_named_with_the_memory_limit() -> None:
    start, fail = events(load("pod-preprocess-oomkilled"))
    assert fail["eventType"] == "FAIL"
    assert fail["run"]["facets"]["errorMessage"]["message"] == (
        'OOMKilled: container "preprocess" was killed for using more memory than its limit of'
        " 4Gi (exit code 137, SIGKILL)"
    )
    assert "stackTrace" not in fail["run"]["facets"]["errorMessage"]
    assert (fail["job"]["namespace"], fail["job"]["name"]) == ("features", "preprocess-features")
    assert start["run"]["facets"]["pedigree_ownership"] == {
        **start["run"]["facets"]["pedigree_ownership"],
        "submitter": "system:serviceaccount:ml:etl",  # no annotation: the service account
        "team": "data-platform",
    }
    assert [(i["namespace"], i["name"]) for i in fail["inputs"]] == [
        ("postgres://warehouse.internal:5432", "analytics.public.events")
    ]


def test_a_pod_deleted_while_running_is_aborted_when_its_container_has_stopped() -> None:
    assert types(events(load("pod-eval-terminating"), emitted=set())) == ["START"]
    assert events(load("pod-eval-terminating"), emitted={"START"}) == []  # still stopping
    [abort] = events(load("pod-eval-deleted"), emitted={"START"}, deleted=True)
    assert abort["eventType"] == "ABORT"
    assert abort["eventTime"] == "2026-11-28T09:20:02Z"
    assert abort["run"]["facets"]["errorMessage"]["message"] == (
        'pod "eval-resnet-x9v7c" was deleted while its container "eval" was running'
        " (it exited with exit code 143, SIGTERM)"
    )
    assert abort["job"]["name"] == "eval-resnet"  # Job not read: its own name


def test_a_pod_gone_with_its_container_running_is_aborted_at_the_deletion() -> None:
    running = load("pod-eval-running")
    [abort] = events(running, emitted={"START"}, deleted=True)
    assert (abort["eventType"], abort["eventTime"]) == ("ABORT", NOW)  # no deletion time known
    running["metadata"]["deletionTimestamp"] = "2026-11-28T09:30:00Z"
    running["metadata"]["deletionGracePeriodSeconds"] = 0
    [abort] = events(running, emitted={"START"}, deleted=True)
    assert abort["eventTime"] == "2026-11-28T09:30:00Z"


def test_a_pod_deleted_after_its_container_ended_keeps_its_outcome() -> None:
    failed = load("pod-finetune-failed")
    failed["metadata"]["deletionTimestamp"] = "2026-11-28T09:00:30Z"  # e.g. the Job's TTL
    failed["metadata"]["deletionGracePeriodSeconds"] = 30
    assert types(events(failed, deleted=True)) == ["START", "FAIL"]


def test_a_container_restarted_by_on_failure_is_still_the_same_run() -> None:
    retrying = load("pod-finetune-failed")
    retrying["spec"]["restartPolicy"] = "OnFailure"
    retrying["status"]["phase"] = "Running"
    assert types(events(retrying)) == ["START"]
    succeeded = copy.deepcopy(retrying)
    succeeded["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] = 0
    assert types(events(succeeded)) == ["START", "COMPLETE"]


def test_an_evicted_pod_that_never_ran_fails_with_the_pod_reason() -> None:
    pod = load("pod-train-unschedulable")
    pod["status"].update(phase="Failed", reason="Evicted", message="The node was low on memory.")
    [fail] = events(pod)
    assert fail["eventType"] == "FAIL"
    assert fail["eventTime"] == "2026-11-29T02:00:00Z"  # the latest condition change
    assert fail["run"]["facets"]["errorMessage"]["message"] == (
        "pod Evicted: The node was low on memory."
    )


def test_a_pod_level_reason_comes_before_the_container_failure() -> None:
    pod = load("pod-finetune-failed")
    pod["status"].update(
        reason="DeadlineExceeded",
        message="Pod was active on the node longer than the specified deadline",
    )
    assert events(pod)[-1]["run"]["facets"]["errorMessage"]["message"] == (
        "pod DeadlineExceeded: Pod was active on the node longer than the specified deadline;"
        ' container "finetune" failed with exit code 1 (Error):'
        " ValueError: learning rate must be positive, got -0.001"
    )


def test_the_same_pod_state_gives_identical_events_so_the_warehouse_keeps_one() -> None:
    first = events(load("pod-train-succeeded"), job=load("job-nightly-train-29402400"))
    again = events(load("pod-train-succeeded"), job=load("job-nightly-train-29402400"))
    assert [event_id(e) for e in first] == [event_id(e) for e in again]


# --- names ------------------------------------------------------------------------------------


def _with(pod: dict[str, Any], **meta: Any) -> dict[str, Any]:
    pod = copy.deepcopy(pod)
    pod["metadata"].update(meta)
    return pod


def test_job_names() -> None:
    pod = load("pod-train-running")
    assert job_name(pod, load("job-nightly-train-29402400")) == "nightly-train"
    assert job_name(pod) == "nightly-train-29402400"  # the Job could not be read
    assert job_name(pod, load("job-finetune-8xq2z")) == "nightly-train-29402400"  # not its Job
    labelled = _with(pod, labels={**pod["metadata"]["labels"], "pedigree.dev/job": "resnet"})
    assert job_name(labelled, load("job-nightly-train-29402400")) == "resnet"
    annotated = _with(pod, annotations={"pedigree.dev/job": "resnet/nightly"})
    assert job_name(annotated) == "resnet/nightly"
    replica = _with(
        pod,
        labels={"pod-template-hash": "7d9c8b6f5"},
        ownerReferences=[
            {"kind": "ReplicaSet", "name": "feature-worker-7d9c8b6f5", "controller": True}
        ],
    )
    assert job_name(replica) == "feature-worker"
    bare = _with(pod, ownerReferences=[], generateName="adhoc-")
    assert job_name(bare) == "adhoc"
    del bare["metadata"]["generateName"]
    assert job_name(bare) == "nightly-train-29402400-7hx2q"


def test_job_namespaces() -> None:
    pod = load("pod-train-running")
    assert job_namespace(pod) == "k8s://kubernetes/ml"
    assert job_namespace(pod, "prod-eu") == "k8s://prod-eu/ml"
    assert job_namespace(load("pod-preprocess-running")) == "features"  # the label
    annotated = _with(pod, annotations={"pedigree.dev/namespace": "s3://lake"})
    assert job_namespace(annotated) == "s3://lake"


def test_run_ids_are_uuid5_of_the_pod_uid() -> None:
    assert pod_run_id(TRAIN_UID) == pod_run_id(TRAIN_UID)
    assert uuid.UUID(pod_run_id(TRAIN_UID)).version == 5
    assert pod_run_id(TRAIN_UID) != pod_run_id("a1c2e3f4-5b6d-4e8f-9a0b-1c2d3e4f5a6b")


def test_bad_annotations_are_left_out_and_the_event_stays_valid() -> None:
    pod = load("pod-train-succeeded")
    pod["metadata"]["annotations"].update(
        {
            "pedigree.dev/inputs": "/data/local.csv, s3://ok/data@v1, ,s3://bad@",
            "pedigree.dev/parent-run-id": "not-a-uuid",
            "pedigree.dev/parent-job": "vision/pipeline",
        }
    )
    start, _ = events(pod)
    assert [i["name"] for i in start["inputs"]] == ["data"]
    assert "parent" not in start["run"]["facets"]
    pod["metadata"]["annotations"]["pedigree.dev/parent-run-id"] = str(uuid.uuid4())
    pod["metadata"]["annotations"]["pedigree.dev/parent-job"] = "no-namespace"
    assert "parent" not in events(pod)[0]["run"]["facets"]


def test_the_root_annotations_name_the_pipeline_root() -> None:
    pod = load("pod-finetune-failed")
    root_id = str(uuid.uuid4())
    pod["metadata"]["annotations"].update(
        {"pedigree.dev/root-run-id": root_id, "pedigree.dev/root-job": "k8s://prod/ml/pipeline"}
    )
    parent = events(pod)[0]["run"]["facets"]["parent"]
    assert parent["root"] == {
        "run": {"runId": root_id},
        "job": {"namespace": "k8s://prod/ml", "name": "pipeline"},
    }


def test_a_pod_without_a_uid_has_no_run() -> None:
    pod = load("pod-train-running")
    del pod["metadata"]["uid"]
    [step] = transitions(pod, now=NOW)
    with pytest.raises(ValueError, match=r"metadata\.uid"):
        run_event(pod, step)


# --- what the watcher remembers ---------------------------------------------------------------


def test_the_tracker_reports_each_step_once_and_forgets_finished_pods_beyond_its_bound() -> None:
    tracker = PodTracker(max_finished=1)
    running, done = load("pod-train-running"), load("pod-train-succeeded")
    first = tracker.due(running, deleted=False, now=NOW)
    assert first is not None
    assert [s.event_type for s in first.steps] == ["START"]
    tracker.record(first, job=None)
    assert len(tracker) == 1
    assert tracker.due(running, deleted=False, now=NOW) is None
    second = tracker.due(done, deleted=False, now=NOW)
    assert second is not None
    assert [s.event_type for s in second.steps] == ["COMPLETE"]
    tracker.record(second, job=None)
    assert (len(tracker), tracker.finished()) == (0, 1)
    assert tracker.due(done, deleted=False, now=NOW) is None  # a re-list shows it again
    failed = tracker.due(load("pod-finetune-failed"), deleted=False, now=NOW)
    assert failed is not None
    tracker.record(failed, job=None)
    assert tracker.finished() == 1  # the oldest finished pod is forgotten
    again = tracker.due(done, deleted=False, now=NOW)
    assert again is not None  # forgotten: reported again (identical events)


def test_the_tracker_keeps_a_slim_copy_of_running_pods() -> None:
    tracker = PodTracker()
    due = tracker.due(load("pod-train-running"), deleted=False, now=NOW)
    assert due is not None
    tracker.record(due, job=None)
    [gone] = tracker.gone(set(), tracked_before={TRAIN_UID}, now=NOW)
    assert "managedFields" not in gone.pod["metadata"]
    assert "env" not in gone.pod["spec"]["containers"][1]
    [abort] = [run_event(gone.pod, step) for step in gone.steps]
    assert abort["eventType"] == "ABORT"
    assert (
        "disappeared while the watcher was disconnected"
        in (abort["run"]["facets"]["errorMessage"]["message"])
    )
    assert validate_event(abort) == "run"
