"""`continuum`: the one command for operators and developers.

Each subcommand is a module in `continuum/commands/` exposing `HELP`, `add_arguments(parser)` and
`run(args, settings) -> int`. Modules import their heavy dependencies inside `run`, so `--help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from common.settings import get_settings

#: Subcommand name -> module under continuum.commands, in the order `--help` lists them.
COMMANDS = {
    "broker": "broker",
    "topics": "topics",
    "publish": "publish",
    "import": "imports",
    "simulate": "simulate",
    "land": "land",
    "status": "status",
    "feedback": "feedback",
    "providers": "providers",
    "access": "access",
    "serve": "serve",
    "report": "report",
    "run": "run",
    "quarantine": "quarantine",
    "airflow": "airflow",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="continuum",
        description="Continuum: stream, land, validate and publish a provider network's events.",
        epilog="Configuration comes from CONTINUUM_* environment variables; see README.md.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"continuum.commands.{module_name}")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python is chatty at INFO
    return args.run(args, get_settings())


if __name__ == "__main__":
    sys.exit(main())
