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
        "--state",
        type=Path,
        help="what this provider sent before (default: $CONTINUUM_HOME/adapters/fhir/<provider>.json)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the events that would be sent; send nothing"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.adapters.common import AdapterError

    try:
        plan, shown = _import(args, settings)
    except AdapterError as exc:
        print(f"continuum import fhir: {exc}", file=sys.stderr)
        return 2
    _report(plan, shown, args)
    return 1 if plan.problems else 0  # 1: some resources were not sent (listed)


def _import(args: argparse.Namespace, settings: Settings):
    """Read, map, drop what was sent before, then send (or print); returns the plan and how many went."""
    from common.directory import load_directory
    from streams.adapters.common import AdapterError, read_linkage_secret
    from streams.adapters.fhir.export import read_export
    from streams.adapters.fhir.importer import drop_already_sent, dry_run_plan, plan_import, send_plan
    from streams.adapters.fhir.state import default_state_path, fingerprint, load_sent, save_sent
    from streams.adapters.fhir.vocabulary import MappingFileError, load_vocabulary
    from streams.contract import Contract

    directory = load_directory(settings.provider_directory)
    if args.provider not in directory:
        raise AdapterError(
            f"provider {args.provider!r} is not in the provider directory ({settings.provider_directory})"
        )
    secret = read_linkage_secret(args.linkage_secret_file)
    try:
        vocabulary = load_vocabulary(args.mapping, directory)
    except MappingFileError as exc:
        raise AdapterError(str(exc)) from exc
    try:
        export = read_export(args.file)
    except (OSError, UnicodeDecodeError) as exc:
        raise AdapterError(f"cannot read {args.file}: {exc}") from exc
    state_path = args.state or default_state_path(settings.state_dir, args.provider)
    sent_before = load_sent(state_path, args.provider)
    plan = plan_import(export, args.provider, secret, vocabulary, directory)
    drop_already_sent(plan, sent_before)
    if args.dry_run:
        return plan, dry_run_plan(plan, args.provider, Contract(directory), print)
    acknowledged = send_plan(plan, args.provider, settings)
    if acknowledged:
        remembered = {**sent_before, **{e.event_id: fingerprint(e) for e in acknowledged}}
        save_sent(state_path, args.provider, remembered)
    return plan, len(acknowledged)


def _report(plan, shown: int, args: argparse.Namespace) -> None:
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
        f"{verb} {shown} events as {args.provider} ({types}); already sent by an earlier import: "
        f"{plan.already_sent}; left to the other provider of a referral or consent: {sum(left.values())} "
        f"({left_text}); not sent (listed above): {len(plan.problems)}",
        file=sys.stderr,
    )
