"""Node ids of the lineage graph, in Marquez's format, so OpenLineage tooling can read them.

* ``job:<namespace>:<name>`` — a job (all its runs);
* ``dataset:<namespace>:<name>`` — a dataset (all its versions);
* ``dataset:<namespace>:<name>#<version>`` — one dataset version; ``#`` with nothing after it
  is the *unversioned* dataset (events without a ``version`` facet);
* ``run:<runId>`` — one run.

Namespaces often hold colons (``s3://bucket``, ``postgres://host:5432``): as in Marquez, the
namespace ends at the first ``:`` that is not followed by ``//`` or a digit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["MAX_ID_LENGTH", "NodeRef", "parse_node_id"]

MAX_ID_LENGTH = 4096
_SEPARATOR = re.compile(r":(?!//|\d)")

NodeKind = Literal["job", "dataset", "run"]


@dataclass(frozen=True, slots=True)
class NodeRef:
    """A parsed node id; ``version`` is ``None`` for a node that is not version-specific."""

    kind: NodeKind
    namespace: str
    name: str
    version: str | None = None

    @property
    def id(self) -> str:
        if self.kind == "run":
            return f"run:{self.name}"
        text = f"{self.kind}:{self.namespace}:{self.name}"
        return text if self.version is None else f"{text}#{self.version}"

    @property
    def versioned(self) -> bool:
        """A run or a dataset version: a node of the run-level graph."""
        return self.kind == "run" or (self.kind == "dataset" and self.version is not None)

    @classmethod
    def run(cls, run_id: str, namespace: str = "") -> NodeRef:
        """A run node; ``namespace`` is its job's (for tenancy), not part of the id."""
        return cls("run", namespace, run_id)

    @classmethod
    def dataset_version(cls, namespace: str, name: str, version: str) -> NodeRef:
        return cls("dataset", namespace, name, version)

    def __str__(self) -> str:
        return self.id


def parse_node_id(text: str) -> NodeRef:
    """Parse a node id; ``ValueError`` says what is wrong with it."""
    if len(text) > MAX_ID_LENGTH:
        raise ValueError(f"node id is {len(text)} characters, over the {MAX_ID_LENGTH} limit")
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ("job", "dataset", "run"):
        raise ValueError(
            f"node id {text[:100]!r} must start with 'dataset:', 'job:' or 'run:' "
            "(e.g. dataset:s3://bucket:images#v3, job:vision:train, run:<uuid>)"
        )
    if kind == "run":
        if not rest:
            raise ValueError("node id 'run:' needs a run id after the colon")
        return NodeRef("run", "", rest)
    version: str | None = None
    if kind == "dataset" and "#" in rest:
        rest, _, version = rest.rpartition("#")
    match = _SEPARATOR.search(rest)
    if match is None or match.start() == 0 or match.end() == len(rest):
        raise ValueError(
            f"node id {text[:100]!r}: expected {kind}:<namespace>:<name>"
            + ("[#<version>]" if kind == "dataset" else "")
        )
    namespace, name = rest[: match.start()], rest[match.end() :]
    return NodeRef(kind, namespace, name, version)  # type: ignore[arg-type]
