"""continuum import hmis DIR --provider ID | continuum import fhir FILE --provider ID

Each format's arguments and run live beside its adapter (`streams/adapters/<format>.py`); this module
only puts them under one command.
"""

from __future__ import annotations

import argparse
import importlib

from common.settings import Settings

HELP = "send a provider's HMIS CSV export or FHIR referral resources to the network as contract events"

#: Format -> adapter module, each exposing HELP, add_arguments(parser) and run(args, settings) -> int.
ADAPTERS = {"hmis": "streams.adapters.hmis", "fhir": "streams.adapters.fhir"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    formats = parser.add_subparsers(dest="format", required=True, metavar="FORMAT")
    for name, module_name in ADAPTERS.items():
        module = importlib.import_module(module_name)
        command = formats.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(adapter_run=module.run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    return args.adapter_run(args, settings)
