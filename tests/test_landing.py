"""The lander against a real embedded broker: what issue 3's "What it must show" asks, one test each.

Every test has a broker of its own (`own_broker`: it starts in well under a second), so topics hold only
what the test sent. Landers run in-process where that is enough and as `continuum land` subprocesses
where the test kills, signals or restarts them.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from common.directory import load_directory
from common.names import DEAD_LETTER_TOPIC, provider_topic
from common.settings import PROJECT_ROOT, Settings
from infra import embedded_broker
from streams.contract import DEAD_LETTER_REASONS
from streams.kafka import ensure_topics
from streams.landing import files, source
from streams.landing.lander import EXIT_OK, EXIT_RESET_HELD, Lander
from streams.landing.status import fetch_end_offsets, landing_status
from streams.landing.workers import LandingZoneBusy, landing_lock, run_landers
from streams.producer import build_envelope
from streams.simulator import (
    DeliveryReport,
    MessConfig,
    SimulatedMessage,
    Simulation,
    SimulationConfig,
    produce,
)

PROVIDER = "okc-gvi"
TOPIC = provider_topic(PROVIDER)
UNLISTED = "not-in-directory"
T0 = datetime(2026, 1, 1, tzinfo=UTC)

logging.getLogger("kafka").setLevel(logging.WARNING)  # its per-retry lines drown a failure's log


# -- messages ---------------------------------------------------------------------------------------------


def subject(i: int) -> str:
    return hashlib.sha256(f"participant-{i}".encode()).hexdigest()


def envelope(i: int, provider: str = PROVIDER) -> dict:
    return build_envelope(
        provider,
        "justice.arrested",
        subject(i),
        {"charge_category": "violent"},
        time=T0 + timedelta(minutes=i),
        event_id=str(uuid.UUID(int=i)),  # fixed: a resent message keeps its id
    )


def valid_value(i: int, provider: str = PROVIDER) -> bytes:
    return orjson.dumps(envelope(i, provider))


def _changed(i: int, **changes) -> bytes:
    value = envelope(i)
    for name, new in changes.items():
        if new is None:
            value.pop(name)
        else:
            value[name] = new
    return orjson.dumps(value)


def malformed_by_reason(i: int) -> dict[str, tuple[str, bytes]]:
    """One message per contract reason: (topic, value)."""
    future = (datetime.now(UTC) + timedelta(hours=48)).isoformat()
    return {
        "too_large": (TOPIC, _changed(i, padding="x" * 70_000)),
        "not_json": (TOPIC, b"{this is not json"),
        "not_an_object": (TOPIC, b"[1, 2, 3]"),
        "missing_attribute": (TOPIC, _changed(i, subject=None)),
        "bad_specversion": (TOPIC, _changed(i, specversion="0.3")),
        "bad_id": (TOPIC, _changed(i, id="NOT-A-UUID")),
        "source_topic_mismatch": (TOPIC, _changed(i, source="urn:continuum:provider:okc-housing")),
        "unknown_provider": (provider_topic(UNLISTED), valid_value(i, UNLISTED)),
        "unknown_type": (TOPIC, _changed(i, type="participant.teleported")),
        "bad_time": (TOPIC, _changed(i, time="last tuesday")),
        "future_time": (TOPIC, _changed(i, time=future)),
        "bad_subject": (TOPIC, _changed(i, subject="NOT-A-KEY")),
        "bad_dataschema": (TOPIC, _changed(i, dataschema="urn:continuum:schema:other:1")),
        "data_invalid": (TOPIC, _changed(i, data={"charge_category": "jaywalking"})),
    }


def producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, linger_ms=5, max_request_size=2 * 1024 * 1024
    )


def send_valid(settings: Settings, count: int, start: int = 0, topic: str = TOPIC) -> None:
    with_producer = producer(settings)
    for i in range(start, start + count):
        with_producer.send(topic, key=subject(i).encode(), value=valid_value(i))
    with_producer.flush()
    with_producer.close()


# -- reading the landing zone -----------------------------------------------------------------------------


def landed_offsets(landing_dir: Path) -> Counter:
    """(topic, partition, epoch, offset) -> how many times it is in an events or a dead-letter file."""
    seen: Counter = Counter()
    for batch in files.committed_batches(landing_dir):
        for path in (batch.events_path, batch.dead_letters_path):
            if path is None:
                continue
            table = pq.read_table(path, columns=["kafka_topic", "kafka_partition", "kafka_offset"])
            for topic, partition, offset in zip(*(c.to_pylist() for c in table.columns), strict=True):
                assert (topic, partition) == (batch.topic, batch.partition)
                assert batch.first_offset <= offset <= batch.last_offset
                seen[(topic, partition, batch.epoch, offset)] += 1
    return seen


def dead_letter_rows(settings: Settings) -> list[dict]:
    tables = [
        pq.read_table(b.dead_letters_path)
        for b in files.committed_batches(settings.landing_dir)
        if b.dead_letters_path is not None
    ]
    return pa.concat_tables(tables).to_pylist() if tables else []


def read_dead_letter_topic(settings: Settings, expected: int) -> dict[tuple[str, int, int], object]:
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest", enable_auto_commit=False
    )
    tps = [TopicPartition(DEAD_LETTER_TOPIC, p) for p in consumer.partitions_for_topic(DEAD_LETTER_TOPIC)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    found: dict = {}
    deadline = time.monotonic() + 15
    while len(found) < expected and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            for r in records:
                h = dict(r.headers)
                found[(h["error.topic"].decode(), int(h["error.partition"]), int(h["error.offset"]))] = r
    consumer.close()
    return found


def assert_exactly_once(settings: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    """Every offset below each partition's end is landed exactly once (epoch 0). Returns the ends."""
    tps = [TopicPartition(t, p) for t in topics for p in range(settings.topic_partitions)]
    ends = fetch_end_offsets(settings, tps, timeout_s=15)
    assert set(ends) == set(tps), "every partition reported its end"
    seen = landed_offsets(settings.landing_dir)
    twice = {k: n for k, n in seen.items() if n > 1}
    assert not twice, f"offsets landed more than once: {sorted(twice)[:10]}"
    for tp, end in ends.items():
        landed = sorted(o for (t, p, e, o) in seen if (t, p, e) == (tp.topic, tp.partition, 0))
        assert landed == list(range(end)), f"{tp}: {len(landed)} offsets landed of {end}"
    return ends


