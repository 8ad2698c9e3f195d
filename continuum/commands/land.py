"""continuum land [--until-caught-up] [--accept-reset]"""

from __future__ import annotations

import argparse
import logging

from continuum.settings import Settings

HELP = "land every provider topic into CONTINUUM_HOME/landing, exactly once, with dead letters"

log = logging.getLogger("continuum.land")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--until-caught-up",
        action="store_true",
        help="land up to the end offsets seen at start, then exit (for Airflow); default: run as a service",
    )
    parser.add_argument(
        "--accept-reset",
        action="store_true",
        help="when a partition's offsets went backwards (topic recreated, broker lost its log), land its "
        "new life under a new epoch instead of holding it (see docs/landing.md)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.landing.lander import EXIT_FAILED
    from streams.landing.workers import run_landers

    if not args.verbose:
        # kafka-python logs every failed request and reconnect; the lander says once per interval that
        # the broker does not answer, and raises what it cannot get past (-v shows kafka-python's lines).
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        return run_landers(settings, settings.land_workers, args.until_caught_up, args.accept_reset)
    except Exception as exc:  # the lander logged the detail; say plainly that nothing is lost
        log.error("landing failed: %s (nothing committed is lost; restart to resume)", exc)
        return EXIT_FAILED
