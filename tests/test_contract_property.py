"""`Contract.check` never raises, whatever a message holds (issue 11), and answers each message as the
contract says: property-based (hypothesis) over any bytes, any headers and any JSON envelope, plus the
crashes found by fuzzing the lander, each with the reason it must get.

A crash in the check is not one refused message: the lander stops on that offset at every restart.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from referencing import Registry, Resource

from common.directory import load_directory
from common.settings import Settings
from streams.contract import (
    DEAD_LETTER_REASONS,
    EVENT_TYPES,
    LATEST_TIME,
    REQUIRED_ATTRIBUTES,
    SCHEMA_DIR,
    Contract,
    Event,
    Refusal,
    load_schema,
    parse_time,
)
from tests.contract_examples import NOW, SUBJECT, TOPIC, UUID_A, VALID_DATA, envelope

CONTRACT = Contract(load_directory(Settings().provider_directory))
EXAMPLES = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(value: Any, headers: Any = None) -> Event | Refusal:
    result = CONTRACT.check(value, TOPIC, now=NOW, headers=headers)
    assert type(result) in (Event, Refusal), result
    if type(result) is Refusal:
        assert result.reason in DEAD_LETTER_REASONS, result
        assert isinstance(result.detail, str) and result.detail
    return result


def dumps(value: Any) -> bytes:
    """JSON as any sender might write it: stdlib json writes ints of any size, NaN and Infinity (which are
    not JSON), and nests as deep as asked."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        return json.dumps(value).encode()
    finally:
        sys.setrecursionlimit(limit)


# -- strategies ----------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # unbounded: orjson reads ints past 64 bits as floats, and refuses past 1e308
    st.floats(),  # NaN and Infinity included
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)

TIME_PATTERN = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
#: Values near the rules (so the fuzz reaches the later checks), for the attributes that have rules.
NEAR_VALID: dict[str, st.SearchStrategy] = {
    "specversion": st.sampled_from(["1.0", "1.0 ", "0.3", "1", ""]),
    "id": st.sampled_from([UUID_A, UUID_A.upper(), UUID_A + "0", "not-a-uuid"]) | st.uuids().map(str),
    "source": st.sampled_from(
        ["urn:continuum:provider:okc-reentry", "urn:continuum:provider:okc-housing", "okc-reentry"]
    ),
    "type": st.sampled_from([*EVENT_TYPES, "participant.renamed", "Participant.Enrolled"]),
    "time": st.from_regex(TIME_PATTERN, fullmatch=True)
    | st.sampled_from(
        [
            "9999-12-31T23:59:59-01:00",
            "9999-12-31T23:59:59+01:00",
            "0001-01-01T00:00:00+01:00",
            "0001-01-01T00:00:00-01:00",
            "0000-01-01T00:00:00Z",
            "2026-05-30T09:30:00+24:00",
            "2026-05-30T24:00:00Z",
            "2026-05-30T09:30:60Z",
        ]
    ),
    "subject": st.sampled_from([SUBJECT, SUBJECT.upper(), SUBJECT[:-1], SUBJECT + "\n"]),
    "dataschema": st.sampled_from([f"urn:continuum:schema:{t}:1" for t in EVENT_TYPES]),
    "datacontenttype": st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain"]),
}
ATTRIBUTES = [*REQUIRED_ATTRIBUTES, "datacontenttype"]


@st.composite
def envelopes(draw: st.DrawFn, any_value: st.SearchStrategy = json_values) -> dict[str, Any]:
    """A valid envelope of some type, then attributes (and fields of `data`) replaced by other values,
    removed, or added."""
    event_type = draw(st.sampled_from(EVENT_TYPES))
    event = envelope(event_type, time="2026-05-30T09:30:00Z")
    for attribute in draw(st.lists(st.sampled_from(ATTRIBUTES), max_size=4, unique=True)):
        change = draw(st.sampled_from(["replace", "near", "remove"]))
        if change == "remove":
            event.pop(attribute, None)
        elif change == "near" and attribute in NEAR_VALID:
            event[attribute] = draw(NEAR_VALID[attribute])
        else:
            event[attribute] = draw(any_value)
    if type(event.get("data")) is dict and event["data"] and draw(st.booleans()):
        data = dict(event["data"])
        for field in draw(st.lists(st.sampled_from(sorted(data)), max_size=2, unique=True)):
            data[field] = draw(any_value)
        event["data"] = data
    extra = draw(
        st.dictionaries(st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True), any_value, max_size=3)
    )
    return {**extra, **event}


