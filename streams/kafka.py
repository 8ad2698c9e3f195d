"""Kafka connection settings and topic set-up, shared by every client the project makes."""

from __future__ import annotations

import logging
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from common.directory import load_directory
from common.names import DEAD_LETTER_TOPIC, provider_topic
from common.settings import Settings

log = logging.getLogger(__name__)


def client_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for any kafka-python client pointed at the configured broker."""
    return {"bootstrap_servers": settings.bootstrap_servers, **security_config(settings), **overrides}


def security_config(settings: Settings) -> dict[str, Any]:
    """kafka-python's TLS and SASL/SCRAM arguments for the configured principal (none for PLAINTEXT)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    if not settings.kafka_username or settings.kafka_password is None:
        raise ValueError(
            f"CONTINUUM_KAFKA_SECURITY_PROTOCOL={protocol} needs CONTINUUM_KAFKA_USERNAME and "
            "CONTINUUM_KAFKA_PASSWORD (or CONTINUUM_KAFKA_PASSWORD_FILE)"
        )
    config: dict[str, Any] = {
        "security_protocol": protocol,
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": settings.kafka_username,
        "sasl_plain_password": settings.kafka_password.get_secret_value(),
    }
    if protocol == "SASL_SSL" and settings.kafka_ssl_cafile is not None:
        config["ssl_cafile"] = str(settings.kafka_ssl_cafile)
    return config


def ensure_topics(settings: Settings, extra_provider_ids: tuple[str, ...] = ()) -> list[str]:
    """Create `providers.<id>.events` for every provider of the directory and `pipeline.dead-letter`.

    Idempotent: topics that exist are left as they are. Returns the topics created now.
    """
    provider_ids = [*load_directory(settings.provider_directory), *extra_provider_ids]
    wanted = [provider_topic(p) for p in provider_ids] + [DEAD_LETTER_TOPIC]
    admin = KafkaAdminClient(**client_config(settings, client_id="continuum-admin"))
    try:
        missing = [t for t in wanted if t not in set(admin.list_topics())]
        created = []
        for topic in missing:
            try:
                admin.create_topics([NewTopic(topic, settings.topic_partitions, 1)])
                created.append(topic)
            except TopicAlreadyExistsError:  # another process won the race: that is fine
                pass
        if created:
            log.info("created %d topics: %s", len(created), ", ".join(created))
        return created
    finally:
        admin.close()
