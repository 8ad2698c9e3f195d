"""How many messages per second the contract check takes on one core.

    PYTHONPATH=. .venv/bin/python bench/contract.py [--messages N]

Valid events of every type (~450 bytes, as providers send them) and a mix of refused ones are checked
in a loop in one thread; the figure that matters is valid events/s (target >= 50,000).
"""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import time

from common.directory import load_directory
from common.settings import get_settings
from streams.contract import EVENT_TYPES, Contract
from tests.contract_examples import NOW, TOPIC, message

REFUSED = [
    b"{not json",
    message(id="not-a-uuid"),
    message(data={"referral_id": "x"}),
    message(source="urn:continuum:provider:okc-housing"),
]


def rate(contract: Contract, values: list[bytes], n: int) -> float:
    batch = list(itertools.islice(itertools.cycle(values), n))
    start = time.perf_counter()
    for value in batch:
        contract.check(value, TOPIC, now=NOW)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    contract = Contract(load_directory(get_settings().provider_directory))
    valid = [message(t) for t in EVENT_TYPES]
    valid_rates = [rate(contract, valid, args.messages) for _ in range(args.repeats)]
    refused_rates = [rate(contract, REFUSED, args.messages) for _ in range(args.repeats)]
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    print(f"mean valid message size: {statistics.mean(len(v) for v in valid):.0f} B")
    median, slowest = statistics.median(valid_rates), min(valid_rates)
    print(f"valid events:     median {median:>10,.0f} msg/s (min {slowest:,.0f})")
    print(f"refused messages: median {statistics.median(refused_rates):>10,.0f} msg/s")


if __name__ == "__main__":
    main()