header_names = st.sampled_from(
    [f"ce_{a}" for a in ATTRIBUTES] + ["content-type", "CE_ID", "Content-Type", "ce_", "traceparent", ""]
) | st.text(max_size=12)
header_values = (
    st.none()
    | st.binary(max_size=40)
    | st.sampled_from(
        [
            b"1.0",
            b"application/json",
            b"application/cloudevents+json",
            b"APPLICATION/CLOUDEVENTS",
            b"\xff\xfe",
        ]
    )
)
headers_lists = st.lists(st.tuples(header_names, header_values), max_size=8)


# -- never raises ----------------------------------------------------------------------------------------


@EXAMPLES
@given(st.binary(max_size=2_000))
def test_any_bytes_get_an_answer(value: bytes) -> None:
    check(value)


@EXAMPLES
@given(st.binary(max_size=500) | st.none(), headers_lists)
def test_any_bytes_with_any_headers_get_an_answer(value: bytes | None, headers: list) -> None:
    check(value, headers)


@EXAMPLES
@given(envelopes())
def test_any_envelope_gets_an_answer_and_what_lands_follows_the_schema(event: dict[str, Any]) -> None:
    result = check(dumps(event))
    if type(result) is Event:
        # The reference validator of the machine-readable contract agrees with what is landed.
        assert _schema_validator(result.type).is_valid(orjson.loads(dumps(event))), event
        assert result.data == event["data"] and result.id == event["id"]


@EXAMPLES
@given(st.sampled_from(EVENT_TYPES), st.sampled_from([*ATTRIBUTES, "extension"]), json_values)
def test_any_one_attribute_of_any_json_type_gets_an_answer(
    event_type: str, attribute: str, value: Any
) -> None:
    # One attribute changed, the others valid: every check is reached with every JSON type.
    result = check(dumps(envelope(event_type, **{attribute: value})))
    if type(result) is Event:
        assert attribute == "extension" or value == envelope(event_type).get(attribute) or value is None


@EXAMPLES
@given(envelopes())
def test_a_missing_or_null_attribute_is_missing_attribute(event: dict[str, Any]) -> None:
    value = dumps(event)
    missing = [a for a in REQUIRED_ATTRIBUTES if event.get(a) is None]
    result = check(value)
    if missing:
        assert type(result) is Refusal and result.reason in ("not_json", "missing_attribute"), result
        if result.reason == "missing_attribute":
            assert result.detail.startswith(missing[0] + ":")


@EXAMPLES
@given(envelopes(), headers_lists)
def test_any_envelope_with_any_headers_gets_an_answer(event: dict[str, Any], headers: list) -> None:
    check(dumps(event), headers)


@EXAMPLES
@given(envelopes(), st.sampled_from(["id", "type", "time", "source"]), json_values)
def test_any_attribute_as_binary_header_text_gets_an_answer(event: dict, name: str, raw: Any) -> None:
    headers = [("ce_specversion", b"1.0"), (f"ce_{name}", dumps(raw))]
    check(dumps(event.get("data")), headers)


# -- the crashes fuzzing found, each with its reason -----------------------------------------------------


def nested(kind: str, depth: int) -> Any:
    value: Any = [] if kind == "array" else {}
    for _ in range(depth):
        value = [value] if kind == "array" else {"a": value}
    return value


# orjson reads at most 1,024 levels; 1,000 is past Python's default recursion limit.
DEEP = 1_000


