"""Where simulated messages go: a Kafka broker, or an NDJSON file.

NDJSON format: one message value per line, byte for byte. A value that cannot be a line as it is (not
UTF-8, or containing a line break: some `not_json` messages are made so on purpose) is written as a
wrapper line `{"continuum.simulator.base64": "<standard base64 of the value>"}`; `read_ndjson` unwraps
it, so every value round-trips. Topics and keys are not written: a valid event's topic and key follow
from its `source` and `subject`.
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from common.settings import Settings
from streams.simulator.malformed import UNKNOWN_PROVIDER_ID
from streams.simulator.simulation import SimulatedMessage

WRAPPER_FIELD = "continuum.simulator.base64"
_WRAPPER_PREFIX = b'{"' + WRAPPER_FIELD.encode() + b'":'


@dataclass
class DeliveryReport:
    """What `produce` sent (acknowledged by the broker) or `write_ndjson` wrote."""

    messages: int = 0
    messages_by_topic: dict[str, int] = field(default_factory=dict)
    wrapped_base64: int = 0  # NDJSON only: values written as a base64 wrapper line

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "messages_by_topic": dict(self.messages_by_topic),
            "wrapped_base64": self.wrapped_base64,
        }


def produce(
    messages: Iterable[SimulatedMessage],
    settings: Settings,
    linger_ms: int = 20,
    batch_size: int = 512 * 1024,
) -> DeliveryReport:
    """Send every message to the broker of `settings` and wait until all are acknowledged.

    Valid events carry exactly the bytes `ProviderClient` would send; malformed ones cannot pass its
    check, so all go through one plain producer with the SDK's guarantees (acks=all, idempotent).
    Creates the provider topics and the unknown provider's topic first (idempotent).
    """
    from kafka import KafkaProducer

    from streams.kafka import client_config, ensure_topics

    ensure_topics(settings, extra_provider_ids=(UNKNOWN_PROVIDER_ID,))
    producer = KafkaProducer(
        **client_config(
            settings,
            client_id="continuum-simulator",
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            batch_size=batch_size,
            max_request_size=2 * 1024 * 1024,  # too_large messages (~70 KiB) must reach the broker
        )
    )
    counts: Counter[str] = Counter()
    failures: list[Exception] = []
    try:
        for m in messages:
            future = producer.send(m.topic, key=m.key, value=m.value)
            future.add_errback(failures.append)
            counts[m.topic] += 1
            if failures:
                raise failures[0]
        producer.flush()
    finally:
        producer.close()
    if failures:
        raise failures[0]
    return DeliveryReport(messages=sum(counts.values()), messages_by_topic=dict(counts))


def ndjson_line(value: bytes) -> tuple[bytes, bool]:
    """The line for one value (without its newline) and whether it had to be wrapped."""
    if b"\n" not in value and b"\r" not in value and not value.startswith(_WRAPPER_PREFIX):
        try:
            value.decode("utf-8")
            return value, False
        except UnicodeDecodeError:
            pass
    return orjson.dumps({WRAPPER_FIELD: base64.b64encode(value).decode()}), True


def write_ndjson(messages: Iterable[SimulatedMessage], path: Path | str) -> DeliveryReport:
    """Write one value per line to `path` (see the module's docstring for the format)."""
    counts: Counter[str] = Counter()
    wrapped = 0
    with open(path, "wb", buffering=1024 * 1024) as f:
        for m in messages:
            line, was_wrapped = ndjson_line(m.value)
            f.write(line)
            f.write(b"\n")
            wrapped += was_wrapped
            counts[m.topic] += 1
    return DeliveryReport(
        messages=sum(counts.values()), messages_by_topic=dict(counts), wrapped_base64=wrapped
    )


def read_ndjson(path: Path | str) -> Iterator[bytes]:
    """The values of a file written by `write_ndjson`, byte for byte."""
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if line.startswith(_WRAPPER_PREFIX):
                yield base64.b64decode(orjson.loads(line)[WRAPPER_FIELD])
            else:
                yield line