# -- running landers --------------------------------------------------------------------------------------


def land_env(settings: Settings, **overrides: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUUM_")}
    env.update(CONTINUUM_HOME=str(settings.home), CONTINUUM_BROKER_PORT=str(settings.broker_port))
    env.update({f"CONTINUUM_{k.upper()}": str(v) for k, v in overrides.items()})
    return env


def start_lander(settings: Settings, *args: str, log: Path, **overrides: object) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "continuum.cli", "land", *args],
            env=land_env(settings, **overrides),
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def land_until_caught_up(settings: Settings, *args: str, log: Path, **overrides: object) -> int:
    process = start_lander(settings, "--until-caught-up", *args, log=log, **overrides)
    return process.wait(timeout=120)


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def landed_count(settings: Settings) -> int:
    return sum(landed_offsets(settings.landing_dir).values())


@pytest.fixture
def broker_settings(own_broker: Settings) -> Settings:
    """A broker of this test's own, with the directory's topics and one topic of an unlisted provider."""
    ensure_topics(own_broker, extra_provider_ids=(UNLISTED,))
    return own_broker


# -- the tests --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("writer_thread", [False, True], ids=["inline", "writer-thread"])
def test_lands_valid_events_with_lineage(broker_settings: Settings, writer_thread: bool) -> None:
    settings = broker_settings.model_copy(update={"land_writer_thread": writer_thread})
    send_valid(settings, 300)
    before = datetime.now(UTC)
    assert Lander(settings, until_caught_up=True).run() == EXIT_OK

    assert_exactly_once(settings, [TOPIC])
    batches = files.committed_batches(settings.landing_dir)
    assert batches and all(b.dead_letters_path is None and b.epoch == 0 for b in batches)
    table = pa.concat_tables(pq.read_table(b.events_path) for b in batches)
    assert table.schema.equals(files.EVENTS_SCHEMA)
    rows = {row["id"]: row for row in table.to_pylist()}
    assert len(rows) == 300
    for i in (0, 150, 299):
        sent, row = envelope(i), rows[str(uuid.UUID(int=i))]
        assert row["subject"] == sent["subject"]
        assert row["time"] == T0 + timedelta(minutes=i)
        assert orjson.loads(row["data"]) == sent["data"]
        assert row["source"] == sent["source"] and row["type"] == "justice.arrested"
        assert row["kafka_topic"] == TOPIC and row["kafka_timestamp"] is not None
        assert before <= row["landed_at"] <= datetime.now(UTC)


