"""The exceptions of the event contract, shared by emitters, consumers and the API.

``PedigreeError`` is the root of every error Pedigree raises on purpose.  ``InvalidEvent`` is
the one error for "this is not an event we accept": invalid OpenLineage JSON, and Avro wire
bytes that are truncated, of an unknown schema, oversized or otherwise undecodable.  It says
*where* (``field``, a dotted path such as ``run.runId`` or ``inputs[0].facets.schema``) and
*why* (``reason``), so a dead-letter header or an HTTP 4xx can name the problem.
"""

from __future__ import annotations

__all__ = ["InvalidEvent", "PedigreeError"]


class PedigreeError(Exception):
    """Root of the exceptions Pedigree raises on purpose."""


class InvalidEvent(PedigreeError):
    """An event (OpenLineage JSON or Avro wire bytes) that Pedigree does not accept.

    ``field`` is the dotted path of the offending value, or ``None`` when the problem is the
    message as a whole (wrong magic bytes, unknown schema fingerprint, oversized, truncated).
    """

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason)
