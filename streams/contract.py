"""The event contract (shared/spec/events-v1.md) as one fast function.

`Contract.check(value, topic, now, headers)` takes a message's raw bytes, its topic and its headers and
returns either the parsed `Event` or a `Refusal` carrying the contract's dead-letter reason and a detail
naming the field and the rule. Checks run in the order of the contract's list of reasons (size and JSON
first), and the first that fails is the reason, so every message has exactly one. It never raises,
whatever the message holds: a crash here would stop the lander on the same offset at every restart
(`tests/test_contract_property.py` holds it to that).

Both content modes of the CloudEvents Kafka protocol binding are read (contract v1.1): structured (the
whole event is the value) and binary (attributes in `ce_<name>` headers, `data` as the value). A binary
message is turned into the envelope its structured twin would carry and checked by the same code, so both
modes give the same `Event` and the same reasons. `content_mode` says how the mode is told apart.

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
from collections.abc import Callable, Collection, Sequence
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

#: The Kafka protocol binding's names (header names compared in lower case, as the SDKs do).
CE_PREFIX = "ce_"
CONTENT_TYPE_HEADER = "content-type"
#: A `content-type` starting with this (any case) means structured mode, whatever other headers say.
STRUCTURED_MEDIA_TYPE = b"application/cloudevents"
STRUCTURED_CONTENT_TYPE = b"application/cloudevents+json"
#: Message headers as kafka-python and confluent-kafka give them.
Headers = Sequence[tuple[str, bytes | None]]

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

#: The contract's dead-letter reasons, in the order they are checked: every reason of a dead letter
#: (streams/schemas/dead_letter_reason.json), less those the lander decides before the value is read.
_REASONS_SCHEMA = json.loads((SCHEMA_DIR / "dead_letter_reason.json").read_text())
DEAD_LETTER_REASONS = tuple(
    r for r in _REASONS_SCHEMA["enum"] if r not in _REASONS_SCHEMA["x-decided-before-the-contract"]
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


#: What `parse_time` gives for a time whose UTC falls after 9999-12-31 (`9999-12-31T23:59:59-01:00`):
#: later than any landing, so the check says `future_time`, which is what such a time is.
LATEST_TIME = datetime.max.replace(tzinfo=UTC)


def parse_time(value: str) -> datetime | None:
    """An RFC 3339 time with an offset, in UTC; None if it is not one, or if it falls before
    0001-01-01T00:00:00Z in UTC (Python, Arrow and the warehouse cannot hold it); `LATEST_TIME` if it falls
    after 9999-12-31T23:59:59.999999Z."""
    if not _RFC3339.fullmatch(value):
        return None
    try:
        local = datetime.fromisoformat(value)
    except ValueError:  # RFC 3339 allows a lowercase "t" and "z"; fromisoformat does not
        try:
            local = datetime.fromisoformat(value.upper())
        except ValueError:  # a day, hour or offset that does not exist
            return None
    try:
        return local.astimezone(UTC)
    except OverflowError:  # the offset moves it out of years 1-9999
        return LATEST_TIME if local.year == 9999 else None


def _shown(value: Any) -> str:
    """An attribute's value for a refusal detail: a string cut to 80 characters, otherwise only its JSON
    type (the repr of a value nested 1,000 deep raises RecursionError, and a detail has no use for it)."""
    if type(value) is str:
        return repr(value[:80])
    return "a JSON " + _JSON_TYPES.get(type(value), type(value).__name__)


_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
_TOMBSTONE = "empty message (a tombstone or an empty payload)"


def content_mode(headers: Headers | None) -> str:
    """How the message's headers say its CloudEvent is carried: "binary" or "structured".

    The binding's rule first: a `content-type` starting with `application/cloudevents` is structured mode,
    even with `ce_` headers beside it (section 3.3.3 allows them; they are then ignored). Otherwise a
    `ce_specversion` header, the one attribute every CloudEvent has, means binary mode. Otherwise it is
    structured: contract v1 never required a `content-type`, and a message with neither is read as before
    (the binding itself would default to binary there, but a binary message without `ce_specversion` could
    only be refused)."""
    binary = False
    for key, value in headers or ():
        name = key.lower() if type(key) is str else _header_name(key)  # on the hot path: no call for text
        if name == CONTENT_TYPE_HEADER and type(value) is bytes:
            if value[: len(STRUCTURED_MEDIA_TYPE)].lower() == STRUCTURED_MEDIA_TYPE:
                return "structured"
        elif name == "ce_specversion":
            binary = True
    return "binary" if binary else "structured"


def _header_name(key: Any) -> str:
    """A header's name in lower case; a name that is not text never matches a name of the binding."""
    if type(key) is str:
        return key.lower()
    try:
        return bytes(key).decode().lower()
    except (TypeError, ValueError):
        return ""


