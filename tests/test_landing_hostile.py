"""The lander against what a careless or compromised provider can put on its own topic (issue 11): one
provider's bad message never stops the network.

Each hostile record sits between valid events on one partition, in the same producer batch where that
matters (kafka-python failed the whole batch); another partition and another provider's topic carry
valid events meanwhile. Every offset must end up landed or dead-lettered exactly once (the reconciliation
helpers of tests/test_landing.py), with the reason expected by hand.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import confluent_kafka
import orjson
import pytest
from kafka import KafkaProducer, TopicPartition
from kafka.errors import CorruptRecordError
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords
from kafka.record.util import calc_crc32c

from common.names import provider_topic
from common.settings import PROJECT_ROOT, Settings
from streams.contract import Refusal
from streams.landing import files, source, writer
from streams.landing.batch import DeadLetter, original_headers_json
from streams.landing.dead_letters import dead_letter_message
from streams.landing.holds import load_holds
from streams.landing.lander import EXIT_FAILED, EXIT_HELD, EXIT_OK, Lander
from streams.landing.shards import Shard, balance, listed_backlogs
from streams.landing.status import fetch_end_offsets, landing_status
from streams.landing.unreadable import TolerantMemoryRecords, UnreadableHeaders
from streams.landing.workers import run_landers
from tests.test_landing import (
    TOPIC,
    UNLISTED,
    assert_exactly_once,
    dead_letter_rows,
    land_env,
    land_until_caught_up,
    landed_offsets,
    read_dead_letter_topic,
    valid_value,
)
from tests.test_landing import broker_settings as broker_settings  # noqa: F401 (a fixture)

OTHER_PROVIDER = "okc-housing"
OTHER_TOPIC = provider_topic(OTHER_PROVIDER)
DEAD_LETTER_LIMIT = 4096


class RawHeaderKey(str):
    """A header key whose bytes are not UTF-8. kafka-python's producer writes a key as `key.encode()`,
    and the broker takes any bytes, as it would from any other client."""

    def __new__(cls, raw: bytes) -> RawHeaderKey:
        key = super().__new__(cls, raw.decode("latin-1"))
        key.raw = raw
        return key

    def encode(self, *args: object, **kwargs: object) -> bytes:
        return self.raw


def send_to_partition(settings: Settings, partition: int, messages: list[dict]) -> None:
    """One producer batch: every message to `partition` of TOPIC, sent before one flush."""
    producer = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, linger_ms=2000, batch_size=1024 * 1024
    )
    for message in messages:
        producer.send(TOPIC, partition=partition, **message)
    producer.flush()
    producer.close()


def send_other_provider(settings: Settings, count: int, start: int) -> None:
    """Valid events of another provider, on its own topic."""
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=5)
    for i in range(start, start + count):
        producer.send(OTHER_TOPIC, value=valid_value(i, OTHER_PROVIDER))
    producer.flush()
    producer.close()


def dead_letters_of(settings: Settings, partition: int) -> dict[int, dict]:
    return {
        r["kafka_offset"]: r
        for r in dead_letter_rows(settings)
        if r["kafka_topic"] == TOPIC and r["kafka_partition"] == partition
    }


def event_offsets(settings: Settings, topic: str, partition: int) -> set[int]:
    seen = landed_offsets(settings.landing_dir)
    letters = {
        (r["kafka_topic"], r["kafka_partition"], r["kafka_offset"]) for r in dead_letter_rows(settings)
    }
    return {o for (t, p, _, o) in seen if (t, p) == (topic, partition) and (t, p, o) not in letters}


def test_a_header_key_not_utf8_a_null_header_and_an_oversized_dead_letter(
    broker_settings: Settings, tmp_path: Path
) -> None:
    settings = broker_settings
    bad_key_value = valid_value(5)  # a valid event: only its header key is wrong
    oversized = b"x" * (3 * DEAD_LETTER_LIMIT)  # not JSON, and three times the dead-letter limit
    # Partition 0, one producer batch: 0-4 valid, 5 the header key b"\xff\xfe-trace", 6-10 valid, 11 the
    # oversized value, 12-14 valid. kafka-python used to fail the whole batch at offset 5.
    send_to_partition(
        settings,
        0,
        [{"value": valid_value(i)} for i in range(5)]
        + [
            {
                "key": b"raw-key",
                "value": bad_key_value,
                "headers": [("ok", b"1"), (RawHeaderKey(b"\xff\xfe-trace"), b"t")],
            }
        ]
        + [{"value": valid_value(i)} for i in range(6, 11)]
        + [{"key": b"big", "value": oversized}]
        + [{"value": valid_value(i)} for i in range(12, 15)],
    )
    # Offsets 15 and 16: headers with a null value (confluent-kafka sends them as librdkafka does), one on
    # a valid event (landed: headers are not part of a structured-mode event) and one on a refused one.
    producer = confluent_kafka.Producer({"bootstrap.servers": settings.bootstrap_servers})
    producer.produce(TOPIC, partition=0, value=valid_value(15), headers=[("trace", None)])
    producer.produce(TOPIC, partition=0, value=b"{not json", headers=[("trace", None), ("ok", b"2")])
    producer.flush(10)
    # Meanwhile: another partition of the same topic, and another provider's topic.
    send_to_partition(settings, 1, [{"value": valid_value(i)} for i in range(100, 120)])
    send_other_provider(settings, 30, start=200)

    log = tmp_path / "land.log"
    code = land_until_caught_up(
        settings, log=log, land_dead_letter_max_bytes=DEAD_LETTER_LIMIT, land_workers=2
    )
    text = log.read_text()
    assert code == EXIT_OK, text

    assert_exactly_once(settings, [TOPIC, OTHER_TOPIC, provider_topic(UNLISTED)])
    letters = dead_letters_of(settings, 0)
    assert sorted(letters) == [5, 11, 16]
    assert event_offsets(settings, TOPIC, 0) == set(range(17)) - {5, 11, 16}
    assert event_offsets(settings, TOPIC, 1) == set(range(20))
    assert sum(len(event_offsets(settings, OTHER_TOPIC, p)) for p in range(3)) == 30

    unreadable = letters[5]
    assert (unreadable["error_reason"], unreadable["error_stage"]) == ("unreadable_record", "read")
    assert unreadable["key"] == b"raw-key" and unreadable["value"] == bad_key_value  # the raw bytes
    assert "UnicodeDecodeError" in unreadable["error_detail"]
    assert orjson.loads(unreadable["headers"]) == {"ok": "MQ==", "\\xff\\xfe-trace": "dA=="}

    big = letters[11]
    assert (big["error_reason"], big["value"]) == ("not_json", oversized)  # whole in the file
    null_header = letters[16]
    assert null_header["error_reason"] == "not_json"
    assert orjson.loads(null_header["headers"]) == {"trace": None, "ok": base64.b64encode(b"2").decode()}

    on_topic = read_dead_letter_topic(settings, 3)
    assert set(on_topic) == {(TOPIC, 0, 5), (TOPIC, 0, 11), (TOPIC, 0, 16)}
    assert on_topic[(TOPIC, 0, 5)].value == bad_key_value
    assert dict(on_topic[(TOPIC, 0, 5)].headers)["error.reason"] == b"unreadable_record"
    truncated = on_topic[(TOPIC, 0, 11)]
    headers = dict(truncated.headers)
    assert headers["error.truncated"] == b"true"
    assert headers["error.original_size"] == str(len(oversized)).encode()
    assert (
        truncated.value == oversized[: len(truncated.value)] and 0 < len(truncated.value) < DEAD_LETTER_LIMIT
    )
    assert "error.truncated" not in dict(on_topic[(TOPIC, 0, 16)].headers)
    assert f"{TOPIC}[0] offset 11" in text and "over land_dead_letter_max_bytes" in text
    assert "broker not answering" not in text


def fail_at(monkeypatch: pytest.MonkeyPatch, tp: TopicPartition, offset: int) -> None:
    """Make the check of the record at `offset` of `tp` raise, as a record nobody foresaw would."""
    check_batch = writer.check_batch

    def failing(batch, contract, now, *args):
        for record in batch.records:
            if (batch.topic, batch.partition, record.offset) == (tp.topic, tp.partition, offset):
                raise TypeError("unhashable type: 'list' (injected)")
        return check_batch(batch, contract, now, *args)

    monkeypatch.setattr(writer, "check_batch", failing)


def status_json(settings: Settings) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "continuum.cli", "status", "--json"],
        env=land_env(settings),
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return orjson.loads(result.stdout)


@pytest.mark.parametrize("writer_thread", [False, True], ids=["inline", "writer-thread"])
def test_a_record_that_makes_the_lander_raise_holds_its_partition_until_released(
    broker_settings: Settings, monkeypatch: pytest.MonkeyPatch, writer_thread: bool
) -> None:
    settings = broker_settings.model_copy(
        update={"land_batch_events": 7, "land_writer_thread": writer_thread}
    )
    held = TopicPartition(TOPIC, 0)
    send_to_partition(settings, 0, [{"value": valid_value(i)} for i in range(20)])
    send_to_partition(settings, 1, [{"value": valid_value(i)} for i in range(100, 110)])
    send_other_provider(settings, 12, start=200)
    fail_at(monkeypatch, held, 9)  # in the second batch of 7 (offsets 7..13)

    assert Lander(settings, until_caught_up=True).run() == EXIT_HELD
    # Offsets 0..8 landed, none from 9 on; every other partition landed whole.
    assert event_offsets(settings, TOPIC, 0) == set(range(9))
    assert event_offsets(settings, TOPIC, 1) == set(range(10))
    assert sum(len(event_offsets(settings, OTHER_TOPIC, p)) for p in range(3)) == 12
    [hold] = load_holds(settings.landing_dir).values()
    assert (hold.topic, hold.partition, hold.offset, hold.stage) == (TOPIC, 0, 9, "check")
    assert "TypeError: unhashable type" in hold.error

    # `continuum status` shows it, with the offset and the error, in JSON and as text.
    status = status_json(settings)
    [row] = [p for p in status["partitions"] if (p["topic"], p["partition"]) == (TOPIC, 0)]
    assert row["landed_offset"] == 8 and row["lag"] == 11
    assert row["held"]["offset"] == 9 and "unhashable type" in row["held"]["error"]
    assert [(h["topic"], h["partition"], h["offset"]) for h in status["held"]] == [(TOPIC, 0, 9)]
    text = subprocess.run(
        [sys.executable, "-m", "continuum.cli", "status"],
        env=land_env(settings),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "HELD at offset 9" in text and f"--skip-offset {TOPIC}:0:9" in text

    # A restart keeps holding it (nothing is tried again until released), and lands what came since.
    send_other_provider(settings, 5, start=300)
    assert Lander(settings, until_caught_up=True).run() == EXIT_HELD
    assert event_offsets(settings, TOPIC, 0) == set(range(9))
    assert sum(len(event_offsets(settings, OTHER_TOPIC, p)) for p in range(3)) == 17

    # --release tries the record again: it still raises, so the partition is held there again.
    code = run_landers(settings, 1, until_caught_up=True, accept_reset=False, releases=[held])
    assert code == EXIT_HELD
    assert load_holds(settings.landing_dir)[held].offset == 9

    # --skip-offset dead-letters that one record and lands the rest, exactly once.
    code = run_landers(settings, 1, until_caught_up=True, accept_reset=False, skip_offsets=[(held, 9)])
    assert code == EXIT_OK
    assert load_holds(settings.landing_dir) == {}
    assert event_offsets(settings, TOPIC, 0) == set(range(20)) - {9}
    [letter] = dead_letters_of(settings, 0).values()
    assert (letter["kafka_offset"], letter["error_reason"], letter["error_stage"]) == (
        9,
        "unreadable_record",
        "operator",
    )
    assert "skipped by" in letter["error_detail"] and "unhashable type" in letter["error_detail"]
    assert letter["value"] == valid_value(9)
    assert_exactly_once(settings, [TOPIC, OTHER_TOPIC, provider_topic(UNLISTED)])
    actions = [
        orjson.loads(line)
        for line in (settings.landing_dir / files.OPERATOR_ACTIONS).read_text().split("\n")
        if line
    ]
    assert [(a["action"], a["hold"]["offset"]) for a in actions] == [("release", 9), ("skip", 9)]
    assert all(a["by"] and a["at"] for a in actions)
    assert all(p.held is None for p in landing_status(settings).partitions)


def test_a_skip_of_an_offset_landed_already_is_refused(broker_settings: Settings) -> None:
    settings = broker_settings
    send_to_partition(settings, 0, [{"value": valid_value(i)} for i in range(3)])
    assert Lander(settings, until_caught_up=True).run() == EXIT_OK
    result = subprocess.run(
        [sys.executable, "-m", "continuum.cli", "land", "--until-caught-up", "--skip-offset", f"{TOPIC}:0:1"],
        env=land_env(settings),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "that offset is landed already (the partition resumes at 3)" in result.stderr


def test_one_worker_failing_leaves_the_other_landing(
    broker_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = broker_settings
    for partition in range(3):
        send_to_partition(settings, partition, [{"value": valid_value(i)} for i in range(10)])
    send_other_provider(settings, 30, start=200)
    plan = balance(listed_backlogs(settings), 2)  # what run_landers plans for the same backlogs
    tps = [TopicPartition(t, p) for t in (TOPIC, OTHER_TOPIC) for p in range(3)]
    second = {tp for tp in tps if Shard(1, 2, plan).owns(tp)}
    assert second and len(second) < len(tps)
    take = Lander._take

    def worker_0_breaks(self, tp, state, records):
        if self.shard.index == 0:  # a fault of this worker, not of the disk or the broker
            raise RuntimeError("injected: a bug in worker 0")
        time.sleep(0.1)  # worker 1 takes a while: it is still landing when worker 0 fails
        return take(self, tp, state, records)

    # The forked workers inherit both: worker 1 needs many small polls.
    monkeypatch.setattr(Lander, "_take", worker_0_breaks)
    monkeypatch.setitem(source.FETCH_CONFIG, "max_poll_records", 2)
    assert run_landers(settings, 2, until_caught_up=True, accept_reset=False) == EXIT_FAILED
    landed = Counter((t, p) for (t, p, _, _) in landed_offsets(settings.landing_dir))
    ends = fetch_end_offsets(settings, tps, timeout_s=15)
    # (the other provider's messages carry no key: a partition of it may have none, and so nothing landed)
    expected = {tp: ends[tp] for tp in second if ends[tp]}
    assert expected and {TopicPartition(t, p): n for (t, p), n in landed.items()} == expected

    monkeypatch.undo()  # the bug fixed: a restart lands worker 0's partitions, nothing twice
    assert run_landers(settings, 2, until_caught_up=True, accept_reset=False) == EXIT_OK
    assert_exactly_once(settings, [TOPIC, OTHER_TOPIC])


def test_a_dead_letter_is_cut_to_the_limit_with_its_original_sizes() -> None:
    class Record:
        partition, offset, key = 2, 41, b"k" * 10

    for size in (100, 5000, 50_000):
        record = Record()
        record.value = bytes(range(256)) * (size // 256) + b"v" * (size % 256)
        letter = DeadLetter(record, "validate", Refusal("not_json", "not JSON: " + "d" * 3000))
        message = dead_letter_message(TOPIC, letter, 4096)
        headers = dict(message.headers)
        assert (
            DefaultRecordBatchBuilder.estimate_size_in_bytes(message.key, message.value, message.headers)
            <= 4096
        )
        assert len(headers["error.detail"]) == 1024  # the file keeps the whole detail
        if size == 100:
            assert not message.truncated and message.value == record.value
        else:
            assert message.truncated and headers["error.truncated"] == b"true"
            assert headers["error.original_size"] == str(size).encode()
            assert message.value == record.value[: len(message.value)] and len(message.value) > 2000
        empty = dead_letter_message(TOPIC, letter, 4096, empty=True)
        assert empty.value == b"" and dict(empty.headers)["error.truncated"] == b"true"


# -- reading what kafka-python cannot decode, without a broker ---------------------------------------------


def record_batch(
    values: list[bytes], headers: dict[int, list] | None = None, compression: int = 0
) -> bytearray:
    """A v2 record batch at base offset 100, as a producer builds it."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=compression,
        is_transactional=False,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=10**7,
    )
    for i, value in enumerate(values):
        builder.append(
            i,
            timestamp=1_700_000_000_000 + i,
            key=b"k%d" % i,
            value=value,
            headers=(headers or {}).get(i, []),
        )
    data = bytearray(builder.build())
    data[0:8] = (100).to_bytes(8, "big")  # the base offset the broker assigns
    return data


