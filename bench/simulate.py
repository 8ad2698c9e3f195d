"""How fast the network simulator generates and writes its stream, and how much memory it holds.

    PYTHONPATH=. .venv/bin/python bench/simulate.py [--participants N] [--out FILE]

Generates N participants (default 20,000) with the default mess, writes NDJSON (to a temporary file
unless --out is given) and prints messages, seconds, messages/s and the peak resident set size. For the
100,000-participant figure of docs/simulator.md, time the command itself with `/usr/bin/time -v`.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from common.directory import load_directory
from common.settings import get_settings
from streams.simulator import Simulation, SimulationConfig, write_ndjson


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=20_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    settings = get_settings()
    config = SimulationConfig(participants=args.participants, end=datetime(2026, 11, 1, tzinfo=UTC))
    sim = Simulation(config, load_directory(settings.provider_directory), settings.linkage_secret)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "network.ndjson"
        start = time.perf_counter()
        written = write_ndjson(sim.messages(), out)
        seconds = time.perf_counter() - start
        size_mb = out.stat().st_size / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.participants:,} participants: {written.messages:,} messages ({size_mb:,.0f} MB) "
        f"in {seconds:.1f}s, {written.messages / seconds:,.0f} messages/s, peak RSS {peak_mb:,.0f} MB"
    )


if __name__ == "__main__":
    main()
