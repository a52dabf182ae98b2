"""What keeps the documentation honest: its code samples, and the generated API reference.

**Samples.** :func:`samples` reads every fenced code block of ``README.md`` and ``docs/*.md``.
A block's *mode* says how the tests run it, from an HTML comment on the line just before its
opening fence (``<!-- sample: MODE DETAIL -->``); without one, ``python`` and ``sh`` blocks are
``unit`` samples and every other language is an illustration that is not run:

============  ============================================================================
mode          how it is run
============  ============================================================================
(none)        ``tests/unit/test_docs_samples.py``, and again in the integration test
integration   ``tests/integration/test_docs_samples_integration.py`` only (it starts the
              embedded ClickHouse engine, or needs what an earlier integration block made)
kafka         the integration test, against the test broker: ``localhost:9092`` in the block
              becomes its address and ``PEDIGREE_KAFKA_TOPIC`` a fresh topic
server        the integration test starts it in the background (a long-running
              ``pedigree serve``), waits for ``/readyz`` and for the spool to be
              materialized, runs the ``needs-server`` blocks that follow, then stops it
needs-server  the integration test, while the server of the ``server`` block before it is up
output-of     ``output-of CMD``: the block is an excerpt of what ``CMD`` prints; each of its
              lines (white space collapsed, lines holding ``…`` left out) must appear in the
              output, in order
same-as       ``same-as docs/sql.md#QUERY_ID``: a copy of that cookbook query, which
              ``tests/integration/test_sql_cookbook.py`` runs; the copy must be identical
skip          ``skip (REASON)``: not run; the reason is required, and the unit test keeps the
              list of skipped blocks short and explicit
============  ============================================================================

Samples run in a *sandbox*: a temporary directory holding the files the samples assume a
reader has (:data:`SANDBOX_FILES`: a small CSV, a model file, a ``train.py`` that takes
``--lr``), with ``.venv/bin`` first on ``PATH``, no ``PEDIGREE_*`` or ``OTEL_*`` variable from
the caller's environment, and ``PEDIGREE_SPOOL_DIR`` inside the sandbox.  The blocks of one
document share its sandbox and run in order, as a reader would run them.  ``python`` blocks run
in a fresh interpreter (the SDK's emitter is per process), ``sh`` blocks with
``bash -e -o pipefail -c``.  In the integration test the API listens on a free port:
``127.0.0.1:8080`` / ``localhost:8080`` in a block become it, and ``PEDIGREE_API_PORT`` /
``PEDIGREE_API_URL`` name it.

**API reference.** :func:`api_reference` renders ``docs/api-reference.md`` from the
application's OpenAPI document; ``tests/unit/test_docs_api_reference.py`` fails when the
committed file is out of date.  Regenerate it with::

    .venv/bin/python -m tests.docs_tools
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "DOCUMENTS",
    "MODES",
    "ROOT",
    "SANDBOX_FILES",
    "Sample",
    "api_reference",
    "make_sandbox",
    "run_sample",
    "samples",
]

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")))
RUNNABLE = frozenset({"python", "sh"})
MODES = frozenset(
    {"unit", "integration", "kafka", "server", "needs-server", "output-of", "same-as", "skip",
     "illustration"}
)  # fmt: skip
API_REFERENCE = ROOT / "docs" / "api-reference.md"
REGENERATE = ".venv/bin/python -m tests.docs_tools"

_FENCE = re.compile(r"^```(?P<language>\S*)\s*$")
_MARKER = re.compile(r"^<!--\s*sample:\s*(?P<mode>[a-z-]+)\s*(?P<detail>.*?)\s*-->$")

# -- samples -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One fenced code block of a document."""

    document: str
    line: int
    """1-based line of the opening fence."""
    language: str
    code: str
    mode: str
    detail: str
    """A skip's reason (in parentheses), the command of ``output-of``, the query of
    ``same-as``; empty otherwise."""

    @property
    def where(self) -> str:
        return f"{self.document}:{self.line}"

    @property
    def first_line(self) -> str:
        return next((line for line in self.code.splitlines() if line.strip()), "")


def samples(document: str) -> list[Sample]:
    """Every fenced block of ``document`` (a path relative to the project root), in order.

    Raises ``ValueError`` on an unclosed fence, a block without a language, or a marker that
    names an unknown mode or does not fit its block.
    """
    lines = (ROOT / document).read_text(encoding="utf-8").splitlines()
    found: list[Sample] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        start, language = i, fence["language"]
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise ValueError(f"{document}:{start + 1}: unclosed code fence")
        where = f"{document}:{start + 1}"
        if not language:
            raise ValueError(f"{where}: a code block needs a language (```sh, ```text, …)")
        marker = _MARKER.match(lines[start - 1].strip()) if start > 0 else None
        if marker is None and start > 0 and lines[start - 1].lstrip().startswith("<!-- sample"):
            raise ValueError(f"{where}: malformed sample marker {lines[start - 1].strip()!r}")
        mode = marker["mode"] if marker else ("unit" if language in RUNNABLE else "illustration")
        detail = marker["detail"] if marker else ""
        _check_marker(where, language, mode, detail)
        found.append(
            Sample(document, start + 1, language, "\n".join(lines[start + 1 : end]) + "\n",
                   mode, detail)
        )  # fmt: skip
        i = end + 1
    return found


