"""Pedigree: where did this model come from, and how do I run it again?

The ``pedigree`` command lives in :mod:`pedigree.cli`; the library training jobs import is the
``emitters`` package, and the backend is ``consumers`` (ClickHouse) and ``api`` (FastAPI).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
