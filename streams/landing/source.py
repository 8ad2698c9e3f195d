"""The Kafka side of landing: the consumer, the list of provider topics, and broker outages.

The lander assigns partitions itself (no consumer group: the landing zone holds the offsets, and group
joins are slow on the embedded broker) and learns where each partition ends from the high watermark that
every fetch response carries (`consumer.highwater`), never from `end_offsets()`: some Kafka-compatible
brokers answer ListOffsets with the start of the last record batch rather than the log end.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from common.names import DEAD_LETTER_TOPIC, is_provider_topic
from common.settings import Settings
from streams.kafka import client_config, create_topics
from streams.landing.unreadable import read_tolerantly

log = logging.getLogger(__name__)

_NO_TOPIC_ID = {"", "00000000-0000-0000-0000-000000000000", "AAAAAAAAAAAAAAAAAAAAAA"}

#: Bigger than kafka-python's defaults (1 MiB a partition, 500 records a poll) so that one poll hands over
#: thousands of records. bench/landing.py's raw-consume ceiling uses the same settings; on the 2-core
#: development machine the drift between runs was larger than any difference these made.
FETCH_CONFIG = {
    "fetch_max_bytes": 64 * 1024 * 1024,
    "max_partition_fetch_bytes": 8 * 1024 * 1024,
    "max_poll_records": 10_000,
}


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    partitions: int
    #: The broker's id of this life of the topic (KIP-516); None when the broker does not give one.
    topic_id: str | None

    def topic_partitions(self) -> list[TopicPartition]:
        return [TopicPartition(self.name, p) for p in range(self.partitions)]


def make_consumer(settings: Settings, client_id: str = "continuum-lander", **overrides) -> KafkaConsumer:
    """A consumer for manual assignment. `auto_offset_reset="none"`: a position the broker no longer has
    is a reset the lander must see and handle, never a silent jump to the start or the end. It reads
    records kafka-python cannot decode as unreadable records instead of failing the fetch (unreadable.py)."""
    config = {
        "client_id": client_id,
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "none",
        # Asking for a topic must never create it: after a broker restart, the lander's metadata requests
        # would recreate provider topics with the broker's default partition count before set-up does.
        "allow_auto_create_topics": False,
        "request_timeout_ms": 30_000,
        **FETCH_CONFIG,
        **overrides,
    }
    consumer = KafkaConsumer(**client_config(settings, **config))
    read_tolerantly(consumer)
    return consumer


class ProviderTopics:
    """Lists the `providers.<id>.events` topics the broker has now, with partitions and topic ids."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._admin: KafkaAdminClient | None = None
        self._dead_letter_topic_exists = False
        #: Every topic of the last listing (the lander sends feedback only to feedback topics in it).
        self.topic_names: frozenset[str] = frozenset()

    def list(self) -> list[TopicInfo]:
        """Raises KafkaError when the broker does not answer within land_broker_timeout_seconds."""
        try:
            described = self._client().describe_topics()
        except KafkaError:
            self.close()  # start afresh next time: the connection may be half dead
            raise
        self._dead_letter_topic_exists = any(t["name"] == DEAD_LETTER_TOPIC for t in described)
        self.topic_names = frozenset(t["name"] for t in described if t.get("error_code", 0) == 0)
        return sorted(
            (
                TopicInfo(t["name"], len(t["partitions"]), _topic_id(t.get("topic_id")))
                for t in described
                if is_provider_topic(t["name"]) and t.get("error_code", 0) == 0
            ),
            key=lambda t: t.name,
        )

    def ensure_dead_letter_topic(self) -> None:
        """Create `pipeline.dead-letter` if the last listing did not have it: dead letters are sent before
        their batch is committed, so a missing topic would hold every batch with a refused message."""
        if self._dead_letter_topic_exists:
            return
        create_topics(self._settings, [DEAD_LETTER_TOPIC], admin=self._client())
        self._dead_letter_topic_exists = True

    def _client(self) -> KafkaAdminClient:
        if self._admin is None:
            timeout_ms = int(self._settings.land_broker_timeout_seconds * 1000)
            self._admin = KafkaAdminClient(
                **client_config(
                    self._settings,
                    client_id="continuum-lander-topics",
                    request_timeout_ms=timeout_ms,
                    bootstrap_timeout_ms=timeout_ms,
                )
            )
        return self._admin

    def close(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            except Exception:  # closing a broken client must not hide the error that broke it
                log.debug("closing the admin client failed", exc_info=True)
            self._admin = None


def _topic_id(value: object) -> str | None:
    text = str(value) if value is not None else ""
    return None if text in _NO_TOPIC_ID else text


class Outage:
    """Tracks an unreachable broker: backs off exponentially and says so once per interval, not per retry."""

    def __init__(self, what: str, log_every_s: float, max_backoff_s: float):
        self.what = what
        self.log_every_s = log_every_s
        self.max_backoff_s = max_backoff_s
        self.since: float | None = None
        self.attempts = 0
        self._last_logged = 0.0

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def failed(self, error: BaseException) -> float:
        """Record a failed attempt; returns how long to wait before the next one."""
        now = time.monotonic()
        if self.since is None:
            self.since = now
        self.attempts += 1
        if now - self._last_logged >= self.log_every_s:
            self._last_logged = now
            log.warning(
                "%s: broker not answering for %.0f s (%d attempts, last error: %s); retrying with backoff",
                self.what,
                now - self.since,
                self.attempts,
                error,
            )
        return min(self.max_backoff_s, 0.5 * 2 ** min(self.attempts, 10))

    def recovered(self) -> None:
        if self.since is not None:
            log.warning(
                "%s: broker answers again after %.0f s (%d failed attempts)",
                self.what,
                time.monotonic() - self.since,
                self.attempts,
            )
        self.since = None
        self.attempts = 0
        self._last_logged = 0.0
