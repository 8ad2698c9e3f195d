"""Placeholder while the fhir adapter is written (this session); replaced before the session ends."""

HELP = "fhir (not ready)"


def add_arguments(parser):
    pass


def run(args, settings):
    raise SystemExit("continuum import fhir: not ready")
