"""The event contract (shared/spec/events-v1.md) as one fast function.

`Contract.check(value, topic)` takes a message's raw bytes and its topic and returns either the parsed
`Event` or a `Refusal` carrying the contract's dead-letter reason and a detail naming the field and the
rule. Checks run in the order of the contract's list of reasons (size and JSON first), and the first
that fails is the reason, so every message has exactly one.

The `data` of each type is checked against the JSON Schemas in `streams/schemas/`: first by the fast
check of `streams/schema_check.py`, which only ever says "valid" or "ask again", then, when it asks,
by fastjsonschema, which decides and names the rule a refusal broke (both compiled once). Envelope rules
are checked here by hand instead of by the envelope schema: the schema says the same things, but a hand
check names the contract's reason directly and is several times faster.
`tests/test_contract.py` holds the schemas and this module to the same answers.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import fastjsonschema
import orjson

from common.names import SOURCE_PREFIX, dataschema_for, provider_of_topic
from streams.schema_check import compile_check

SCHEMA_DIR = Path(__file__).parent / "schemas"
MAX_MESSAGE_BYTES = 64 * 1024
MAX_FUTURE = timedelta(hours=24)
SPECVERSION = "1.0"
DATACONTENTTYPE = "application/json"

EVENT_TYPES = (
    "participant.enrolled",
    "participant.exited",
    "consent.granted",
    "consent.revoked",
    "referral.requested",
    "referral.status_changed",
    "service.delivered",
    "incident.recorded",
    "custody.admitted",
    "custody.released",
    "justice.arrested",
    "outcome.recorded",
)

#: The contract's dead-letter reasons, in the order they are checked.
DEAD_LETTER_REASONS = (
    "too_large",
    "not_json",
    "not_an_object",
    "missing_attribute",
    "bad_specversion",
    "bad_id",
    "source_topic_mismatch",
    "unknown_provider",
    "unknown_type",
    "bad_time",
    "future_time",
    "bad_subject",
    "bad_dataschema",
    "data_invalid",
)

REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type", "time", "subject", "dataschema", "data")
_required = operator.itemgetter(*REQUIRED_ATTRIBUTES)  # all eight in one call; KeyError if one is missing

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SUBJECT = re.compile(r"[0-9a-f]{64}")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


_DATASCHEMAS = {t: dataschema_for(t) for t in EVENT_TYPES}


class Event(NamedTuple):
    """A message that follows the contract. `time` is timezone-aware, converted to UTC.

    A named tuple, not a dataclass: one is made per message, and a tuple is made four times faster
    than a frozen dataclass; the lander turns a batch of them into columns with one `zip`."""

    id: str
    source: str
    provider_id: str
    type: str
    time: datetime
    subject: str
    dataschema: str
    datacontenttype: str | None
    data: dict[str, Any]

    def to_envelope(self) -> dict[str, Any]:
        """The CloudEvent as a provider would send it (time in UTC)."""
        envelope = {
            "specversion": SPECVERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "subject": self.subject,
            "dataschema": self.dataschema,
        }
        if self.datacontenttype is not None:
            envelope["datacontenttype"] = self.datacontenttype
        envelope["data"] = self.data
        return envelope


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a message was refused: one of DEAD_LETTER_REASONS and a detail naming field and rule."""

    reason: str
    detail: str


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text())


def _resolve_urn(uri: str) -> dict[str, Any]:
    # Our schemas refer to each other by URN ("urn:continuum:schema:common"); they all live in SCHEMA_DIR.
    return load_schema(uri.removeprefix("urn:continuum:schema:").split("#")[0])


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """The schema node a `$ref` points to (following chains), or `node` itself."""
    ref = node.get("$ref")
    if not ref:
        return node
    resolved: Any = _resolve_urn(ref)
    for part in ref.partition("#")[2].strip("/").split("/"):
        resolved = resolved[part]
    return _resolve(resolved)


@cache
def enum_values(event_type: str, field: str) -> tuple[Any, ...]:
    """The non-null values the contract's JSON Schema allows for `data.<field>` of `event_type`.

    Read from `streams/schemas/`, so the batch suites, the web app and the validator cannot drift apart."""
    node = _resolve(load_schema(event_type)["properties"]["data"]["properties"][field])
    if "items" in node:
        node = _resolve(node["items"])
    if "enum" in node:
        return tuple(v for v in node["enum"] if v is not None)
    for option in node.get("oneOf", []):
        option = _resolve(option)
        if "enum" in option:
            return tuple(v for v in option["enum"] if v is not None)
    raise KeyError(f"{event_type}.data.{field} is not an enumeration in the contract's schema")