def binary_envelope(value: Any, headers: Headers) -> dict[str, Any] | Refusal:
    """The envelope a binary-mode message stands for (its structured twin), or why it cannot be read.

    Every `ce_<name>` header is the attribute `<name>`, `content-type` is `datacontenttype`, the value is
    `data` (parsed as JSON; no value at all is an event without `data`, as the binding says). A header with
    no value is an attribute that is absent, as `null` is in structured mode. The same header twice: the
    last one counts, as the last of two equal keys does in JSON. Size counts the value and the headers that
    carry the event (names and values), so an event is `too_large` at about the size in both modes."""
    size = _length(value)
    attributes: dict[str, Any] = {}
    content_type: dict[str, Any] = {}  # applied last: `content-type` wins over a `ce_datacontenttype`
    unreadable = None
    for key, raw in headers:
        name = _header_name(key)
        if name == CONTENT_TYPE_HEADER:
            attribute, into = "datacontenttype", content_type
        elif name.startswith(CE_PREFIX) and name != "ce_data":  # data is the value, never a header
            attribute, into = name[len(CE_PREFIX) :], attributes
        else:
            continue  # the provider's own headers (tracing, ...) are not part of the event
        if raw is None:
            into.pop(attribute, None)
            continue
        size += len(name) + _length(raw)
        try:
            into[attribute] = raw.decode() if type(raw) is bytes else bytes(raw).decode()
        except (TypeError, ValueError):
            unreadable = unreadable or name[:80]
    attributes.update(content_type)
    if size > MAX_MESSAGE_BYTES:
        return Refusal(
            "too_large", f"value and ce_ headers: {size} bytes, the contract allows {MAX_MESSAGE_BYTES}"
        )
    if unreadable:
        return Refusal("not_json", f"header {unreadable}: not UTF-8 (the binding needs UTF-8 header values)")
    if value:
        try:
            attributes["data"] = orjson.loads(value)
        except (orjson.JSONDecodeError, TypeError) as exc:
            return Refusal("not_json", f"value: data is not UTF-8 JSON ({exc})")
    return attributes


def _length(value: Any) -> int:
    try:
        return len(value) if value is not None else 0
    except TypeError:
        return 0


class Contract:
    """The contract for one provider directory. Build it once; `check` is the hot path."""

    def __init__(self, provider_ids: Collection[str]):
        self.provider_ids = frozenset(provider_ids)
        self._validate_data = _data_validators()
        self._data_surely_valid = _data_fast_checks()

    def check(
        self, value: bytes | None, topic: str, now: datetime | None = None, headers: Headers | None = None
    ) -> Event | Refusal:
        """The event `value` holds, or why it is refused; `headers` (as the Kafka client gives them) say
        whether it is in structured or binary mode. Never raises."""
        if headers and content_mode(headers) == "binary":
            return self._check_binary(value, topic, now or datetime.now(UTC), headers)
        if type(value) is not bytes:  # kafka clients give bytes or None; anything else, once, here
            if value is None or not isinstance(value, bytearray | memoryview):
                detail = _TOMBSTONE if value is None else f"a {type(value).__name__}, not bytes"
                return Refusal("not_json", f"value: {detail}")
            value = bytes(value)
        if len(value) == 0:
            return Refusal("not_json", f"value: {_TOMBSTONE}")
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
        checked = self._check_envelope(event, topic, now or datetime.now(UTC))
        if headers and type(checked) is Refusal and checked.reason == "missing_attribute":
            return _hint_binary_without_specversion(checked, headers)
        return checked

    def _check_binary(self, value: Any, topic: str, now: datetime, headers: Headers) -> Event | Refusal:
        envelope = binary_envelope(value, headers)
        checked = envelope if type(envelope) is Refusal else self._check_envelope(envelope, topic, now)
        if type(checked) is Refusal:
            return Refusal(checked.reason, f"binary mode: {checked.detail}")
        return checked

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
                "source_topic_mismatch", f"source: {_shown(source)} does not name the provider of {topic}"
            )
        if topic_provider not in self.provider_ids:
            return Refusal("unknown_provider", f"source: provider {topic_provider!r} is not in the directory")
        if type(event_type) is not str or event_type not in self._validate_data:  # a list is unhashable
            return Refusal("unknown_type", f"type: {_shown(event_type)} is not a type of the contract")
        time = parse_time(raw_time) if type(raw_time) is str else None
        if time is None:
            return Refusal("bad_time", "time: must be an RFC 3339 time with an offset")
        if time > now + MAX_FUTURE:
            return Refusal(
                "future_time",
                f"time: {raw_time[:40]} is more than 24 hours after landing ({now:%Y-%m-%dT%H:%M:%SZ})",
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
            except RecursionError:  # fastjsonschema's uniqueItems recurses; valid data nests two deep
                return Refusal("data_invalid", "data: a value nested hundreds deep (rule: type)")
        # positional, in the field order: the keyword form costs twice as much, once per message
        return Event(
            event_id, source, topic_provider, event_type, time, subject, dataschema, datacontenttype, data
        )


def _hint_binary_without_specversion(refusal: Refusal, headers: Headers) -> Refusal:
    """A message with `ce_` headers but no `ce_specversion` is read as structured; say so, since its sender
    most likely meant binary mode."""
    if not any(_header_name(key).startswith(CE_PREFIX) for key, _ in headers):
        return refusal
    return Refusal(
        refusal.reason,
        f"{refusal.detail} (the message has ce_ headers but no ce_specversion, so it was read as "
        "structured mode: binary mode needs a ce_specversion header)",
    )
