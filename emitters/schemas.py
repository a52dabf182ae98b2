"""The versions of Pedigree's Avro event schema, with their single-object fingerprints.

The ``.avsc`` files in the repository's ``avro/`` folder are the wire contract; every version
ever released stays there (``event.v1.avsc``, ``event.v2.avsc``, ...) so that a reader can
resolve any message it is handed.  The newest version is the one writers use and readers resolve
to.  A message names its writer schema by the 8-byte CRC-64-AVRO fingerprint of the schema's
parsing canonical form (Avro single-object encoding), so no schema registry is needed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from emitters._avro_mapping import RecordMapping, compile_mapping

__all__ = [
    "SchemaVersion",
    "current_schema",
    "known_schemas",
    "schema_dir",
]

_FILE_PATTERN = re.compile(r"^event\.v(\d+)\.avsc$")


@dataclass(frozen=True)
class SchemaVersion:
    """One released version of the event schema."""

    version: int
    path: Path
    raw: dict[str, Any]
    parsed: Any  # fastavro's parsed schema
    fingerprint: bytes  # 8 bytes, little-endian CRC-64-AVRO, as on the wire
    mapping: RecordMapping


def schema_dir() -> Path:
    """Where the ``.avsc`` files are: inside the installed wheel, else the source tree."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_avro", here.parent / "avro"):
        if any(candidate.glob("event.v*.avsc")):
            return candidate
    raise FileNotFoundError(f"no event.v*.avsc under {here / '_avro'} or {here.parent / 'avro'}")


def _load(path: Path, version: int) -> SchemaVersion:
    raw = json.loads(path.read_text(encoding="utf-8"))
    if raw.get("pedigree.version") != version:
        raise ValueError(f"{path}: pedigree.version must be {version}")
    parsed = fastavro.parse_schema(raw)
    canonical = to_parsing_canonical_form(parsed)
    return SchemaVersion(
        version=version,
        path=path,
        raw=raw,
        parsed=parsed,
        fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
        mapping=compile_mapping(raw),
    )


@cache
def known_schemas() -> dict[int, SchemaVersion]:
    """Every released schema version, by version number."""
    found: dict[int, SchemaVersion] = {}
    for path in sorted(schema_dir().iterdir()):
        match = _FILE_PATTERN.match(path.name)
        if match:
            version = int(match.group(1))
            found[version] = _load(path, version)
    return found


def current_schema() -> SchemaVersion:
    """The newest schema version: what writers use and readers resolve to."""
    schemas = known_schemas()
    return schemas[max(schemas)]
