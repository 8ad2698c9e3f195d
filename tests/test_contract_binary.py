"""Contract v1.1: the CloudEvents Kafka binding's binary mode lands exactly as structured mode (issue 14).

Unit level: every event type and every dead-letter reason, in binary mode and against its structured twin;
how the mode is decided. Broker level (the session's broker, the real `continuum land --until-caught-up`):
both modes land the same rows, binary dead letters keep their headers, and messages made by the official
`cloudevents` SDK and sent through librdkafka (confluent-kafka) land.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import confluent_kafka
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent
from cloudevents.v1 import kafka as ce_kafka_v1
from cloudevents.v1.http import CloudEvent as LegacyCloudEvent
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from common.directory import load_directory
from common.names import dataschema_for, provider_topic, source_for
from common.settings import PROJECT_ROOT, Settings
from streams.contract import DEAD_LETTER_REASONS, EVENT_TYPES, Contract, Event, Refusal, content_mode
from streams.kafka import ensure_topics
from streams.landing import files
from streams.producer import ProviderClient, binary_message
from tests.contract_examples import NOW, SUBJECT, TOPIC, UUID_A, VALID_DATA, binary, envelope, message
from tests.test_contract_property import envelopes

CONTRACT = Contract(load_directory(Settings().provider_directory))
LINEAGE = ("kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp", "landed_at")


def check(value: Any, headers: Any = None, topic: str = TOPIC) -> Event | Refusal:
    return CONTRACT.check(value, topic, now=NOW, headers=headers)


def with_header(headers: list, name: str, value: bytes | None) -> list:
    """`headers` with `name` set to `value` (or left out when `value` is ...)."""
    kept = [(k, v) for k, v in headers if k != name]
    return kept if value is ... else [*kept, (name, value)]


# -- unit: the same event, the same refusal ---------------------------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_in_binary_mode_is_the_same_event(event_type: str) -> None:
    value, headers = binary(event_type)
    assert content_mode(headers) == "binary"
    assert orjson.loads(value) == VALID_DATA[event_type]  # data alone is the value
    result = check(value, headers)
    assert isinstance(result, Event), result
    assert result == check(message(event_type))
    assert result.time == datetime(2026, 5, 30, 9, 30, tzinfo=UTC)
    assert result.datacontenttype == "application/json" and result.data == VALID_DATA[event_type]


FUTURE = (NOW + timedelta(hours=25)).isoformat()
LATE = "9999-12-31T23:59:59-01:00"

# (reason, envelope changes, topic): each as a binary message and as its structured twin.
TWIN_CASES = [
    ("too_large", {"data": {**VALID_DATA["referral.requested"], "x": "a" * 70_000}}, TOPIC),
    ("too_large", {"traceparent": "a" * 70_000}, TOPIC),  # in a ce_ header: the headers count too
    ("missing_attribute", {"id": ...}, TOPIC),
    ("missing_attribute", {"source": ...}, TOPIC),
    ("missing_attribute", {"data": ...}, TOPIC),  # no value: an event without data (the binding, 3.2.2)
    ("missing_attribute", {"data": None}, TOPIC),  # the value `null`
    ("bad_specversion", {"specversion": "0.3"}, TOPIC),
    ("bad_id", {"id": UUID_A.upper()}, TOPIC),
    ("source_topic_mismatch", {"source": source_for("okc-housing")}, TOPIC),
    ("unknown_provider", {"source": source_for("no-such-org")}, provider_topic("no-such-org")),
    ("unknown_type", {"type": "participant.renamed"}, TOPIC),
    ("bad_time", {"time": "last tuesday"}, TOPIC),
    ("bad_time", {"time": "0001-01-01T00:00:00+01:00"}, TOPIC),
    ("future_time", {"time": FUTURE}, TOPIC),
    ("future_time", {"time": LATE}, TOPIC),
    ("bad_subject", {"subject": SUBJECT.upper()}, TOPIC),
    ("bad_dataschema", {"dataschema": dataschema_for("consent.granted")}, TOPIC),
    ("data_invalid", {"data": {**VALID_DATA["referral.requested"], "priority": "whenever"}}, TOPIC),
    ("data_invalid", {"data": [1, 2, 3]}, TOPIC),  # data must be an object: its twin's reason
    ("data_invalid", {"data": "a string"}, TOPIC),
    ("data_invalid", {"datacontenttype": "text/plain"}, TOPIC),
]


@pytest.mark.parametrize(("reason", "changes", "topic"), TWIN_CASES)
def test_a_binary_message_gets_the_reason_of_its_structured_twin(
    reason: str, changes: dict, topic: str
) -> None:
    value, headers = binary(**changes)
    structured = check(message(**changes), topic=topic)
    result = check(value, headers, topic=topic)
    assert isinstance(result, Refusal) and isinstance(structured, Refusal), (result, structured)
    assert result.reason == structured.reason == reason, (result, structured)
    assert result.detail.startswith("binary mode: ")


VALUE, HEADERS = binary()

# Binary messages without a structured twin: (reason, value, headers, a word the detail must contain).
BINARY_ONLY_CASES = [
    ("not_json", b"{not json", HEADERS, "value"),
    ("not_json", b"\xff\xfe", HEADERS, "value"),
    ("not_json", VALUE, with_header(HEADERS, "ce_id", b"\xff\xfe\xfd"), "ce_id"),  # not UTF-8
    ("not_json", VALUE, with_header(HEADERS, "content-type", b"application/\xff"), "content-type"),
    ("not_json", VALUE, with_header(HEADERS, "ce_traceparent", b"\xc3("), "ce_traceparent"),
    ("missing_attribute", VALUE, with_header(HEADERS, "ce_id", None), "id"),  # a header with no value
    ("missing_attribute", b"", HEADERS, "data"),
]


@pytest.mark.parametrize(("reason", "value", "headers", "word"), BINARY_ONLY_CASES)
def test_binary_messages_that_cannot_be_read_get_their_reason(
    reason: str, value: bytes, headers: list, word: str
) -> None:
    result = check(value, headers)
    assert isinstance(result, Refusal) and result.reason == reason, result
    assert word in result.detail


def test_the_detail_never_echoes_a_data_value_in_binary_mode() -> None:
    # Dead-letter details reach the warehouse and the provider's feedback; a refused value could be a name.
    value, headers = binary(data={**VALID_DATA["referral.requested"], "priority": "Jose O'Brien"})
    result = check(value, headers)
    assert isinstance(result, Refusal) and result.reason == "data_invalid"
    assert "Jose" not in result.detail and "priority" in result.detail
    result = check(b'{"name": "Jose O\'Brien"', headers)
    assert isinstance(result, Refusal) and result.reason == "not_json" and "Jose" not in result.detail


def test_every_reason_a_binary_message_can_have_is_produced() -> None:
    # not_an_object is about the message being a JSON object: in binary mode the headers are the envelope,
    # and a value that is no object is `data` that is no object, data_invalid as in its structured twin.
    produced = {case[0] for case in TWIN_CASES} | {case[0] for case in BINARY_ONLY_CASES}
    assert produced == set(DEAD_LETTER_REASONS) - {"not_an_object"}


@settings(max_examples=300, deadline=None)
@given(envelopes(any_value=st.text(max_size=30) | st.none()))
def test_any_envelope_and_its_binary_twin_get_the_same_answer(event: dict[str, Any]) -> None:
    # Attributes whose values a header can carry (text, or absent). A binary message is one with a
    # ce_specversion, and a `datacontenttype` naming the structured media type cannot travel in binary
    # mode (the binding reads the message as structured): neither has a binary twin.
    event = {k: v for k, v in event.items() if v is not None or k == "data"}
    assume("specversion" in event)
    assume(not str(event.get("datacontenttype", "")).lower().startswith("application/cloudevents"))
    structured = check(orjson.dumps(event))
    value = orjson.dumps(event["data"]) if "data" in event else None
    result = check(value, binary_message({**event, "data": None})[1])
    if isinstance(structured, Event):
        assert result == structured
    else:
        assert isinstance(result, Refusal) and result.reason == structured.reason, (result, structured)


# -- unit: which mode ---------------------------------------------------------------------------------------


def test_the_structured_media_type_means_structured_even_with_ce_headers() -> None:
    headers = [("content-type", b"application/cloudevents+json; charset=UTF-8"), *HEADERS]
    assert content_mode(headers) == "structured"
    assert check(message(), headers) == check(message())
    assert check(VALUE, headers).reason == "missing_attribute"  # data alone is no structured event


@pytest.mark.parametrize(
    "headers",
    [None, [], [("content-type", b"application/cloudevents+json")], [("traceparent", b"00-ab")]],
)
def test_a_structured_message_with_or_without_headers_is_the_same_event(headers: list | None) -> None:
    assert content_mode(headers) == "structured"
    assert check(message(), headers) == check(message())


def test_a_batch_of_events_is_not_an_object() -> None:
    headers = [("content-type", b"application/cloudevents-batch+json")]
    result = check(b"[" + message() + b"]", headers)
    assert isinstance(result, Refusal) and result.reason == "not_an_object"


def test_ce_headers_without_ce_specversion_are_read_as_structured_and_the_detail_says_so() -> None:
    headers = with_header(HEADERS, "ce_specversion", ...)
    assert content_mode(headers) == "structured"
    result = check(VALUE, headers)
    assert isinstance(result, Refusal) and result.reason == "missing_attribute"
    assert "no ce_specversion" in result.detail


def test_header_names_are_read_in_any_case_and_other_headers_are_ignored() -> None:
    headers = [(k.upper(), v) for k, v in HEADERS] + [("traceparent", b"\xff not utf-8, not ours")]
    assert content_mode(headers) == "binary"
    assert check(VALUE, headers) == check(message())


def test_content_type_may_be_absent_and_the_same_header_twice_counts_the_last() -> None:
    headers = with_header(HEADERS, "content-type", ...)
    result = check(VALUE, headers)
    assert isinstance(result, Event) and result.datacontenttype is None
    assert result == check(message(datacontenttype=...))
    twice = [("ce_id", b"not-a-uuid"), *HEADERS]  # HEADERS carries the valid ce_id after it
    assert isinstance(check(VALUE, twice), Event)
    assert check(VALUE, [*HEADERS, ("ce_id", b"not-a-uuid")]).reason == "bad_id"


@pytest.mark.parametrize("first", [True, False])
def test_content_type_wins_over_a_ce_datacontenttype_header(first: bool) -> None:
    extra = ("ce_datacontenttype", b"text/plain")
    headers = [extra, *HEADERS] if first else [*HEADERS, extra]
    assert check(VALUE, headers) == check(message())


def test_a_ce_data_header_is_not_data() -> None:
    headers = [*HEADERS, ("ce_data", b'{"priority": "whenever"}')]
    assert check(VALUE, headers) == check(message())


# -- unit: the official SDK --------------------------------------------------------------------------------


def sdk_event(event_type: str, event_id: str, when: datetime) -> CloudEvent:
    """An event as a provider's engineer builds it with the cloudevents SDK (2.x `core` API)."""
    return CloudEvent(
        attributes={
            "id": event_id,
            "source": source_for("okc-reentry"),
            "type": event_type,
            "time": when,
            "subject": SUBJECT,
            "dataschema": dataschema_for(event_type),
            "datacontenttype": "application/json",
        },
        data=dict(VALID_DATA[event_type]),
    )


