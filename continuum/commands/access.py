"""continuum access grant|list|revoke|audit: named credentials for the web app, and its audit trail.

Each sub-subcommand has its own `<NAME>_HELP`, `add_<name>_arguments` and `run_<name>`, listed in
SUBCOMMANDS (as `continuum providers` does). docs/access.md says who gets which role."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from common.settings import Settings

HELP = "web app access: grant, list and revoke named credentials; read the audit trail"

ROLES = ("provider", "funder", "operator")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="access_command", required=True, metavar="SUBCOMMAND")
    for name, (help_text, add_args, run_sub) in SUBCOMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        add_args(command)
        command.set_defaults(access_run=run_sub)


def run(args: argparse.Namespace, settings: Settings) -> int:
    return args.access_run(args, settings)


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


GRANT_HELP = (
    "issue a credential for one person or program; prints its secret once, as the last word "
    "(only its hash is kept)"
)


def add_grant_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", choices=ROLES, required=True)
    parser.add_argument("--provider", help="the provider a provider credential speaks for (directory id)")
    parser.add_argument("--name", required=True, help='who holds it, e.g. "Jane Doe, case manager"')


def run_grant(args: argparse.Namespace, settings: Settings) -> int:
    from common.directory import load_directory
    from continuum.web.credentials import CredentialError, Role, grant

    if args.provider is not None and args.provider not in load_directory(settings.provider_directory):
        return _error(
            f"{args.provider!r} is not in the provider directory ({settings.provider_directory}); "
            "add it there first"
        )
    try:
        secret = grant(settings.web_credentials_path, Role(args.role), args.name, args.provider)
    except CredentialError as exc:
        return _error(str(exc))
    scope = f" for {args.provider}" if args.provider else ""
    print(f"{args.role} credential {args.name!r}{scope} (shown once; give it to its holder only): {secret}")
    return 0


LIST_HELP = "list credentials: name, role, provider, issued, revoked (never a secret)"


def add_list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all", action="store_true", help="include revoked credentials")


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    from continuum.web.credentials import load

    shown = [c for c in load(settings.web_credentials_path) if args.all or c.is_active]
    if not shown:
        print("no credentials (grant one with `continuum access grant`)")
    for c in shown:
        revoked = f"  revoked {c.revoked_at}" if c.revoked_at else ""
        print(f"{c.name}\t{c.role}\t{c.provider_id or '-'}\tissued {c.issued_at}{revoked}")
    return 0


REVOKE_HELP = "revoke a credential by name: its sessions end at once, other credentials keep working"


def add_revoke_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the credential's name, as `continuum access list` prints it")


def run_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from continuum.web.credentials import CredentialError, revoke
    from continuum.web.sessions import Sessions

    try:
        revoked = revoke(settings.web_credentials_path, args.name)
    except CredentialError as exc:
        return _error(str(exc))
    ended = Sessions(settings.web_sessions_path).close_all_of(revoked.credential_id)
    print(f"revoked {revoked.name!r} ({revoked.role}); {ended} browser session(s) ended")
    return 0


AUDIT_HELP = (
    "read the audit trail: who opened which page or file, whose rows, when, from where; "
    "--verify checks its hash chain"
)


def add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", help="only accesses to this provider's rows")
    parser.add_argument(
        "--since", help="only from this time on (ISO 8601, e.g. 2026-12-01 or 2026-12-01T08:00Z)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line, as stored")
    parser.add_argument("--verify", action="store_true", help="check that no line was edited or removed")


def run_audit(args: argparse.Namespace, settings: Settings) -> int:
    from continuum.web import audit

    path = settings.audit_log_path
    if args.verify:
        verdict = audit.verify(path)
        if not verdict.intact:
            print(
                f"{path}: line {verdict.broken_at} does not follow from the line before it", file=sys.stderr
            )
            return 1
        print(f"{path}: {verdict.records} lines, chain intact; last hash {verdict.head}")
        return 0
    try:
        since = _parse_since(args.since) if args.since else None
    except ValueError:
        return _error(f"--since {args.since!r} is not an ISO 8601 date or time")
    for record in audit.select(path, args.provider, since):
        if args.json:
            print(json.dumps(record))
        else:
            fields = ("at", "action", "credential", "role", "path", "rows_of", "client")
            print("\t".join(str(record.get(f) or "-") for f in fields))
    return 0


def _parse_since(text: str) -> datetime:
    since = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return since if since.tzinfo else since.replace(tzinfo=UTC)


SUBCOMMANDS = {
    "grant": (GRANT_HELP, add_grant_arguments, run_grant),
    "list": (LIST_HELP, add_list_arguments, run_list),
    "revoke": (REVOKE_HELP, add_revoke_arguments, run_revoke),
    "audit": (AUDIT_HELP, add_audit_arguments, run_audit),
}