def _check_marker(where: str, language: str, mode: str, detail: str) -> None:
    if mode not in MODES or (mode in ("unit", "illustration") and detail):
        raise ValueError(f"{where}: unknown sample mode {mode!r} (known: {sorted(MODES)})")
    if mode == "skip" and not re.fullmatch(r"\(\S.*\)", detail):
        raise ValueError(f"{where}: a skipped sample says why: <!-- sample: skip (REASON) -->")
    if mode == "same-as" and not re.fullmatch(r"docs/sql\.md#[a-z0-9_]+", detail):
        raise ValueError(f"{where}: same-as names a cookbook query: docs/sql.md#QUERY_ID")
    if mode == "output-of" and not detail:
        raise ValueError(f"{where}: output-of names the command whose output the block shows")
    runs_code = mode in ("unit", "integration", "kafka", "server", "needs-server")
    if runs_code and language not in RUNNABLE:
        raise ValueError(f"{where}: only python and sh blocks run, not {language!r}")


def cookbook_queries() -> dict[str, str]:
    """The SQL blocks of ``docs/sql.md`` by their ``<!-- query: ID -->`` id."""
    text = (ROOT / "docs" / "sql.md").read_text(encoding="utf-8")
    pattern = r"<!-- query: ([a-z0-9_]+) -->\n```sql\n(.*?)```"
    return dict(re.findall(pattern, text, flags=re.DOTALL))


def excerpt_missing(excerpt: str, output: str) -> list[str]:
    """The lines of ``excerpt`` not found in ``output`` in order (white space collapsed; lines
    holding ``…`` are elisions and left out)."""
    have = [" ".join(line.split()) for line in output.splitlines()]
    position, missing = 0, []
    for line in excerpt.splitlines():
        want = " ".join(line.split())
        if not want or "…" in want:
            continue
        try:
            position = have.index(want, position) + 1
        except ValueError:
            missing.append(line)
    return missing


# -- running them ------------------------------------------------------------------------------

SANDBOX_FILES = {
    "data/train.csv": "temperature,vibration,fault\n71.5,0.02,0\n88.1,0.31,1\n69.9,0.01,0\n",
    "data/labels.csv": "id,label\n1,ok\n2,fault\n",
    "models/detector.pt": "weights\n",
    "train.py": '''\
"""A stand-in for the reader's training script: reads data/train.csv, writes a model."""

import argparse
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
args = parser.parse_args()
rows = Path("data/train.csv").read_text().splitlines()[1:]
Path("models").mkdir(exist_ok=True)
Path("models/detector.pt").write_text(f"weights lr={args.lr} rows={len(rows)}\\n")
print(f"trained on {len(rows)} rows with lr={args.lr}")
''',
}
"""The files a sample may assume the reader has (paths relative to the sandbox)."""


def make_sandbox(directory: Path) -> dict[str, str]:
    """Fill ``directory`` with :data:`SANDBOX_FILES`; return the environment samples run in."""
    for name, text in SANDBOX_FILES.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEDIGREE_", "OTEL_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PEDIGREE_SPOOL_DIR"] = str(directory / "spool")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def command(sample: Sample, code: str) -> list[str]:
    """The argv that runs ``code``, the text of ``sample`` (perhaps rewritten)."""
    if sample.language == "python":
        return [sys.executable, "-c", code]
    return ["bash", "-e", "-o", "pipefail", "-c", code]