def read_records(data: bytes) -> list:
    records = TolerantMemoryRecords(bytes(data))
    out = []
    while (batch := records.next_batch()) is not None:
        assert batch.validate_crc()  # kafka-python would raise on False: the records are answered instead
        out.extend(batch)
    return out


def reseal(data: bytearray) -> bytearray:
    """Recompute the CRC, as a producer that sent these bytes would have."""
    crc = calc_crc32c(memoryview(data)[DefaultRecordBatch.ATTRIBUTES_OFFSET :])
    data[DefaultRecordBatch.CRC_OFFSET : DefaultRecordBatch.CRC_OFFSET + 4] = crc.to_bytes(4, "big")
    return data


def test_a_header_key_not_utf8_is_read_raw_and_the_records_after_it_decoded() -> None:
    data = record_batch([b"a", b"b", b"c"], {1: [("x", b"1"), (RawHeaderKey(b"\xc3\x28"), None)]})
    with pytest.raises(CorruptRecordError):  # what kafka-python does with the same bytes
        list(MemoryRecords(bytes(data)).next_batch())
    a, b, c = read_records(data)
    assert [(r.offset, r.value, r.headers) for r in (a, c)] == [(100, b"a", []), (102, b"c", [])]
    assert (b.offset, b.key, b.value, b.timestamp) == (101, b"k1", b"b", 1_700_000_000_001)
    assert type(b.headers) is UnreadableHeaders and b.headers == []
    assert b.headers.raw == [(b"x", b"1"), (b"\xc3\x28", None)]
    assert "UnicodeDecodeError" in b.headers.error
    assert original_headers_json(b.headers) == '{"x":"MQ==","\\\\xc3(":null}'