@lru_cache(maxsize=1)
def _data_validators() -> dict[str, Callable[[Any], Any]]:
    return {
        t: fastjsonschema.compile(load_schema(t)["properties"]["data"], handlers={"urn": _resolve_urn})
        for t in EVENT_TYPES
    }


@lru_cache(maxsize=1)
def _data_fast_checks() -> dict[str, Callable[[Any], bool]]:
    return {
        t: compile_check(load_schema(t)["properties"]["data"], lambda ref: _resolve({"$ref": ref}))
        for t in EVENT_TYPES
    }


def parse_time(value: str) -> datetime | None:
    """An RFC 3339 time with an offset, in UTC; None if it is not one."""
    if not _RFC3339.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:  # RFC 3339 allows a lowercase "t" and "z"; fromisoformat does not
        try:
            return datetime.fromisoformat(value.upper()).astimezone(UTC)
        except ValueError:  # a day or hour that does not exist
            return None


class Contract:
    """The contract for one provider directory. Build it once; `check` is the hot path."""

    def __init__(self, provider_ids: Collection[str]):
        self.provider_ids = frozenset(provider_ids)
        self._validate_data = _data_validators()
        self._data_surely_valid = _data_fast_checks()

    def check(self, value: bytes | None, topic: str, now: datetime | None = None) -> Event | Refusal:
        if value is None or len(value) == 0:
            return Refusal("not_json", "value: empty message (a tombstone or an empty payload)")
        if len(value) > MAX_MESSAGE_BYTES:
            return Refusal("too_large", f"value: {len(value)} bytes, the contract allows {MAX_MESSAGE_BYTES}")
        try:
            event = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            return Refusal("not_json", f"value: not UTF-8 JSON ({exc})")
        if type(event) is not dict:
            return Refusal(
                "not_an_object", f"value: a JSON {type(event).__name__}, the contract needs an object"
            )
        return self._check_envelope(event, topic, now or datetime.now(UTC))

    def _check_envelope(self, event: dict[str, Any], topic: str, now: datetime) -> Event | Refusal:
        try:
            specversion, event_id, source, event_type, raw_time, subject, dataschema, data = _required(event)
        except KeyError:
            specversion = None  # which one is missing is found below
        if specversion is None or None in (event_id, source, event_type, raw_time, subject, dataschema, data):
            missing = next(a for a in REQUIRED_ATTRIBUTES if event.get(a) is None)
            return Refusal("missing_attribute", f"{missing}: required attribute is missing or null")
        if specversion != SPECVERSION:
            return Refusal("bad_specversion", f"specversion: must be {SPECVERSION!r}")
        if type(event_id) is not str or not _UUID.fullmatch(event_id):
            return Refusal("bad_id", "id: must be a lowercase UUID")
        topic_provider = provider_of_topic(topic)
        if source != SOURCE_PREFIX + str(topic_provider):
            return Refusal(
                "source_topic_mismatch", f"source: {str(source)[:80]!r} does not name the provider of {topic}"
            )
        if topic_provider not in self.provider_ids:
            return Refusal("unknown_provider", f"source: provider {topic_provider!r} is not in the directory")
        if event_type not in self._validate_data:
            return Refusal("unknown_type", f"type: {str(event_type)[:80]!r} is not a type of the contract")
        time = parse_time(raw_time) if type(raw_time) is str else None
        if time is None:
            return Refusal("bad_time", "time: must be an RFC 3339 time with an offset")
        if time > now + MAX_FUTURE:
            return Refusal(
                "future_time",
                f"time: {raw_time} is more than 24 hours after landing ({now:%Y-%m-%dT%H:%M:%SZ})",
            )
        if type(subject) is not str or not _SUBJECT.fullmatch(subject):
            return Refusal("bad_subject", "subject: must be a participant key, 64 lowercase hex characters")
        if dataschema != _DATASCHEMAS[event_type]:
            return Refusal("bad_dataschema", f"dataschema: must be {dataschema_for(event_type)!r}")
        datacontenttype = event.get("datacontenttype")
        if datacontenttype is not None and datacontenttype != DATACONTENTTYPE:
            return Refusal("data_invalid", f"datacontenttype: must be {DATACONTENTTYPE!r} when present")
        if not self._data_surely_valid[event_type](data):
            try:
                self._validate_data[event_type](data)
            except fastjsonschema.JsonSchemaValueException as exc:
                return Refusal("data_invalid", f"{exc.name}: {exc.message} (rule: {exc.rule})")
        # positional, in the field order: the keyword form costs twice as much, once per message
        return Event(
            event_id, source, topic_provider, event_type, time, subject, dataschema, datacontenttype, data
        )
