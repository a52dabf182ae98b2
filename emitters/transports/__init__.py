"""Transports: one module per kind behind the small interface in :mod:`.base`.

``create_transport(config, spool, stats)`` picks the one ``config.transport`` names; the Kafka
client is imported only when the ``kafka`` transport is used.
"""

from __future__ import annotations

from emitters.config import EmitterConfig
from emitters.transports.base import EmitterStats, Fallback, Transport

__all__ = ["EmitterStats", "Fallback", "Transport", "create_transport"]


def create_transport(config: EmitterConfig, spool: Fallback, stats: EmitterStats) -> Transport:
    from emitters.transports.simple import ConsoleTransport, NoopTransport, SpoolTransport

    if config.disabled or config.transport == "noop":
        return NoopTransport()
    if config.transport == "kafka":
        from emitters.transports.kafka import KafkaTransport

        return KafkaTransport(config, spool, stats)
    if config.transport == "http":
        from emitters.transports.http import HttpTransport

        return HttpTransport(config, spool, stats)
    if config.transport == "console":
        return ConsoleTransport()
    return SpoolTransport(spool)
