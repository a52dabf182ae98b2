"""The API's settings: limits, auth and where events go, with their ``PEDIGREE_*`` variables.

Every limit is bounded twice: a default a request gets without asking, and a maximum it may
ask for; past the maximum the API answers 400/413/422 naming the limit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

__all__ = ["ENVIRONMENT", "ApiLimits", "ApiSettings"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class ApiLimits:
    max_body_bytes: int = 5 * MiB
    """Request bodies (checked before parsing; Kafka's default message limit is ~1 MiB per
    event, so one event over it is refused per event)."""
    max_batch_events: int = 1000
    default_depth: int = 5
    max_depth: int = 50
    default_nodes: int = 500
    max_nodes: int = 5000
    default_page_size: int = 50
    max_page_size: int = 500
    max_time_range_days: int = 366
    query_seconds: float = 10.0
    """ClickHouse ``max_execution_time`` of every query."""


ENVIRONMENT: dict[str, str] = {
    "max_body_bytes": "PEDIGREE_API_MAX_BODY_BYTES",
    "max_batch_events": "PEDIGREE_API_MAX_BATCH_EVENTS",
    "max_depth": "PEDIGREE_API_MAX_DEPTH",
    "max_nodes": "PEDIGREE_API_MAX_NODES",
    "max_page_size": "PEDIGREE_API_MAX_PAGE_SIZE",
    "query_seconds": "PEDIGREE_API_QUERY_SECONDS",
}
"""The limits an operator can set from the environment."""


@dataclass(frozen=True)
class ApiSettings:
    limits: ApiLimits = field(default_factory=ApiLimits)
    auth: bool = True
    """False: every request may read and write every namespace (said loudly at start-up)."""
    tokens_file: str | None = None

    @staticmethod
    def limits_from_environment(environ: Mapping[str, str] | None = None) -> ApiLimits:
        env = os.environ if environ is None else environ
        values: dict[str, float | int] = {}
        kinds = {f.name: f.type for f in fields(ApiLimits)}
        for name, variable in ENVIRONMENT.items():
            text = env.get(variable)
            if text is None or text == "":
                continue
            try:
                value: float | int = float(text) if kinds[name] == "float" else int(text)
            except ValueError:
                raise ValueError(f"{variable}={text!r} is not a number") from None
            if value <= 0:
                raise ValueError(f"{variable} must be positive")
            values[name] = value
        return ApiLimits(**values)  # type: ignore[arg-type]