def run_sample(
    sample: Sample,
    sandbox: Path,
    env: dict[str, str],
    code: str | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """Run ``sample`` (or ``code``, its rewritten text) in ``sandbox``; raise AssertionError
    with its output when it fails."""
    result = subprocess.run(
        command(sample, sample.code if code is None else code), cwd=sandbox, env=env,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise AssertionError(
            f"the sample at {sample.where} failed (exit {result.returncode}):\n{sample.code}\n"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


def check_output_of(sample: Sample, sandbox: Path, env: dict[str, str]) -> None:
    """Run the command an ``output-of`` block quotes and check the block is an excerpt of it."""
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", sample.detail.strip("`")], cwd=sandbox, env=env,
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{sample.where}: {sample.detail} failed:\n{result.stderr}"
    missing = excerpt_missing(sample.code, result.stdout)
    assert not missing, f"{sample.where}: not in the output of {sample.detail}: {missing}"


# -- the API reference -------------------------------------------------------------------------


def openapi_document() -> dict[str, Any]:
    """The application's OpenAPI document (default limits, no warehouse or bus needed)."""
    from api.app import create_app
    from api.context import ApiContext
    from api.settings import ApiLimits
    from api.store import Warehouse

    document: dict[str, Any] = create_app(
        ApiContext(Warehouse(None, "pedigree"), None, ApiLimits(), None)
    ).openapi()
    return document


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _type(schema: dict[str, Any]) -> str:
    """A schema as a short type expression: ``string``, ``RunItem[]``, ``integer or null``."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        parts = [_type(s) for s in schema["anyOf"]]
        nullable = "null" in parts
        shown = " or ".join(p for p in parts if p != "null") or "null"
        return f"{shown} or null" if nullable and shown != "null" else shown
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"{_type(schema.get('items', {}))}[]"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {_type(schema['additionalProperties'])}"
    if kind is None:
        return "any"
    extra = [schema["format"]] if "format" in schema else []
    if "maxLength" in schema:
        extra.append(f"≤ {schema['maxLength']} chars")
    return f"{kind} ({', '.join(extra)})" if extra else str(kind)


def _operation(path: str, method: str, op: dict[str, Any]) -> list[str]:
    out = [f"### `{method.upper()} {path}`", "", _cell(op.get("summary", "")), ""]
    if op.get("description"):
        out += [op["description"].strip(), ""]
    parameters = op.get("parameters", [])
    if parameters:
        out += ["| parameter | in | required | type | description |", "|---|---|---|---|---|"]
        for p in parameters:
            out.append(
                f"| `{p['name']}` | {p['in']} | {'yes' if p.get('required') else 'no'} | "
                f"{_cell(_type(p.get('schema', {})))} | {_cell(p.get('description', ''))} |"
            )
        out.append("")
    if "requestBody" in op:
        content = op["requestBody"].get("content", {})
        for media, body in content.items():
            out += [f"Request body (`{media}`): {_type(body.get('schema', {}))}", ""]
    out += ["| status | meaning | body |", "|---|---|---|"]
    for code, response in op.get("responses", {}).items():
        content = response.get("content", {}).get("application/json", {})
        body = _type(content["schema"]) if "schema" in content else ""
        out.append(f"| {code} | {_cell(response.get('description', ''))} | {_cell(body)} |")
    return [*out, ""]


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    out = [f"### {name}", ""]
    if schema.get("description"):
        out += [_cell(schema["description"]), ""]
    properties = schema.get("properties", {})
    if not properties:
        return [*out, f"{_type(schema)}", ""]
    required = set(schema.get("required", []))
    out += ["| field | type | required | description |", "|---|---|---|---|"]
    for field, spec in properties.items():
        out.append(
            f"| `{field}` | {_cell(_type(spec))} | {'yes' if field in required else 'no'} | "
            f"{_cell(spec.get('description', ''))} |"
        )
    return [*out, ""]


def api_reference(document: dict[str, Any] | None = None) -> str:
    """``docs/api-reference.md``: every path, method, parameter, status code and schema."""
    document = openapi_document() if document is None else document
    info = document["info"]
    operations: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            tag = (op.get("tags") or ["other"])[0]
            operations.setdefault(tag, []).append((path, method, op))
    declared = [t["name"] for t in document.get("tags", [])]
    tags = [t for t in declared if t in operations] + sorted(set(operations) - set(declared))
    described = {t["name"]: t.get("description", "") for t in document.get("tags", [])}
    out = [
        "# API reference",
        "",
        f"{info['title']} API {info['version']} (OpenAPI {document['openapi']}). **Generated**",
        "from the application's OpenAPI document by `tests/docs_tools.py`: do not edit by hand;",
        f"regenerate with `{REGENERATE}` (`tests/unit/test_docs_api_reference.py`",
        "fails when this file is out of date). What the endpoints mean — authentication and",
        "tenancy, node ids, traversal, limits — is explained in [api.md](api.md). A running server",
        "serves the same document at `/openapi.json`, and interactive docs at `/docs`.",
        "",
    ]
    for tag in tags:
        out += [f"## {tag}" + (f": {described[tag]}" if described.get(tag) else ""), ""]
        for path, method, op in operations[tag]:
            out += _operation(path, method, op)
    out += ["## Schemas", ""]
    for name, schema in sorted(document.get("components", {}).get("schemas", {}).items()):
        out += _schema(name, schema)
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    API_REFERENCE.write_text(api_reference(), encoding="utf-8")
    print(f"wrote {API_REFERENCE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
