"""JSON equality that tells `true`, `1` and `1.0` apart (Python's `==` does not)."""

from __future__ import annotations

from typing import Any


def strictly_equal(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` are the same JSON value with the same JSON types throughout."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strictly_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
