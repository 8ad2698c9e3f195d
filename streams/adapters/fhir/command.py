"""`continuum import fhir FILE --provider ID`: the command line of the FHIR adapter (docs/adapters.md).

Heavy imports (fhir.resources, Kafka) happen inside `run`, so `continuum --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from common.settings import Settings

HELP = (
    "send a FHIR R4 Bundle or NDJSON of Gravity referral Tasks, ServiceRequests, Patients and Consents as "
    "referral and consent events"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a FHIR R4 Bundle (JSON) or NDJSON, one resource a line")
    parser.add_argument(
        "--provider", required=True, help="the importing provider's id (its topic receives the events)"
    )
    parser.add_argument(
        "--linkage-secret-file",
        type=Path,
        required=True,
        help="file holding the network's linkage secret (for keys and ids; never stored or sent)",
    )
    parser.add_argument(
        "--mapping",
        type=Path,
        help="TOML file mapping this provider's codes and organization identifiers (docs/adapters.md)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the events that would be sent; send nothing"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from common.directory import load_directory
    from streams.adapters.fhir.export import read_export
    from streams.adapters.fhir.importer import dry_run_plan, plan_import, send_plan
    from streams.adapters.fhir.vocabulary import MappingFileError, load_vocabulary
    from streams.contract import Contract
    from streams.producer import ProviderClient

    directory = load_directory(settings.provider_directory)
    if args.provider not in directory:
        raise SystemExit(
            f"continuum import fhir: provider {args.provider!r} is not in {settings.provider_directory}"
        )
    secret = _read_secret(args.linkage_secret_file)
    try:
        vocabulary = load_vocabulary(args.mapping, directory)
    except MappingFileError as exc:
        raise SystemExit(f"continuum import fhir: {exc}") from exc
    try:
        export = read_export(args.file)
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"continuum import fhir: cannot read {args.file}: {exc}") from exc
    plan = plan_import(export, args.provider, secret, vocabulary, directory)
    if args.dry_run:
        sent = dry_run_plan(plan, args.provider, Contract(directory), print)
    else:
        with ProviderClient(args.provider, settings) as client:
            sent = send_plan(plan, client)
    _report(plan, sent, args)
    return 1 if plan.problems else 0


def _read_secret(path: Path) -> str:
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SystemExit(f"continuum import fhir: cannot read the linkage secret file: {exc}") from exc
    if not secret:
        raise SystemExit(f"continuum import fhir: the linkage secret file {path} is empty")
    return secret


def _report(plan, sent: int, args: argparse.Namespace) -> None:
    """The provider's summary on stderr: what was not sent and why (resource ids stay on this machine)."""
    for note in plan.notes:
        print(f"note: {note}", file=sys.stderr)
    for problem in plan.problems:
        print(f"not sent: {problem.where}: {problem.why}", file=sys.stderr)
    by_type = Counter(e.event_type for e in plan.events)
    types = ", ".join(f"{t}: {n}" for t, n in sorted(by_type.items())) or "none"
    left = Counter(provider for _, provider in plan.left_to)
    left_text = ", ".join(f"{p}: {n}" for p, n in sorted(left.items())) or "none"
    verb = "would send" if args.dry_run else "sent"
    print(
        f"{verb} {sent} events as {args.provider} ({types}); left to the other provider of a referral or "
        f"consent: {sum(left.values())} ({left_text}); not sent (listed above): {len(plan.problems)}",
        file=sys.stderr,
    )
