"""Versioned warehouse migrations: apply the pending ``consumers/schema/NNNN_name.sql`` files.

Each file is one migration: ClickHouse statements separated by ``;``, with ``{db}`` where the
target database goes (full-line ``--`` comments only).  :func:`migrate` records what it applied
in ``schema_migrations`` (version, name, checksum, applied time) and is idempotent: applied
migrations are skipped, a changed applied file is refused (:class:`ChecksumMismatch`), and a
warehouse that has migrations this code does not know is refused too.  Statements are written
to be re-runnable (``IF NOT EXISTS``), so a migration interrupted half-way is simply re-run.

:func:`cluster_ddl` turns the same SQL into its ClickHouse-cluster variant (``ON CLUSTER``,
``Replicated*MergeTree``).  See ``docs/warehouse.md``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consumers.errors import ChecksumMismatch, MigrationError

__all__ = [
    "CLUSTER_ENV",
    "SCHEMA_DIR",
    "Migration",
    "cluster_ddl",
    "cluster_from_env",
    "load_migrations",
    "migrate",
    "render",
    "statements",
]

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TARGET = re.compile(
    r"^(\s*(?:CREATE|ALTER|DROP|TRUNCATE)\s+TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?\s+[\w.`{}]+)",
    re.IGNORECASE,
)
_ENGINE = re.compile(r"ENGINE\s*=\s*(\w*)MergeTree\b(?:\s*\(([^)]*)\))?", re.IGNORECASE)
_MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS {db}.schema_migrations
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: ``NNNN_name.sql``; ``checksum`` is the sha256 of its text."""

    version: int
    name: str
    sql: str
    checksum: str


def load_migrations(directory: Path = SCHEMA_DIR) -> list[Migration]:
    """The migrations in ``directory``, by version; :class:`MigrationError` on a bad name."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: migration files are named NNNN_lower_case_name.sql")
        sql = path.read_text(encoding="utf-8")
        found.append(
            Migration(int(match[1]), match[2], sql, hashlib.sha256(sql.encode()).hexdigest())
        )
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{directory}: two migration files share a version: {versions}")
    return found


def statements(sql: str) -> list[str]:
    """The statements of a migration, full-line ``--`` comments removed."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _identifier(name: str, what: str) -> str:
    if not _IDENTIFIER.match(name):
        raise MigrationError(f"{what} {name!r} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return name


def render(sql: str, database: str) -> str:
    """``sql`` with ``{db}`` replaced by the (validated) database name."""
    return sql.replace("{db}", f"`{_identifier(database, 'database')}`")


def cluster_ddl(sql: str, cluster: str) -> str:
    """The cluster variant of migration SQL: every table statement gets ``ON CLUSTER cluster``
    and every ``*MergeTree`` engine becomes its ``Replicated*MergeTree`` with the
    ``/clickhouse/tables/{shard}/{database}/{table}`` path and ``{replica}`` macros."""
    name = _identifier(cluster, "cluster")

    def engine(match: re.Match[str]) -> str:
        if match[1].lower().startswith("replicated"):
            return match[0]
        args = ["'/clickhouse/tables/{shard}/{database}/{table}'", "'{replica}'"]
        if match[2] and match[2].strip():
            args.append(match[2].strip())
        return f"ENGINE = Replicated{match[1]}MergeTree({', '.join(args)})"

    out = []
    for statement in statements(sql):
        variant = _TARGET.sub(lambda m: f"{m[1]} ON CLUSTER {name}", statement, count=1)
        variant = _ENGINE.sub(engine, variant)
        # Replicated tables deduplicate insert blocks through Keeper: the replicated window.
        out.append(variant.replace("non_replicated_dedup", "replicated_dedup"))
    return ";\n\n".join(out) + ";\n"


CLUSTER_ENV = "PEDIGREE_CLICKHOUSE_CLUSTER"


def cluster_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The ClickHouse cluster every command migrates with (``PEDIGREE_CLICKHOUSE_CLUSTER``):
    set it wherever ``consume``, ``serve`` or ``rebuild`` run against a cluster, so that one
    started before ``pedigree migrate --cluster`` creates replicated tables, never local ones."""
    value = (os.environ if environ is None else environ).get(CLUSTER_ENV, "").strip()
    return value or None


def migrate(
    client: Any,
    database: str,
    *,
    directory: Path = SCHEMA_DIR,
    cluster: str | None = None,
) -> list[Migration]:
    """Apply the pending migrations to ``database`` (created if missing); return those applied.

    ``client`` is a clickhouse-connect client (``chdb://`` or ``http(s)://``).  With ``cluster``,
    the statements run in their :func:`cluster_ddl` variant.
    """
    db = _identifier(database, "database")
    on_cluster = f" ON CLUSTER {_identifier(cluster, 'cluster')}" if cluster else ""

    def run(sql: str) -> None:
        variant = cluster_ddl(sql, cluster) if cluster else sql
        for statement in statements(render(variant, db)):
            client.command(statement)

    client.command(f"CREATE DATABASE IF NOT EXISTS `{db}`{on_cluster}")
    run(_MIGRATIONS_DDL)
    applied = {
        int(version): (name, checksum)
        for version, name, checksum in client.query(
            f"SELECT version, name, checksum FROM `{db}`.schema_migrations FINAL"  # noqa: S608 -- db is a checked identifier
        ).result_rows
    }
    migrations = load_migrations(directory)
    unknown = sorted(set(applied) - {m.version for m in migrations})
    if unknown:
        raise MigrationError(
            f"database {db} has migrations {unknown} that this code does not know: it was "
            "migrated by a newer Pedigree; upgrade this one instead of running it on that data"
        )
    done: list[Migration] = []
    for migration in migrations:
        if migration.version in applied:
            _, checksum = applied[migration.version]
            if checksum != migration.checksum:
                raise ChecksumMismatch(
                    migration.version, migration.name, checksum, migration.checksum
                )
            continue
        run(migration.sql)
        client.insert(
            f"`{db}`.schema_migrations",
            [(migration.version, migration.name, migration.checksum)],
            column_names=("version", "name", "checksum"),
        )
        done.append(migration)
    return done
