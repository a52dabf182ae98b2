"""Event -> rows: the pure mapping from decoded OpenLineage events to warehouse rows.

:func:`rows_for_events` takes ``(EventMeta, event)`` pairs -- the event as the OpenLineage JSON
dict :func:`emitters.codec.decode` returns, where Pedigree's typed facets are plain dicts -- and
returns, for every table of :data:`consumers.tables.COLUMNS`, the rows to insert, as tuples in
DDL column order.  No I/O: the consumer loop, ``pedigree rebuild`` and the tests share it.

Idempotency rests on :func:`event_id`: a content hash of the event, not its Kafka position, so
the same event produced twice (a spool re-flush after a crash, a retried HTTP ingest) yields the
same id at a different offset, and the ReplacingMergeTree sorting keys (which end in
``event_id``) collapse the copies.  Every derived row is a function of the event alone, never
of the events before it, so delivery order cannot change what the tables hold; "latest state"
is computed at query time (:mod:`consumers.queries`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from consumers.run_nodes import node_row
from consumers.tables import COLUMNS
from emitters.codec import MAGIC
from emitters.errors import InvalidEvent

__all__ = [
    "STATE_RANK",
    "EventMeta",
    "Row",
    "canonical_json",
    "event_id",
    "parse_time",
    "rows_for_events",
]

Row = tuple[Any, ...]

STATE_RANK: dict[str, int] = {
    "OTHER": 0,
    "START": 1,
    "RUNNING": 2,
    "COMPLETE": 3,
    "ABORT": 4,
    "FAIL": 5,
}
"""Tie-break order of run states; ranks >= 3 are terminal and win over any non-terminal state."""

# Facets whose content has columns of their own; every other facet goes to the `facets` table
# as JSON (the raw event keeps everything regardless).
_TYPED = {
    "run": {
        "parent",
        "errorMessage",
        "pedigree_code",
        "pedigree_parameters",
        "pedigree_resources",
        "pedigree_ownership",
        "pedigree_trace",
    },
    "job": {"sourceCodeLocation", "ownership", "jobType"},
    "dataset": {
        "version",
        "schema",
        "storage",
        "ownership",
        "pedigree_model",
        "pedigree_annotations",
    },
    "inputFacets": set(),
    "outputFacets": {"outputStatistics"},
}

_RFC3339_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_TIME = re.compile(r"^(?P<head>[^.]+?)(?:\.(?P<frac>\d+))?(?P<tz>Z|z|[+-]\d\d:?\d\d)?$")


@dataclass(frozen=True, slots=True)
class EventMeta:
    """Where a message came from: its Kafka position (or spool position), bytes and arrival."""

    topic: str
    partition: int
    offset: int
    message: bytes
    received_time: datetime


# json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False) builds such an
# encoder on every call.  The unchecked one skips the circular-reference bookkeeping (a tenth of
# the time): on a cycle it recurses until RecursionError, and the checked one then gives the
# error json.dumps gives (as it does for nesting too deep to encode at all).
_CHECKED = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_UNCHECKED = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False
)
_json_string: Callable[[str], str] = json.encoder.encode_basestring  # what both use for str


def canonical_json(value: Any) -> str:
    """JSON text with sorted keys and no spaces: equal JSON values give equal text."""
    # Exactly what json.dumps(value, sort_keys=True, ...) returns; a lone string, integer or
    # finite float directly as the encoder writes it.
    kind = type(value)
    if kind is str:
        return _json_string(value)
    if kind is bool or value is None:
        return "true" if value is True else "false" if value is False else "null"
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    try:
        return _UNCHECKED.encode(value)
    except RecursionError:
        pass
    return _CHECKED.encode(value)


def event_id(event: Mapping[str, Any]) -> str:
    """The event's idempotency key: sha256 (hex) of its canonical JSON.

    Content-based on purpose: the same event sent twice lands at two offsets but is one event.
    """
    return hashlib.sha256(canonical_json(event).encode()).hexdigest()


def parse_time(text: Any, field: str = "eventTime") -> datetime:
    """An ISO 8601 / RFC 3339 timestamp as an aware UTC datetime (a missing zone means UTC).

    Fractions beyond microseconds are truncated.  :class:`InvalidEvent` names the field when the
    text is not a timestamp.
    """
    if isinstance(text, str) and _RFC3339_TIME.fullmatch(text):
        # Date, time, a fraction of at most 6 digits and a zone: what fromisoformat reads as
        # the general path below spells it (fraction padded to 6 digits), so it can read it as is.
        try:
            return datetime.fromisoformat(text).astimezone(UTC)
        except ValueError:  # e.g. February 30: the general path names the error
            pass
    match = _TIME.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidEvent(f"not an ISO 8601 timestamp: {text!r}", field)
    frac = (match["frac"] or "")[:6]
    tz = match["tz"] or "+00:00"
    iso = match["head"] + (f".{frac.ljust(6, '0')}" if frac else "") + tz.replace("z", "Z")
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError as err:
        raise InvalidEvent(f"not an ISO 8601 timestamp: {text!r}", field) from err
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def rows_for_events(events: Iterable[tuple[EventMeta, Mapping[str, Any]]]) -> dict[str, list[Row]]:
    """Rows per table (every table present, possibly empty) for a batch of decoded events."""
    rows: dict[str, list[Row]] = {table: [] for table in COLUMNS}
    for meta, event in events:
        _Event(meta, event, rows).emit()
    return rows


# ---------------------------------------------------------------------------------------------
# Values: typed facets decode to the right Python types, but anything that did not fit its typed
# field rides as JSON of another type, so every read checks the type.


_NOTHING: Mapping[str, Any] = MappingProxyType({})


def _dict(value: Any) -> Mapping[str, Any]:
    # Decoded events hold plain dicts and None: both are told apart before the (slow) abstract
    # Mapping check.  An absent mapping is an empty one, shared: rows never hold it.
    if type(value) is dict:
        return value
    if value is None:
        return _NOTHING
    return value if isinstance(value, Mapping) else _NOTHING


def _is_mapping(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _owners(facet: Any) -> list[tuple[str, str]]:
    if facet is None:
        return []
    return [
        (_str(o.get("name")), _str(o.get("type")))
        for o in _list(_dict(facet).get("owners"))
        if _is_mapping(o)
    ]


def _schema_fields(facet: Any) -> list[tuple[str, str, str, str]]:
    if facet is None:
        return []
    return [
        (
            _str(f.get("name")),
            _str(f.get("type")),
            _str(f.get("description")),
            canonical_json(f["fields"]) if "fields" in f else "",
        )
        for f in _list(_dict(facet).get("fields"))
        if _is_mapping(f)
    ]


_NO_RESOURCES = (None, None, None, "", None)
_EDGE_TABLES = {
    "input": ("run_inputs", "run_inputs_by_dataset"),
    "output": ("run_outputs", "run_outputs_by_dataset"),
}


def _resources(spec: Any) -> tuple[Any, ...]:
    spec = _dict(spec)
    if not spec:
        return _NO_RESOURCES
    return (
        _float(spec.get("cpuCount")),
        _int(spec.get("memoryBytes")),
        _int(spec.get("gpuCount")),
        _str(spec.get("gpuModel")),
        _int(spec.get("gpuMemoryBytes")),
    )


class _Event:
    """One event's rows, appended to the batch's per-table lists."""

    def __init__(self, meta: EventMeta, event: Mapping[str, Any], rows: dict[str, list[Row]]):
        self.meta = meta
        self.event = event
        self.rows = rows
        self.id = event_id(event)
        self.time = parse_time(event.get("eventTime"))
        self.type = _str(event.get("eventType"))
        self.run = _dict(event.get("run"))
        self.job = _dict(event.get("job"))
        self.run_id = _str(self.run.get("runId"))
        self.job_ns = _str(self.job.get("namespace"))
        self.job_name = _str(self.job.get("name"))

    def emit(self) -> None:
        dataset = _dict(self.event.get("dataset"))
        kind = "run" if self.run else "dataset" if dataset else "job"
        message = self.meta.message
        self.rows["events"].append(
            (
                self.id,
                self.time,
                kind,
                self.type,
                self.run_id,
                self.job_ns,
                self.job_name,
                _str(dataset.get("namespace")),
                _str(dataset.get("name")),
                _str(self.event.get("producer")),
                self.meta.topic,
                self.meta.partition,
                self.meta.offset,
                self.meta.received_time.astimezone(UTC),
                "avro" if message[:2] == MAGIC else "json" if message else "",
                message,
            )
        )
        if self.run:
            self._run()
        if self.job:
            self._job()
        if dataset:
            self._dataset(dataset, "dataset", "dataset", {})
        for key, role in (("inputs", "input"), ("outputs", "output")):
            for item in _list(self.event.get(key)):
                if _is_mapping(item):
                    self._dataset(item, role, key, _dict(item.get(f"{role}Facets")))

    def _facets(self, container: str, kind: str, facets: Mapping[str, Any], ds: Row) -> None:
        for key, value in facets.items():
            if key not in _TYPED[kind]:
                row = (self.run_id, self.job_ns, self.job_name, container, *ds, key, self.id)
                self.rows["facets"].append((*row, self.time, canonical_json(value)))

    def _run(self) -> None:
        facets = _dict(self.run.get("facets"))
        parent = _dict(facets.get("parent"))
        root = _dict(parent.get("root")) or parent  # a parent without a root is the root
        code = _dict(facets.get("pedigree_code"))
        params = _dict(_dict(facets.get("pedigree_parameters")).get("parameters"))
        owner = _dict(facets.get("pedigree_ownership"))
        error = _dict(facets.get("errorMessage"))
        resources = _dict(facets.get("pedigree_resources"))
        env = _dict(facets.get("pedigree_environment"))
        k8s = _dict(env.get("kubernetes"))
        rank = STATE_RANK.get(self.type, 0)
        run = (
            self.run_id,
            self.id,
            self.time,
            self.type,
            rank,
            self.time if self.type == "START" else None,
            self.time if rank >= STATE_RANK["COMPLETE"] else None,
            self.job_ns,
            self.job_name,
            _str(_dict(parent.get("run")).get("runId")),
            _str(_dict(parent.get("job")).get("namespace")),
            _str(_dict(parent.get("job")).get("name")),
            _str(_dict(root.get("run")).get("runId")),
            _str(_dict(root.get("job")).get("namespace")),
            _str(_dict(root.get("job")).get("name")),
            _str(code.get("gitRepo")),
            _str(code.get("gitCommit")),
            _str(code.get("gitBranch")),
            _bool(code.get("gitDirty")),
            _str(code.get("gitDiffHash")),
            _str(code.get("image")),
            _str(code.get("imageDigest")),
            _str(code.get("entryPoint")),
            [a for a in _list(code.get("arguments")) if isinstance(a, str)],
            {str(k): canonical_json(v) for k, v in params.items()},
            _str(owner.get("submitter")),
            _str(owner.get("codeAuthor")),
            _str(owner.get("deployer")),
            _str(owner.get("team")),
            _str(error.get("message")),
            _str(error.get("stackTrace")),
            *_resources(resources.get("requested")),
            *_resources(resources.get("observed")),
            _str(env.get("host")),
            _str(env.get("pythonVersion")),
            _str(env.get("packagesHash")),
            _str(k8s.get("namespace")),
            _str(k8s.get("pod")),
            _str(k8s.get("node")),
            _str(_dict(facets.get("pedigree_trace")).get("traceparent")),
            _str(self.event.get("producer")),
        )
        self.rows["runs"].append(run)
        self.rows["run_nodes"].append(node_row(run))
        for index, item in enumerate(_list(resources.get("samples"))):
            sample = _dict(item)
            self.rows["resource_samples"].append(
                (
                    self.run_id,
                    _str(sample.get("host")) or _str(env.get("host")),
                    _str(sample.get("device")),
                    parse_time(
                        sample.get("time"), f"run.facets.pedigree_resources.samples[{index}]"
                    ),
                    self.id,
                    index,
                    _float(sample.get("cpuPercent")),
                    _int(sample.get("rssBytes")),
                    _float(sample.get("gpuUtilPercent")),
                    _int(sample.get("gpuMemoryBytes")),
                )
            )
        self._facets("run", "run", facets, ("", ""))

    def _job(self) -> None:
        facets = _dict(self.job.get("facets"))
        job_type = _dict(facets.get("jobType"))
        source = _dict(facets.get("sourceCodeLocation"))
        self.rows["jobs"].append(
            (
                self.job_ns,
                self.job_name,
                self.id,
                self.time,
                _str(job_type.get("processingType")),
                _str(job_type.get("integration")),
                _str(job_type.get("jobType")),
                _str(source.get("type")),
                _str(source.get("url")),
                _str(source.get("repoUrl")),
                _str(source.get("path")),
                _str(source.get("version")),
                _str(source.get("branch")),
                _owners(facets.get("ownership")),
            )
        )
        self._facets("job", "job", facets, ("", ""))

    def _dataset(
        self, item: Mapping[str, Any], role: str, container: str, io_facets: Mapping[str, Any]
    ) -> None:
        ns, name = _str(item.get("namespace")), _str(item.get("name"))
        facets = _dict(item.get("facets"))
        # A dataset without a version facet is version '' (the unversioned dataset).
        version = _str(_dict(facets.get("version")).get("datasetVersion"))
        storage = _dict(facets.get("storage"))
        run_id = self.run_id
        if self.run and role in _EDGE_TABLES:
            edge = (
                run_id,
                ns,
                name,
                version,
                self.id,
                self.time,
                self.type,
                self.job_ns,
                self.job_name,
            )
            for table in _EDGE_TABLES[role]:
                self.rows[table].append(edge)
            self.rows["job_io"].append(
                (self.job_ns, self.job_name, role, ns, name, version, run_id, self.id, self.time)
            )
        self.rows["datasets"].append(
            (
                ns,
                name,
                self.id,
                role,
                self.time,
                _str(storage.get("storageLayer")),
                _str(storage.get("fileFormat")),
                _owners(facets.get("ownership")),
            )
        )
        stats = _dict(io_facets.get("outputStatistics"))
        labels = _dict(facets.get("pedigree_annotations"))
        fields = _schema_fields(facets.get("schema"))
        self.rows["dataset_versions"].append(
            (
                ns,
                name,
                version,
                self.id,
                role,
                self.time,
                run_id,
                fields,
                _int(stats.get("rowCount")),
                _int(stats.get("size")),
                _int(stats.get("fileCount")),
                _str(labels.get("labelSet")),
                _str(labels.get("labelVersion")),
                _str(labels.get("task")),
            )
        )
        model = _dict(facets.get("pedigree_model"))
        if model:
            model_name, framework = _str(model.get("name")), _str(model.get("framework"))
            metrics = {
                str(k): float(v)
                for k, v in _dict(model.get("metrics")).items()
                if _float(v) is not None
            }
            self.rows["models"].append((model_name, self.id, role, self.time, framework, ns, name))
            self.rows["model_versions"].append(
                (
                    model_name,
                    _str(model.get("version")),
                    self.id,
                    role,
                    self.time,
                    framework,
                    _str(model.get("stage")),
                    metrics,
                    ns,
                    name,
                    version,
                    run_id,
                )
            )
        ds = (ns, name)
        self._facets(f"{container}.facets", "dataset", facets, ds)
        if io_facets:
            self._facets(f"{container}.{role}Facets", f"{role}Facets", io_facets, ds)
