"""Records kafka-python cannot decode: read as *unreadable records* instead of failing the whole fetch.

Where kafka-python fails (3.0, `kafka/record/default_records.py`): `DefaultRecordBatch._read_msg` decodes
each record of a v2 record batch, header keys with `bytes.decode("utf-8")`. A header key that is not UTF-8
(the broker accepts any bytes) raises UnicodeDecodeError, which `DefaultRecordBatch.__next__` turns into
`CorruptRecordError`. That ends the generator that `Fetcher.PartitionRecords._unpack_records` iterates
batches with, and the consumer's `poll` raises it: the records of the batch after the bad one can never be
read (seeking past it fetches the same batch, and every record of a batch is decoded before those below
the fetch offset are skipped), every restart fails on the same offset, and a further `poll` on the dead
generator spins forever. A record batch whose CRC does not match or whose compressed payload cannot be
decompressed fails the same way, for all of its records.

What this module does instead, for the lander's consumers only (`read_tolerantly`, per consumer, no global
patch): its record batches decode each record with kafka-python's own code, and only when that fails read
the record's bytes themselves: its length (to find the next record), offset, timestamp, key, value and
headers as raw bytes. Such a record comes out as a normal ConsumerRecord whose `headers` is an
`UnreadableHeaders`: an empty list (so no code that reads headers sees a half-decoded one) carrying the
raw headers and the error. The lander dead-letters it as `unreadable_record` (stage `read`) with its raw
key and value. A batch that cannot be read at all (CRC, compression) yields one such record per offset of
the batch, without bytes. Either way every offset gets an answer and the partition moves on.
"""

from __future__ import annotations

import logging
import struct
from typing import Any

from kafka.consumer.fetcher import ConsumerRecord, Fetcher
from kafka.errors import CorruptRecordError
from kafka.record.default_records import DefaultRecord, DefaultRecordBatch
from kafka.record.memory_records import MemoryRecords
from kafka.record.util import decode_varint

log = logging.getLogger(__name__)


class UnreadableHeaders(list):
    """The `headers` of a record kafka-python could not decode. Empty as a list; `raw` holds the headers
    as (key bytes, value bytes or None) where they could be read, `error` says what was wrong."""

    __slots__ = ("raw", "error")

    def __init__(self, raw: list[tuple[bytes, bytes | None]], error: str):
        super().__init__()
        self.raw = raw
        self.error = error

    def readable(self) -> list[tuple[str, bytes | None]]:
        """The raw headers with keys as text (bytes that are not UTF-8 as `\\xNN` escapes)."""
        return [(key.decode("utf-8", "backslashreplace"), value) for key, value in self.raw]


def is_unreadable(record: Any) -> bool:
    return type(record.headers) is UnreadableHeaders


def unreadable_stub(tp: Any, offset: int, error: str) -> ConsumerRecord:
    """An offset that could not be read at all, as a record without key, value or timestamp."""
    headers = UnreadableHeaders([], f"kafka-python cannot decode this offset's fetch: {error}")
    return ConsumerRecord(tp.topic, tp.partition, -1, offset, -1, 0, None, None, headers, None, -1, -1, -1)


class TolerantRecordBatch(DefaultRecordBatch):
    """A v2 record batch that reads a record kafka-python cannot decode as an unreadable record."""

    __slots__ = ("_broken", "_next_stub")

    def __init__(self, buffer: Any):
        super().__init__(buffer)
        #: Why the rest of the batch cannot be read (None while it can), and the next offset to answer.
        self._broken: str | None = None
        self._next_stub = self.base_offset

    def validate_crc(self) -> bool:
        if not super().validate_crc():
            self._broken = "its record batch failed the CRC check (the bytes are not those the producer sent)"
        return True  # kafka-python raises on False: the records are answered as unreadable instead

    def __iter__(self):
        try:
            self._maybe_uncompress()
        except Exception as exc:  # a codec's error on a hostile payload may be of any type
            self._broken = f"its record batch cannot be decompressed: {exc!r}"
        return self

    def __next__(self):
        if self._broken is not None:
            return self._stub()
        if self._next_record_index >= self._num_records:
            if self._pos != len(self._buffer):
                log.warning(
                    "ignoring %d bytes after the last record of a batch", len(self._buffer) - self._pos
                )
            raise StopIteration
        start = self._pos
        try:
            record = DefaultRecordBatch.__next__(self)
        except CorruptRecordError as exc:
            record = self._read_unreadable(start, exc)
        self._next_stub = record.offset + 1
        return record

    def _read_unreadable(self, start: int, error: Exception) -> DefaultRecord:
        cause = error.__cause__ or error.__context__ or error
        detail = f"kafka-python cannot decode this record: {cause!r}"
        try:
            record, end = read_raw_record(self._buffer, start, self.base_offset, self.first_timestamp, detail)
        except (ValueError, IndexError) as exc:
            self._broken = f"{detail}; its length cannot be read either ({exc!r})"
            return self._stub()
        self._pos = end
        self._next_record_index += 1
        return record

    def _stub(self) -> DefaultRecord:
        """The next offset of a batch that cannot be read further: an unreadable record without bytes."""
        offset = self._next_stub
        if offset > self.last_offset:
            self._pos, self._next_record_index = len(self._buffer), self._num_records
            raise StopIteration
        self._next_stub = offset + 1
        headers = UnreadableHeaders([], self._broken)
        return DefaultRecord(0, offset, self.first_timestamp, self.timestamp_type, None, None, headers)


