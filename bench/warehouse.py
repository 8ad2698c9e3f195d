"""Warehouse build time: a full `dbt build` at N simulated participants, an incremental one after about
1% new events, and one with nothing new a day later.

    PYTHONPATH=. .venv/bin/python bench/warehouse.py [--participants 10000 100000] [--new-share 0.01]

For each size: simulate the network (the simulator's default mess: duplicates, late events, malformed
messages), check every message with the event contract and fill the raw tables of a fresh DuckDB file
the way the loader does (valid events to raw.events, refusals to raw.dead_letters, one raw.batches row
per topic, partition and landing day). The last `--new-share` of the events, in landing order, is held
back. Then, timed:

1. full build: `dbt build` (models, data tests and unit tests) on the first part, from an empty warehouse;
2. incremental build: the held-back events loaded as a new batch (late events among them), `dbt build`;
3. nothing new: `dbt build` again with as_of a day later and no new raw row;
4. full refresh: `dbt build --full-refresh` on everything, for comparison with 2.

Builds 1 to 3 run as the pipeline runs them (continuum.pipeline.dbt.dbt_build: planned, target and logs
outside the repository); 4 runs as asked. Each is timed on the wall clock and in CPU seconds of dbt (the
machine is shared: CPU time is the steadier figure). Loading the raw tables is not timed (that is the
loader's work).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import tempfile
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from common.directory import load_directory
from common.settings import Settings
from continuum.pipeline import dbt as pipeline_dbt
from continuum.pipeline.warehouse import DEAD_LETTER_PAYLOAD, warehouse_columns
from streams.contract import Contract, Event
from streams.landing.files import DEAD_LETTERS_SCHEMA, EVENTS_SCHEMA
from streams.simulator import MessConfig, Simulation, SimulationConfig

END = datetime(2026, 11, 1, tzinfo=UTC)
PARTITIONS = 3
CHUNK = 200_000

# The raw tables' columns, as the loader creates them (continuum.pipeline.warehouse).
EVENT_COLUMNS = [name for name, _, _ in warehouse_columns(EVENTS_SCHEMA)]
DEAD_LETTER_COLUMNS = [name for name, _, _ in warehouse_columns(DEAD_LETTERS_SCHEMA, DEAD_LETTER_PAYLOAD)]


def raw_ddl() -> str:
    text = (pipeline_dbt.DBT_PROJECT_DIR / "macros" / "create_raw_tables_if_missing.sql").read_text()
    return text.split("{% macro create_raw_tables_if_missing() %}")[1].split("{% endmacro %}")[0]


class RawWriter:
    """Appends rows to raw.events / raw.dead_letters in chunks (the loader's columns)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        self.conn = conn
        self.rows: dict[str, list[dict]] = {"events": [], "dead_letters": []}
        self.batches: dict[str, tuple] = {}

    def add(self, table: str, row: dict) -> None:
        key = (row["kafka_topic"], row["kafka_partition"], row["landed_at"].date(), row["loaded_at"])
        row["batch_name"] = f"{key[0]}+{key[1]}+{key[2]:%Y%m%d}+loaded{key[3]:%Y%m%d%H%M}.parquet"
        first, last, events, dead = self.batches.get(row["batch_name"], (row["kafka_offset"], 0, 0, 0))
        self.batches[row["batch_name"]] = (
            min(first, row["kafka_offset"]),
            max(last, row["kafka_offset"]),
            events + (table == "events"),
            dead + (table == "dead_letters"),
        )
        self.rows[table].append(row)
        if len(self.rows[table]) >= CHUNK:
            self.flush(table)

    def flush(self, table: str) -> None:
        rows = self.rows[table]
        if not rows:
            return
        columns = EVENT_COLUMNS if table == "events" else DEAD_LETTER_COLUMNS
        arrow = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])  # noqa: F841
        self.conn.execute(
            f"insert into raw.{table} ({', '.join(columns)}) select {', '.join(columns)} from arrow"
        )
        rows.clear()

    def close(self, loaded_at: datetime) -> None:
        self.flush("events")
        self.flush("dead_letters")
        for name, (first, last, events, dead) in self.batches.items():
            topic, partition = name.split("+")[:2]
            self.conn.execute(
                "insert into raw.batches values (?, ?, ?, ?, ?, ?, 'loaded', ?, ?, null, ?, ?, 'bench')",
                [
                    name,
                    topic,
                    topic.split(".")[1],
                    int(partition),
                    first,
                    last,
                    events,
                    dead,
                    loaded_at,
                    loaded_at,
                ],
            )
        self.batches.clear()


