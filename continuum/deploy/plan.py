"""The Kafka access plan of the network, derived from the provider directory (the one truth).

Every provider `X` gets a SCRAM user `X`, its topic `providers.X.events`, the right to write (and
describe) topics under the prefix `providers.X.`, and the right to read its own feedback topic
`providers.X.feedback` (contract v1.1) and nothing else. The pipeline's user alone reads every provider
topic (prefix `providers.`), writes `pipeline.dead-letter` and each provider's feedback topic (literal, one
by one: it never writes a provider's events); the report app's user only sees topics and their offsets.
The plan is plain data, so tests check it without a broker; `render_shell` turns it into the commands
of Kafka's own CLI tools.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.directory import load_directory
from common.names import (
    DEAD_LETTER_TOPIC,
    PROVIDER_TOPIC_PREFIX,
    feedback_topic,
    provider_prefix,
    provider_topic,
)
from common.settings import Settings

#: The broker's super user: it exists from the moment storage is formatted (infra/kafka/start.sh) and
#: is the only principal the init step uses. Providers and the pipeline never get it.
ADMIN_USER = "admin"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int


@dataclass(frozen=True, slots=True)
class Acl:
    """One ALLOW binding, in the words of `kafka-acls.sh`."""

    user: str
    operation: str  # Read, Write, Describe
    resource: str  # topic, group
    pattern: str  # literal, prefixed
    name: str


@dataclass(frozen=True, slots=True)
class AccessPlan:
    users: tuple[str, ...]
    topics: tuple[TopicSpec, ...]
    acls: tuple[Acl, ...]

    def __add__(self, other: AccessPlan) -> AccessPlan:
        return AccessPlan(self.users + other.users, self.topics + other.topics, self.acls + other.acls)


class PlanError(ValueError):
    """The directory and the deployment's principals disagree; the message says how."""


def provider_plan(provider_id: str, settings: Settings) -> AccessPlan:
    """What one provider needs: its user, its topics, write access to its own prefix only, read access to
    its own feedback only; and the pipeline's right to write that feedback."""
    if provider_id in (ADMIN_USER, settings.kafka_pipeline_username, settings.kafka_monitor_username):
        raise PlanError(f"provider id {provider_id!r} collides with a reserved Kafka principal; rename it")
    prefix, feedback = provider_prefix(provider_id), feedback_topic(provider_id)
    return AccessPlan(
        users=(provider_id,),
        topics=(
            TopicSpec(provider_topic(provider_id), settings.topic_partitions, settings.topic_replication),
            TopicSpec(feedback, settings.topic_partitions, settings.topic_replication),
        ),
        acls=(
            Acl(provider_id, "Write", "topic", "prefixed", prefix),
            Acl(provider_id, "Describe", "topic", "prefixed", prefix),
            Acl(provider_id, "Read", "topic", "literal", feedback),
            Acl(settings.kafka_pipeline_username, "Write", "topic", "literal", feedback),
        ),
    )


def pipeline_plan(settings: Settings) -> AccessPlan:
    """The pipeline reads every provider topic and writes the dead letters; no provider can do either."""
    user = settings.kafka_pipeline_username
    return AccessPlan(
        users=(user,),
        topics=(TopicSpec(DEAD_LETTER_TOPIC, settings.topic_partitions, settings.topic_replication),),
        acls=(
            Acl(user, "Read", "topic", "prefixed", PROVIDER_TOPIC_PREFIX),
            Acl(user, "Describe", "topic", "prefixed", PROVIDER_TOPIC_PREFIX),
            Acl(user, "Write", "topic", "literal", DEAD_LETTER_TOPIC),
            Acl(user, "Describe", "topic", "literal", DEAD_LETTER_TOPIC),
        ),
    )


def monitor_plan(settings: Settings) -> AccessPlan:
    """The report app's principal sees topics and their end offsets (lag), never a message."""
    user = settings.kafka_monitor_username
    return AccessPlan(
        users=(user,),
        topics=(),
        acls=(
            Acl(user, "Describe", "topic", "prefixed", PROVIDER_TOPIC_PREFIX),
            Acl(user, "Describe", "topic", "literal", DEAD_LETTER_TOPIC),
        ),
    )


def network_plan(settings: Settings) -> AccessPlan:
    """The whole network: the pipeline, the monitor, then every provider of the directory in file order."""
    plan = pipeline_plan(settings) + monitor_plan(settings)
    for provider_id in load_directory(settings.provider_directory):
        plan = plan + provider_plan(provider_id, settings)
    return plan
