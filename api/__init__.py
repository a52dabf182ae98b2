"""Pedigree's HTTP API (FastAPI): OpenLineage ingest, lineage graphs, provenance, rerun specs."""

from pedigree import __version__

__all__ = ["__version__"]
