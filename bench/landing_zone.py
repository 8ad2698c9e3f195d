"""Time what reads the landing zone's listing (discover, `continuum status`'s local part, a progress
tick) on a landing zone of many small committed batches.

    .venv/bin/python bench/landing_zone.py [--batches 5000] [--dir /tmp/lz-bench]

Builds the zone once (in --dir, reused when it exists), then times each reader three times, cold
(first call of a fresh process state) and warm. The broker is left out: status is timed as if the
broker did not answer, which is what it does with no broker."""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
from kafka.errors import KafkaError

from common.settings import Settings
from streams.landing import files, status

TOPICS = [f"providers.p{i:02d}.events" for i in range(10)]
PARTITIONS = 3
AT = datetime(2026, 6, 1, tzinfo=UTC)


def _events(topic: str, partition: int, first: int, n: int) -> pa.Table:
    rows = [
        {
            "specversion": "1.0",
            "id": f"{topic}-{partition}-{first + i}",
            "source": "s",
            "type": "t",
            "time": AT,
            "subject": "x",
            "dataschema": "d",
            "datacontenttype": "application/json",
            "data": "{}",
            "kafka_topic": topic,
            "kafka_partition": partition,
            "kafka_offset": first + i,
            "kafka_timestamp": AT,
            "landed_at": AT,
        }
        for i in range(n)
    ]
    return pa.Table.from_pylist(rows, schema=files.EVENTS_SCHEMA)


def _dead_letters(topic: str, partition: int, offset: int) -> pa.Table:
    row = {
        "provider_id": topic.split(".")[1],
        "key": b"k",
        "value": b"{",
        "headers": "{}",
        "error_stage": "contract",
        "error_reason": "not_json",
        "error_detail": "d",
        "kafka_topic": topic,
        "kafka_partition": partition,
        "kafka_offset": offset,
        "kafka_timestamp": AT,
        "landed_at": AT,
    }
    return pa.Table.from_pylist([row], schema=files.DEAD_LETTERS_SCHEMA)


def build(landing_dir: Path, batches: int) -> None:
    """`batches` committed batches of 3 events (every tenth with one dead letter), spread over
    10 topics x 3 partitions."""
    per_partition = batches // (len(TOPICS) * PARTITIONS)
    for topic in TOPICS:
        for partition in range(PARTITIONS):
            for k in range(per_partition):
                first = k * 4
                last = first + 3
                if k % 10 == 0:
                    path = files.batch_path(landing_dir, files.DEAD_LETTERS, topic, partition, first, last)
                    files.commit(files.write_table_durably(_dead_letters(topic, partition, last), path))
                path = files.batch_path(landing_dir, files.EVENTS, topic, partition, first, last)
                files.commit(files.write_table_durably(_events(topic, partition, first, 3), path))


def timed(label: str, fn, repeat: int = 3) -> None:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    size = len(result) if hasattr(result, "__len__") else result
    print(f"{label:<28} " + "  ".join(f"{t * 1000:8.1f} ms" for t in times) + f"   ({size})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=5000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/lz-bench"))
    args = parser.parse_args()
    os.environ["CONTINUUM_HOME"] = str(args.dir)
    settings = Settings()
    if not (settings.landing_dir / files.EVENTS).exists():
        started = time.perf_counter()
        build(settings.landing_dir, args.batches)
        print(f"built {args.batches} batches in {time.perf_counter() - started:.1f} s")

    def no_broker(_settings):
        raise KafkaError("no broker (benchmark)")

    status._broker_topics = no_broker
    from continuum.pipeline.discover import new_batches

    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw; CREATE TABLE raw.batches (batch_name VARCHAR)")
    # The ledger knows every batch but the last of each partition: what a discover usually finds.
    landed = files.committed_batches(settings.landing_dir)
    last = {(b.topic, b.partition): b.name for b in landed}
    seen = [(b.name,) for b in landed if b.name not in set(last.values())]
    con.executemany("INSERT INTO raw.batches VALUES (?)", seen)
    timed("walk (committed_batches)", lambda: files.committed_batches(settings.landing_dir))
    timed("discover (new_batches)", lambda: new_batches(con, settings))
    timed("status (landing part)", lambda: status.landing_status(settings).partitions)
    timed("progress tick", _progress_tick(settings))


def _progress_tick(settings: Settings):
    try:
        from streams.landing.zone import LandingZone

        zone = LandingZone.for_settings(settings)
        return lambda: zone.landed_messages()
    except ImportError:
        return lambda: sum(
            b.last_offset - b.first_offset + 1 for b in files.committed_batches(settings.landing_dir)
        )


if __name__ == "__main__":
    main()