def test_a_bounded_lander_finishes_a_partition_whose_log_ends_in_a_transaction_marker(
    broker_settings: Settings,
) -> None:
    # A transactional producer's commit writes a control record after its records: the log ends an
    # offset past the last record, which no record taken reaches; only the fetch position does.
    settings = broker_settings
    sender = KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, transactional_id=f"test-{uuid.uuid4()}"
    )
    sender.init_transactions()
    sender.begin_transaction()
    for i in range(5):
        sender.send(TOPIC, key=subject(i).encode(), value=valid_value(i), partition=0)
    sender.commit_transaction()
    sender.close()
    lander = Lander(settings, until_caught_up=True)
    codes: list[int] = []
    running = threading.Thread(target=lambda: codes.append(lander.run()), daemon=True)
    running.start()
    running.join(timeout=60)
    if running.is_alive():
        lander.request_stop()
        running.join(timeout=30)
        pytest.fail("the bounded lander was still waiting for the offset of the transaction's marker")
    assert codes == [EXIT_OK]
    assert landed_offsets(settings.landing_dir) == Counter({(TOPIC, 0, 0, offset): 1 for offset in range(5)})


def test_every_contract_reason_reaches_the_dead_letter_topic_and_files(broker_settings: Settings) -> None:
    settings = broker_settings
    messages = malformed_by_reason(1)
    assert set(messages) == set(DEAD_LETTER_REASONS)
    with_producer = producer(settings)
    sent = {}  # reason -> (topic, partition, offset, key, value)
    for n, (reason, (topic, value)) in enumerate(messages.items()):
        key = f"key-{n}".encode()
        meta = with_producer.send(topic, key=key, value=value, headers=[("origin", b"test")]).get(10)
        sent[reason] = (topic, meta.partition, meta.offset, key, value)
    with_producer.close()
    send_valid(settings, 10, start=100)

    assert Lander(settings, until_caught_up=True).run() == EXIT_OK

    assert_exactly_once(settings, [TOPIC, provider_topic(UNLISTED)])
    rows = {
        (r["kafka_topic"], r["kafka_partition"], r["kafka_offset"]): r for r in dead_letter_rows(settings)
    }
    assert len(rows) == len(DEAD_LETTER_REASONS)
    for reason, (topic, partition, offset, key, value) in sent.items():
        row = rows[(topic, partition, offset)]
        assert (row["error_reason"], row["error_stage"]) == (reason, "validate")
        assert row["key"] == key and row["value"] == value and row["error_detail"]
        assert orjson.loads(row["headers"]) == {"origin": "dGVzdA=="}
        assert row["provider_id"] == topic.split(".")[1]

    letters = read_dead_letter_topic(settings, len(sent))
    assert len(letters) == len(sent)
    for reason, (topic, partition, offset, key, value) in sent.items():
        record = letters[(topic, partition, offset)]
        headers = dict(record.headers)
        assert record.key == key and record.value == value
        assert headers["error.reason"] == reason.encode()
        assert headers["error.stage"] == b"validate"
        assert headers["error.topic"] == topic.encode()
        assert headers["error.partition"] == str(partition).encode()
        assert headers["error.offset"] == str(offset).encode()
        assert headers["error.detail"] == rows[(topic, partition, offset)]["error_detail"].encode()


