"""The catalog's reads: runs, jobs, datasets, models and their versions, one page at a time.

Every listing is **keyset-paginated**: it is ordered by a sort key that ends in a unique column
(``(first event time, run_id)`` for runs, ``(namespace, name)`` for jobs and datasets, ...),
a page is ``WHERE key past the cursor ORDER BY key LIMIT n + 1`` (the extra row says whether
there is a next page), never ``OFFSET``: a page costs the same however deep it is, and rows
that arrive meanwhile neither repeat nor skip items of the pages after.

**Tenancy is in the SQL**: a caller's readable namespace patterns become a ``WHERE`` on the
rows (:func:`readable`), so only rows of readable namespaces are aggregated or counted and
every page is full when more readable items exist.

The tables are ReplacingMergeTrees that may still hold a replayed event's copy: every query
groups and aggregates with functions a duplicate cannot change (``argMax``, ``min``, ``max``,
``uniqExact``, ``DISTINCT``), never ``FINAL``.  Every query has a ``LIMIT`` and runs through
:meth:`api.store.Warehouse.query` (``max_execution_time``).

The pure helpers (the opaque cursor, globs as RE2 regular expressions) are here too, so the
unit tests reach them without a warehouse.
"""

# ruff: noqa: S608 -- table and column names are module constants; values are bound {x:Type}

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from api.auth import Principal
from api.nodes import NodeRef
from api.store import Warehouse
from api.views import run_view
from consumers.queries import STATE_ORDER

__all__ = [
    "MAX_CURSOR_CHARS",
    "InvalidCursor",
    "Listed",
    "RunFilters",
    "Sql",
    "dataset_versions",
    "decode_cursor",
    "encode_cursor",
    "glob_regex",
    "list_datasets",
    "list_jobs",
    "list_models",
    "list_runs",
    "model_versions",
    "parse_params",
    "parse_time_key",
    "readable",
    "readable_runs",
    "time_key",
    "time_range",
]

# -- the cursor -------------------------------------------------------------------------------

MAX_CURSOR_CHARS = 4096
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
"""How a time travels in a cursor and is bound as ``DateTime64(6, 'UTC')`` (microseconds, the
warehouse's precision, so a cursor time compares equal to the row it came from)."""


_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]+")
"""The base64url alphabet, without padding: what :func:`encode_cursor` writes."""


class InvalidCursor(ValueError):
    """A cursor this server did not make for this listing."""


