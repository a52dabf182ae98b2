"""EmitterConfig: PEDIGREE_* variables, validated at start with the variable named."""

from __future__ import annotations

from pathlib import Path

import pytest

from emitters.config import ENV_VARS, ConfigError, EmitterConfig


def test_defaults_are_the_embedded_spool() -> None:
    config = EmitterConfig.from_env({})
    assert config.transport == "spool"
    assert config.sample_interval == 15.0
    assert config.spool_dir.name == "spool"


def test_environment_variables_set_every_field() -> None:
    env = {
        "PEDIGREE_KAFKA_BOOTSTRAP": "broker:9092",
        "PEDIGREE_KAFKA_TOPIC": "lineage",
        "PEDIGREE_QUEUE_SIZE": "2_000",
        "PEDIGREE_FLUSH_TIMEOUT": "1.5",
        "PEDIGREE_DISABLED": "no",
        "PEDIGREE_SPOOL_DIR": "~/spool",
        "PEDIGREE_ENV_ALLOWLIST": "CUDA_*, SEED",
        "PEDIGREE_TEAM": "vision",
    }
    config = EmitterConfig.from_env(env)
    assert config.transport == "kafka"  # a bootstrap server alone means Kafka
    assert config.kafka_settings()["bootstrap.servers"] == "broker:9092"
    assert (config.kafka_topic, config.queue_size, config.flush_timeout) == ("lineage", 2000, 1.5)
    assert config.disabled is False
    assert config.spool_dir == Path("~/spool").expanduser()
    assert config.env_allowlist == ("CUDA_*", "SEED")
    assert config.team == "vision"
    assert set(ENV_VARS) == set(EmitterConfig.__dataclass_fields__)


def test_code_overrides_win_over_the_environment() -> None:
    config = EmitterConfig.from_env({"PEDIGREE_NAMESPACE": "env"}, namespace="code")
    assert config.namespace == "code"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PEDIGREE_TRANSPORT": "carrier-pigeon"}, "PEDIGREE_TRANSPORT='carrier-pigeon': must be"),
        ({"PEDIGREE_TRANSPORT": "kafka"}, "needs PEDIGREE_KAFKA_BOOTSTRAP"),
        ({"PEDIGREE_TRANSPORT": "http"}, "needs PEDIGREE_HTTP_URL"),
        ({"PEDIGREE_QUEUE_SIZE": "lots"}, "PEDIGREE_QUEUE_SIZE='lots': invalid literal"),
        ({"PEDIGREE_QUEUE_SIZE": "0"}, "PEDIGREE_QUEUE_SIZE=0: must be at least 1"),
        ({"PEDIGREE_DISABLED": "maybe"}, "PEDIGREE_DISABLED='maybe': expected true or false"),
        ({"PEDIGREE_SAMPLE_INTERVAL": "-1"}, "PEDIGREE_SAMPLE_INTERVAL=-1.0: must not be negative"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EmitterConfig.from_env(env)


def test_secrets_never_appear_in_errors_or_repr() -> None:
    config = EmitterConfig.from_env(
        {
            "PEDIGREE_KAFKA_BOOTSTRAP": "b:9092",
            "PEDIGREE_KAFKA_SASL_PASSWORD": "hunter2",
            "PEDIGREE_KAFKA_SSL_KEY_PASSWORD": "keypass7",
        }
    )
    assert "hunter2" not in repr(config)
    assert "keypass7" not in repr(config)
    assert config.kafka_settings()["sasl.password"] == "hunter2"
    assert config.kafka_settings()["ssl.key.password"] == "keypass7"
    with pytest.raises(ConfigError) as caught:
        EmitterConfig.from_env({"PEDIGREE_QUEUE_SIZE": "x", "PEDIGREE_HTTP_TOKEN": "s3cret"})
    assert "s3cret" not in str(caught.value)


def test_mutual_tls_settings_reach_librdkafka() -> None:
    config = EmitterConfig.from_env(
        {
            "PEDIGREE_KAFKA_BOOTSTRAP": "b:9093",
            "PEDIGREE_KAFKA_SECURITY_PROTOCOL": "SSL",
            "PEDIGREE_KAFKA_SSL_CA_LOCATION": "/etc/kafka/ca.pem",
            "PEDIGREE_KAFKA_SSL_CERTIFICATE_LOCATION": "/etc/kafka/client.pem",
            "PEDIGREE_KAFKA_SSL_KEY_LOCATION": "/etc/kafka/client.key",
        }
    )
    assert config.kafka_settings() == {
        "bootstrap.servers": "b:9093",
        "security.protocol": "SSL",
        "ssl.ca.location": "/etc/kafka/ca.pem",
        "ssl.certificate.location": "/etc/kafka/client.pem",
        "ssl.key.location": "/etc/kafka/client.key",
    }
