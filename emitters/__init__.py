"""Pedigree emitters: what a training job imports to publish OpenLineage lineage events.

This package stays light: importing it pulls in no web framework and no ClickHouse client.
"""

from emitters.errors import InvalidEvent, PedigreeError

__all__ = ["InvalidEvent", "PedigreeError"]
