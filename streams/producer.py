"""The provider SDK: how a provider's system sends events to the network.

    client = ProviderClient("okc-reentry")
    client.send("referral.requested", subject=key, data={...}, time=when)
    client.flush()

Every event is checked against the contract before it is sent, so a provider learns of a mistake at
once (`ContractViolation`) instead of from a dead letter. Either content mode of the CloudEvents Kafka
binding can be sent (`content_mode="structured"`, the default: the whole event as the value with
`content-type: application/cloudevents+json`; or `"binary"`: attributes in `ce_` headers, `data` as the
value); the pipeline lands both the same. Messages are keyed by subject (one
participant's events from one provider stay in order), sent with `acks=all` and an idempotent producer,
so retries inside the client never duplicate. The event id is fixed when the event is built: a re-send of
the same event (for instance after a crash) must reuse `event_id` so the warehouse keeps one copy.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from kafka import KafkaProducer

from common.directory import load_directory
from common.names import dataschema_for, provider_topic, source_for
from common.settings import Settings, get_settings
from streams.contract import (
    CE_PREFIX,
    CONTENT_TYPE_HEADER,
    DATACONTENTTYPE,
    SPECVERSION,
    STRUCTURED_CONTENT_TYPE,
    Contract,
    Event,
    Refusal,
)
from streams.kafka import client_config


class ContractViolation(ValueError):
    """An event the contract refuses; `refusal` says which reason and field."""

    def __init__(self, refusal: Refusal):
        super().__init__(f"{refusal.reason}: {refusal.detail}")
        self.refusal = refusal


def build_envelope(
    provider_id: str,
    event_type: str,
    subject: str,
    data: dict[str, Any],
    time: datetime | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A CloudEvent in the contract's shape. `time` defaults to now and must carry a timezone."""
    when = time or datetime.now(UTC)
    if when.tzinfo is None:
        raise ValueError("time must be timezone-aware (the contract needs an offset)")
    return {
        "specversion": SPECVERSION,
        "id": event_id or str(uuid.uuid4()),
        "source": source_for(provider_id),
        "type": event_type,
        "time": when.isoformat(),
        "subject": subject,
        "dataschema": dataschema_for(event_type),
        "datacontenttype": DATACONTENTTYPE,
        "data": data,
    }


CONTENT_MODES = ("structured", "binary")
#: The headers of a structured-mode message: the binding's media type of the JSON event format.
STRUCTURED_HEADERS: list[tuple[str, bytes]] = [(CONTENT_TYPE_HEADER, STRUCTURED_CONTENT_TYPE)]
Headers = list[tuple[str, bytes]]


def structured_message(envelope: dict[str, Any]) -> tuple[bytes, Headers]:
    """The structured-mode value and headers of a CloudEvent: the whole event as JSON."""
    return orjson.dumps(envelope), list(STRUCTURED_HEADERS)


def binary_message(envelope: dict[str, Any]) -> tuple[bytes, Headers]:
    """The binary-mode value and headers of a CloudEvent (Kafka protocol binding, section 3.2): `data` as
    JSON in the value, `datacontenttype` as `content-type`, every other attribute a `ce_<name>` header in
    UTF-8. Attributes that are None are left out, as the binding's SDKs do."""
    headers = [
        (CONTENT_TYPE_HEADER if name == "datacontenttype" else CE_PREFIX + name, str(value).encode())
        for name, value in envelope.items()
        if name != "data" and value is not None
    ]
    return orjson.dumps(envelope["data"]), headers


@dataclass(frozen=True, slots=True)
class Sent:
    """What was sent: the exact bytes of the message value and headers, and the event they hold."""

    value: bytes
    event: Event
    headers: Headers | None = None


def provider_producer(settings: Settings, client_id: str, **overrides: Any) -> KafkaProducer:
    """A producer as a provider's should be: every send acknowledged by all in-sync replicas, idempotent,
    retried until delivered (ProviderClient's, and the adapters' that wrap it to learn what was acked)."""
    return KafkaProducer(
        **client_config(
            settings,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            retries=2**31 - 1,
            linger_ms=5,
            **overrides,
        )
    )


class ProviderClient:
    """One provider's producer. Not thread-safe to share across providers: make one per provider."""

    def __init__(
        self,
        provider_id: str,
        settings: Settings | None = None,
        producer: KafkaProducer | None = None,
        content_mode: str = "structured",
        **producer_config: Any,
    ):
        if content_mode not in CONTENT_MODES:
            raise ValueError(f"content_mode must be one of {CONTENT_MODES}, not {content_mode!r}")
        self.content_mode = content_mode
        self.settings = settings or get_settings()
        self.provider_id = provider_id
        self.topic = provider_topic(provider_id)
        self.contract = Contract(load_directory(self.settings.provider_directory))
        self._producer = producer or provider_producer(
            self.settings, f"continuum-provider-{provider_id}", **producer_config
        )

    def send(
        self,
        event_type: str,
        subject: str,
        data: dict[str, Any],
        time: datetime | None = None,
        event_id: str | None = None,
    ) -> Sent:
        """Build, check and send one event in the client's content mode; raises ContractViolation before
        anything is sent."""
        envelope = build_envelope(self.provider_id, event_type, subject, data, time, event_id)
        to_message = binary_message if self.content_mode == "binary" else structured_message
        return self.send_value(*to_message(envelope))

    def send_value(self, value: bytes, headers: Headers | None = None) -> Sent:
        """Check and send one message as it is: a serialized structured CloudEvent (what `continuum
        publish` does per line; `headers` None adds the structured `content-type`), or binary-mode
        `data` with its `ce_` headers."""
        if headers is None:
            headers = list(STRUCTURED_HEADERS)
        checked = self.contract.check(value, self.topic, headers=headers)
        if isinstance(checked, Refusal):
            raise ContractViolation(checked)
        self._producer.send(self.topic, key=checked.subject.encode(), value=value, headers=headers)
        return Sent(value=value, event=checked, headers=headers)

    def flush(self, timeout: float | None = 60) -> None:
        self._producer.flush(timeout)

    def close(self) -> None:
        self._producer.close()

    def __enter__(self) -> ProviderClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
        self.close()


@dataclass
class PublishReport:
    sent: int
    refused: list[tuple[int, Refusal]]


def publish_lines(client: ProviderClient, lines: Iterable[bytes]) -> PublishReport:
    """Send NDJSON lines through `client`; refused lines are reported by line number, not sent."""
    sent, refused = 0, []
    for line_no, line in enumerate(lines, start=1):
        line = line.strip()
        if not line:
            continue
        try:
            client.send_value(line)
            sent += 1
        except ContractViolation as exc:
            refused.append((line_no, exc.refusal))
    client.flush()
    return PublishReport(sent=sent, refused=refused)
