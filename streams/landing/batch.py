"""A batch of one partition's records: validated with the contract and turned into Arrow tables.

Tables are built column by column (one Python list per column, one `pa.array` each): row-by-row
builders are many times slower and the writer thread is on the lander's critical path.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from common.names import provider_of_topic
from streams.contract import Contract, Event, Refusal
from streams.landing.files import DEAD_LETTERS_SCHEMA, EVENTS_SCHEMA
from streams.landing.offsets import TOPIC_ID_KEY
from streams.landing.unreadable import UnreadableHeaders

#: `error.stage` of a message the contract refused.
VALIDATE_STAGE = "validate"


@dataclass(slots=True)
class Batch:
    """Consecutive records of one partition (kafka-python ConsumerRecords), landed as one unit."""

    topic: str
    partition: int
    epoch: int
    topic_id: str | None
    records: list[Any] = field(default_factory=list)

    @property
    def first_offset(self) -> int:
        return self.records[0].offset

    @property
    def last_offset(self) -> int:
        return self.records[-1].offset


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: Any
    stage: str
    refusal: Refusal


@dataclass(frozen=True, slots=True)
class CheckedBatch:
    batch: Batch
    events: list[tuple[Any, Event]]
    dead_letters: list[DeadLetter]


def check_batch(batch: Batch, contract: Contract, now: datetime) -> CheckedBatch:
    """Split the batch into events and dead letters; every record lands in exactly one of the two.
    Headers go to the check too: they say whether a record is in structured or binary mode."""
    events, dead_letters = [], []
    check, topic = contract.check, batch.topic
    for record in batch.records:
        result = check(record.value, topic, now, record.headers)
        if type(result) is Event:
            events.append((record, result))
        else:
            dead_letters.append(DeadLetter(record, VALIDATE_STAGE, result))
    return CheckedBatch(batch, events, dead_letters)


_UTC_US = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _constant(value: Any, type_: pa.DataType, n: int) -> pa.Array:
    # One value n times, without a Python list of n items (landed_at alone was ~1% of the lander's CPU).
    return pa.repeat(pa.scalar(value, type_), n)


def _lineage(batch: Batch, records: list[Any], landed_at: datetime) -> dict[str, pa.Array]:
    n = len(records)
    return {
        "kafka_topic": _constant(batch.topic, pa.string(), n),
        "kafka_partition": _constant(batch.partition, pa.int32(), n),
        "kafka_offset": pa.array([r.offset for r in records], pa.int64()),
        "kafka_timestamp": _kafka_timestamps(records),
        "landed_at": _constant(landed_at, _UTC_US, n),
    }


def _kafka_timestamps(records: list[Any]) -> pa.Array:
    """Milliseconds to microseconds, in Arrow (a Python expression per record costs five times as much).
    A record without a timestamp carries -1 (or None): that is no time, not 1969."""
    millis = pa.array([r.timestamp for r in records], pa.int64())
    valid = pc.greater_equal(millis, 0)
    return pc.if_else(valid, pc.multiply(millis, 1000), None).cast(_UTC_US)


def events_table(checked: CheckedBatch, landed_at: datetime) -> pa.Table:
    records = [record for record, _ in checked.events]
    n = len(records)
    # Event is a named tuple: one zip turns the rows into columns (empty columns for an empty batch).
    ids, sources, _, types, times, subjects, dataschemas, datacontenttypes, datas = (
        zip(*(event for _, event in checked.events), strict=True) if n else ((),) * len(Event._fields)
    )
    columns = {
        "specversion": _constant("1.0", pa.string(), n),
        "id": pa.array(ids, pa.string()),
        "source": pa.array(sources, pa.string()),
        "type": pa.array(types, pa.string()),
        # As microseconds since the epoch: Arrow converts timezone-aware datetimes eight times slower.
        "time": pa.array([(t - _EPOCH) // _MICROSECOND for t in times], _UTC_US),
        "subject": pa.array(subjects, pa.string()),
        "dataschema": pa.array(dataschemas, pa.string()),
        "datacontenttype": pa.array(datacontenttypes, pa.string()),
        # orjson writes UTF-8 bytes; Arrow checks them as UTF-8 and keeps them as string.
        "data": pa.array([orjson.dumps(d) for d in datas], pa.string()),
        **_lineage(checked.batch, records, landed_at),
    }
    table = pa.Table.from_arrays(list(columns.values()), schema=EVENTS_SCHEMA)
    if checked.batch.topic_id:
        table = table.replace_schema_metadata({TOPIC_ID_KEY: checked.batch.topic_id.encode()})
    return table


def original_headers_json(headers: list[tuple[str, bytes | None]] | None) -> str | None:
    """The record's own headers as a JSON object of base64 values (header values are bytes); a header
    without a value is null. A record the client could not decode gives its raw headers (unreadable.py)."""
    if type(headers) is UnreadableHeaders:
        headers = headers.readable()
    if not headers:
        return None
    return orjson.dumps({k: None if v is None else base64.b64encode(v).decode() for k, v in headers}).decode()


def dead_letters_table(checked: CheckedBatch, landed_at: datetime) -> pa.Table:
    letters = checked.dead_letters
    records = [d.record for d in letters]
    provider_id = provider_of_topic(checked.batch.topic)
    columns = {
        "provider_id": _constant(provider_id, pa.string(), len(letters)),
        "key": pa.array([r.key for r in records], pa.binary()),
        "value": pa.array([r.value for r in records], pa.binary()),
        "headers": pa.array([original_headers_json(r.headers) for r in records], pa.string()),
        "error_stage": pa.array([d.stage for d in letters], pa.string()),
        "error_reason": pa.array([d.refusal.reason for d in letters], pa.string()),
        "error_detail": pa.array([d.refusal.detail for d in letters], pa.string()),
        **_lineage(checked.batch, records, landed_at),
    }
    return pa.Table.from_arrays(list(columns.values()), schema=DEAD_LETTERS_SCHEMA)
