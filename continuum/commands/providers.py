"""continuum providers <subcommand>: one sub-subcommand per job (`token`, ...), each with its own
`add_<name>_arguments` and `run_<name>`."""

from __future__ import annotations

import argparse
import sys

from continuum.settings import Settings

HELP = "manage the network's providers (access tokens for the provider pages)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="providers_command", required=True, metavar="SUBCOMMAND")
    token = sub.add_parser("token", help=TOKEN_HELP, description=TOKEN_HELP)
    add_token_arguments(token)
    token.set_defaults(providers_run=run_token)


def run(args: argparse.Namespace, settings: Settings) -> int:
    return args.providers_run(args, settings)


TOKEN_HELP = (
    "issue (or rotate) a provider's access token for /providers/<id>; prints the token as the last word. "
    "Only its hash is kept: the previous token and its browser sessions stop working at once"
)


def add_token_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("provider_id", help="a provider of the directory")


def run_token(args: argparse.Namespace, settings: Settings) -> int:
    from continuum.directory import load_directory
    from continuum.web.tokens import issue_token

    if args.provider_id not in load_directory(settings.provider_directory):
        print(
            f"error: {args.provider_id!r} is not in the provider directory ({settings.provider_directory}); "
            "add it there first",
            file=sys.stderr,
        )
        return 2
    token = issue_token(settings.provider_tokens_path, args.provider_id)
    print(f"access token for {args.provider_id} (shown once; it replaces any earlier one): {token}")
    return 0
