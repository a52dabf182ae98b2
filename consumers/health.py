"""The consumer's probes: ``GET /healthz`` and ``GET /readyz`` on a small HTTP server.

``pedigree consume --health-port PORT`` serves them from a daemon thread (standard library
only), for Kubernetes liveness and readiness probes:

* ``/healthz`` -- 200 while the worker's loop turned within ``stale_after`` seconds (it turns
  at least every second, and a flush blocks it at most for one insert), 503 once it has not:
  the process is stuck and a restart is the cure (a restart loses nothing, ``docs/delivery.md``).
* ``/readyz`` -- 200 while the worker is in its loop and no flush is failing; 503 before the
  loop starts, after it ends, and while it pauses to retry the warehouse or the broker.

Answers are small JSON documents naming the state; no other path is served.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Probe", "WorkerState", "answer", "serve_health"]


@dataclass(frozen=True)
class WorkerState:
    """What the probes look at, read from the worker at request time."""

    running: bool
    """In its loop (subscribed, not yet stopping)."""
    loop_age: float
    """Seconds since the loop last turned."""
    retrying: bool
    """A flush failed and waits for its retry (the warehouse or the broker is away)."""


Probe = Callable[[], WorkerState]


def answer(path: str, state: WorkerState, stale_after: float) -> tuple[int, dict[str, Any]]:
    """(status code, JSON body) of a probe request: pure, so the rules are tested alone."""
    age = round(state.loop_age, 3)
    if path == "/healthz":
        if state.loop_age <= stale_after:
            return 200, {"status": "ok", "loop_age_seconds": age}
        return 503, {"status": f"stuck: the loop last turned {age} s ago", "loop_age_seconds": age}
    if path == "/readyz":
        if not state.running:
            return 503, {"status": "not consuming"}
        if state.retrying:
            return 503, {"status": "retrying: the warehouse or the broker is failing"}
        return 200, {"status": "ok"}
    return 404, {"status": "not found: /healthz and /readyz only"}


def serve_health(
    probe: Probe,
    port: int,
    host: str = "0.0.0.0",  # noqa: S104 - the kubelet probes the pod's address
    stale_after: float = 120.0,
) -> ThreadingHTTPServer:
    """Start serving the probes on ``host:port`` from a daemon thread; ``shutdown()`` stops."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code, body = answer(self.path.split("?", 1)[0], probe(), stale_after)
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Probes every few seconds would drown the log: say nothing."""

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="pedigree-health", daemon=True).start()
    return server
