"""Where the lander's CPU goes per message, stage by stage, on simulated records held in memory (no
broker, one process): the contract check, the events table, the dead-letter table, Parquet.

    PYTHONPATH=. .venv/bin/python bench/landing_stages.py [--participants 8000] [--rounds 3]

Fetching is not here: bench/landing.py measures it as the raw consume rate. The first round is slower
(fresh memory); the later rounds are the steady state of a lander that has run for a while.
"""

from __future__ import annotations

import argparse
import io
import time
from collections import defaultdict
from datetime import UTC, datetime

import pyarrow.parquet as pq
from kafka.consumer.fetcher import ConsumerRecord

from common.directory import load_directory
from common.settings import Settings
from streams.contract import Contract
from streams.landing.batch import Batch, check_batch, dead_letters_table, events_table
from streams.landing.workers import tune_gc
from streams.simulator import MessConfig, Simulation, SimulationConfig

BATCH_EVENTS = 5_000


def simulated_batches(participants: int) -> list[Batch]:
    """The simulator's messages (mess included) as kafka-python records, cut into batches per topic."""
    directory = load_directory(Settings().provider_directory)
    simulation = Simulation(SimulationConfig(participants=participants, seed=5, mess=MessConfig()), directory)
    by_topic: dict[str, list[ConsumerRecord]] = defaultdict(list)
    for m in simulation.messages():
        records = by_topic[m.topic]
        timestamp, offset = 1_764_000_000_000, len(records)
        sizes = (len(m.key or b""), len(m.value), 0)
        records.append(ConsumerRecord(m.topic, 0, 0, offset, timestamp, 0, m.key, m.value, [], None, *sizes))
    return [
        Batch(topic, 0, 0, None, records[i : i + BATCH_EVENTS])
        for topic, records in by_topic.items()
        for i in range(0, len(records), BATCH_EVENTS)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=8_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    batches = simulated_batches(args.participants)
    contract = Contract(load_directory(Settings().provider_directory))
    tune_gc()  # as the lander does
    n = sum(len(b.records) for b in batches)
    print(f"{n:,} messages in {len(batches)} batches; µs of CPU per message:")
    for round_no in range(1, args.rounds + 1):
        now = datetime.now(UTC)
        stages = [0.0] * 4
        for batch in batches:  # one at a time, as the lander does: each is dropped before the next
            marks = [time.process_time()]
            checked = check_batch(batch, contract, now)
            marks.append(time.process_time())
            table = events_table(checked, now)
            marks.append(time.process_time())
            if checked.dead_letters:
                dead_letters_table(checked, now)
            marks.append(time.process_time())
            pq.write_table(table, io.BytesIO(), compression="zstd")
            marks.append(time.process_time())
            for i in range(4):
                stages[i] += marks[i + 1] - marks[i]
        check, table, letters, parquet = (seconds / n * 1e6 for seconds in stages)
        print(
            f"round {round_no}: contract check {check:.2f} | events table {table:.2f} | "
            f"dead-letter table {letters:.2f} | Parquet {parquet:.2f} | all {sum(stages) / n * 1e6:.2f}"
        )


if __name__ == "__main__":
    main()
