"""The OpenLineage reference data in ``../shared/openlineage``, for tests that check against it.

``../shared/openlineage`` (the OpenLineage JSON Schemas, events from the official client and
the fluentd proxy, and consumer compatibility scenarios from real producers) ships with CI, not
with a fresh clone: tests that read it are marked ``requires_shared`` and are skipped, with a
reason, where it is absent.  Each event file holds one JSON event.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "FACET_SCHEMAS",
    "KNOWN_INVALID",
    "SHARED",
    "SPEC",
    "corpus_id",
    "event_files",
    "is_known_invalid",
    "load_json",
    "requires_shared",
]

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "openlineage"
SPEC = SHARED / "spec" / "OpenLineage.json"
FACET_SCHEMAS = SHARED / "spec" / "facets"

requires_shared = pytest.mark.skipif(
    not SHARED.exists(),
    reason="../shared/openlineage not present (it ships with CI, not with a fresh clone)",
)

KNOWN_INVALID = ("event_invalid_*", "event_no_run_id")
"""Name patterns (without ``.json``) of the fluentd-proxy events a backend must reject."""


def event_files() -> list[Path]:
    """Every event file of the corpus, sorted: ``events/*/*.json`` and ``scenarios/*/events``."""
    if not SHARED.exists():
        return []
    found = [*SHARED.glob("events/*/*.json"), *SHARED.glob("scenarios/*/events/*.json")]
    return sorted(found)


def is_known_invalid(path: Path) -> bool:
    """Whether the corpus says this event breaks the core schema or a standard facet schema."""
    return any(Path(path.stem).match(pattern) for pattern in KNOWN_INVALID)


def corpus_id(path: Path) -> str:
    """A short test id: the file's path inside ``../shared/openlineage``."""
    return path.relative_to(SHARED).as_posix()


def load_json(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)
