"""The emitter's configuration: one settings object, from code and ``PEDIGREE_*`` variables.

``EmitterConfig.from_env()`` reads the environment and refuses a bad value at start with a
:class:`ConfigError` naming the variable and the value (never a secret's value).  Code can pass
any field explicitly; explicit values win over the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from emitters.errors import PedigreeError

__all__ = ["DEFAULT_ENV_ALLOWLIST", "ENV_VARS", "TRANSPORTS", "ConfigError", "EmitterConfig"]

TRANSPORTS = ("kafka", "spool", "http", "console", "noop")

DEFAULT_ENV_ALLOWLIST = (
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "PYTHONHASHSEED",
    "WORLD_SIZE",
    "RANK",
    "LOCAL_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCH_*",
    "NCCL_*",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
)
"""Environment variables recorded on a run by default (shell-style patterns)."""


class ConfigError(PedigreeError):
    """A configuration value Pedigree cannot use; the message names the variable."""


def _default_spool_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pedigree" / "spool"


@dataclass(frozen=True)
class EmitterConfig:
    """Everything the emitter can be told.  Field -> environment variable: see ``ENV_VARS``."""

    disabled: bool = False
    transport: str = "spool"
    namespace: str = "default"
    team: str | None = None
    # kafka
    kafka_bootstrap: str | None = None
    kafka_topic: str = "openlineage.events"
    kafka_security_protocol: str | None = None
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = field(default=None, repr=False)
    kafka_ssl_ca_location: str | None = None
    kafka_ssl_certificate_location: str | None = None
    kafka_ssl_key_location: str | None = None
    kafka_ssl_key_password: str | None = field(default=None, repr=False)
    # spool
    spool_dir: Path = field(default_factory=_default_spool_dir)
    spool_max_bytes: int = 1024 * 1024 * 1024
    # http
    http_url: str | None = None
    http_token: str | None = field(default=None, repr=False)
    # delivery
    queue_size: int = 10_000
    flush_timeout: float = 5.0
    # capture
    sample_interval: float = 15.0
    env_allowlist: tuple[str, ...] = DEFAULT_ENV_ALLOWLIST
    max_packages: int = 1000

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ConfigError(
                f"PEDIGREE_TRANSPORT={self.transport!r}: must be one of {', '.join(TRANSPORTS)}"
            )
        if self.transport == "kafka" and not self.kafka_bootstrap:
            raise ConfigError("PEDIGREE_TRANSPORT=kafka needs PEDIGREE_KAFKA_BOOTSTRAP=host:port")
        if self.transport == "http" and not self.http_url:
            raise ConfigError("PEDIGREE_TRANSPORT=http needs PEDIGREE_HTTP_URL")
        for name in ("queue_size", "spool_max_bytes", "max_packages"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{ENV_VARS[name]}={getattr(self, name)}: must be at least 1")
        for name in ("flush_timeout", "sample_interval"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{ENV_VARS[name]}={getattr(self, name)}: must not be negative")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> EmitterConfig:
        """Settings from ``PEDIGREE_*`` variables, with explicit ``overrides`` on top."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_VARS[f.name])
            if raw is not None and raw.strip() != "":
                values[f.name] = _parse(f.name, raw.strip())
        # A bootstrap server alone means Kafka, unless a transport is named.
        if "transport" not in values and "kafka_bootstrap" in values:
            values["transport"] = "kafka"
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_overrides(self, **overrides: Any) -> EmitterConfig:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def kafka_settings(self) -> dict[str, str]:
        """librdkafka settings for this configuration (secrets included: never log them)."""
        settings = {"bootstrap.servers": self.kafka_bootstrap or ""}
        optional = {
            "security.protocol": self.kafka_security_protocol,
            "sasl.mechanism": self.kafka_sasl_mechanism,
            "sasl.username": self.kafka_sasl_username,
            "sasl.password": self.kafka_sasl_password,
            "ssl.ca.location": self.kafka_ssl_ca_location,
            # mutual TLS: the client's certificate and private key (PEM files)
            "ssl.certificate.location": self.kafka_ssl_certificate_location,
            "ssl.key.location": self.kafka_ssl_key_location,
            "ssl.key.password": self.kafka_ssl_key_password,
        }
        settings.update({k: v for k, v in optional.items() if v})
        return settings


ENV_VARS: dict[str, str] = {
    "disabled": "PEDIGREE_DISABLED",
    "transport": "PEDIGREE_TRANSPORT",
    "namespace": "PEDIGREE_NAMESPACE",
    "team": "PEDIGREE_TEAM",
    "kafka_bootstrap": "PEDIGREE_KAFKA_BOOTSTRAP",
    "kafka_topic": "PEDIGREE_KAFKA_TOPIC",
    "kafka_security_protocol": "PEDIGREE_KAFKA_SECURITY_PROTOCOL",
    "kafka_sasl_mechanism": "PEDIGREE_KAFKA_SASL_MECHANISM",
    "kafka_sasl_username": "PEDIGREE_KAFKA_SASL_USERNAME",
    "kafka_sasl_password": "PEDIGREE_KAFKA_SASL_PASSWORD",
    "kafka_ssl_ca_location": "PEDIGREE_KAFKA_SSL_CA_LOCATION",
    "kafka_ssl_certificate_location": "PEDIGREE_KAFKA_SSL_CERTIFICATE_LOCATION",
    "kafka_ssl_key_location": "PEDIGREE_KAFKA_SSL_KEY_LOCATION",
    "kafka_ssl_key_password": "PEDIGREE_KAFKA_SSL_KEY_PASSWORD",
    "spool_dir": "PEDIGREE_SPOOL_DIR",
    "spool_max_bytes": "PEDIGREE_SPOOL_MAX_BYTES",
    "http_url": "PEDIGREE_HTTP_URL",
    "http_token": "PEDIGREE_HTTP_TOKEN",
    "queue_size": "PEDIGREE_QUEUE_SIZE",
    "flush_timeout": "PEDIGREE_FLUSH_TIMEOUT",
    "sample_interval": "PEDIGREE_SAMPLE_INTERVAL",
    "env_allowlist": "PEDIGREE_ENV_ALLOWLIST",
    "max_packages": "PEDIGREE_MAX_PACKAGES",
}
"""Configuration field -> the environment variable that sets it."""

_SECRETS = frozenset({"kafka_sasl_password", "kafka_ssl_key_password", "http_token"})
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _parse(name: str, raw: str) -> Any:
    var = ENV_VARS[name]
    shown = "<hidden>" if name in _SECRETS else repr(raw)
    kind = EmitterConfig.__dataclass_fields__[name].type
    try:
        if kind == "bool":
            if raw.lower() not in _TRUE | _FALSE:
                raise ValueError("expected true or false")
            return raw.lower() in _TRUE
        if kind == "int":
            return int(raw.replace("_", ""))
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw).expanduser()
        if kind == "tuple[str, ...]":
            return tuple(item.strip() for item in raw.split(",") if item.strip())
    except ValueError as err:
        raise ConfigError(f"{var}={shown}: {err}") from err
    return raw