def read_raw_record(
    buffer: bytearray, start: int, base_offset: int, first_timestamp: int, error: str
) -> tuple[DefaultRecord, int]:
    """The record at `start` of a decompressed v2 batch, every field as bytes, and where the next one
    starts. Raises ValueError or IndexError if even its length cannot be read. A field after the length
    that cannot be read leaves that field (and the ones after it) empty."""
    length, pos = decode_varint(buffer, start)
    end = pos + length
    if length <= 0 or end > len(buffer):
        raise ValueError(f"a record length of {length} bytes at byte {start} of a {len(buffer)}-byte batch")
    offset, timestamp, key, value, headers = base_offset, first_timestamp, None, None, []
    try:
        _, pos = decode_varint(buffer, pos)  # attributes: unused in v2 records
        timestamp_delta, pos = decode_varint(buffer, pos)
        timestamp = first_timestamp + timestamp_delta
        offset_delta, pos = decode_varint(buffer, pos)
        offset = base_offset + offset_delta
        key, pos = _read_bytes(buffer, pos, end)
        value, pos = _read_bytes(buffer, pos, end)
        count, pos = decode_varint(buffer, pos)
        for _ in range(max(0, count)):
            header_key, pos = _read_bytes(buffer, pos, end)
            header_value, pos = _read_bytes(buffer, pos, end)
            headers.append((header_key or b"", header_value))
    except (ValueError, IndexError) as exc:
        error = f"{error}; read as far as byte {pos - start} of {end - start} ({exc!r})"
    return DefaultRecord(
        end - start, offset, timestamp, 0, key, value, UnreadableHeaders(headers, error)
    ), end


def _read_bytes(buffer: bytearray, pos: int, end: int) -> tuple[bytes | None, int]:
    size, pos = decode_varint(buffer, pos)
    if size < 0:
        return None, pos
    if pos + size > end:
        raise ValueError(f"a field of {size} bytes runs past the record's end")
    return bytes(buffer[pos : pos + size]), pos + size


class TolerantMemoryRecords(MemoryRecords):
    """A fetch's record batches, v2 batches as TolerantRecordBatch (`next_batch` as kafka-python's)."""

    __slots__ = ()

    def next_batch(self, _min_slice=MemoryRecords.MIN_SLICE, _magic_offset=MemoryRecords.MAGIC_OFFSET):
        next_slice = self._next_slice
        if next_slice is None or len(next_slice) < _min_slice:
            return super().next_batch()  # None, or kafka-python's error for a slice too short
        (magic,) = struct.unpack_from(">b", next_slice, _magic_offset)
        if magic <= 1:
            return super().next_batch()
        self._cache_next()
        return TolerantRecordBatch(next_slice)


class TolerantPartitionRecords(Fetcher.PartitionRecords):
    """kafka-python's records of one partition of a fetch, read from TolerantMemoryRecords."""

    def __init__(self, fetch_offset: int, tp: Any, records: MemoryRecords, *args: Any, **kwargs: Any):
        if type(records) is MemoryRecords:
            records.__class__ = TolerantMemoryRecords
        super().__init__(fetch_offset, tp, records, *args, **kwargs)


def read_tolerantly(consumer: Any) -> None:
    """Make `consumer` (a KafkaConsumer) read records it cannot decode as unreadable records. kafka-python
    makes each partition's records with `self.PartitionRecords(...)`, so setting it on this consumer's
    fetcher changes this consumer only."""
    consumer._fetcher.PartitionRecords = TolerantPartitionRecords
