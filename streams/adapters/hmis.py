"""Placeholder while the hmis adapter is written (this session); replaced before the session ends."""

HELP = "hmis (not ready)"


def add_arguments(parser):
    pass


def run(args, settings):
    raise SystemExit("continuum import hmis: not ready")
