"""Feedback to providers (contract v1.1): `providers.<id>.feedback`, one message for each of the provider's
messages that the pipeline refused (a dead letter) or held back (a quarantined record).

A feedback message tells the provider which of its messages it was (topic, partition, offset, and the key
it sent) and why, with the same `error.*` headers as a dead letter. Its value is a small JSON object with
the same facts, so that a provider's tool can read it without parsing headers. It never carries a value
from the refused message's `data`: the detail names fields and rules, never what was in them.

Feedback is best effort and never holds landing back: a dead letter is the record of a refusal, and the
lander commits a batch once its dead letters are acknowledged, whatever happens to its feedback. A provider
whose feedback topic does not exist yet (`continuum topics` creates them) gets none, and the lander says so
once per topic.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from common.names import feedback_topic, provider_of_topic
from common.settings import Settings
from streams.kafka import client_config

log = logging.getLogger(__name__)

#: The headers of a dead letter and of a feedback message, in this order (events-v1.md, section 1).
ERROR_HEADERS = (
    "error.topic",
    "error.partition",
    "error.offset",
    "error.stage",
    "error.reason",
    "error.detail",
)


@dataclass(frozen=True, slots=True)
class Feedback:
    """One refused or held-back message, as its provider is told."""

    topic: str
    partition: int
    offset: int
    stage: str
    reason: str
    detail: str
    #: When the pipeline refused or held it back (UTC, ISO 8601).
    at: str

    @property
    def provider_id(self) -> str | None:
        return provider_of_topic(self.topic)

    def headers(self) -> list[tuple[str, bytes]]:
        values = (self.topic, self.partition, self.offset, self.stage, self.reason, self.detail)
        return [(name, str(value).encode()) for name, value in zip(ERROR_HEADERS, values, strict=True)]

    def value(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_value(cls, value: bytes) -> Feedback:
        return cls(**orjson.loads(value))

    def line(self) -> str:
        """One line for a terminal: where the message was, and why it was not accepted."""
        return (
            f"{self.at}  {self.topic}[{self.partition}] offset {self.offset}  "
            f"{self.stage}/{self.reason}: {self.detail}"
        )


def feedback_now(topic: str, partition: int, offset: int, stage: str, reason: str, detail: str) -> Feedback:
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Feedback(topic, partition, offset, stage, reason, detail, at)


class FeedbackSender:
    """Sends feedback through a producer the caller owns (the lander's dead-letter producer), only to
    feedback topics that exist: a send to a missing topic would block on metadata, and landing must not
    wait for a provider's feedback topic."""

    def __init__(self) -> None:
        self._existing: frozenset[str] = frozenset()
        self._missing_said: set[str] = set()

    def topics_are(self, topic_names: set[str] | frozenset[str]) -> None:
        """The topics the broker has now (the lander lists them periodically)."""
        self._existing = frozenset(t for t in topic_names if t.endswith(".feedback"))

    def send(self, producer: KafkaProducer, key: bytes | None, feedback: Feedback) -> None:
        provider_id = feedback.provider_id
        if provider_id is None:
            return  # not a provider's topic: nobody to tell
        topic = feedback_topic(provider_id)
        if topic not in self._existing:
            if topic not in self._missing_said:
                self._missing_said.add(topic)
                log.warning(
                    "no feedback to %s: its topic %s does not exist (continuum topics)", provider_id, topic
                )
            return
        future = producer.send(topic, key=key, value=feedback.value(), headers=feedback.headers())
        future.add_errback(_log_failed_send, topic)


def send_feedback(settings: Settings, feedback: list[Feedback], timeout_s: float = 30.0) -> int:
    """Send `feedback` from a process that has no producer of its own (the pipeline's held-back records);
    returns how many went to an existing feedback topic. Raises KafkaError if the broker cannot be
    reached, so that the caller can try again later."""
    from kafka import KafkaAdminClient

    timeout_ms = int(settings.land_broker_timeout_seconds * 1000)
    admin = KafkaAdminClient(
        **client_config(
            settings,
            client_id="continuum-feedback-topics",
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
    )
    try:
        existing = set(admin.list_topics())
    finally:
        admin.close()
    sender = FeedbackSender()
    sender.topics_are(existing)
    producer = KafkaProducer(**client_config(settings, client_id="continuum-feedback", acks="all"))
    try:
        for item in feedback:
            sender.send(producer, None, item)
        producer.flush(timeout=timeout_s)
    finally:
        producer.close(timeout=timeout_s)
    return sum(1 for item in feedback if item.provider_id and feedback_topic(item.provider_id) in existing)


def _log_failed_send(error: BaseException, topic: str) -> None:
    log.warning("feedback to %s not delivered: %s (the dead letter is kept either way)", topic, error)


def read_feedback(
    settings: Settings, provider_id: str, follow: bool = False, idle_timeout_s: float = 2.0
) -> Iterator[Feedback]:
    """The provider's feedback from the start of its topic; with `follow`, waits for more until stopped.

    Reads by assignment, not in a consumer group: a provider's principal is granted Read on its own
    feedback topic only (continuum/deploy/plan.py), and a reader of feedback commits nothing."""
    topic = feedback_topic(provider_id)
    consumer = KafkaConsumer(
        **client_config(
            settings,
            client_id=f"continuum-feedback-{provider_id}",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            allow_auto_create_topics=False,
        )
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise LookupError(f"no topic {topic}: `continuum topics` creates it for every provider")
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        consumer.seek_to_beginning()
        idle_since = None
        while True:
            batches = consumer.poll(timeout_ms=200)
            records = sorted((r for rs in batches.values() for r in rs), key=lambda r: r.timestamp)
            for record in records:
                yield Feedback.from_value(record.value)
            if records:
                idle_since = None
            elif not follow:
                # Caught up: every partition's position reached the end the last fetch reported.
                idle_since = idle_since or datetime.now(UTC)
                if _caught_up(consumer) or (datetime.now(UTC) - idle_since).total_seconds() > idle_timeout_s:
                    return
    finally:
        consumer.close()


def _caught_up(consumer: KafkaConsumer) -> bool:
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        if highwater is None or consumer.position(tp) < highwater:
            return False
    return True