def by_subject(event: Any) -> bytes:
    return SUBJECT.encode()  # the contract keys messages by subject


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_sdk_messages_in_both_modes_are_the_same_event(event_type: str) -> None:
    when = datetime(2026, 5, 30, 9, 30, tzinfo=UTC)
    event = sdk_event(event_type, UUID_A, when)
    as_binary = ce_kafka.to_binary_event(event, key_mapper=by_subject)
    as_structured = ce_kafka.to_structured_event(event, key_mapper=by_subject)
    expected = check(message(event_type, id=UUID_A))
    assert isinstance(expected, Event)
    for kafka_message in (as_binary, as_structured):
        assert check(kafka_message.value, list(kafka_message.headers.items())) == expected
    assert content_mode(list(as_binary.headers.items())) == "binary"


def test_legacy_sdk_messages_are_events_too() -> None:
    # cloudevents 1.x's `cloudevents.kafka` (in 2.x: `cloudevents.v1.kafka`). Its to_structured moves
    # datacontenttype out of the event into a `content-type: application/json` header: read as structured
    # (no ce_specversion), the event lands without a datacontenttype.
    attributes = {k: v for k, v in envelope(id=UUID_A).items() if k != "data"}
    event = LegacyCloudEvent(attributes, dict(VALID_DATA["referral.requested"]))
    expected = check(message(id=UUID_A))
    as_binary = ce_kafka_v1.to_binary(event, key_mapper=by_subject)
    assert check(as_binary.value, list(as_binary.headers.items())) == expected
    as_structured = ce_kafka_v1.to_structured(event, key_mapper=by_subject)
    assert check(as_structured.value, list(as_structured.headers.items())) == expected._replace(
        datacontenttype=None
    )


