"""A fake Kubernetes API server for tests: canned JSON over real HTTP, for the real client.

Serve recorded API responses by path and point a real ``kubernetes.client.ApiClient`` at it::

    with FakeKubernetesApi({"/api/v1/namespaces/ml/pods/p": (200, pod_json)}) as api:
        client = api.api_client()
        CoreV1Api(client).read_namespaced_pod("p", "ml")
        assert api.requests[0].path == "/api/v1/namespaces/ml/pods/p"

* ``routes``: path (without the query string) -> ``(status, body)``; a body that is not
  ``bytes`` or ``str`` is sent as JSON.  Paths not in ``routes`` get the API's 404 ``Status``.
  ``routes`` may be changed while the server runs.
* ``watch_events``: path -> watch events for requests with ``?watch=true`` (or ``watch=1``):
  each event (a dict such as ``{"type": "ADDED", "object": {...}}``, or a raw ``str`` line)
  is written as one line, then the stream ends, as when the API server closes a watch.
* ``delays``: path -> seconds to wait before answering (to test client timeouts).
* ``requests``: every request received, in order (method, path, query, headers).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures" / "k8s"


def fixture(name: str) -> Any:
    """A recorded API response from ``tests/fixtures/k8s/``."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    """A ``Status`` object as the API server sends with an error."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a timeout under test) is expected; anything else is shown."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class FakeKubernetesApi:
    """An HTTP server on 127.0.0.1 (a free port) that answers like the Kubernetes API."""

    def __init__(
        self,
        routes: Mapping[str, tuple[int, Any]] | None = None,
        *,
        watch_events: Mapping[str, Sequence[Any]] | None = None,
        delays: Mapping[str, float] | None = None,
    ) -> None:
        self.routes: dict[str, tuple[int, Any]] = dict(routes or {})
        self.watch_events: dict[str, list[Any]] = {
            k: list(v) for k, v in (watch_events or {}).items()
        }
        self.delays: dict[str, float] = dict(delays or {})
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def api_client(self, **configuration: Any) -> Any:
        """A real ``kubernetes.client.ApiClient`` whose ``Configuration.host`` is this server."""
        from kubernetes import client as k8s

        config = k8s.Configuration(host=self.url)
        for key, value in configuration.items():
            setattr(config, key, value)
        return k8s.ApiClient(config)

    def start(self) -> FakeKubernetesApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeKubernetesApi:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        with self._lock:
            return [r.path for r in self.requests]

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the API server

            def do_GET(self) -> None:
                self._answer()

            do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # http.server's handler names

            def _answer(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                fake._record(
                    RecordedRequest(self.command, parts.path, query, dict(self.headers.items()))
                )
                time.sleep(fake.delays.get(parts.path, 0.0))
                watching = query.get("watch", [""])[0].lower() in ("true", "1")
                if watching and parts.path in fake.watch_events:
                    self._stream(fake.watch_events[parts.path])
                    return
                status, body = fake.routes.get(
                    parts.path,
                    (404, status_body(404, "NotFound", f"the server could not find {parts.path}")),
                )
                self._send(status, body)

            def _send(self, status: int, body: Any) -> None:
                if isinstance(body, bytes):
                    data, kind = body, "application/octet-stream"
                elif isinstance(body, str):
                    data, kind = body.encode(), "text/plain"
                else:
                    data, kind = json.dumps(body).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, events: Sequence[Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                self.end_headers()
                for event in events:
                    line = event if isinstance(event, str) else json.dumps(event)
                    self.wfile.write(line.encode() + b"\n")
                    self.wfile.flush()
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return Handler
