"""The README's configuration tables say what the code reads: every ``PEDIGREE_*`` variable of
the package sources, none that the code does not read, and the emitter's and the API's defaults.

(The README's code samples are run by ``tests/unit/test_docs_samples.py``.)
"""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from api.settings import ENVIRONMENT as API_LIMITS
from api.settings import ApiLimits
from emitters.config import ENV_VARS, EmitterConfig

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SOURCES = ("api", "consumers", "emitters", "pedigree", "deploy")

# Read by the code, but not configuration: fault injection for the crash tests
# (tests/integration/test_kafka_consumer_crashes.py), named in the README's prose instead.
NOT_CONFIGURATION = {"PEDIGREE_TEST_CRASH_AT": "consumers/kafka_consumer.py"}

# A name followed by `*` (`PEDIGREE_KAFKA_SASL_*` in a --help text) is a family, not a variable.
_VARIABLE = re.compile(r"\bPEDIGREE_[A-Z0-9_]+\b(?!\*)")
_ROW = re.compile(r"^\| `(PEDIGREE_[A-Z0-9_]+)` \| ([^|]*) \|", flags=re.MULTILINE)


def variables_in_sources() -> dict[str, str]:
    """Every ``PEDIGREE_*`` name in the package sources -> the first file that names it."""
    found: dict[str, str] = {}
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for name in _VARIABLE.findall(path.read_text(encoding="utf-8")):
                found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def documented() -> dict[str, str]:
    """README table rows: variable -> its default cell."""
    return {name: default.strip() for name, default in _ROW.findall(README)}


def test_every_variable_the_code_reads_is_in_a_configuration_table() -> None:
    in_code = variables_in_sources()
    assert set(NOT_CONFIGURATION) <= set(in_code), "a listed exclusion is no longer in the code"
    missing = {n: f for n, f in in_code.items() if n not in documented()}
    missing = {n: f for n, f in missing.items() if n not in NOT_CONFIGURATION}
    assert not missing, f"PEDIGREE_* variables read by the code but not in README.md: {missing}"


def test_every_documented_variable_is_read_by_the_code() -> None:
    stale = sorted(set(documented()) - set(variables_in_sources()))
    assert not stale, f"README.md documents variables no code reads: {stale}"
    assert set(ENV_VARS.values()) | set(API_LIMITS.values()) <= set(documented())


def _first_value(cell: str) -> str | None:
    """The first backticked value of a default cell (``—``: no default)."""
    if cell.startswith("—"):
        return None
    match = re.search(r"`([^`]*)`", cell)
    assert match is not None, f"a default cell names its value in backticks: {cell!r}"
    return match.group(1)


def _defaults() -> list[tuple[str, object]]:
    pairs: list[tuple[str, object]] = []
    for f in fields(EmitterConfig):
        if f.default is not MISSING and not isinstance(f.default, tuple):
            pairs.append((ENV_VARS[f.name], f.default))
    limits = {f.name: f.default for f in fields(ApiLimits)}
    pairs += [(variable, limits[name]) for name, variable in API_LIMITS.items()]
    return pairs


@pytest.mark.parametrize(("variable", "default"), _defaults())
def test_the_documented_default_is_the_codes(variable: str, default: object) -> None:
    shown = _first_value(documented()[variable])
    if default is None:
        assert shown is None, f"{variable}: the code has no default, the README says {shown!r}"
    elif isinstance(default, bool):
        assert shown == str(default).lower(), variable
    elif isinstance(default, int | float):
        assert shown is not None
        assert float(shown.replace(",", "")) == default, variable
    else:
        assert shown == default, variable
