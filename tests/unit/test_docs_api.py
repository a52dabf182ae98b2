"""docs/api.md names every endpoint the application serves."""

from __future__ import annotations

from pathlib import Path

from api.app import create_app
from api.context import ApiContext
from api.settings import ApiLimits
from api.store import Warehouse

DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()


def test_every_path_of_the_openapi_document_is_in_docs_api_md() -> None:
    app = create_app(ApiContext(Warehouse(None, "pedigree"), None, ApiLimits(), None))
    paths = set(app.openapi()["paths"])
    assert paths >= {"/api/v1/lineage", "/api/v1/provenance", "/api/v1/impact", "/readyz"}
    missing = sorted(p for p in paths if f"`{p}`" not in DOC and f"`GET {p}" not in DOC
                     and f"`POST {p}" not in DOC)  # fmt: skip
    assert not missing, f"endpoints missing from docs/api.md: {missing}"
