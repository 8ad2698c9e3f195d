"""Producing refused messages to `pipeline.dead-letter`: the original key and value, and why.

A batch is committed only after every one of its dead letters is acknowledged by the broker, so a refused
message is never only in a file. The topic is at-least-once: a lander killed between the flush and the
commit sends that batch's dead letters again on restart (the dead-letter files stay exactly once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kafka import KafkaProducer
from kafka.errors import KafkaError

from continuum.settings import Settings
from streams.kafka import DEAD_LETTER_TOPIC, client_config
from streams.landing.batch import DeadLetter
from streams.landing.source import Outage

log = logging.getLogger(__name__)


class DeadLettersNotDelivered(RuntimeError):
    """The broker did not take a batch's dead letters before the lander was told to stop."""


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
                    linger_ms=5,
                    max_request_size=2 * 1024 * 1024,  # a refused message may be over the 64 KiB limit
                )
            )
        return self._producer

    def deliver(self, topic: str, letters: list[DeadLetter], grace_after_stop_s: float = 30.0) -> None:
        """Send `letters` and return once the broker acknowledged all of them.

        Retries what failed (with backoff) for as long as it takes, unless the lander was told to stop
        and `grace_after_stop_s` passed since: then raises DeadLettersNotDelivered, and the batch is not
        committed (it is read again on restart, so nothing is lost)."""
        pending = letters
        stop_seen: float | None = None
        while pending:
            if self._stop_requested():
                stop_seen = stop_seen or time.monotonic()
                if time.monotonic() - stop_seen > grace_after_stop_s:
                    raise DeadLettersNotDelivered(
                        f"{len(pending)} dead letters of {topic} not acknowledged by the broker"
                    )
            pending = self._send_once(topic, pending)

    def _send_once(self, topic: str, letters: list[DeadLetter]) -> list[DeadLetter]:
        """One attempt; returns the letters that failed."""
        try:
            producer = self._client()
            futures = [
                producer.send(
                    DEAD_LETTER_TOPIC,
                    key=d.record.key,
                    value=d.record.value,
                    headers=dead_letter_headers(topic, d),
                )
                for d in letters
            ]
            producer.flush(timeout=self._settings.land_retry_max_seconds * 4)
        except KafkaError as exc:
            time.sleep(self._outage.failed(exc))
            return self._after_failure(letters)
        failed = [(d, f.exception) for d, f in zip(letters, futures, strict=True) if not f.succeeded()]
        if failed:
            time.sleep(self._outage.failed(failed[0][1]))
            return [d for d, _ in failed]
        self._outage.recovered()
        return []

    def _after_failure(self, letters: list[DeadLetter]) -> list[DeadLetter]:
        # A flush that timed out leaves sends in flight: close the producer (it waits for them and then
        # fails the rest) so a retry never races a send still pending inside the old client.
        self.close()
        return letters

    def close(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=self._settings.land_broker_timeout_seconds)
            except Exception:  # a producer broken by an outage may fail to close; it is dropped anyway
                log.debug("closing the dead-letter producer failed", exc_info=True)
            self._producer = None
