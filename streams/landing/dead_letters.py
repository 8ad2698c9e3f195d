"""Producing refused messages to `pipeline.dead-letter`: the original key and value, and why.

A batch is committed only after every one of its dead letters is acknowledged by the broker, so a refused
message is never only in a file. The topic is at-least-once: a lander killed between the flush and the
commit sends that batch's dead letters again on restart (the dead-letter files stay exactly once).

A dead letter bigger than `land_dead_letter_max_bytes` (a record batch of one, as kafka-python counts it)
could never be sent: it goes to the topic truncated, with `error.truncated: true` and its original sizes,
and whole to the dead-letter file. One the broker still refuses as too large (the topic's
max.message.bytes is below the setting) is sent again with an empty value; a refusal of that is final.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import KafkaProducer
from kafka.errors import (
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RetriableError,
)
from kafka.record.default_records import DefaultRecordBatchBuilder

from common.names import DEAD_LETTER_TOPIC
from common.settings import Settings
from streams.feedback import FeedbackSender, feedback_now
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


#: Longest `error.detail` header sent (the dead-letter file keeps the whole detail).
MAX_DETAIL_HEADER_BYTES = 1024
#: Refusals that mean "too large": final for this message, whatever a retry does.
_TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError)


def dead_letter_headers(topic: str, letter: DeadLetter) -> list[tuple[str, bytes]]:
    record = letter.record
    return [
        ("error.topic", topic.encode()),
        ("error.partition", str(record.partition).encode()),
        ("error.offset", str(record.offset).encode()),
        ("error.stage", letter.stage.encode()),
        ("error.reason", letter.refusal.reason.encode()),
        ("error.detail", letter.refusal.detail.encode()[:MAX_DETAIL_HEADER_BYTES]),
    ]


@dataclass(frozen=True, slots=True)
class Message:
    """What is produced for one dead letter."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    truncated: bool = False


def dead_letter_message(topic: str, letter: DeadLetter, max_bytes: int, empty: bool = False) -> Message:
    """The dead letter as sent: whole if it fits in `max_bytes`, else cut to fit (the value first, the key
    only if it alone is too big), with `error.truncated` and the original sizes. `empty`: no value bytes
    at all (for a broker that refused the truncated one)."""
    key, value = letter.record.key, letter.record.value
    headers = dead_letter_headers(topic, letter)
    size = DefaultRecordBatchBuilder.estimate_size_in_bytes
    if not empty and size(key, value, headers) <= max_bytes:
        return Message(key, value, headers)
    headers += [
        ("error.truncated", b"true"),
        ("error.original_size", str(len(value or b"")).encode()),
        ("error.original_key_size", str(len(key or b"")).encode()),
    ]
    # The margin covers the length prefixes, which grow with what is kept.
    if key is not None and size(key, b"", headers) > max_bytes:
        key = key[: max(0, max_bytes - size(b"", b"", headers) - _MARGIN)]
    room = 0 if empty else max(0, max_bytes - size(key, b"", headers) - _MARGIN)
    return Message(key, None if value is None else value[:room], headers, truncated=True)


_MARGIN = 16


def describe(topic: str, letter: DeadLetter) -> str:
    record = letter.record
    return f"the dead letter of {topic}[{record.partition}] offset {record.offset}"


class DeadLetterProducer:
    """Sends dead letters and waits until the broker has every one, retrying through outages."""

    def __init__(self, settings: Settings, stop_requested: Callable[[], bool] = lambda: False):
        self._settings = settings
        self._stop_requested = stop_requested
        self._producer: KafkaProducer | None = None
        self.feedback = FeedbackSender()
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
                    # dead_letter_message cuts every letter to fit: the producer never refuses one.
                    max_request_size=self._settings.land_dead_letter_max_bytes,
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
        DeadLettersNotDelivered, and the batch is not committed (it is read again on restart). A letter
        the broker refuses as too large is sent once more with an empty value; any other refusal that no
        retry can change raises DeadLettersNotDelivered at once, naming the message."""
        self._stop_seen = None
        topic, pending, futures = delivery.topic, delivery.letters, delivery.futures
        empty: set[int] = set()  # ids of letters to send with an empty value
        while pending:
            if futures is None:
                try:
                    futures = self._send(topic, pending, empty)
                except KafkaError as exc:
                    self._check_stop(len(pending), topic, grace_after_stop_s)
                    time.sleep(self._outage.failed(exc))
                    continue
            self._wait(futures, len(pending), topic, grace_after_stop_s)
            failed = [(d, f.exception) for d, f in zip(pending, futures, strict=True) if not f.succeeded()]
            retry_now = False
            for letter, error in failed:
                if isinstance(error, _TOO_LARGE) and id(letter) not in empty:
                    log.error(
                        "%s: the broker refused it as too large (%s), though cut to %d bytes "
                        "(land_dead_letter_max_bytes is above the topic's max.message.bytes?): sending it "
                        "with an empty value; the dead-letter file keeps it whole",
                        describe(topic, letter),
                        error,
                        self._settings.land_dead_letter_max_bytes,
                    )
                    empty.add(id(letter))
                    retry_now = True
                else:
                    _raise_if_final(topic, letter, error)
            if failed and not retry_now:
                time.sleep(self._outage.failed(failed[0][1]))
            pending, futures = [d for d, _ in failed], None
        self._outage.recovered()

    def _send(self, topic: str, letters: list[DeadLetter], empty: set[int] = frozenset()) -> list:
        producer = self._client()
        max_bytes = self._settings.land_dead_letter_max_bytes
        futures = []
        for letter in letters:
            message = dead_letter_message(topic, letter, max_bytes, empty=id(letter) in empty)
            if message.truncated and id(letter) not in empty:
                log.warning(
                    "%s is %d bytes (value %d, key %d), over land_dead_letter_max_bytes=%d: sent to %s cut "
                    "to fit, with error.truncated=true; the dead-letter file keeps it whole",
                    describe(topic, letter),
                    DefaultRecordBatchBuilder.estimate_size_in_bytes(
                        letter.record.key, letter.record.value, []
                    ),
                    len(letter.record.value or b""),
                    len(letter.record.key or b""),
                    max_bytes,
                    DEAD_LETTER_TOPIC,
                )
            futures.append(
                producer.send(
                    DEAD_LETTER_TOPIC, key=message.key, value=message.value, headers=message.headers
                )
            )
        return futures

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

    def tell_providers(self, topic: str, letters: list[DeadLetter]) -> None:
        """Feedback (contract v1.1) for each letter to the provider of `topic`, once the broker has the
        dead letters: best effort, never waited for (streams/feedback.py)."""
        for letter in letters:
            record = letter.record
            feedback = feedback_now(
                topic,
                record.partition,
                record.offset,
                letter.stage,
                letter.refusal.reason,
                letter.refusal.detail,
            )
            self.feedback.send(self._client(), record.key, feedback)

    def close(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=self._settings.land_broker_timeout_seconds)
            except Exception:  # a producer broken by an outage may fail to close; it is dropped anyway
                log.debug("closing the dead-letter producer failed", exc_info=True)
            self._producer = None


def _raise_if_final(topic: str, letter: DeadLetter, error: BaseException | None) -> None:
    """A refusal no retry can change stops the lander loudly, naming the message, rather than holding
    the partition in a silent loop."""
    if error is not None and not isinstance(error, RetriableError | KafkaTimeoutError):
        raise DeadLettersNotDelivered(
            f"the broker refused {describe(topic, letter)}: {error!r}; fix the dead-letter topic's settings"
        )
