"""The explorer's page and assets: what the CSP relies on, and what the OpenAPI document holds.

The page runs in the browser (tests/integration/test_explorer_browser.py); these checks keep
its safety rules from eroding: no inline script or style (the CSP forbids both), no HTML built
from strings (data is written as text), and its files inside the ``api`` package (shipped).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from api.app import create_app
from api.context import ApiContext
from api.routes_explorer import ASSETS, SECURITY_HEADERS
from api.settings import ApiLimits
from api.store import Warehouse
from tests.asgi import asgi_request

ROOT = Path(__file__).resolve().parents[2]


def test_the_page_loads_only_its_own_script_and_style_and_has_nothing_inline() -> None:
    html = (ASSETS / "index.html").read_text()
    assert re.findall(r'<script[^>]*src="([^"]+)"', html) == ["/explorer/explorer.js"]
    assert re.findall(r'<link[^>]*href="([^"]+)"', html) == ["/explorer/explorer.css"]
    assert "<script>" not in html
    assert "<style" not in html
    assert " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)  # no inline event handlers


def test_the_script_never_builds_html_from_strings_or_evaluates_code() -> None:
    script = (ASSETS / "explorer.js").read_text()
    for banned in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ):
        assert banned not in script, banned


def _app() -> Any:
    return create_app(ApiContext(Warehouse(None, "pedigree"), None, ApiLimits(), None))


def test_the_csp_allows_only_this_origin_and_no_inline_code() -> None:
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "script-src 'self';" in csp
    assert "style-src 'self';" in csp
    assert "unsafe" not in csp
    assert "frame-ancestors 'none'" in csp
    # ... and the page and its files are served with those headers
    app = _app()
    for path in ("/", "/explorer/explorer.js", "/explorer/explorer.css"):
        status, headers = asgi_request(app, "GET", path)
        assert status == 200, path
        for name, value in SECURITY_HEADERS.items():
            assert headers[name.lower()] == value, (path, name)


def test_the_layout_endpoint_is_in_the_openapi_document_and_the_page_is_not() -> None:
    paths = _app().openapi()["paths"]
    assert "get" in paths["/api/v1/layout"]
    assert "/" not in paths
    assert not any(p.startswith("/explorer") for p in paths)
    # the files sit inside the api package, which the wheel ships
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert "api" in wheel["targets"]["wheel"]["packages"]
    assert ASSETS.is_relative_to(ROOT / "api")
