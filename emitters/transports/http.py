"""The ``http`` transport: POST OpenLineage JSON to a Pedigree API or any OpenLineage endpoint.

``PEDIGREE_HTTP_URL`` is either the endpoint itself or a base URL, to which
``/api/v1/lineage`` is appended.  ``PEDIGREE_HTTP_TOKEN`` is sent as a bearer token.  A failed
request (network error, timeout, non-2xx answer) spools the event; what earlier runs spooled
is POSTed in the background at start (as ``pedigree spool flush --http`` does).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any, ClassVar
from urllib.parse import urlsplit

from emitters.config import EmitterConfig
from emitters.spool import SpooledMessage
from emitters.spool_flush import flush_earlier_spool_in_background
from emitters.transports.base import EmitterStats, Fallback, Transport

__all__ = ["HttpTransport", "endpoint"]


def endpoint(url: str) -> str:
    """The lineage endpoint for a configured URL (a bare base URL gets ``/api/v1/lineage``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"PEDIGREE_HTTP_URL={url!r}: expected http(s)://host[:port][/path]")
    return url if parts.path.strip("/") else url.rstrip("/") + "/api/v1/lineage"


class HttpTransport(Transport):
    kind: ClassVar[str] = "http"

    def __init__(
        self, config: EmitterConfig, spool: Fallback, stats: EmitterStats, timeout: float = 5.0
    ) -> None:
        self._url = endpoint(config.http_url or "")
        self._token = config.http_token
        self._spool = spool
        self._stats = stats
        self._timeout = timeout
        self._stop_flush = threading.Event()
        self._flusher = flush_earlier_spool_in_background(config, self._stop_flush, http=True)

    def close(self, timeout: float) -> bool:
        self._stop_flush.set()
        if self._flusher is not None:  # stops between two requests; a daemon if one hangs
            self._flusher.join(max(0.5, timeout))
        return True

    def send(self, event: dict[str, Any], message: SpooledMessage) -> None:
        headers = {"Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in endpoint()
            self._url, data=json.dumps(event).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                response.read()
            self._stats.count("sent")
        except (urllib.error.URLError, OSError, ValueError) as err:
            if isinstance(err, urllib.error.HTTPError):
                detail: object = f"HTTP {err.code} {err.reason}"
            else:
                detail = err.reason if isinstance(err, urllib.error.URLError) else err
            self._stats.note(f"POST {self._url} failed: {detail}")
            self._spool.keep(message, f"POST {self._url} failed: {detail}")
