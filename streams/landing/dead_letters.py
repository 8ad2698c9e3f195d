"""Producing refused messages to `pipeline.dead-letter`: the original key and value, and why.

A batch is committed only after every one of its dead letters is acknowledged by the broker, so a refused
message is never only in a file. The topic is at-least-once: a lander killed between the flush and the
commit sends that batch's dead letters again on restart (the dead-letter files stay exactly once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError, RetriableError

from common.names import DEAD_LETTER_TOPIC
from common.settings import Settings
from streams.kafka import client_config
from streams.landing.batch import DeadLetter
from streams.landing.source import Outage

log = logging.getLogger(__name__)


class DeadLettersNotDelivered(RuntimeError):
    """The broker did not take a batch's dead letters before the lander was told to stop."""


@dataclass(slots=True)
class Delivery:
    """Dead letters on their way: `futures` of the sends, or None if they could not be sent yet."""

    topic: str
    letters: list[DeadLetter]
    futures: list | None


def dead_letter_headers(topic: str, letter: DeadLetter) -> list[tuple[str, bytes]]:
    record = letter.record
    return [
        ("error.topic", topic.encode()),
        ("error.partition", str(record.partition).encode()),
        ("error.offset", str(record.offset).encode()),
        ("error.stage", letter.stage.encode()),
        ("error.reason", letter.refusal.reason.encode()),
        ("error.detail", letter.refusal.detail.encode()),
    ]


class DeadLetterProducer:
    """Sends dead letters and waits until the broker has every one, retrying through outages."""

    def __init__(self, settings: Settings, stop_requested: Callable[[], bool] = lambda: False):
        self._settings = settings
        self._stop_requested = stop_requested
        self._producer: KafkaProducer | None = None
        self._stop_seen: float | None = None
        self._outage = Outage(
            "dead-letter producer", settings.land_outage_log_seconds, settings.land_retry_max_seconds
        )

    def _client(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                **client_config(
                    self._settings,
                    client_id="continuum-lander-dead-letters",
                    acks="all",
                    enable_idempotence=True,  # retries inside the client never duplicate
                    allow_auto_create_topics=False,  # the lander creates it, with the configured partitions
                    linger_ms=5,
                    max_request_size=2 * 1024 * 1024,  # a refused message may be over the 64 KiB limit
                )
            )
        return self._producer

    def send(self, topic: str, letters: list[DeadLetter]) -> Delivery:
        """Start sending `letters` (they go while the caller writes its files); `confirm` waits for them."""
        try:
            futures = self._send(topic, letters)
        except KafkaError:  # no client: the broker did not answer its bootstrap; `confirm` retries
            futures = None
        return Delivery(topic, letters, futures)

    def confirm(self, delivery: Delivery, grace_after_stop_s: float = 30.0) -> None:
        """Return once the broker acknowledged every letter of `delivery`.

        Waits through outages (saying so once per interval) and sends again what the producer gave up
        on, unless the lander was told to stop and `grace_after_stop_s` passed since: then raises
        DeadLettersNotDelivered, and the batch is not committed (it is read again on restart)."""
        self._stop_seen = None
        topic, pending, futures = delivery.topic, delivery.letters, delivery.futures
        while pending:
            if futures is None:
                try:
                    futures = self._send(topic, pending)
                except KafkaError as exc:
                    self._check_stop(len(pending), topic, grace_after_stop_s)
                    time.sleep(self._outage.failed(exc))
                    continue
            self._wait(futures, len(pending), topic, grace_after_stop_s)
            failed = [(d, f.exception) for d, f in zip(pending, futures, strict=True) if not f.succeeded()]
            if failed:
                _raise_if_final(topic, failed[0][1])
                time.sleep(self._outage.failed(failed[0][1]))
            pending, futures = [d for d, _ in failed], None
        self._outage.recovered()

    def _send(self, topic: str, letters: list[DeadLetter]) -> list:
        producer = self._client()
        return [
            producer.send(
                DEAD_LETTER_TOPIC,
                key=d.record.key,
                value=d.record.value,
                headers=dead_letter_headers(topic, d),
            )
            for d in letters
        ]

    def _wait(self, futures: list, count: int, topic: str, grace_after_stop_s: float) -> None:
        """Until every send is acknowledged or failed (the producer retries inside, up to its delivery
        timeout); short flushes, so that an outage is reported and a stop request is seen."""
        while not all(f.is_done for f in futures):
            try:
                self._producer.flush(timeout=1.0)
            except KafkaTimeoutError as exc:
                self._outage.failed(exc)
            self._check_stop(count, topic, grace_after_stop_s)

    def _check_stop(self, count: int, topic: str, grace_after_stop_s: float) -> None:
        if not self._stop_requested():
            return
        self._stop_seen = self._stop_seen or time.monotonic()
        if time.monotonic() - self._stop_seen > grace_after_stop_s:
            raise DeadLettersNotDelivered(f"{count} dead letters of {topic} not acknowledged by the broker")

    def close(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=self._settings.land_broker_timeout_seconds)
            except Exception:  # a producer broken by an outage may fail to close; it is dropped anyway
                log.debug("closing the dead-letter producer failed", exc_info=True)
            self._producer = None


def _raise_if_final(topic: str, error: BaseException | None) -> None:
    """A refusal no retry can change (e.g. a message over the topic's size limit) stops the lander
    loudly rather than holding the partition in a silent loop."""
    if error is not None and not isinstance(error, RetriableError | KafkaTimeoutError):
        raise DeadLettersNotDelivered(
            f"the broker refused a dead letter of {topic}: {error}; fix the dead-letter topic's settings"
        )
