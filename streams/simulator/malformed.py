"""Malformed messages: one builder per dead-letter reason of the contract.

Each builder takes a valid envelope (a copy with a fresh id) and breaks it so that
`streams.contract.Contract.check` returns exactly that reason: it breaks only the rule of its reason
and keeps every rule checked before it (the contract checks in the order of DEAD_LETTER_REASONS).
The breaks are the ones real feeds show: truncated or glued payloads, a batch sent as an array,
typos, local times without an offset, a year typed a century off, keys pasted in upper case.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from common.names import provider_topic, source_for
from streams.contract import REQUIRED_ATTRIBUTES

#: A provider of the network's area that is not (yet) in the directory: its topic carries the
#: `unknown_provider` messages. Its topic is created with the others (streams.kafka.ensure_topics).
UNKNOWN_PROVIDER_ID = "okc-youth-mentoring"


@dataclass(frozen=True, slots=True)
class Malformed:
    topic: str
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class Template:
    """A valid event to break: its envelope (with a fresh id), provider and the directory's ids."""

    envelope: dict[str, Any]
    provider_id: str
    provider_ids: tuple[str, ...]


def _dump(envelope: dict[str, Any]) -> bytes:
    return orjson.dumps(envelope)


def _on_own_topic(t: Template, envelope: Any) -> Malformed:
    subject = t.envelope["subject"]
    value = envelope if isinstance(envelope, bytes) else _dump(envelope)
    return Malformed(provider_topic(t.provider_id), subject.encode(), value)


def too_large(rng: random.Random, t: Template) -> Malformed:
    # A scanned document pasted into a field: over 64 KiB before anything else is looked at.
    data = {**t.envelope["data"], "attachment": "JVBERi0xLjQK" * rng.randint(5600, 7000)}
    return _on_own_topic(t, {**t.envelope, "data": data})


def not_json(rng: random.Random, t: Template) -> Malformed:
    whole = _dump(t.envelope)
    variant = rng.randrange(3)
    if variant == 0:  # cut off mid-write
        return _on_own_topic(t, whole[: len(whole) // 2])
    if variant == 1:  # two events glued into one message, one per line (a batching bug)
        return _on_own_topic(t, whole + b"\n" + whole)
    return _on_own_topic(t, b"\xff\xfe" + whole)  # a UTF-16 byte-order mark: not UTF-8


def not_an_object(rng: random.Random, t: Template) -> Malformed:
    if rng.random() < 0.7:  # a batch sent as one array
        return _on_own_topic(t, b"[" + _dump(t.envelope) + b"]")
    return _on_own_topic(t, orjson.dumps(_dump(t.envelope).decode()))  # the event as a JSON string


def missing_attribute(rng: random.Random, t: Template) -> Malformed:
    attribute = rng.choice(REQUIRED_ATTRIBUTES)
    envelope = dict(t.envelope)
    if rng.random() < 0.5:
        del envelope[attribute]
    else:
        envelope[attribute] = None
    return _on_own_topic(t, envelope)


def bad_specversion(rng: random.Random, t: Template) -> Malformed:
    return _on_own_topic(t, {**t.envelope, "specversion": rng.choice(("0.3", "1", 1.0, "1.0.2"))})


def bad_id(rng: random.Random, t: Template) -> Malformed:
    event_id = t.envelope["id"]
    bad = rng.choice((f"{{{event_id}}}", event_id.replace("-", ""), rng.randint(1, 10**6)))
    return _on_own_topic(t, {**t.envelope, "id": bad})


def source_topic_mismatch(rng: random.Random, t: Template) -> Malformed:
    others = [p for p in t.provider_ids if p != t.provider_id]
    source = rng.choice((source_for(rng.choice(others)), t.provider_id))  # a colleague's id, or no prefix
    return _on_own_topic(t, {**t.envelope, "source": source})


def unknown_provider(rng: random.Random, t: Template) -> Malformed:
    envelope = {**t.envelope, "source": source_for(UNKNOWN_PROVIDER_ID)}
    subject = t.envelope["subject"].encode()
    return Malformed(provider_topic(UNKNOWN_PROVIDER_ID), subject, _dump(envelope))


def unknown_type(rng: random.Random, t: Template) -> Malformed:
    event_type = rng.choice(("referral.updated", "participant.enroled", "service.delivered.v2", "note.added"))
    return _on_own_topic(t, {**t.envelope, "type": event_type})


def bad_time(rng: random.Random, t: Template) -> Malformed:
    when = datetime.fromisoformat(t.envelope["time"])
    bad = rng.choice((f"{when:%Y-%m-%d %H:%M:%S}", f"{when:%m/%d/%Y}", int(when.timestamp())))
    return _on_own_topic(t, {**t.envelope, "time": bad})


def future_time(rng: random.Random, t: Template) -> Malformed:
    # A year typed a century off: in the future of any lander running in this century.
    when = datetime.fromisoformat(t.envelope["time"])
    day = min(when.day, 28) if when.month == 2 else when.day
    return _on_own_topic(t, {**t.envelope, "time": when.replace(year=when.year + 100, day=day).isoformat()})


def bad_subject(rng: random.Random, t: Template) -> Malformed:
    subject = t.envelope["subject"]
    bad = rng.choice((subject.upper(), subject[:40], f"sha256:{subject}"))
    if bad == subject:  # an all-digit key has no upper case (possible in principle)
        bad = subject[:40]
    envelope = {**t.envelope, "subject": bad}
    return Malformed(provider_topic(t.provider_id), bad.encode(), _dump(envelope))


def bad_dataschema(rng: random.Random, t: Template) -> Malformed:
    dataschema = t.envelope["dataschema"]
    bad = rng.choice(
        (dataschema.removesuffix(":1") + ":2", dataschema.removesuffix(":1"), "urn:continuum:schema:v1")
    )
    return _on_own_topic(t, {**t.envelope, "dataschema": bad})


def data_invalid(rng: random.Random, t: Template) -> Malformed:
    data = dict(t.envelope["data"])
    variant = rng.randrange(3)
    if variant == 0:  # free text where the contract allows none
        return _on_own_topic(t, {**t.envelope, "data": {**data, "notes": "left a voicemail"}})
    if variant == 1:  # a field the provider's system forgot
        del data[rng.choice(sorted(data))]
        return _on_own_topic(t, {**t.envelope, "data": data})
    return _on_own_topic(t, {**t.envelope, "datacontenttype": "text/plain"})


#: Reason -> builder, in the contract's order (streams.contract.DEAD_LETTER_REASONS).
BUILDERS: dict[str, Callable[[random.Random, Template], Malformed]] = {
    "too_large": too_large,
    "not_json": not_json,
    "not_an_object": not_an_object,
    "missing_attribute": missing_attribute,
    "bad_specversion": bad_specversion,
    "bad_id": bad_id,
    "source_topic_mismatch": source_topic_mismatch,
    "unknown_provider": unknown_provider,
    "unknown_type": unknown_type,
    "bad_time": bad_time,
    "future_time": future_time,
    "bad_subject": bad_subject,
    "bad_dataschema": bad_dataschema,
    "data_invalid": data_invalid,
}
