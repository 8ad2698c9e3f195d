"""The event contract: every type accepted, every dead-letter reason exactly, schemas in agreement."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jsonschema
import orjson
import pytest
from referencing import Registry, Resource

from common.directory import load_directory
from common.settings import Settings
from streams.contract import (
    DEAD_LETTER_REASONS,
    EVENT_TYPES,
    SCHEMA_DIR,
    Contract,
    Event,
    Refusal,
    load_schema,
)
from tests.contract_examples import NOW, SUBJECT, TOPIC, UUID_A, VALID_DATA, envelope, message


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract(load_directory(Settings().provider_directory))


def check(contract: Contract, value: bytes | None, topic: str = TOPIC):
    return contract.check(value, topic, now=NOW)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_a_valid_event_of_every_type_is_accepted(contract: Contract, event_type: str) -> None:
    result = check(contract, message(event_type))
    assert isinstance(result, Event), result
    assert result.type == event_type
    assert result.provider_id == "okc-reentry"
    assert result.data == VALID_DATA[event_type]
    assert result.time == datetime(2026, 5, 30, 9, 30, tzinfo=UTC)


def _data(event_type: str, **changes) -> dict:
    data = dict(VALID_DATA[event_type])
    for key, value in changes.items():
        if value is ...:
            del data[key]
        else:
            data[key] = value
    return data


def _with_data(event_type: str, **changes) -> bytes:
    return message(event_type, data=_data(event_type, **changes))


# (reason, message, topic, a word the detail must contain): every reason of the contract at least once.
DEAD_LETTER_CASES = [
    ("too_large", message(data={"x": "a" * 70_000}), TOPIC, "bytes"),
    ("not_json", b"{not json", TOPIC, "value"),
    ("not_json", b"\xff\xfe garbage", TOPIC, "value"),
    ("not_json", None, TOPIC, "tombstone"),
    ("not_an_object", b"[1, 2, 3]", TOPIC, "list"),
    ("not_an_object", b'"a string"', TOPIC, "str"),
    ("missing_attribute", message(id=...), TOPIC, "id"),
    ("missing_attribute", message(data=None), TOPIC, "data"),
    ("missing_attribute", message(subject=...), TOPIC, "subject"),
    ("bad_specversion", message(specversion="0.3"), TOPIC, "specversion"),
    ("bad_id", message(id="0B6F4C1E-3B1A-4C8E-9D2F-5A7B8C9D0E1F"), TOPIC, "id"),
    ("bad_id", message(id="not-a-uuid"), TOPIC, "id"),
    ("bad_id", message(id=12345), TOPIC, "id"),
    ("source_topic_mismatch", message(source="urn:continuum:provider:okc-housing"), TOPIC, "source"),
    ("source_topic_mismatch", message(source="okc-reentry"), TOPIC, "source"),
    (
        "unknown_provider",
        message(source="urn:continuum:provider:no-such-org"),
        "providers.no-such-org.events",
        "directory",
    ),
    ("unknown_type", message(type="participant.renamed"), TOPIC, "type"),
    ("bad_time", message(time="2026-05-30 09:30"), TOPIC, "time"),
    ("bad_time", message(time="2026-05-30T09:30:00"), TOPIC, "time"),  # no offset
    ("bad_time", message(time="2026-02-30T09:30:00Z"), TOPIC, "time"),  # no such day
    ("bad_time", message(time=1717000000), TOPIC, "time"),
    ("future_time", message(time=(NOW + timedelta(hours=25)).isoformat()), TOPIC, "24 hours"),
    ("bad_subject", message(subject=SUBJECT.upper()), TOPIC, "subject"),
    ("bad_subject", message(subject="O'Brien, Jose"), TOPIC, "subject"),
    ("bad_dataschema", message(dataschema="urn:continuum:schema:referral.requested:2"), TOPIC, "dataschema"),
    ("bad_dataschema", message(dataschema="urn:continuum:schema:consent.granted:1"), TOPIC, "dataschema"),
    ("data_invalid", _with_data("referral.requested", priority="whenever"), TOPIC, "data.priority"),
    ("data_invalid", _with_data("referral.requested", first_name="Jose"), TOPIC, "first_name"),
    ("data_invalid", _with_data("referral.requested", contact_prohibited=...), TOPIC, "contact_prohibited"),
    ("data_invalid", _with_data("participant.enrolled", birth_year=1850), TOPIC, "data.birth_year"),
    ("data_invalid", _with_data("participant.enrolled", birth_year=True), TOPIC, "data.birth_year"),
    ("data_invalid", _with_data("participant.enrolled", zip3="73102"), TOPIC, "data.zip3"),
    ("data_invalid", _with_data("participant.enrolled", race_ethnicity=["martian"]), TOPIC, "race_ethnicity"),
    (
        "data_invalid",
        _with_data("referral.status_changed", status="rejected", status_reason=None),
        TOPIC,
        "status_reason",
    ),
    (
        "data_invalid",
        _with_data("referral.status_changed", status="accepted", status_reason="other"),
        TOPIC,
        "status_reason",
    ),
    (
        "data_invalid",
        _with_data("incident.recorded", incident_type="gunshot_injury", outcome="resolved"),
        TOPIC,
        "outcome",
    ),
    (
        "data_invalid",
        _with_data("outcome.recorded", domain="housing", status="employed_full_time"),
        TOPIC,
        "status",
    ),
    ("data_invalid", _with_data("service.delivered", duration_minutes=0), TOPIC, "duration_minutes"),
    ("data_invalid", _with_data("consent.granted", part2="yes"), TOPIC, "part2"),
    ("data_invalid", message(datacontenttype="text/plain"), TOPIC, "datacontenttype"),
    ("data_invalid", message(data=[1]), TOPIC, "data"),
]


@pytest.mark.parametrize(("reason", "value", "topic", "detail_word"), DEAD_LETTER_CASES)
def test_each_broken_message_gets_exactly_its_reason(
    contract: Contract, reason: str, value: bytes | None, topic: str, detail_word: str
) -> None:
    result = check(contract, value, topic)
    assert isinstance(result, Refusal), f"accepted: {result}"
    assert result.reason == reason, result
    assert detail_word in result.detail


def test_every_reason_of_the_contract_has_a_case() -> None:
    assert {case[0] for case in DEAD_LETTER_CASES} == set(DEAD_LETTER_REASONS)


def test_a_time_just_inside_the_future_bound_is_accepted(contract: Contract) -> None:
    result = check(contract, message(time=(NOW + timedelta(hours=23, minutes=59)).isoformat()))
    assert isinstance(result, Event)


def test_time_is_converted_to_utc(contract: Contract) -> None:
    result = check(contract, message(time="2026-05-30T04:30:00-05:00"))
    assert isinstance(result, Event)
    assert result.time == datetime(2026, 5, 30, 9, 30, tzinfo=UTC)


def test_rfc3339_lowercase_t_and_z_are_times_too(contract: Contract) -> None:
    result = check(contract, message(time="2026-05-30t09:30:00.5z"))
    assert isinstance(result, Event)
    assert result.time == datetime(2026, 5, 30, 9, 30, 0, 500_000, tzinfo=UTC)


def test_datacontenttype_may_be_absent(contract: Contract) -> None:
    assert isinstance(check(contract, message(datacontenttype=...)), Event)


# The JSON Schemas are the machine-readable contract for providers; they must agree with the validator.
def _schema_validator(event_type: str) -> jsonschema.Draft7Validator:
    resources = [
        (schema["$id"], Resource.from_contents(schema))
        for schema in (json.loads(p.read_text()) for p in SCHEMA_DIR.glob("*.json"))
    ]
    registry = Registry().with_resources(resources)
    return jsonschema.Draft7Validator(
        load_schema(event_type), registry=registry, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_the_full_schema_accepts_the_valid_example(event_type: str) -> None:
    _schema_validator(event_type).validate(envelope(event_type))


# Reasons the schemas cannot say (size, topic, directory, clock) are left out: they are the envelope rules.
SCHEMA_REASONS = {
    "missing_attribute",
    "bad_specversion",
    "bad_id",
    "unknown_type",
    "bad_time",
    "bad_subject",
    "bad_dataschema",
    "data_invalid",
}


# A calendar-impossible day passes the schema's pattern; `format: date-time` catches it only where the
# schema user has a date-time format checker (jsonschema needs rfc3339-validator for that).
IMPOSSIBLE_DAY = b"2026-02-30"


@pytest.mark.parametrize(
    ("reason", "value"),
    [
        (r, v)
        for r, v, t, _ in DEAD_LETTER_CASES
        if r in SCHEMA_REASONS and t == TOPIC and IMPOSSIBLE_DAY not in v
    ],
)
def test_the_full_schema_refuses_what_the_validator_refuses(reason: str, value: bytes) -> None:
    event = orjson.loads(value)
    # An unknown type has no schema of its own: the referral schema's `type` const refuses it.
    schema_type = event.get("type") if event.get("type") in EVENT_TYPES else "referral.requested"
    assert not _schema_validator(schema_type).is_valid(event), reason


def test_the_detail_never_echoes_a_data_value(contract: Contract) -> None:
    # Dead-letter details reach the warehouse; a refused field's value could be a name.
    result = check(contract, _with_data("referral.requested", priority="Jose O'Brien"))
    assert isinstance(result, Refusal)
    assert "Jose" not in result.detail


def test_uuid_of_subject_and_ids_are_case_sensitive(contract: Contract) -> None:
    assert isinstance(check(contract, message(id=UUID_A)), Event)
