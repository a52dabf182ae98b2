"""The lineage explorer: one HTML page at ``/`` and its script and style under ``/explorer/``.

The page holds no data: its script asks the JSON API with the bearer token the user signs in
with (kept in ``sessionStorage``), so the API's authentication and tenancy apply unchanged —
without a valid token the API answers 401 and the page shows only the sign-in form.  That is
why the page and its assets are public and left out of the OpenAPI document: they are the same
static files for everyone.  A strict Content-Security-Policy (scripts and styles from this
origin only, no inline code) keeps injected text from running in a page that holds a token; the
script writes data with ``textContent`` and DOM calls only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

__all__ = ["ASSETS", "SECURITY_HEADERS", "mount_explorer"]

ASSETS = Path(__file__).resolve().parent / "explorer" / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def explorer_page() -> FileResponse:
    return FileResponse(ASSETS / "index.html", media_type="text/html", headers=SECURITY_HEADERS)


@router.get("/explorer")
async def explorer_alias() -> RedirectResponse:
    return RedirectResponse("/", status_code=307)


class _Assets(StaticFiles):
    """Static files with the page's security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def mount_explorer(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/explorer", _Assets(directory=ASSETS), name="explorer")
