"""The emitter stays light: its install and its imports pull in no backend dependency."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
BACKEND = {"fastapi", "uvicorn", "chdb", "clickhouse-connect", "clickhouse_connect"}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_base_and_emit_installs_pull_no_backend_dependency() -> None:
    project = PYPROJECT["project"]
    base = _names(project["dependencies"])
    assert base == {"fastavro", "confluent-kafka"}
    assert not _names(project["optional-dependencies"]["emit"]) & BACKEND
    assert BACKEND & _names(project["optional-dependencies"]["server"])


def test_importing_the_emitter_codec_imports_no_backend_module() -> None:
    script = (
        "import sys, emitters, emitters.codec, emitters.spool, emitters.kafka_key\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'fastapi', 'uvicorn', 'chdb', 'clickhouse_connect', 'jsonschema', 'openlineage'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_wheel_ships_the_avro_schemas_where_the_codec_looks() -> None:
    wheel = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["force-include"] == {"avro": "emitters/_avro"}
    assert {"emitters", "consumers", "api", "pedigree"} <= set(wheel["packages"])
