"""Opening the warehouse, and the embedded engine's allocator.

chDB (the ``chdb://`` engine, ClickHouse in the Pedigree process) allocates with its own
jemalloc, built to keep freed pages for 5 s (``dirty_decay_ms:5000``) before giving them back.
A consumer inserts a batch into 16 tables every second or so, so the pages freed after one batch
are still held when the next batch allocates its own: the process's resident memory is the sum
of several batches' working memory, not one's.  :data:`ENGINE_ALLOCATOR` returns freed pages at
once.  Together with 8 MiB batches (``consumers.batching.BatchLimits``) that keeps a consumer
of the typical event under ~900 MiB resident (876 MiB peak over a 200,000-event catch-up,
against 1,050-1,190 MiB before) for ~10 % of its ingest rate; either change alone moved the
peak by less than the run-to-run noise (bench/RESULTS.md, "Bringing the consumer under 1 GB").

jemalloc reads ``JE_MALLOC_CONF`` once, when chDB's library is loaded, so :func:`connect` sets it
only for that moment and only when the operator has not set it (theirs wins, e.g.
``JE_MALLOC_CONF=dirty_decay_ms:5000`` restores chDB's own default).  The variable is put back
as it was afterwards, so the commands and jobs a Pedigree process starts do not inherit it.  It
does nothing for a ClickHouse server (``http://``), whose memory is not the process's, or once
chDB is loaded.  ``SELECT * FROM system.jemalloc_stats`` shows the setting in effect.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["ENGINE_ALLOCATOR", "ENGINE_ALLOCATOR_ENV", "connect"]

ENGINE_ALLOCATOR_ENV = "JE_MALLOC_CONF"
ENGINE_ALLOCATOR = "dirty_decay_ms:0,muzzy_decay_ms:0"


def connect(dsn: str, **options: Any) -> Any:
    """``clickhouse_connect.get_client(dsn=dsn, **options)``; for ``chdb://``, with chDB's
    allocator set to return freed memory at once (unless set by the operator or too late)."""
    import clickhouse_connect

    if not dsn.startswith("chdb://") or "chdb" in sys.modules:
        return clickhouse_connect.get_client(dsn=dsn, **options)
    previous = os.environ.get(ENGINE_ALLOCATOR_ENV)
    if previous is None:
        os.environ[ENGINE_ALLOCATOR_ENV] = ENGINE_ALLOCATOR
    try:
        return clickhouse_connect.get_client(dsn=dsn, **options)
    finally:
        if previous is None:
            os.environ.pop(ENGINE_ALLOCATOR_ENV, None)
