"""continuum providers <subcommand>: one sub-subcommand per job (`token`, `plan`, `credentials`, `add`),
each with its own `<NAME>_HELP`, `add_<name>_arguments` and `run_<name>`, listed in SUBCOMMANDS."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common.settings import PROJECT_ROOT, Settings

HELP = "manage the network's providers: Kafka users, topics and ACLs; a shared token for a provider page"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="providers_command", required=True, metavar="SUBCOMMAND")
    for name, (help_text, add_args, run_sub) in SUBCOMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        add_args(command)
        command.set_defaults(providers_run=run_sub)


def run(args: argparse.Namespace, settings: Settings) -> int:
    return args.providers_run(args, settings)


TOKEN_HELP = (
    "issue (or rotate) the provider's shared credential for /providers/<id>, named 'token:<id>'; prints it "
    "as the last word. Prefer one named credential per person: `continuum access grant` (docs/access.md)"
)


def add_token_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("provider_id", help="a provider of the directory")


def run_token(args: argparse.Namespace, settings: Settings) -> int:
    from common.directory import load_directory
    from continuum.web.credentials import CredentialError, Role, grant, revoke
    from continuum.web.sessions import Sessions

    if args.provider_id not in load_directory(settings.provider_directory):
        print(
            f"error: {args.provider_id!r} is not in the provider directory ({settings.provider_directory}); "
            "add it there first",
            file=sys.stderr,
        )
        return 2
    name = f"token:{args.provider_id}"
    try:
        previous = revoke(settings.web_credentials_path, name)
        Sessions(settings.web_sessions_path).close_all_of(previous.credential_id)
    except CredentialError:
        pass  # the first token of this provider
    token = grant(settings.web_credentials_path, Role.PROVIDER, name, args.provider_id)
    print(f"access token for {args.provider_id} (shown once; it replaces any earlier one): {token}")
    return 0


# --- Kafka access for the deployment (docs/deploy.md) -------------------------------------------------

#: Where the deployment's secrets live on the operator's host (git-ignored; mounted as Docker secrets).
DEFAULT_SECRETS_DIR = PROJECT_ROOT / "infra" / "secrets"
USERS_FILE = "kafka-users"  # `user:password` lines: the broker's admin, the pipeline, every provider
PIPELINE_PASSWORD_FILE = "kafka-pipeline-password"  # the pipeline's password alone, for its services
MONITOR_PASSWORD_FILE = "kafka-monitor-password"  # the report app's (describe-only) password alone

PLAN_HELP = (
    "print the Kafka topics, SCRAM users and ACLs of the whole network as Kafka CLI commands "
    "(the compose init service runs them)"
)


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["shell", "json"], default="shell")
    parser.add_argument("--output", type=Path, help="write to this file instead of stdout")


def run_plan(args: argparse.Namespace, settings: Settings) -> int:
    from dataclasses import asdict

    from continuum.deploy.plan import network_plan
    from continuum.deploy.render import render_shell

    plan = network_plan(settings)
    text = render_shell(plan) if args.format == "shell" else json.dumps(asdict(plan), indent=2) + "\n"
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


CREDENTIALS_HELP = (
    "create the missing Kafka passwords (admin, pipeline, monitor, every provider) in the deployment's "
    "secrets directory; existing ones are kept"
)


def add_credentials_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--secrets-dir", type=Path, default=DEFAULT_SECRETS_DIR)


def run_credentials(args: argparse.Namespace, settings: Settings) -> int:
    from continuum.deploy.plan import ADMIN_USER, network_plan

    users = [ADMIN_USER, *network_plan(settings).users]
    created = _ensure(args.secrets_dir, settings, users)
    print(f"{len(created)} passwords created in {args.secrets_dir / USERS_FILE}; {len(users)} users in all")
    return 0


ADD_HELP = (
    "give a provider of the directory its Kafka user, topic and ACLs: keeps (or with --rotate, replaces) "
    "its password and prints the commands to apply"
)


def add_add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("provider_id", help="a provider of the directory (add its row there first)")
    parser.add_argument("--rotate", action="store_true", help="replace the provider's password")
    parser.add_argument("--secrets-dir", type=Path, default=DEFAULT_SECRETS_DIR)


def run_add(args: argparse.Namespace, settings: Settings) -> int:
    from common.directory import load_directory
    from continuum.deploy.plan import PlanError, provider_plan
    from continuum.deploy.render import render_shell

    if args.provider_id not in load_directory(settings.provider_directory):
        print(
            f"error: {args.provider_id!r} is not in the provider directory ({settings.provider_directory}); "
            "add its row there first: the directory is the one truth for topics, users and the warehouse",
            file=sys.stderr,
        )
        return 2
    try:
        plan = provider_plan(args.provider_id, settings)
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rotate = (args.provider_id,) if args.rotate else ()
    changed = _ensure(args.secrets_dir, settings, [args.provider_id], rotate)
    sys.stdout.write(render_shell(plan, command=f"providers add {args.provider_id}"))
    state = "a new password" if changed else "its existing password"
    print(
        f"{args.provider_id}: {state} is in {args.secrets_dir / USERS_FILE}; give it to the provider "
        "out of band. Apply with:\n"
        f"  continuum providers add {args.provider_id} | docker compose run --rm -T kafka-init -",
        file=sys.stderr,
    )
    return 0


def _ensure(
    secrets_dir: Path, settings: Settings, users: list[str], rotate: tuple[str, ...] = ()
) -> list[str]:
    """Passwords for `users` in the users file; the pipeline's and the monitor's own files kept in step."""
    from continuum.deploy.credentials import ensure_passwords, read_passwords, write_secret

    changed = ensure_passwords(secrets_dir / USERS_FILE, users, rotate)
    passwords = read_passwords(secrets_dir / USERS_FILE)
    for user, file_name in (
        (settings.kafka_pipeline_username, PIPELINE_PASSWORD_FILE),
        (settings.kafka_monitor_username, MONITOR_PASSWORD_FILE),
    ):
        if user in passwords:
            write_secret(secrets_dir / file_name, passwords[user] + "\n")
    return changed


SUBCOMMANDS = {
    "token": (TOKEN_HELP, add_token_arguments, run_token),
    "plan": (PLAN_HELP, add_plan_arguments, run_plan),
    "credentials": (CREDENTIALS_HELP, add_credentials_arguments, run_credentials),
    "add": (ADD_HELP, add_add_arguments, run_add),
}
