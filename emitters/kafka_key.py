"""The Kafka message key of an event: its pipeline's root job.

All events of one pipeline share a key, so they land in one partition, in order, and a consumer
sees a parent run's events beside its children's.  The key is the same string the official
OpenLineage Python client's Kafka transport uses, so events from Pedigree's emitters and from
OpenLineage integrations (Airflow, Spark, dbt) of one pipeline share partitions too:

* RunEvent: ``run:<namespace>/<name>`` of the root job named by the ``parent`` facet's
  ``root``; else of the parent job (a parent without ``root`` is the root as far as the event
  says); else of the event's own job.
* JobEvent: ``job:<namespace>/<name>``.  DatasetEvent: ``dataset:<namespace>/<name>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["kafka_key"]


def _ref(value: Any) -> str | None:
    if isinstance(value, Mapping):
        namespace, name = value.get("namespace"), value.get("name")
        if isinstance(namespace, str) and isinstance(name, str) and namespace and name:
            return f"{namespace}/{name}"
    return None


def _root_job(event: Mapping[str, Any]) -> str | None:
    run = event.get("run")
    facets = run.get("facets") if isinstance(run, Mapping) else None
    parent = facets.get("parent") if isinstance(facets, Mapping) else None
    if isinstance(parent, Mapping):
        root = parent.get("root")
        for candidate in (
            root.get("job") if isinstance(root, Mapping) else None,
            parent.get("job"),
        ):
            if (ref := _ref(candidate)) is not None:
                return ref
    return _ref(event.get("job"))


def kafka_key(event: Mapping[str, Any]) -> bytes:
    """The UTF-8 message key of an OpenLineage event (see the module docstring)."""
    if "run" in event:
        ref, prefix = _root_job(event), "run"
    elif "dataset" in event:
        ref, prefix = _ref(event.get("dataset")), "dataset"
    else:
        ref, prefix = _ref(event.get("job")), "job"
    if ref is None:
        raise ValueError(f"a {prefix} event needs a namespace and name to be keyed by")
    return f"{prefix}:{ref}".encode()
