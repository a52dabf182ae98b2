"""One HTTP request through an app's ASGI interface, in process: no server, no client library
(httpx, which FastAPI's TestClient needs, is not a dependency here)."""

from __future__ import annotations

import asyncio
from typing import Any


def asgi_request(
    app: Any, method: str, path: str, query: bytes = b""
) -> tuple[int, dict[str, str]]:
    """The response's status and headers (names lower-cased)."""
    sent: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if received:  # the client stays connected: wait until the app stops listening
            await asyncio.Event().wait()
        received = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query,
        "root_path": "", "headers": [(b"host", b"test")], "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
    return int(start["status"]), headers
