"""docs/event-contract.md and avro/facets/ say what the code does."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from emitters.facets import FACETS, SCHEMA_BASE_URL, facet, schema_url
from emitters.schemas import current_schema, known_schemas, schema_dir

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "event-contract.md").read_text()


def test_the_fingerprint_table_matches_the_schema_files() -> None:
    table = dict(re.findall(r"^\| v(\d+) \| `([0-9a-f]{16})` \|", DOC, flags=re.MULTILINE))
    assert {int(v): fp for v, fp in table.items()} == {
        v: s.fingerprint.hex() for v, s in known_schemas().items()
    }


def _avro_record(name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if node.get("type") == "record" and node.get("name") == name:
                found.append(node)
            for value in node.values():
                walk(value)

    walk(current_schema().raw)
    assert found, name
    return found[0]


@pytest.mark.parametrize("key", sorted(FACETS))
def test_each_custom_facet_ships_a_json_schema_matching_its_avro_record(key: str) -> None:
    name = FACETS[key]
    shipped = json.loads((schema_dir() / "facets" / f"{name}.json").read_text())
    assert shipped["$id"] == f"{SCHEMA_BASE_URL}/{name}.json"
    assert schema_url(key) == f"{shipped['$id']}#/$defs/{name}"
    assert shipped["properties"] == {key: {"$ref": f"#/$defs/{name}"}}
    body = shipped["$defs"][name]["allOf"][1]
    avro_fields = {f["name"] for f in _avro_record(name)["fields"]} - {"_producer", "_schemaURL"}
    assert set(body["properties"]) == avro_fields
    assert f"`{key}`" in DOC
    built = facet(key, unused=None)
    assert built["_schemaURL"] == schema_url(key)
    assert "unused" not in built


def test_avro_folder_holds_only_released_versions_and_facet_schemas() -> None:
    names = sorted(p.name for p in schema_dir().iterdir() if p.is_file())
    events = [f"event.v{v}.avsc" for v in sorted(known_schemas())]
    assert names == sorted([*events, "spool-message.v1.avsc"])
