"""continuum report funders --out DIR"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.settings import Settings

HELP = "write a report as a self-contained static site (one folder that opens from disk, no server)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", choices=["funders"], help="which report (funders: funder_outcomes)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the site into")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from continuum.web.static_report import write_funder_report
    from continuum.web.warehouse import WarehouseNotPublished

    try:
        index = write_funder_report(settings, args.out)
    except WarehouseNotPublished as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"funder report written to {args.out.resolve()}; open {index.resolve().as_uri()}")
    return 0