def test_status_shows_landed_end_lag_and_dead_letters_by_reason(broker_settings: Settings) -> None:
    settings = broker_settings
    with_producer = producer(settings)
    for reason in ("not_json", "bad_id", "bad_id"):
        with_producer.send(TOPIC, key=b"k", value=malformed_by_reason(7)[reason][1])
    with_producer.flush()
    send_valid(settings, 30)
    assert Lander(settings, until_caught_up=True).run() == EXIT_OK
    send_valid(settings, 20, start=30)  # not landed yet: lag

    result = subprocess.run(
        [sys.executable, "-m", "continuum.cli", "status", "--json"],
        env=land_env(settings),
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    )
    status = orjson.loads(result.stdout)
    ours = [p for p in status["partitions"] if p["topic"] == TOPIC]
    assert len(ours) == 3 and status["broker_error"] is None
    assert sum(p["end_offset"] for p in ours) == 53
    assert sum(p["lag"] for p in ours) == 20
    assert sum(p["landed_offset"] + 1 for p in ours if p["landed_offset"] is not None) == 33
    others = [p for p in status["partitions"] if p["topic"] != TOPIC]
    assert others and all(p["landed_offset"] is None and p["lag"] == 0 for p in others)
    assert sorted((d["provider_id"], d["reason"], d["count"]) for d in status["dead_letters"]) == [
        (PROVIDER, "bad_id", 2),
        (PROVIDER, "not_json", 1),
    ]


def test_a_partial_temporary_file_is_never_landed_and_is_cleaned_up(broker_settings: Settings) -> None:
    settings = broker_settings
    send_valid(settings, 50)
    # What a kill in the middle of a write leaves: a half-written events file under its temporary name,
    # and a dead-letter file renamed before its events file was.
    partial = files.batch_path(settings.landing_dir, files.EVENTS, TOPIC, 0, 0, 10**6)
    partial = partial.with_name(partial.name + files.TMP_SUFFIX)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"PAR1\x15\x04half a file")
    orphan = files.batch_path(settings.landing_dir, files.DEAD_LETTERS, TOPIC, 1, 0, 10**6)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"PAR1")
    assert files.committed_batches(settings.landing_dir) == []

    assert Lander(settings, until_caught_up=True).run() == EXIT_OK

    assert not partial.exists() and not orphan.exists()
    assert not list(settings.landing_dir.rglob(f"*{files.TMP_SUFFIX}"))
    assert_exactly_once(settings, [TOPIC])


def test_a_quarantined_batch_is_not_landed_again(broker_settings: Settings) -> None:
    settings = broker_settings
    send_valid(settings, 40)
    assert Lander(settings, until_caught_up=True).run() == EXIT_OK
    # The pipeline moves a failing batch out of landing/ into quarantine/<name>/ (continuum.pipeline).
    last = max(files.committed_batches(settings.landing_dir), key=lambda b: b.last_offset)
    held = settings.quarantine_dir / last.name
    held.mkdir(parents=True)
    last.events_path.rename(held / files.QUARANTINED_EVENTS)

    send_valid(settings, 10, start=40)
    assert Lander(settings, until_caught_up=True).run() == EXIT_OK

    relanded = [
        b
        for b in files.committed_batches(settings.landing_dir)
        if b.partition == last.partition and b.first_offset <= last.last_offset
    ]
    assert relanded == [], "offsets of the quarantined batch were landed a second time"
    assert (
        sum(landed_offsets(settings.landing_dir).values())
        == 50 - pq.read_metadata(held / files.QUARANTINED_EVENTS).num_rows
    )


def test_the_command_reports_progress_as_log_lines_off_a_terminal(broker_settings: Settings, tmp_path: Path):
    send_valid(broker_settings, 120)
    log = tmp_path / "land.log"
    assert land_until_caught_up(broker_settings, log=log) == EXIT_OK
    assert "land: done, 120 messages" in log.read_text()


