"""continuum quarantine list|show NAME|release NAME"""

from __future__ import annotations

import argparse
import sys

from common.settings import Settings

HELP = (
    "inspect batches, and rows of batches, held by their expectations, and send one through validation again"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["list", "show", "release"])
    parser.add_argument("name", nargs="?", help="batch name (for show and release), as `list` prints it")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from continuum.pipeline import quarantine

    if args.action == "list":
        return _list(quarantine.quarantined(settings))
    if not args.name:
        print(f"error: `continuum quarantine {args.action}` needs a batch name (see `list`)", file=sys.stderr)
        return 2
    try:
        if args.action == "show":
            return _show(quarantine.find(settings, args.name))
        return _release(settings, args.name)
    except quarantine.QuarantineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _list(batches: list) -> int:
    if not batches:
        print("no batch is quarantined")
        return 0
    for batch in batches:
        what, reasons = _headline(batch)
        more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
        first = reasons[0] if reasons else "?"
        print(f"{batch.name}\n    {what}, validated {batch.verdict.validated_at}: {first}{more}")
    return 0


def _headline(batch) -> tuple[str, list[str]]:
    """What is held (rows of a loaded batch, or a whole batch) and why."""
    if batch.kind == "rows":
        rules = sorted({rule for rules in batch.held.values() for rule in rules})
        return f"{len(batch.held)} rows held (the rest loaded)", rules
    return f"{batch.verdict.events} events held", batch.verdict.failed


def _show(batch) -> int:
    verdict = batch.verdict
    print(f"batch        {batch.name}")
    ref = verdict.ref
    print(f"provider     {ref.provider_id}  (topic {ref.topic}, partition {ref.partition})")
    print(f"offsets      {verdict.ref.first_offset}..{verdict.ref.last_offset}")
    print(f"rows         {verdict.events} events, {verdict.dead_letters} dead letters")
    print(f"validated    {verdict.validated_at}")
    print(f"files        {batch.directory}")
    print(f"result       {verdict.result_path}")
    print(f"returns to   {batch.landing_events_path}")
    if batch.kind == "rows":
        print(f"held rows    {len(batch.held)} (the rest of the batch is loaded), in {batch.directory}")
        print("held rows, by offset, with the expectations they failed:")
        for offset, rules in sorted(batch.held.items()):
            print(f"  {offset:>10}  {'; '.join(rules)}")
    else:
        print("failed expectations:")
        for line in verdict.failed:
            print(f"  - {line}")
    for line in verdict.warnings:
        print(f"  (warning) {line}")
    return 0


def _release(settings: Settings, name: str) -> int:
    import duckdb

    from continuum.pipeline import quarantine, warehouse
    from continuum.pipeline.load import LoadOutcome

    try:
        con = warehouse.connect(settings)
    except duckdb.IOException as exc:  # DuckDB has one writer: a pipeline run holds the file
        print(
            f"error: the warehouse is busy ({exc}); release again when the run has finished", file=sys.stderr
        )
        return 1
    with con:
        outcome = quarantine.release(con, settings, name)
    if isinstance(outcome, quarantine.RowsReleased):
        print(f"{name}: {outcome.loaded} held rows passed their expectations and loaded")
        if outcome.still_held:
            print(f"{len(outcome.still_held)} rows still fail and stay held:", file=sys.stderr)
            for offset, rules in sorted(outcome.still_held.items()):
                print(f"  {offset:>10}  {'; '.join(rules)}", file=sys.stderr)
            return 1
        return 0
    if isinstance(outcome, LoadOutcome):
        state = "loaded" if outcome.loaded else "was loaded already"
        rows = f"{outcome.events} events, {outcome.dead_letters} dead letters"
        if outcome.held_rows:
            rows += f"; {outcome.held_rows} rows broke a row rule and are held (see `show`)"
        print(f"{name} passed its expectations and {state}: {rows}")
        return 0
    print(f"{name} still fails; it stays quarantined:", file=sys.stderr)
    for line in outcome.failed:
        print(f"  - {line}", file=sys.stderr)
    return 1
