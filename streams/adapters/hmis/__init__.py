"""`continuum import hmis DIR --provider ID`: a provider's HUD HMIS CSV export (FY2024 or FY2026) sent
to the network as contract events (docs/adapters.md, section "HMIS CSV").

    export.py    reads the export's six files and tells FY2024 from FY2026
    mapping.py   HUD's code lists and the tables that map them to the contract (overridable per provider)
    plan.py      rows -> participant.enrolled / participant.exited / service.delivered, or a reported problem
    state.py     what the provider's side remembers between imports (keys by client, events sent)
    importer.py  one import: plan, leave out what was sent before, send through ProviderClient, remember

This module stays light (no Kafka import) so that `continuum --help` is fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.settings import Settings

HELP = "send an HMIS CSV export (HUD FY2024 or FY2026) as participant and service events"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory", type=Path, metavar="DIR", help="the folder of the unzipped HMIS CSV export"
    )
    parser.add_argument("--provider", required=True, metavar="ID", help="your provider id in the directory")
    parser.add_argument(
        "--linkage-secret-file",
        required=True,
        type=Path,
        metavar="FILE",
        help="file holding the network's linkage secret (read, never stored or sent)",
    )
    parser.add_argument(
        "--mapping", type=Path, metavar="FILE", help="your overrides of the code mappings (TOML, or .json)"
    )
    parser.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="what earlier imports sent and which key each client got "
        "(default: $CONTINUUM_HOME/adapters/hmis/<provider>.json)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be sent (types, ids, times) and send nothing"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.adapters.common import AdapterError, format_planned, format_report, read_linkage_secret
    from streams.adapters.hmis.importer import import_export
    from streams.adapters.hmis.mapping import load_mapping
    from streams.adapters.hmis.state import default_state_path

    try:
        secret = read_linkage_secret(args.linkage_secret_file)
        mapping = load_mapping(args.mapping)
        state_path = args.state or default_state_path(settings.state_dir, args.provider)
        result = import_export(
            args.directory, args.provider, secret, mapping, state_path, settings, dry_run=args.dry_run
        )
    except AdapterError as exc:
        print(f"continuum import hmis: {exc}", file=sys.stderr)
        return 2
    title = f"continuum import hmis: {result.label} export, provider {args.provider}"
    if args.dry_run:
        title += " (dry run: nothing sent)"
        if result.outcome.sent:
            print(format_planned(result.outcome.sent))
    print(format_report(title, result.outcome, args.dry_run))
    return 1 if result.outcome.problems else 0  # 1: some rows were not sent (listed above)
