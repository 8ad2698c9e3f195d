"""Landing throughput: the lander, validation included, against the raw kafka-python consume rate.

    PYTHONPATH=. .venv/bin/python bench/landing.py [--events 200000] [--rounds 3]

Starts an embedded broker of its own (in a temporary CONTINUUM_HOME, on a free port), sends a simulated
stream of at least --events messages (the simulator's default mess: duplicates and malformed included),
then alternates, --rounds times, on the same topics:
- the ceiling: one kafka-python consumer with the lander's settings (streams.landing.source), every
  partition assigned, records counted and dropped;
- the lander: `run_landers(until_caught_up=True)`, what `continuum land --until-caught-up` runs, into a
  fresh landing zone (validation, Arrow tables, Parquet, fsync, dead letters produced and flushed), with
  `land_workers` processes unless --workers says otherwise.
Both run with the lander's garbage-collector settings (workers.tune_gc). The machine's speed drifts
between runs (and other work shares its cores), so the figure that counts is the ratio within one
round; the CPU time per message (this process and its workers, not the broker's) drifts much less.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import socket
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from kafka import TopicPartition

from common.directory import load_directory
from common.settings import Settings
from infra import embedded_broker
from streams.landing.files import committed_batches
from streams.landing.source import ProviderTopics, make_consumer
from streams.landing.status import fetch_end_offsets
from streams.landing.workers import run_landers, tune_gc
from streams.simulator import MessConfig, Simulation, SimulationConfig, produce

MESSAGES_PER_PARTICIPANT = 26  # about what the simulator sends per participant over its default window


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send_stream(settings: Settings, events: int) -> tuple[int, float]:
    """Send at least `events` simulated messages; returns (messages, mean value size in bytes)."""
    participants = events // MESSAGES_PER_PARTICIPANT + 1
    while True:
        simulation = Simulation(
            SimulationConfig(participants=participants, seed=5, mess=MessConfig()),
            load_directory(settings.provider_directory),
        )
        messages = list(simulation.messages())
        if len(messages) >= events:
            break
        participants = int(participants * events / len(messages)) + 1
    produce(messages, settings)
    return len(messages), sum(len(m.value) for m in messages) / len(messages)


def partitions(settings: Settings) -> list[TopicPartition]:
    topics = ProviderTopics(settings)
    try:
        return [tp for topic in topics.list() for tp in topic.topic_partitions()]
    finally:
        topics.close()


@dataclass(frozen=True)
class Run:
    seconds: float  # wall clock
    cpu_seconds: float  # CPU of this process and of the workers it forked (not the broker's)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def raw_consume(settings: Settings, tps: list[TopicPartition], total: int) -> Run:
    """One consumer with the lander's settings reads `total` records (the ceiling)."""
    started, cpu = time.perf_counter(), _cpu()
    consumer = make_consumer(settings, client_id="bench-raw")
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    seen = 0
    while seen < total:
        for records in consumer.poll(timeout_ms=500).values():
            seen += len(records)
    run = Run(time.perf_counter() - started, _cpu() - cpu)
    consumer.close(autocommit=False)
    return run


def land(settings: Settings, total: int, workers: int) -> Run:
    """A bounded lander run (what `continuum land --until-caught-up` does) into an empty landing zone;
    checks that every message landed once."""
    shutil.rmtree(settings.landing_dir, ignore_errors=True)
    started, cpu = time.perf_counter(), _cpu()
    assert run_landers(settings, workers, until_caught_up=True, accept_reset=False) == 0
    run = Run(time.perf_counter() - started, _cpu() - cpu)
    landed = sum(
        pq.read_metadata(path).num_rows
        for batch in committed_batches(settings.landing_dir)
        for path in (batch.events_path, batch.dead_letters_path)
        if path is not None
    )
    assert landed == total, f"landed {landed} of {total}"
    return run


def _us(run: Run, total: int) -> str:
    return f"{run.cpu_seconds / total * 1e6:.1f} CPU µs/msg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--workers", default=None, help="lander processes, e.g. 2 or 1,2 (default: land_workers)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    tune_gc()  # what the lander does: the ceiling gets the same garbage-collector settings, to be fair

    home = Path(tempfile.mkdtemp(prefix="continuum-bench-landing-"))
    settings = Settings(home=home, broker_port=free_port(), kafka_bootstrap=None)
    worker_counts = [int(w) for w in args.workers.split(",")] if args.workers else [settings.land_workers]
    embedded_broker.start(settings)
    try:
        sent, mean_size = send_stream(settings, args.events)
        tps = partitions(settings)
        ends = fetch_end_offsets(settings, tps, timeout_s=30)
        total = sum(ends.values())
        assert total == sent, f"the broker holds {total} of {sent} messages"
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}; "
            f"{total:,} messages of {mean_size:.0f} B on {len(tps)} partitions"
        )
        raw_rates: list[float] = []
        lander_rates: dict[int, list[float]] = {w: [] for w in worker_counts}
        ratios: dict[int, list[float]] = {w: [] for w in worker_counts}
        for round_no in range(1, args.rounds + 1):
            raw = raw_consume(settings, tps, total)
            raw_rate = total / raw.seconds
            raw_rates.append(raw_rate)
            line = f"round {round_no}: raw consume {raw_rate:>8,.0f} msg/s ({_us(raw, total)})"
            for workers in worker_counts:
                run = land(settings, total, workers)
                lander_rate = total / run.seconds
                lander_rates[workers].append(lander_rate)
                ratios[workers].append(lander_rate / raw_rate)
                line += (
                    f" | lander {workers}w {lander_rate:>7,.0f} msg/s = {lander_rate / raw_rate:.0%}"
                    f" ({_us(run, total)})"
                )
            print(line, flush=True)
        line = f"median:  raw consume {statistics.median(raw_rates):>9,.0f} msg/s"
        for workers in worker_counts:
            line += (
                f" | lander ({workers}w) {statistics.median(lander_rates[workers]):>8,.0f} msg/s"
                f" = {statistics.median(ratios[workers]):.0%}"
            )
        print(line)
    finally:
        embedded_broker.stop(settings)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