def test_a_batch_that_fails_its_crc_or_cannot_be_decompressed_answers_every_offset() -> None:
    corrupt = record_batch([b"a", b"b", b"c"])
    corrupt[-1] ^= 0xFF  # a byte of the last record changed after the CRC was computed
    gzip = 1
    garbage = record_batch([b"a" * 100, b"b" * 100], compression=gzip)
    garbage[DefaultRecordBatch.HEADER_STRUCT.size + 10] ^= 0xFF
    for data, offsets, error in (
        (corrupt, [100, 101, 102], "CRC"),
        (reseal(garbage), [100, 101], "decompress"),
    ):
        records = read_records(data)
        assert [r.offset for r in records] == offsets
        assert all(r.key is None and r.value is None and error in r.headers.error for r in records)


def test_a_record_whose_length_cannot_be_read_ends_its_batch_with_one_answer_per_offset() -> None:
    data = record_batch([b"a", b"b", b"c", b"d"], {1: [(RawHeaderKey(b"\xff"), b"")]})
    first = read_records(data)[0]
    start = DefaultRecordBatch.HEADER_STRUCT.size + first.size_in_bytes + 1  # record 1's length varint
    data[start] = 0x7E  # 63 (zigzag): longer than what is left of record 1 and 2 and 3
    records = read_records(reseal(data))
    assert [r.offset for r in records] == [100, 101, 102, 103]
    assert records[0].value == b"a" and records[0].headers == []
    assert all(type(r.headers) is UnreadableHeaders for r in records[1:])
