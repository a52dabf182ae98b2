"""Pedigree: where did this model come from, and how do I run it again?

Training code uses the run API::

    import pedigree

    with pedigree.run("train", namespace="vision", params=cfg) as run:
        run.input("data/train.parquet")
        ...
        run.model("model.pt", name="detector", version="12", metrics={"mAP": 0.61})

    @pedigree.step
    def prepare(): ...

The ``pedigree`` command lives in :mod:`pedigree.cli`.  The names below are imported on first
use, so ``import pedigree`` (and the command) stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Run", "__version__", "current_run", "emitter", "run", "step"]

if TYPE_CHECKING:
    from emitters.client import get_emitter as emitter
    from emitters.sdk import Run, current_run, run, step

_LAZY = {
    "run": ("emitters.sdk", "run"),
    "step": ("emitters.sdk", "step"),
    "current_run": ("emitters.sdk", "current_run"),
    "Run": ("emitters.sdk", "Run"),
    "emitter": ("emitters.client", "get_emitter"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'pedigree' has no attribute {name!r}")
