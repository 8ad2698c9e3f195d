"""The provider SDK against a real broker: what a provider sends is what the pipeline reads."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from common.directory import load_directory
from common.settings import Settings
from streams.contract import EVENT_TYPES, Contract
from streams.kafka import client_config, ensure_topics
from streams.participant_key import normalize_name, participant_key
from streams.producer import ContractViolation, ProviderClient
from tests.contract_examples import SUBJECT, VALID_DATA, message


def read_topic(settings: Settings, topic: str, timeout_s: float = 20.0) -> list:
    """Every record of `topic`, read until each partition reached the high watermark its fetches report."""
    return read_topics(settings, [topic], timeout_s)


def read_topics(settings: Settings, topics: list[str], timeout_s: float = 20.0) -> list:
    """Every record of `topics`, by one consumer (a consumer per topic costs a second each)."""
    consumer = KafkaConsumer(**client_config(settings, enable_auto_commit=False, consumer_timeout_ms=1000))
    partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    records, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
        # highwater() comes from fetch responses (end_offsets() under-reports on the embedded broker).
        if all(
            consumer.highwater(tp) is not None and consumer.position(tp) >= consumer.highwater(tp)
            for tp in partitions
        ):
            break
    consumer.close()
    return records


def test_participant_key_matches_the_contract_test_vector() -> None:
    key = participant_key("test-secret", "O'Brien", "José", "1990-01-31")
    assert key == "f6097baaeac0a13667de4148cff96e87e76e09761b7aeaf890e9e79cc993be94"


@pytest.mark.parametrize(
    ("raw", "normalized"), [("O'Brien-Smith", "OBRIENSMITH"), ("José", "JOSE"), ("  de la Peña ", "DELAPENA")]
)
def test_names_are_normalized_as_the_contract_says(raw: str, normalized: str) -> None:
    assert normalize_name(raw) == normalized


def test_the_key_depends_on_the_secret_and_the_birth_date() -> None:
    base = participant_key("s1", "Doe", "Ann", "1990-01-31")
    assert base != participant_key("s2", "Doe", "Ann", "1990-01-31")
    assert base != participant_key("s1", "Doe", "Ann", "1990-02-01")
    assert base == participant_key("s1", "DOE", "ann", "1990-01-31")


def test_every_event_type_reads_back_byte_for_byte(settings: Settings) -> None:
    ensure_topics(settings)
    time_sent = datetime.now(UTC) - timedelta(days=1)
    with ProviderClient("okc-reentry", settings) as client:
        sent = {
            s.event.id: s
            for s in (client.send(t, SUBJECT, VALID_DATA[t], time=time_sent) for t in EVENT_TYPES)
        }
    # The session's broker is shared: the topic also holds other tests' messages, binary ones (whose value
    # has no id) and hostile ones among them. Ours are found by their ids.
    received = {}
    for record in read_topic(settings, "providers.okc-reentry.events"):
        try:
            value = orjson.loads(record.value)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict) and value.get("id") in sent:
            received[value["id"]] = record
    for event_id, s in sent.items():
        record = received[event_id]
        assert record.value == s.value  # the envelope, byte for byte
        assert record.key == SUBJECT.encode()  # keyed by subject: one participant stays in order
    assert {s.event.type for s in sent.values()} == set(EVENT_TYPES)


def test_binary_mode_sends_data_as_the_value_and_attributes_as_ce_headers(settings: Settings) -> None:
    ensure_topics(settings)
    when = datetime(2026, 5, 30, 4, 30, tzinfo=timezone(timedelta(hours=-5)))
    event_id = str(uuid.uuid4())
    with ProviderClient("okc-reentry", settings, content_mode="binary") as client:
        sent = client.send(
            "consent.granted", SUBJECT, VALID_DATA["consent.granted"], time=when, event_id=event_id
        )
    (record,) = [
        r
        for r in read_topic(settings, "providers.okc-reentry.events")
        if dict(r.headers).get("ce_id") == event_id.encode()
    ]
    assert orjson.loads(record.value) == VALID_DATA["consent.granted"] and record.key == SUBJECT.encode()
    assert dict(record.headers) == {
        "ce_specversion": b"1.0",
        "ce_id": event_id.encode(),
        "ce_source": b"urn:continuum:provider:okc-reentry",
        "ce_type": b"consent.granted",
        "ce_time": b"2026-05-30T04:30:00-05:00",
        "ce_subject": SUBJECT.encode(),
        "ce_dataschema": b"urn:continuum:schema:consent.granted:1",
        "content-type": b"application/json",
    }
    contract = Contract(load_directory(settings.provider_directory))
    assert contract.check(record.value, record.topic, headers=record.headers) == sent.event
    assert sent.event.time == datetime(2026, 5, 30, 9, 30, tzinfo=UTC)


def test_structured_mode_says_so_in_its_content_type(settings: Settings) -> None:
    ensure_topics(settings)
    with ProviderClient("okc-reentry", settings) as client:
        sent = client.send("justice.arrested", SUBJECT, {"charge_category": "drug"})
    (record,) = [r for r in read_topic(settings, "providers.okc-reentry.events") if r.value == sent.value]
    assert record.headers == [("content-type", b"application/cloudevents+json")]


def test_an_unknown_content_mode_is_refused_at_once(settings: Settings) -> None:
    with pytest.raises(ValueError, match="content_mode"):
        ProviderClient("okc-reentry", settings, producer=object(), content_mode="binary-ish")


def test_a_resend_keeps_the_event_id(settings: Settings) -> None:
    ensure_topics(settings)
    event_id = str(uuid.uuid4())
    when = datetime.now(UTC) - timedelta(hours=1)
    with ProviderClient("okc-housing", settings) as client:
        first = client.send(
            "justice.arrested", SUBJECT, {"charge_category": "drug"}, time=when, event_id=event_id
        )
        again = client.send(
            "justice.arrested", SUBJECT, {"charge_category": "drug"}, time=when, event_id=event_id
        )
    assert first.value == again.value
    assert first.event.id == again.event.id == event_id


def test_an_invalid_event_is_refused_before_it_is_sent(settings: Settings) -> None:
    ensure_topics(settings)
    with ProviderClient("okc-legal-aid", settings) as client:
        with pytest.raises(ContractViolation) as refused:
            client.send(
                "referral.requested", SUBJECT, {**VALID_DATA["referral.requested"], "priority": "soon"}
            )
        assert refused.value.refusal.reason == "data_invalid"
        assert "priority" in str(refused.value)
    assert read_topic(settings, "providers.okc-legal-aid.events", timeout_s=3) == []


def test_publish_sends_the_valid_lines_and_reports_the_refused(
    settings: Settings, env: dict, tmp_path
) -> None:
    ensure_topics(settings)
    now = datetime.now(UTC).isoformat()
    good = [
        message(
            t,
            time=now,
            id=str(uuid.uuid4()),
            source="urn:continuum:provider:tulsa-workforce",
            dataschema=f"urn:continuum:schema:{t}:1",
        )
        for t in ("outcome.recorded", "justice.arrested")
    ]
    bad = message("outcome.recorded", time=now, source="urn:continuum:provider:okc-housing")
    events_file = tmp_path / "events.ndjson"
    events_file.write_bytes(b"\n".join([good[0], bad, good[1]]) + b"\n")

    result = subprocess.run(
        [sys.executable, "-m", "continuum.cli", "publish", str(events_file), "--provider", "tulsa-workforce"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1, result.stderr
    assert "sent 2 events" in result.stdout and "refused 1" in result.stdout
    assert "line 2: refused source_topic_mismatch" in result.stderr
    assert "publish: done, 3 lines" in result.stderr  # progress, as plain log lines off a terminal
    values = {r.value for r in read_topic(settings, "providers.tulsa-workforce.events")}
    assert set(good) <= values and bad not in values