def test_flushes_at_n_events_or_after_t_seconds(broker_settings: Settings) -> None:
    settings = broker_settings.model_copy(update={"land_batch_events": 100, "land_batch_seconds": 2.0})
    with_producer = producer(settings)
    for i in range(250):  # one key: one partition
        with_producer.send(TOPIC, key=b"one-participant", value=valid_value(i))
    with_producer.flush()
    lander = Lander(settings)
    thread = threading.Thread(target=lander.run)
    thread.start()
    try:
        wait_for(lambda: len(files.committed_batches(settings.landing_dir)) >= 2, 10, "two full batches")
        full_at = time.monotonic()
        sizes = [b.last_offset - b.first_offset + 1 for b in files.committed_batches(settings.landing_dir)]
        assert sizes[:2] == [100, 100]
        wait_for(lambda: len(files.committed_batches(settings.landing_dir)) == 3, 10, "the timed batch")
        assert time.monotonic() - full_at > 1.0, "the last 50 waited for land_batch_seconds"
    finally:
        lander.request_stop()
        thread.join(10)
    sizes = [b.last_offset - b.first_offset + 1 for b in files.committed_batches(settings.landing_dir)]
    assert sizes == [100, 100, 50]


def test_picks_up_new_provider_topics_while_running(own_broker: Settings) -> None:
    """Also: the lander creates the dead-letter topic when the broker has none yet."""
    settings = own_broker.model_copy(update={"land_topic_refresh_seconds": 0.5, "land_batch_seconds": 0.5})
    lander = Lander(settings)
    thread = threading.Thread(target=lander.run)
    thread.start()
    try:
        time.sleep(1.0)
        admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        admin.create_topics([NewTopic("providers.new-provider.events", 3, 1)])  # a provider that just joined
        admin.close()
        with_producer = producer(settings)
        with_producer.send("providers.new-provider.events", key=b"k", value=valid_value(1, "new-provider"))
        with_producer.close()
        wait_for(lambda: dead_letter_rows(settings), 15, "the new topic's message landed")
    finally:
        lander.request_stop()
        thread.join(10)
    [row] = dead_letter_rows(settings)
    assert (row["kafka_topic"], row["error_reason"]) == ("providers.new-provider.events", "unknown_provider")


def test_one_lander_per_landing_zone(broker_settings: Settings) -> None:
    settings = broker_settings
    # Held as a running `continuum land` holds it.
    held = landing_lock(settings.landing_dir, wait_s=0)
    with held, pytest.raises(LandingZoneBusy, match="another lander holds"):
        run_landers(settings, 2, until_caught_up=True, accept_reset=False, lock_wait_s=0.5)
    send_valid(settings, 10)
    assert run_landers(settings, 2, until_caught_up=True, accept_reset=False) == EXIT_OK
    assert_exactly_once(settings, [TOPIC])


def test_what_runs_while_landing_starts_once_the_workers_run_and_only_with_records_to_land(
    broker_settings: Settings,
) -> None:
    """`continuum run` imports validation's modules meanwhile (airflow_run); a thread started before the
    workers' fork would leave them its locks."""
    settings = broker_settings
    workers_running = []

    def while_landing() -> None:
        workers_running.append(len(multiprocessing.active_children()))

    def land() -> int:
        return run_landers(settings, 2, until_caught_up=True, accept_reset=False, while_landing=while_landing)

    assert land() == EXIT_OK
    assert workers_running == []  # nothing to land
    send_valid(settings, 10)
    assert land() == EXIT_OK
    assert workers_running == [2]
    assert_exactly_once(settings, [TOPIC])


def test_sigterm_finishes_the_batch_in_hand_and_exits_0(broker_settings: Settings, tmp_path: Path) -> None:
    settings = broker_settings
    log = tmp_path / "lander.log"
    lander = start_lander(settings, log=log, land_batch_seconds=600)
    send_valid(settings, 500)
    time.sleep(5)  # read, held in hand: neither N events nor T seconds reached
    assert files.committed_batches(settings.landing_dir) == []
    lander.send_signal(signal.SIGTERM)
    assert lander.wait(timeout=30) == 0, log.read_text()
    assert "SIGTERM" in log.read_text()
    assert_exactly_once(settings, [TOPIC])
    assert landed_count(settings) == 500