@pytest.mark.parametrize(
    ("attribute", "value", "reason"),
    [
        ("type", ["participant.enrolled"], "unknown_type"),  # was TypeError: unhashable type: 'list'
        ("type", {"name": "participant.enrolled"}, "unknown_type"),  # was TypeError: unhashable type: 'dict'
        ("type", nested("array", DEEP), "unknown_type"),
        ("source", nested("array", DEEP), "source_topic_mismatch"),  # was RecursionError in the detail
        ("source", nested("object", DEEP), "source_topic_mismatch"),
        ("time", "9999-12-31T23:59:59-01:00", "future_time"),  # was OverflowError: after year 9999 in UTC
        ("time", "0001-01-01T00:00:00+01:00", "bad_time"),  # was OverflowError: before year 1 in UTC
        ("time", "0000-06-01T00:00:00Z", "bad_time"),
        ("time", ["2026-05-30T09:30:00Z"], "bad_time"),
        ("time", 1e308, "bad_time"),
        ("specversion", ["1.0"], "bad_specversion"),
        ("specversion", 1.0, "bad_specversion"),
        ("id", {"uuid": UUID_A}, "bad_id"),
        ("id", 2**70, "bad_id"),  # past 64 bits: read as a float
        ("subject", nested("object", DEEP), "bad_subject"),
        ("dataschema", ["urn:continuum:schema:referral.requested:1"], "bad_dataschema"),
        ("dataschema", nested("array", DEEP), "bad_dataschema"),
        ("datacontenttype", ["application/json"], "data_invalid"),
        ("datacontenttype", nested("object", DEEP), "data_invalid"),
        ("data", nested("array", DEEP), "data_invalid"),
        ("data", nested("object", DEEP), "data_invalid"),
        ("extension", nested("array", DEEP), None),  # an extension attribute is not landed: accepted
    ],
)
def test_odd_attribute_values_get_their_reason(attribute: str, value: Any, reason: str | None) -> None:
    result = check(dumps(envelope(**{attribute: value})))
    if reason is None:
        assert type(result) is Event
    else:
        assert type(result) is Refusal and result.reason == reason, result


@pytest.mark.parametrize("field", sorted(VALID_DATA["participant.enrolled"]))
@pytest.mark.parametrize("kind", ["array", "object"])
def test_data_fields_nested_past_the_recursion_limit_are_data_invalid(field: str, kind: str) -> None:
    # fastjsonschema's uniqueItems (race_ethnicity) recursed into each item: RecursionError.
    for value in (nested(kind, DEEP), [nested(kind, DEEP), nested(kind, DEEP)]):
        data = {**VALID_DATA["participant.enrolled"], field: value}
        result = check(dumps(envelope("participant.enrolled", data=data)))
        assert type(result) is Refusal and result.reason == "data_invalid", result


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"1" * 400, "not_json"),  # an int orjson cannot hold as a float either
        (b'{"id": NaN}', "not_json"),
        (b'{"id": 1e400}', "not_json"),
        (b'"\\ud800"', "not_json"),  # a lone surrogate: not text
        (b"[" * 1100 + b"]" * 1100, "not_json"),  # orjson's depth limit
        (dumps(nested("array", 1_020)), "not_an_object"),
        (bytearray(b"[]"), "not_an_object"),
        (memoryview(b"{}"), "missing_attribute"),
        ("a str, not bytes", "not_json"),
        (12345, "not_json"),
    ],
)
def test_odd_values_get_their_reason(value: Any, reason: str) -> None:
    result = check(value)
    assert type(result) is Refusal and result.reason == reason, result


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9999-12-31T23:59:59-01:00", LATEST_TIME),
        ("9999-12-31T23:59:59+01:00", datetime(9999, 12, 31, 22, 59, 59, tzinfo=UTC)),
        ("0001-01-01T00:00:00+01:00", None),
        ("0001-01-01T01:00:00+01:00", datetime(1, 1, 1, tzinfo=UTC)),
        ("0001-01-01T00:00:00-01:00", datetime(1, 1, 1, 1, tzinfo=UTC)),
        ("2026-05-30T09:30:00+24:00", None),  # an offset that does not exist
    ],
)
def test_parse_time_at_the_edges_of_the_year_range(text: str, expected: datetime | None) -> None:
    assert parse_time(text) == expected


# -- the reference validator -----------------------------------------------------------------------------


def _schema_validator(event_type: str) -> jsonschema.Draft7Validator:
    return _VALIDATORS[event_type]


def _build_validators() -> dict[str, jsonschema.Draft7Validator]:
    resources = [
        (schema["$id"], Resource.from_contents(schema))
        for schema in (json.loads(p.read_text()) for p in SCHEMA_DIR.glob("*.json"))
    ]
    registry = Registry().with_resources(resources)
    return {
        t: jsonschema.Draft7Validator(
            load_schema(t), registry=registry, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
        )
        for t in EVENT_TYPES
    }


_VALIDATORS = _build_validators()
