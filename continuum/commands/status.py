"""continuum status [--json]"""

from __future__ import annotations

import argparse
import json

from common.settings import Settings

HELP = "show per partition the landed offset, the end offset and the lag, and dead letters by reason"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.landing.status import landing_status

    status = landing_status(settings)
    if args.json:
        print(json.dumps(status.to_json(), indent=2))
        return 0
    print(f"{'partition':<48} {'epoch':>5} {'landed':>10} {'end':>10} {'lag':>8}")
    for p in status.partitions:
        print(
            f"{p.topic + '[' + str(p.partition) + ']':<48} {p.epoch:>5} {_show(p.landed_offset):>10} "
            f"{_show(p.end_offset):>10} {_show(p.lag):>8}"
            + ("  offsets went backwards: see docs/landing.md" if p.lag is not None and p.lag < 0 else "")
            + (f"  HELD at offset {p.held.offset}" if p.held else "")
        )
    for p in status.partitions:
        if p.held:
            print(f"held: {p.held.describe()} (since {p.held.held_at})")
    if status.broker_error:
        print(f"broker not reachable, end offsets unknown: {status.broker_error}")
    print()
    print(f"dead letters: {sum(status.dead_letters.values())}")
    for (provider, reason), count in sorted(status.dead_letters.items(), key=str):
        print(f"  {provider or '-':<32} {reason:<24} {count:>8}")
    print()
    from continuum.pipeline.summary import print_reconciliation  # landed = loaded + quarantined + pending

    print_reconciliation(settings)
    return 0


def _show(value: int | None) -> str:
    return "-" if value is None else str(value)
