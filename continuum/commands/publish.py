"""continuum publish FILE --provider ID"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common.settings import Settings

HELP = "send a file of CloudEvents (NDJSON, one per line) as one provider, refusing what breaks the contract"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="NDJSON file, one CloudEvent per line ('-' for stdin)")
    parser.add_argument("--provider", required=True, help="provider id whose topic receives the events")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from continuum.progress import Progress
    from streams.producer import ProviderClient, publish_lines

    with ProviderClient(args.provider, settings) as client, Progress("publish", unit="lines") as progress:
        if str(args.file) == "-":
            report = publish_lines(client, progress.track(sys.stdin.buffer))
        else:
            with open(args.file, "rb") as lines:
                report = publish_lines(client, progress.track(lines))
    for line_no, refusal in report.refused:
        print(f"line {line_no}: refused {refusal.reason}: {refusal.detail}", file=sys.stderr)
    print(f"sent {report.sent} events to providers.{args.provider}.events; refused {len(report.refused)}")
    return 1 if report.refused else 0
