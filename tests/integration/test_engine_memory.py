"""The embedded engine's allocator, as :func:`consumers.engine_memory.connect` sets it up.

Each case runs in its own process: chDB's jemalloc reads its settings once, when the library
loads, and this test process loaded it long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from consumers.engine_memory import ENGINE_ALLOCATOR_ENV

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json, os, re, sys
from consumers.engine_memory import connect
client = connect(sys.argv[1])
rows = client.query("SELECT * FROM system.jemalloc_stats").result_rows
stats = "".join(str(row[0]) for row in rows)
decay = re.search(r"opt\\.dirty_decay_ms: (-?\\d+)", stats)
print(json.dumps({
    "dirty_decay_ms": int(decay.group(1)) if decay else None,
    "env_after": os.environ.get("JE_MALLOC_CONF"),
}))
"""


def _probe(dsn: str, env_value: str | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != ENGINE_ALLOCATOR_ENV}
    if env_value is not None:
        env[ENGINE_ALLOCATOR_ENV] = env_value
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, dsn],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_embedded_engine_returns_freed_memory_at_once(tmp_path: Path) -> None:
    result = _probe(f"chdb://{tmp_path}", None)
    # chDB's own default is 5000 ms: the setting reached its allocator
    assert result["dirty_decay_ms"] == 0
    # and was put back: commands and jobs the process starts do not inherit it
    assert result["env_after"] is None


def test_the_operators_allocator_settings_win(tmp_path: Path) -> None:
    result = _probe(f"chdb://{tmp_path}", "dirty_decay_ms:7000")
    assert result["dirty_decay_ms"] == 7000
    assert result["env_after"] == "dirty_decay_ms:7000"


def test_a_clickhouse_server_url_leaves_the_environment_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from consumers.engine_memory import connect

    monkeypatch.delenv(ENGINE_ALLOCATOR_ENV, raising=False)
    seen: list[str | None] = []

    def get_client(**options: object) -> str:
        seen.append(os.environ.get(ENGINE_ALLOCATOR_ENV))
        return f"client for {options['dsn']}"

    monkeypatch.setattr("clickhouse_connect.get_client", get_client)
    assert connect("http://clickhouse:8123") == "client for http://clickhouse:8123"
    assert seen == [None]
    assert ENGINE_ALLOCATOR_ENV not in os.environ