def test_offsets_going_backwards_are_held_until_accepted_then_land_as_a_new_epoch(
    broker_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = broker_settings
    fewer, more = provider_topic("okc-housing"), provider_topic("okc-reentry")
    for topic in (fewer, more):
        send_valid(settings, 60, topic=topic)
    assert Lander(settings, until_caught_up=True).run() == EXIT_OK
    first_life = {
        b.events_path: b.events_path.read_bytes() for b in files.committed_batches(settings.landing_dir)
    }

    # The embedded broker keeps nothing across a restart: every offset starts again at 0.
    embedded_broker.stop(settings)
    embedded_broker.start(settings)
    ensure_topics(settings, extra_provider_ids=(UNLISTED,))
    send_valid(settings, 30, start=1000, topic=fewer)

    # Seen by offsets alone (as on a broker without topic ids): every log now ends before what was landed.
    monkeypatch.setattr(source, "_topic_id", lambda value: None)
    with caplog.at_level(logging.ERROR, logger="streams.landing.lander"):
        assert Lander(settings, until_caught_up=True).run() == EXIT_RESET_HELD
    by_offsets = [r.getMessage() for r in caplog.records if "the broker's log now ends" in r.getMessage()]
    assert len(by_offsets) == 6, caplog.text
    monkeypatch.undo()

    # Seen by the topic id, also where the new life is longer than the landed one.
    send_valid(settings, 90, start=2000, topic=more)
    log = tmp_path / "lander.log"
    assert land_until_caught_up(settings, log=log) == EXIT_RESET_HELD
    text = log.read_text()
    for topic in (fewer, more):
        for partition in range(3):
            assert f"{topic}[{partition}]: offsets went backwards: the topic's id changed" in text, text
    assert "--accept-reset" in text
    assert {b.events_path for b in files.committed_batches(settings.landing_dir)} == set(first_life)

    assert land_until_caught_up(settings, "--accept-reset", log=log) == EXIT_OK
    batches = files.committed_batches(settings.landing_dir)
    for path, content in first_life.items():  # the earlier life is never written over
        assert path.read_bytes() == content
    new_life = [b for b in batches if b.epoch == 1]
    assert all("+e0001+" in b.name for b in new_life)
    seen = landed_offsets(settings.landing_dir)
    for topic, count in ((fewer, 30), (more, 90)):
        offsets = sorted((p, o) for (t, p, e, o) in seen if t == topic and e == 1)
        assert len(offsets) == count and len(set(offsets)) == count
    status = {(p.topic, p.partition): p for p in landing_status(settings).partitions}
    assert all(status[(t, p)].epoch == 1 and status[(t, p)].lag == 0 for t in (fewer, more) for p in range(3))

    # Once accepted, a further run carries on in epoch 1 with nothing landed twice.
    send_valid(settings, 10, start=3000, topic=fewer)
    assert land_until_caught_up(settings, log=log) == EXIT_OK
    assert max(landed_offsets(settings.landing_dir).values()) == 1


def test_a_broker_restart_while_landing_is_seen_and_with_accept_reset_lands_a_new_epoch(
    broker_settings: Settings, tmp_path: Path
) -> None:
    settings = broker_settings
    log = tmp_path / "lander.log"
    lander = start_lander(
        settings, "--accept-reset", log=log, land_batch_seconds=0.5, land_topic_refresh_seconds=1
    )
    try:
        send_valid(settings, 60)
        wait_for(lambda: landed_count(settings) == 60, 30, "the first life landed")
        first_life = {
            b.events_path: b.events_path.read_bytes() for b in files.committed_batches(settings.landing_dir)
        }
        embedded_broker.stop(settings)
        embedded_broker.start(settings)
        # The embedded broker creates a topic that a client asks for by name (whatever the client says),
        # with 4 partitions: the running lander may recreate the topics before this set-up does.
        ensure_topics(settings, extra_provider_ids=(UNLISTED,))
        send_valid(settings, 30, start=500)
        wait_for(lambda: landed_count(settings) == 90, 60, "the new life landed")
        assert lander.poll() is None, "the lander is still running"
    finally:
        lander.send_signal(signal.SIGTERM)
        code = lander.wait(timeout=60)
    text = log.read_text()
    assert code == 0, text
    assert "offsets went backwards" in text and "--accept-reset: landing the partition's new life" in text
    seen = landed_offsets(settings.landing_dir)
    assert max(seen.values()) == 1
    for path, content in first_life.items():  # the earlier life is never written over
        assert path.read_bytes() == content
    # The partitions landed before the restart carry on as epoch 1; a partition the new life added (if
    # the broker recreated the topic with more) is landed from its start as its first epoch.
    new_life = [(p, e) for (t, p, e, o) in seen if (p < 3 and e == 1) or p >= 3]
    assert len(new_life) == 30 and any(e == 1 for _, e in new_life)


def test_broker_paused_for_20_seconds(broker_settings: Settings, tmp_path: Path) -> None:
    settings = broker_settings
    log = tmp_path / "lander.log"
    lander = start_lander(
        settings,
        log=log,
        land_batch_seconds=2,
        land_topic_refresh_seconds=1,
        land_broker_timeout_seconds=2,
        land_outage_log_seconds=8,
    )
    try:
        send_valid(settings, 200)
        wait_for(lambda: landed_count(settings) == 200, 30, "the first 200 landed")
        # Sent just before the pause, with dead letters: the lander holds them when the broker stops, so
        # its dead-letter sends must wait for the broker too.
        with_producer = producer(settings)
        for i, (topic, value) in enumerate(list(malformed_by_reason(5).values())[:5]):
            with_producer.send(topic, key=f"bad-{i}".encode(), value=value)
        with_producer.flush()
        with_producer.close()
        send_valid(settings, 100, start=200)
        time.sleep(0.5)
        broker_pid = embedded_broker.status(settings).pid
        os.kill(broker_pid, signal.SIGSTOP)
        try:
            time.sleep(20)
        finally:
            os.kill(broker_pid, signal.SIGCONT)
        send_valid(settings, 100, start=300)
        wait_for(lambda: landed_count(settings) == 405, 90, "everything landed after the pause")
        assert lander.poll() is None, "the lander is still running"
    finally:
        lander.send_signal(signal.SIGTERM)
        code = lander.wait(timeout=60)
    text = log.read_text()
    assert code == 0, text
    outage_lines = [line for line in text.splitlines() if "broker not answering" in line]
    assert 1 <= len(outage_lines) <= 20 / 8 + 3, text  # once per interval, not once per retry
    assert "broker answers again" in text
    assert_exactly_once(settings, [TOPIC, provider_topic(UNLISTED)])


def test_exactly_once_through_five_kill_9s(broker_settings: Settings, tmp_path: Path) -> None:
    settings = broker_settings
    simulation = Simulation(
        SimulationConfig(participants=1_900, seed=23, mess=MessConfig(duplicates=0.02, malformed=0.01)),
        load_directory(settings.provider_directory),
    )
    delivered: list[DeliveryReport] = []
    stream = threading.Thread(
        target=lambda: delivered.append(produce(throttled(simulation.messages(), seconds=10.0), settings))
    )
    log = tmp_path / "lander.log"
    overrides = {"land_batch_events": 2_000, "land_batch_seconds": 0.5}
    rng = random.Random(3)
    stream.start()
    for _ in range(5):
        lander = start_lander(settings, log=log, **overrides)
        time.sleep(rng.uniform(1.0, 3.5))
        workers = children(lander.pid)
        lander.kill()  # SIGKILL: no clean-up of any kind
        lander.wait()
        # Its worker processes die with it: none may commit behind the next lander's back.
        wait_for(lambda w=workers: not any(alive(pid) for pid in w), 5, f"workers {workers} to die")
    stream.join()
    assert land_until_caught_up(settings, log=log, **overrides) == EXIT_OK

    report = simulation.report
    assert report.messages >= 50_000 and report.duplicates > 0 and report.malformed > 0
    assert not list(settings.landing_dir.rglob(f"*{files.TMP_SUFFIX}"))
    ends = assert_exactly_once(settings, sorted(delivered[0].messages_by_topic))
    assert sum(ends.values()) == report.messages
    reasons = Counter(row["error_reason"] for row in dead_letter_rows(settings))
    assert reasons == Counter({reason: n for reason, n in report.malformed_by_reason.items() if n})


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def throttled(messages: Iterable[SimulatedMessage], seconds: float, expected: int = 52_000):
    """The simulation's messages spread over about `seconds`, so that the lander is killed mid-stream."""
    started = time.monotonic()
    for i, message in enumerate(messages):
        if i % 1000 == 0:
            time.sleep(max(0.0, started + seconds * i / expected - time.monotonic()))
        yield message