# -- through the broker and the lander ---------------------------------------------------------------------


def land(settings: Settings, tmp_path: Path) -> None:
    """The real lander, as an operator runs it, until it has caught up with every topic (the session's
    broker holds other tests' messages too: each test looks only at what it sent)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUUM_")}
    env.update(CONTINUUM_HOME=str(settings.home), CONTINUUM_BROKER_PORT=str(settings.broker_port))
    log = tmp_path / "land.log"
    with open(log, "wb") as out:
        code = subprocess.run(
            [sys.executable, "-m", "continuum.cli", "land", "--until-caught-up"],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=180,
        ).returncode
    assert code == 0, log.read_text()[-3000:]


def landed(settings: Settings, kind: str) -> list[dict]:
    batches = files.committed_batches(settings.landing_dir)
    paths = [b.events_path if kind == "events" else b.dead_letters_path for b in batches]
    tables = [pq.read_table(p) for p in paths if p is not None]
    return pa.concat_tables(tables).to_pylist() if tables else []


def test_every_event_type_lands_the_same_row_in_both_modes(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(settings)
    when = datetime.now(UTC).replace(microsecond=123_000) - timedelta(days=2)
    ids = {t: str(uuid.uuid4()) for t in EVENT_TYPES}
    with ProviderClient("okc-reentry", settings) as structured:
        for t in EVENT_TYPES:
            structured.send(t, SUBJECT, VALID_DATA[t], time=when, event_id=ids[t])
    with ProviderClient("okc-reentry", settings, content_mode="binary") as binary_client:
        sent = [
            binary_client.send(t, SUBJECT, VALID_DATA[t], time=when, event_id=ids[t]) for t in EVENT_TYPES
        ]
    assert all(dict(s.headers)["ce_specversion"] == b"1.0" for s in sent)

    land(settings, tmp_path)

    rows: dict[str, list[dict]] = {}
    for row in landed(settings, "events"):
        rows.setdefault(row["id"], []).append(row)
    for t in EVENT_TYPES:
        # one key, so one partition: the structured message was sent first, at the lower offset
        first, second = sorted(rows[ids[t]], key=lambda r: r["kafka_offset"])
        assert first["kafka_partition"] == second["kafka_partition"]
        assert {k: v for k, v in first.items() if k not in LINEAGE} == {
            k: v for k, v in second.items() if k not in LINEAGE
        }
        assert first["type"] == t and first["time"] == when and first["subject"] == SUBJECT
        assert first["datacontenttype"] == "application/json" and first["specversion"] == "1.0"
        assert orjson.loads(first["data"]) == VALID_DATA[t] and first["source"] == source_for("okc-reentry")


def test_binary_dead_letters_get_their_reason_and_keep_their_headers(
    settings: Settings, tmp_path: Path
) -> None:
    ensure_topics(settings)
    topic, tag = provider_topic("okc-housing"), uuid.uuid4().hex
    now = datetime.now(UTC)
    valid = envelope(
        "justice.arrested",
        source=source_for("okc-housing"),
        dataschema=dataschema_for("justice.arrested"),
        data={"charge_category": "drug"},
        time=(now - timedelta(hours=1)).isoformat(),
    )
    value, headers = binary_message(valid)
    hostile = {
        "missing_attribute": (value, with_header(headers, "ce_id", ...)),
        "not_json": (b"{not json", headers),
        "not_json:header": (value, with_header(headers, "ce_subject", b"\xff\xfe")),
        "future_time": (
            value,
            with_header(headers, "ce_time", (now + timedelta(days=2)).isoformat().encode()),
        ),
        "data_invalid": (b'{"charge_category": "jaywalking"}', headers),
        "bad_id": (value, with_header(headers, "ce_id", b"NOT-A-UUID")),
        "missing_attribute:null header": (value, with_header(headers, "ce_id", None)),
    }
    producer = confluent_kafka.Producer({"bootstrap.servers": settings.bootstrap_servers})
    valid_ids = []
    for n, (hostile_value, hostile_headers) in enumerate(hostile.values()):
        valid_ids.append(str(uuid.uuid4()))
        good_value, good_headers = binary_message({**valid, "id": valid_ids[-1]})
        producer.produce(topic, key=SUBJECT.encode(), value=good_value, headers=good_headers)
        producer.produce(topic, key=f"{tag}-{n}".encode(), value=hostile_value, headers=hostile_headers)
    assert producer.flush(30) == 0

    land(settings, tmp_path)

    letters = {
        row["key"]: row for row in landed(settings, "dead_letters") if row["key"].startswith(tag.encode())
    }
    assert len(letters) == len(hostile)
    for n, (name, (hostile_value, hostile_headers)) in enumerate(hostile.items()):
        row = letters[f"{tag}-{n}".encode()]
        assert row["error_reason"] == name.split(":")[0], row
        assert row["error_detail"].startswith("binary mode: ") and row["value"] == hostile_value
        kept = {k: v if v is None else base64.b64decode(v) for k, v in orjson.loads(row["headers"]).items()}
        assert kept == dict(hostile_headers)  # the original headers, bytes for bytes
    landed_ids = {row["id"] for row in landed(settings, "events")}
    assert set(valid_ids) <= landed_ids


def test_sdk_messages_sent_with_librdkafka_land_in_both_modes(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(settings)
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    producer = confluent_kafka.Producer({"bootstrap.servers": settings.bootstrap_servers, "acks": "all"})
    sent: dict[str, tuple[str, str]] = {}  # id -> (mode, type)
    values: set[bytes] = set()
    for mode, to_message in (
        ("binary", ce_kafka.to_binary_event),
        ("structured", ce_kafka.to_structured_event),
    ):
        for t in EVENT_TYPES:
            event_id = str(uuid.uuid4())
            kafka_message = to_message(sdk_event(t, event_id, when), key_mapper=by_subject)
            producer.produce(
                TOPIC,
                key=kafka_message.key,
                value=kafka_message.value,
                headers=list(kafka_message.headers.items()),
            )
            sent[event_id] = (mode, t)
            values.add(kafka_message.value)
    assert producer.flush(30) == 0

    land(settings, tmp_path)

    rows = {row["id"]: row for row in landed(settings, "events") if row["id"] in sent}
    assert set(rows) == set(sent)
    for event_id, (mode, t) in sent.items():
        row = rows[event_id]
        assert (row["type"], row["time"], row["subject"]) == (t, when, SUBJECT), mode
        assert orjson.loads(row["data"]) == VALID_DATA[t] and row["datacontenttype"] == "application/json"
    assert not values & {row["value"] for row in landed(settings, "dead_letters")}, (
        "an SDK message was refused"
    )
