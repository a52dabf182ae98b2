"""docs/api-reference.md is the application's OpenAPI document, rendered: never out of date."""

from __future__ import annotations

import difflib

import pytest

from tests.docs_tools import API_REFERENCE, REGENERATE, api_reference, openapi_document


def test_the_committed_api_reference_matches_the_openapi_document() -> None:
    expected = api_reference()
    committed = API_REFERENCE.read_text(encoding="utf-8") if API_REFERENCE.exists() else ""
    if committed != expected:
        diff = difflib.unified_diff(
            committed.splitlines(), expected.splitlines(),
            "docs/api-reference.md (committed)", "generated from the OpenAPI document", lineterm="",
        )  # fmt: skip
        shown = "\n".join(list(diff)[:60])
        pytest.fail(
            f"docs/api-reference.md is out of date with the API; regenerate it with\n"
            f"    {REGENERATE}\n{shown}",
            pytrace=False,
        )


def test_the_reference_names_every_operation_parameter_and_status() -> None:
    document = openapi_document()
    text = api_reference(document)
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            section = text.split(f"### `{method.upper()} {path}`\n", 1)[1].split("\n### ", 1)[0]
            for parameter in op.get("parameters", []):
                assert f"| `{parameter['name']}` | {parameter['in']} |" in section
            for status in op["responses"]:
                assert f"\n| {status} | " in section, (method, path, status)
    for name in document["components"]["schemas"]:
        assert f"\n### {name}\n" in text
