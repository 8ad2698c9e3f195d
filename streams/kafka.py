"""Kafka connection settings and topic set-up, shared by every client the project makes."""

from __future__ import annotations

import logging
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from common.directory import load_directory
from common.names import DEAD_LETTER_TOPIC, feedback_topic, provider_topic
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
    """Create `providers.<id>.events` and `providers.<id>.feedback` for every provider of the directory
    (`extra_provider_ids`: events topics only, for providers outside it), and `pipeline.dead-letter`.

    Idempotent: topics that exist are left as they are. Returns the topics created now.
    """
    provider_ids = [*load_directory(settings.provider_directory), *extra_provider_ids]
    listed = load_directory(settings.provider_directory)
    wanted = (
        [provider_topic(p) for p in provider_ids] + [feedback_topic(p) for p in listed] + [DEAD_LETTER_TOPIC]
    )
    admin = KafkaAdminClient(**client_config(settings, client_id="continuum-admin"))
    try:
        existing = set(admin.list_topics())
        return create_topics(settings, [t for t in wanted if t not in existing], admin=admin)
    finally:
        admin.close()


def create_topics(settings: Settings, names: list[str], admin: KafkaAdminClient | None = None) -> list[str]:
    """Create each topic of `names` with `topic_partitions` partitions and `topic_replication` replicas:
    the one place the project creates topics, so that every topic gets the deployment's replication.

    A topic that exists already is left alone (another process may have won the race). `admin`: a client
    to use (the lander's, with its short timeouts); else one is made and closed. Returns those created."""
    own_admin = admin is None
    if own_admin:
        admin = KafkaAdminClient(**client_config(settings, client_id="continuum-admin"))
    created = []
    try:
        for topic in names:
            try:
                admin.create_topics([NewTopic(topic, settings.topic_partitions, settings.topic_replication)])
                created.append(topic)
            except TopicAlreadyExistsError:
                pass
    finally:
        if own_admin:
            admin.close()
    if created:
        log.info(
            "created %d topics (%d partitions, replication %d): %s",
            len(created),
            settings.topic_partitions,
            settings.topic_replication,
            ", ".join(created),
        )
    return created