def encode_cursor(kind: str, key: Sequence[str]) -> str:
    """The opaque cursor after ``key`` (the sort key of a page's last item) of listing ``kind``."""
    text = json.dumps([kind, *key], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(text: str, kind: str, size: int) -> tuple[str, ...]:
    """The sort key in a cursor of listing ``kind`` (``size`` strings); :class:`InvalidCursor`
    for anything else: not base64url, not ours, another listing's, the wrong shape."""
    if len(text) > MAX_CURSOR_CHARS or not _CURSOR_CHARS.fullmatch(text):
        raise InvalidCursor("invalid cursor")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        value = json.loads(raw.decode())
    except (binascii.Error, ValueError) as err:  # UnicodeDecodeError, JSONDecodeError too
        raise InvalidCursor("invalid cursor") from err
    if (
        not isinstance(value, list)
        or len(value) != size + 1
        or value[0] != kind
        or not all(isinstance(v, str) for v in value)
    ):
        raise InvalidCursor("invalid cursor")
    return tuple(value[1:])


def time_key(value: datetime) -> str:
    """A warehouse time as it sorts: UTC, to the microsecond."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(sep=" ", timespec="microseconds")  # TIME_FORMAT, 4-digit years


def parse_time_key(text: str) -> str:
    """A time from a cursor, checked (:class:`InvalidCursor`), ready to bind."""
    try:
        return time_key(datetime.strptime(text, TIME_FORMAT))
    except ValueError as err:
        raise InvalidCursor("invalid cursor") from err


# -- filters ---------------------------------------------------------------------------------

MAX_PARAM_FILTERS = 20


def time_range(
    since: datetime | None, until: datetime | None, max_days: int, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """``since``/``until`` in UTC (a time without an offset is UTC), both set or neither:
    ``until`` defaults to ``now``, ``since`` to ``max_days`` before ``until``.  ``ValueError``
    when ``since`` is after ``until`` or they are more than ``max_days`` apart."""
    if since is None and until is None:
        return None, None
    until = _as_utc(until if until is not None else now)
    if since is not None:
        since = _as_utc(since)
    else:
        span = min(timedelta(days=max_days), until - datetime.min.replace(tzinfo=UTC))
        since = until - span
    if since > until:
        raise ValueError(
            f"since={since.isoformat()} is after until={until.isoformat()} (until defaults to now)"
        )
    if until - since > timedelta(days=max_days):
        days = (until - since) / timedelta(days=1)
        raise ValueError(
            f"the time range since={since.isoformat()} until={until.isoformat()} spans "
            f"{days:g} days, over the {max_days}-day limit (max_time_range_days, server limit)"
        )
    return since, until


def parse_params(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``key=value`` filters (split at the first ``=``); ``ValueError`` names a bad one."""
    if len(values) > MAX_PARAM_FILTERS:
        raise ValueError(f"{len(values)} param filters: at most {MAX_PARAM_FILTERS} (server limit)")
    out = []
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise ValueError(f"param={text[:100]!r} must be key=value (e.g. param=lr=0.01)")
        out.append((key, value))
    return tuple(out)


# -- namespace globs in SQL ---------------------------------------------------------------------

_GLOB_CHARS = frozenset("*?[")


def _literal(char: str) -> str:
    """One character, matched literally by RE2 and Python's ``re`` alike: ASCII punctuation
    escaped with a backslash (both engines take ``\\`` + punctuation as the character itself),
    anything else as is."""
    return "\\" + char if char.isascii() and not char.isalnum() and char.isprintable() else char


def _class_items(body: str) -> list[str]:
    """The members of a ``[...]`` set, as :func:`fnmatch.translate` reads them: ``a-z`` is a
    range when a character follows the hyphen; a range whose ends are reversed is empty and
    dropped; any other character is itself."""
    items: list[str] = []
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            low, high = body[k], body[k + 2]
            if low <= high:
                items.append(f"{_literal(low)}-{_literal(high)}")
            k += 3
        else:
            items.append(_literal(body[k]))
            k += 1
    return items


def glob_regex(pattern: str) -> str | None:
    """A regular expression (RE2 syntax, also valid for Python's ``re``) that, matched against a
    whole string with dot-all, matches exactly what ``fnmatch.fnmatchcase(s, pattern)`` does —
    the matching :class:`api.auth.Principal` applies.  ``None``: the pattern matches nothing
    (it has an empty ``[...]`` set).

    ``*`` is any run of characters, ``?`` one character, ``[seq]``/``[!seq]`` one of / none of
    ``seq``, an unclosed ``[`` itself; every other character matches only itself.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        i += 1
        if char == "*":
            if not out or out[-1] != ".*":
                out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                out.append(_literal("["))
                continue
            body, i = pattern[i:j], j + 1
            negated = body.startswith("!")
            items = _class_items(body[1:] if negated else body)
            if not items:
                if not negated:
                    return None
                out.append(".")  # none of nothing: any one character
            else:
                out.append("[" + ("^" if negated else "") + "".join(items) + "]")
        else:
            out.append(_literal(char))
    return "".join(out)


class Sql:
    """Bound parameters of one query: :meth:`bind` a value, put the placeholder it returns in
    the SQL text.  Values never enter the text."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}

    def bind(self, value: Any, kind: str = "String") -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"{{{name}:{kind}}}"


def readable(principal: Principal, column: str, sql: Sql) -> str:
    """A SQL condition: ``column`` (a namespace) is one ``principal`` may read.  Plain names
    become ``IN``, globs one anchored, dot-all RE2 alternation for ``match``."""
    if principal.reads_everything:
        return "1"
    patterns = sorted(set(principal.read) | set(principal.write))
    exact = [p for p in patterns if not _GLOB_CHARS & set(p)]
    regexes = [r for p in patterns if _GLOB_CHARS & set(p) if (r := glob_regex(p)) is not None]
    terms = []
    if exact:
        terms.append(f"{column} IN {sql.bind(exact, 'Array(String)')}")
    if regexes:
        alternation = "|".join(f"(?:{r})" for r in regexes)
        terms.append(f"match({column}, {sql.bind(f'^(?s:{alternation})$')})")
    return "(" + " OR ".join(terms) + ")" if terms else "0"


# -- listings ----------------------------------------------------------------------------------

TIME = "DateTime64(6, 'UTC')"


@dataclass(frozen=True)
class Listed:
    """One item of a page and its sort key (the cursor after it)."""

    key: tuple[str, ...]
    item: dict[str, Any]


def _as_utc(value: datetime) -> datetime:
    """An aware UTC time (a naive one is taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else _as_utc(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _owners(value: Any) -> list[dict[str, str]]:
    """An ``Array(Tuple(name, type))`` (named tuples come back as dicts or as tuples)."""
    out = []
    for owner in value or []:
        name, kind = (owner["name"], owner["type"]) if isinstance(owner, Mapping) else owner
        out.append({"name": name, "type": kind})
    return out


def _latest(column: str, present: str | None = None) -> str:
    """The value of the run's latest event that stated it (``consumers.queries.RUN_STATE``)."""
    condition = present or f"{column} != ''"
    return f"argMaxIf({column}, {STATE_ORDER}, {condition}) AS s_{column}"


@dataclass(frozen=True)
class RunFilters:
    """What ``GET /api/v1/runs`` filters on; each compares the run's latest state."""

    namespace: str | None = None
    job: str | None = None
    status: str | None = None
    owner: str | None = None
    """submitter, code author, deployer or team."""
    since: datetime | None = None
    """first event at or after (UTC)."""
    until: datetime | None = None
    """first event before (UTC)."""
    params: tuple[tuple[str, str], ...] = ()
    image_digest: str | None = None
    commit: str | None = None
    """the full commit or a prefix of it."""


def _bind_time(sql: Sql, value: datetime) -> str:
    return sql.bind(time_key(value), TIME)


def _run_filters(f: RunFilters, sql: Sql) -> tuple[list[str], list[str], list[str]]:
    """``list_runs``' filters as SQL: the aggregates they compare, the ``HAVING`` clauses on
    them, and the event-level conditions that narrow the runs aggregated (each implied by one
    ``HAVING`` clause: a run it keeps has at least one event matching it)."""
    aggregates = ["min(event_time) AS s_first"]
    having = []
    narrowing: list[str] = []  # event-level conditions, each implied by a HAVING clause

    def state(column: str, value: str, present: str | None = None) -> None:
        aggregates.append(_latest(column, present))
        bound = sql.bind(value)
        having.append(f"s_{column} = {bound}")
        narrowing.append(f"{column} = {bound}")

    if f.job is not None:
        state("job_name", f.job)
    if f.namespace is not None:
        state("job_namespace", f.namespace)
        if f.job is not None:
            narrowing.pop()  # the job's runs are few already; a namespace may hold them all
    if f.image_digest is not None:
        state("image_digest", f.image_digest)
    if f.status is not None:
        aggregates.append(f"argMax(event_type, {STATE_ORDER}) AS s_status")
        having.append(f"s_status = {sql.bind(f.status)}")
    if f.commit is not None:
        aggregates.append(_latest("git_commit"))
        commit = sql.bind(f.commit)
        having.append(f"s_git_commit != '' AND startsWith(s_git_commit, {commit})")
        narrowing.append(f"git_commit != '' AND startsWith(git_commit, {commit})")
    if f.owner is not None:
        owners = ("submitter", "code_author", "deployer", "team")
        aggregates.extend(_latest(c) for c in owners)
        owner = sql.bind(f.owner)
        having.append(f"has([{', '.join(f's_{c}' for c in owners)}], {owner})")
        narrowing.append(f"has([{', '.join(owners)}], {owner})")
    if f.params:
        aggregates.append(_latest("parameters", "notEmpty(parameters)"))
        matches = []  # all about the same event: the latest that stated parameters
        for key, value in f.params:
            k = sql.bind(key)
            # stored as JSON text: lr=0.01 is "0.01"; optimizer=adam matches "\"adam\"" too
            values = sql.bind(sorted({value, json.dumps(value)}), "Array(String)")
            having.append(f"mapContains(s_parameters, {k}) AND s_parameters[{k}] IN {values}")
            matches.append(f"mapContains(parameters, {k}) AND parameters[{k}] IN {values}")
        narrowing.append(" AND ".join(["notEmpty(parameters)", *matches]))
    if f.since is not None:
        since = _bind_time(sql, f.since)
        having.append(f"s_first >= {since}")
        narrowing.append(f"event_time >= {since}")
    if f.until is not None:
        having.append(f"s_first < {_bind_time(sql, f.until)}")
    return aggregates, having, narrowing


def list_runs(
    warehouse: Warehouse,
    principal: Principal,
    *,
    filters: RunFilters,
    after: tuple[str, str] | None,
    limit: int,
) -> list[Listed]:
    """Runs newest first: by their first event's time, then run id (both descending).

    Two queries: the page's run ids (aggregating ``runs``, only what the filters compare), then
    the state of those runs (:meth:`Warehouse.runs`, a primary-key read of ``run_nodes``).
    Only events of readable namespaces count, so nothing of another tenant's events reaches a
    run's state.

    A filter that usually picks few runs (job, namespace, image digest, commit, owner,
    parameters, since) also narrows the aggregation to the runs with at least one event that
    matches it, which every run the filter keeps has: ``run_id IN (SELECT run_id ... WHERE
    <the event matches>)``, one such set per filter (a run's owner and its status may come from
    different events).  ``runs`` is sorted by ``run_id``, so the aggregation then reads the
    candidates' granules instead of every run's.
    """
    sql = Sql()
    where = readable(principal, "job_namespace", sql)
    aggregates, having, narrowing = _run_filters(filters, sql)
    if after is not None:
        having.append(f"(s_first, run_id) < ({sql.bind(after[0], TIME)}, {sql.bind(after[1])})")
    table = f"`{warehouse.database}`.runs"
    for condition in narrowing:
        where += f" AND run_id IN (SELECT run_id FROM {table} WHERE {condition})"
    page = warehouse.query(
        f"SELECT run_id, {', '.join(aggregates)} FROM {table} "
        f"WHERE {where} GROUP BY run_id "
        + (f"HAVING {' AND '.join(having)} " if having else "")
        + f"ORDER BY s_first DESC, run_id DESC LIMIT {sql.bind(limit, 'UInt32')}",
        sql.params,
    )
    if not page:
        return []
    states = _run_states(warehouse, principal, [row[0] for row in page])
    return [
        Listed((time_key(first), run_id), {**states[run_id], "firstEventTime": _utc(first)})
        for run_id, first, *_ in page
        if run_id in states
    ]


_LISTED = ("runId", "status", "job", "parentRunId", "parameters", "owners")
_LISTED_CODE = ("gitRepo", "gitCommit", "gitBranch", "image", "imageDigest")


def _run_states(
    warehouse: Warehouse, principal: Principal, run_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The listing's part of each run's :func:`api.views.run_view`, from
    :meth:`Warehouse.runs` (``run_nodes``: a narrow primary-key read; aggregating the 45-column
    ``runs`` took 170 ms for a page of 50 runs of a 1M-run warehouse, bench/RESULTS.md), from
    the events ``principal`` may read only."""
    out = {}
    for run_id, state in warehouse.runs(run_ids, scope=run_scope(principal)).items():
        view = run_view(state)
        out[run_id] = {
            **{key: view[key] for key in _LISTED},
            "lastEventTime": _utc(view["lastEventTime"]),
            "startTime": _utc(view["startTime"]),
            "endTime": _utc(view["endTime"]),
            "code": {key: view["code"][key] for key in _LISTED_CODE},
        }
    return out


def _by_name(
    warehouse: Warehouse,
    principal: Principal,
    *,
    table: str,
    namespace_column: str,
    key: Sequence[str],
    columns: Sequence[str],
    filters: Mapping[str, str | None],
    prefix: tuple[str, str | None],
    after: Sequence[str] | None,
    limit: int,
) -> list[tuple[Any, ...]]:
    """One page of ``table`` grouped by ``key``, in ascending key order: the key columns are
    the table's sorting-key prefix, so the cursor and the filters are primary-key ranges."""
    sql = Sql()
    where = [readable(principal, namespace_column, sql)]
    where += [f"{c} = {sql.bind(v)}" for c, v in filters.items() if v is not None]
    if prefix[1]:
        where.append(f"startsWith({prefix[0]}, {sql.bind(prefix[1])})")
    if after is not None:
        where.append(f"({', '.join(key)}) > ({', '.join(sql.bind(v) for v in after)})")
    keys = ", ".join(key)
    return warehouse.query(
        f"SELECT {keys}, {', '.join(columns)} FROM `{warehouse.database}`.{table} "
        f"WHERE {' AND '.join(where)} GROUP BY {keys} ORDER BY {keys} "
        f"LIMIT {sql.bind(limit, 'UInt32')}",
        sql.params,
    )


def _stated(column: str, present: str | None = None) -> str:
    """The value of the latest event that stated ``column``."""
    condition = present or f"{column} != ''"
    return f"argMaxIf({column}, (event_time, event_id), {condition})"


def list_jobs(
    warehouse: Warehouse,
    principal: Principal,
    *,
    namespace: str | None,
    prefix: str | None,
    after: tuple[str, str] | None,
    limit: int,
) -> list[Listed]:
    """Jobs by namespace and name."""
    rows = _by_name(
        warehouse,
        principal,
        table="jobs",
        namespace_column="job_namespace",
        key=("job_namespace", "job_name"),
        columns=(
            "min(event_time)",
            "max(event_time)",
            _stated("job_type"),
            _stated("integration"),
            _stated("processing_type"),
            _stated("source_repo_url"),
            _stated("owners", "notEmpty(owners)"),
        ),
        filters={"job_namespace": namespace},
        prefix=("job_name", prefix),
        after=after,
        limit=limit,
    )
    return [
        Listed(
            (ns, name),
            {
                "id": NodeRef("job", ns, name).id,
                "namespace": ns,
                "name": name,
                "jobType": _text(job_type),
                "integration": _text(integration),
                "processingType": _text(processing),
                "sourceRepoUrl": _text(repo),
                "owners": _owners(owners),
                "firstSeen": _utc(first),
                "lastSeen": _utc(last),
            },
        )
        for ns, name, first, last, job_type, integration, processing, repo, owners in rows
    ]


def list_datasets(
    warehouse: Warehouse,
    principal: Principal,
    *,
    namespace: str | None,
    prefix: str | None,
    after: tuple[str, str] | None,
    limit: int,
) -> list[Listed]:
    """Datasets by namespace and name, each with how many versions it has."""
    rows = _by_name(
        warehouse,
        principal,
        table="datasets",
        namespace_column="dataset_namespace",
        key=("dataset_namespace", "dataset_name"),
        columns=(
            "min(event_time)",
            "max(event_time)",
            _stated("storage_layer"),
            _stated("file_format"),
            _stated("owners", "notEmpty(owners)"),
        ),
        filters={"dataset_namespace": namespace},
        prefix=("dataset_name", prefix),
        after=after,
        limit=limit,
    )
    counts: dict[tuple[str, str], int] = {}
    if rows:
        sql = Sql()
        keys = sql.bind([(r[0], r[1]) for r in rows], "Array(Tuple(String, String))")
        for ns, name, count in warehouse.query(
            "SELECT dataset_namespace, dataset_name, uniqExact(dataset_version) "
            f"FROM `{warehouse.database}`.dataset_versions "
            f"WHERE (dataset_namespace, dataset_name) IN {keys} "
            f"GROUP BY dataset_namespace, dataset_name LIMIT {sql.bind(len(rows), 'UInt32')}",
            sql.params,
        ):
            counts[(ns, name)] = count
    return [
        Listed(
            (ns, name),
            {
                "id": NodeRef("dataset", ns, name).id,
                "namespace": ns,
                "name": name,
                "storageLayer": _text(storage),
                "fileFormat": _text(file_format),
                "owners": _owners(owners),
                "versionCount": counts.get((ns, name), 0),
                "firstSeen": _utc(first),
                "lastSeen": _utc(last),
            },
        )
        for ns, name, first, last, storage, file_format, owners in rows
    ]


def _after_newest(sql: Sql, column: str, after: tuple[str, str] | None) -> str:
    """``HAVING`` past a cursor of a newest-first listing keyed ``(s_first, column)``."""
    if after is None:
        return ""
    time, value = sql.bind(after[0], TIME), sql.bind(after[1])
    return f"HAVING (s_first, {column}) < ({time}, {value}) "


def dataset_versions(
    warehouse: Warehouse,
    principal: Principal,
    *,
    namespace: str,
    name: str,
    after: tuple[str, str] | None,
    limit: int,
) -> list[Listed]:
    """The versions of one dataset, newest first (first seen, then version, descending); the
    version ``''`` is the unversioned dataset (events without a version facet)."""
    sql = Sql()
    where = readable(principal, "dataset_namespace", sql)
    cursor = _after_newest(sql, "dataset_version", after)
    producer = _stated("run_id", "role = 'output' AND run_id != ''")
    rows = warehouse.query(
        "SELECT dataset_version, min(event_time) AS s_first, max(event_time), "
        f"{producer}, "
        "max(row_count), max(size_bytes), max(file_count), "
        f"{_stated('label_set')}, {_stated('label_version')} "
        f"FROM `{warehouse.database}`.dataset_versions "
        f"WHERE dataset_namespace = {sql.bind(namespace)} AND dataset_name = {sql.bind(name)} "
        f"AND {where} GROUP BY dataset_version {cursor}"
        f"ORDER BY s_first DESC, dataset_version DESC LIMIT {sql.bind(limit, 'UInt32')}",
        sql.params,
    )
    out = []
    for version, first, last, run_id, rows_, size, files, label_set, label_version in rows:
        node = NodeRef.dataset_version(namespace, name, version)
        out.append(
            Listed(
                (time_key(first), version),
                {
                    "id": node.id,
                    "namespace": namespace,
                    "name": name,
                    "version": version or None,
                    "unversioned": version == "",
                    "firstSeen": _utc(first),
                    "lastSeen": _utc(last),
                    "producingRun": _text(run_id),
                    "rowCount": rows_,
                    "sizeBytes": size,
                    "fileCount": files,
                    "labelSet": _text(label_set),
                    "labelVersion": _text(label_version),
                },
            )
        )
    return out


def list_models(
    warehouse: Warehouse,
    principal: Principal,
    *,
    prefix: str | None,
    after: tuple[str] | None,
    limit: int,
) -> list[Listed]:
    """Models by name (a model's namespace is the dataset namespace it is stored in), each with
    the dataset it was last stored as and how many versions it has."""
    rows = _by_name(
        warehouse,
        principal,
        table="models",
        namespace_column="dataset_namespace",
        key=("model_name",),
        columns=(
            "min(event_time)",
            "max(event_time)",
            _stated("framework"),
            "argMax(dataset_namespace, (event_time, event_id))",
            "argMax(dataset_name, (event_time, event_id))",
        ),
        filters={},
        prefix=("model_name", prefix),
        after=after,
        limit=limit,
    )
    counts: dict[str, int] = {}
    if rows:
        sql = Sql()
        where = readable(principal, "dataset_namespace", sql)
        names = sql.bind([r[0] for r in rows], "Array(String)")
        for model, count in warehouse.query(
            f"SELECT model_name, uniqExact(model_version) FROM `{warehouse.database}`."
            f"model_versions WHERE model_name IN {names} AND {where} GROUP BY model_name "
            f"LIMIT {sql.bind(len(rows), 'UInt32')}",
            sql.params,
        ):
            counts[model] = count
    return [
        Listed(
            (model,),
            {
                "name": model,
                "framework": _text(framework),
                "dataset": NodeRef("dataset", ns, name).id,
                "versionCount": counts.get(model, 0),
                "firstSeen": _utc(first),
                "lastSeen": _utc(last),
            },
        )
        for model, first, last, framework, ns, name in rows
    ]


def model_versions(
    warehouse: Warehouse,
    principal: Principal,
    *,
    model: str,
    after: tuple[str, str] | None,
    limit: int,
) -> list[Listed]:
    """The versions of one model, newest first (first seen, then version, descending): metrics,
    stage, the dataset version it is stored as and the run that produced it — the rules of
    :meth:`api.store.Warehouse.model_version`, over readable rows only."""
    sql = Sql()
    where = readable(principal, "dataset_namespace", sql)
    cursor = _after_newest(sql, "model_version", after)
    latest = "(event_time, event_id)"
    output = f"{latest}, role = 'output'"
    rows = warehouse.query(
        "SELECT model_version, min(event_time) AS s_first, max(event_time), "
        "argMax(framework, (framework != '', event_time, event_id)), "
        "argMax(stage, (stage != '', event_time, event_id)), "
        "argMax(metrics, (notEmpty(metrics), event_time, event_id)), "
        f"countIf(role = 'output'), argMaxIf(dataset_namespace, {output}), "
        f"argMaxIf(dataset_name, {output}), argMaxIf(dataset_version, {output}), "
        f"argMaxIf(run_id, {output}), argMax(dataset_namespace, {latest}), "
        f"argMax(dataset_name, {latest}), argMax(dataset_version, {latest}) "
        f"FROM `{warehouse.database}`.model_versions "
        f"WHERE model_name = {sql.bind(model)} AND {where} GROUP BY model_version {cursor}"
        f"ORDER BY s_first DESC, model_version DESC LIMIT {sql.bind(limit, 'UInt32')}",
        sql.params,
    )
    out = []
    for version, first, last, framework, stage, metrics, produced, *where_from in rows:
        ns, name, dver, run_id, any_ns, any_name, any_ver = where_from
        if not produced:  # only seen as an input (e.g. deployed): its latest dataset version
            ns, name, dver, run_id = any_ns, any_name, any_ver, ""
        out.append(
            Listed(
                (time_key(first), version),
                {
                    "name": model,
                    "version": version,
                    "framework": _text(framework),
                    "stage": _text(stage),
                    "metrics": dict(metrics),
                    "dataset": NodeRef.dataset_version(ns, name, dver).id,
                    "producingRun": _text(run_id),
                    "firstSeen": _utc(first),
                    "lastSeen": _utc(last),
                },
            )
        )
    return out


def run_scope(principal: Principal) -> tuple[str, dict[str, Any]]:
    """The condition (and its parameters) ``Warehouse.runs`` applies to a run's events so that
    its state is computed from the events ``principal`` may read only."""
    sql = Sql()
    condition = readable(principal, "job_namespace", sql)
    return condition, sql.params


def readable_runs(warehouse: Warehouse, principal: Principal, run_ids: Iterable[str]) -> set[str]:
    """Those of ``run_ids`` with events in namespaces ``principal`` may read (the runs the runs
    listing shows it)."""
    return warehouse.visible_runs(run_ids, run_scope(principal))