def fill_raw(participants: int, db_path: Path, new_share: float) -> tuple[int, list[tuple[str, dict]]]:
    """Simulate and load all but the last `new_share` of the messages; returns the number of events
    loaded and the rows held back for the second load."""
    directory = load_directory(Settings().provider_directory)
    sim = Simulation(
        SimulationConfig(participants=participants, seed=11, end=END, mess=MessConfig()), directory
    )
    contract = Contract(directory)
    messages = list(sim.messages())
    split_at = int(len(messages) * (1 - new_share))
    offsets: dict[tuple[str, int], int] = {}
    clock = datetime(1970, 1, 1, tzinfo=UTC)
    first_load, second_load = END - timedelta(days=1), END
    counts = [0, 0]  # events loaded first, events held back
    with duckdb.connect(str(db_path)) as conn:
        conn.execute("set TimeZone = 'UTC'")
        conn.execute(raw_ddl())
        writer = RawWriter(conn)
        held_back: list[tuple[str, dict]] = []
        for index, m in enumerate(messages):
            partition = zlib.crc32(m.key or b"") % PARTITIONS
            offset = offsets.get((m.topic, partition), 0)
            offsets[(m.topic, partition)] = offset + 1
            checked = contract.check(m.value, m.topic, now=END)
            if isinstance(checked, Event):
                clock = max(clock, checked.time + timedelta(hours=1))
            landed_at = min(clock, END)
            later = index >= split_at
            lineage = {
                "kafka_topic": m.topic,
                "kafka_partition": partition,
                "kafka_offset": offset,
                "kafka_timestamp": landed_at,
                "landed_at": landed_at,
                "loaded_at": second_load if later else first_load,
            }
            if isinstance(checked, Event):
                table, row = (
                    "events",
                    {
                        "specversion": "1.0",
                        "id": checked.id,
                        "source": checked.source,
                        "type": checked.type,
                        "time": checked.time,
                        "subject": checked.subject,
                        "dataschema": checked.dataschema,
                        "datacontenttype": checked.datacontenttype,
                        "data": orjson.dumps(checked.data).decode(),
                        **lineage,
                    },
                )
                counts[later] += 1
            else:
                match = re.fullmatch(r"providers\.([^.]+)\.events", m.topic)
                table, row = (
                    "dead_letters",
                    {
                        "provider_id": match.group(1) if match else None,
                        "error_stage": "contract",
                        "error_reason": checked.reason,
                        "error_detail": checked.detail,
                        **lineage,
                    },
                )
            if later:
                held_back.append((table, row))
            else:
                writer.add(table, row)
        writer.close(first_load)
    return counts[0], held_back


def load_held_back(db_path: Path, held_back: list[tuple[str, dict]]) -> None:
    with duckdb.connect(str(db_path)) as conn:
        conn.execute("set TimeZone = 'UTC'")
        writer = RawWriter(conn)
        for table, row in held_back:
            writer.add(table, row)
        writer.close(END)


def dbt_build(db_path: Path, *args: str, as_of: datetime = END) -> tuple[float, float]:
    """Wall and CPU seconds one `dbt build` takes, run as the pipeline runs it (continuum.pipeline.dbt)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    pipeline_dbt.dbt_build(Settings(home=db_path.parent), as_of, *args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return time.perf_counter() - started, cpu


def bench(participants: int, new_share: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="continuum-bench-warehouse-") as tmp:
        work = Path(tmp)
        db_path = work / "warehouse.duckdb"
        started = time.perf_counter()
        first, held_back = fill_raw(participants, db_path, new_share)
        later = sum(table == "events" for table, _ in held_back)
        prepare = time.perf_counter() - started
        full = dbt_build(db_path)
        load_held_back(db_path, held_back)
        incremental = dbt_build(db_path)
        nothing_new = dbt_build(db_path, as_of=END + timedelta(days=1))
        refresh = dbt_build(db_path, "--full-refresh")
        with duckdb.connect(str(db_path), read_only=True) as conn:
            journey_rows = conn.execute("select count(*) from marts.journey_events").fetchall()[0][0]
        size_mb = db_path.stat().st_size / 1e6
    return {
        "participants": participants,
        "events_first_load": first,
        "events_new": later,
        "journey_events": journey_rows,
        "prepare_s": prepare,
        "full_build_s": full,
        "incremental_build_s": incremental,
        "nothing_new_s": nothing_new,
        "full_refresh_s": refresh,
        "warehouse_mb": size_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--new-share", type=float, default=0.01)
    args = parser.parse_args()
    print(
        f"# {platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"duckdb {duckdb.__version__}; as_of {END:%Y-%m-%d}"
    )
    print("Each build: wall seconds (CPU seconds of dbt).")
    print(
        "| participants | events (first load) | new events | journey_events rows | full build | "
        "incremental build | nothing new | full refresh | warehouse |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in args.participants:
        r = bench(n, args.new_share)
        times = " | ".join(
            f"{r[k][0]:.1f} s ({r[k][1]:.1f} s)"
            for k in ("full_build_s", "incremental_build_s", "nothing_new_s", "full_refresh_s")
        )
        print(
            f"| {n:,} | {r['events_first_load']:,} | {r['events_new']:,} | {r['journey_events']:,} | "
            f"{times} | {r['warehouse_mb']:.0f} MB |",
            flush=True,
        )


if __name__ == "__main__":
    main()
