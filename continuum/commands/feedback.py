"""continuum feedback --provider ID [--follow] [--json]"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from common.settings import Settings

HELP = "print what the pipeline told a provider on its feedback topic: each message refused or held back"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", required=True, help="the provider id whose feedback to read")
    parser.add_argument("--follow", action="store_true", help="keep printing new feedback until stopped")
    parser.add_argument("--json", action="store_true", help="one JSON object a line instead of text")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.feedback import read_feedback

    try:
        for feedback in read_feedback(settings, args.provider, follow=args.follow):
            print(json.dumps(asdict(feedback)) if args.json else feedback.line(), flush=True)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
