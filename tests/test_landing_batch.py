"""A batch turned into its two Arrow tables (streams/landing/batch.py), without a broker: every record in
exactly one table, columns as the landing zone's schemas say."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from kafka.consumer.fetcher import ConsumerRecord

from common.directory import load_directory
from common.settings import Settings
from streams.contract import Contract
from streams.landing.batch import Batch, check_batch, dead_letters_table, events_table
from streams.landing.files import DEAD_LETTERS_SCHEMA, EVENTS_SCHEMA
from tests.contract_examples import NOW, TOPIC, message

LANDED_AT = datetime(2026, 6, 1, 12, 5, tzinfo=UTC)


def record(offset: int, value: bytes, timestamp: int | None) -> ConsumerRecord:
    return ConsumerRecord(TOPIC, 0, 0, offset, timestamp, 0, b"k", value, [], None, 1, len(value), 0)


def test_tables_hold_every_record_once_with_times_in_utc_and_no_1969() -> None:
    contract = Contract(load_directory(Settings().provider_directory))
    records = [
        record(10, message("referral.requested", time="2026-05-30T04:30:00.25-05:00"), 1_780_000_000_123),
        record(11, b"{not json", -1),  # a record without a timestamp carries -1
        record(12, message("consent.granted"), None),
    ]
    checked = check_batch(Batch(TOPIC, 0, 0, None, records), contract, NOW)
    events = events_table(checked, LANDED_AT).to_pylist()
    letters = dead_letters_table(checked, LANDED_AT).to_pylist()

    assert events_table(checked, LANDED_AT).schema.equals(EVENTS_SCHEMA)
    assert dead_letters_table(checked, LANDED_AT).schema.equals(DEAD_LETTERS_SCHEMA)
    assert [r["kafka_offset"] for r in events] == [10, 12] and [r["kafka_offset"] for r in letters] == [11]
    assert events[0]["time"] == datetime(2026, 5, 30, 9, 30, 0, 250_000, tzinfo=UTC)
    assert events[0]["kafka_timestamp"] == datetime.fromtimestamp(1_780_000_000.123, UTC)
    assert events[1]["kafka_timestamp"] is None and letters[0]["kafka_timestamp"] is None
    assert orjson.loads(events[0]["data"]) == orjson.loads(records[0].value)["data"]
    assert letters[0]["value"] == b"{not json" and letters[0]["error_reason"] == "not_json"
    assert {r["landed_at"] for r in events + letters} == {LANDED_AT}


def test_a_batch_of_dead_letters_only_has_an_empty_events_table() -> None:
    contract = Contract(load_directory(Settings().provider_directory))
    checked = check_batch(Batch(TOPIC, 0, 0, None, [record(0, b"[]", 5)]), contract, NOW)
    assert events_table(checked, LANDED_AT).num_rows == 0
    assert dead_letters_table(checked, LANDED_AT).num_rows == 1
