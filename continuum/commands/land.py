"""continuum land [--until-caught-up] [--accept-reset] [--skip-offset T:P:O ...] [--release T:P ...]"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from common.settings import Settings

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
    parser.add_argument(
        "--skip-offset",
        action="append",
        default=[],
        metavar="TOPIC:PARTITION:OFFSET",
        help="dead-letter that record as unreadable_record (stage operator) instead of landing it, and "
        "release its partition if it is held there; recorded with who and when (repeatable)",
    )
    parser.add_argument(
        "--release",
        action="append",
        default=[],
        metavar="TOPIC:PARTITION",
        help="release a partition held at a record that could not be landed: that record is tried again "
        "(repeatable; `continuum status` lists held partitions)",
    )


#: Exit code for a --skip-offset or --release that cannot be done (nothing was changed or landed).
EXIT_USAGE = 2


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.landing.holds import OperatorRequestRefused, parse_offset, parse_partition
    from streams.landing.lander import EXIT_FAILED
    from streams.landing.workers import run_landers

    try:
        releases = [parse_partition(text) for text in args.release]
        skips = [parse_offset(text) for text in args.skip_offset]
    except OperatorRequestRefused as exc:
        log.error("%s", exc)
        return EXIT_USAGE

    if not args.verbose:
        # kafka-python logs every failed request and reconnect; the lander says once per interval that
        # the broker does not answer, and raises what it cannot get past (-v shows kafka-python's lines).
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        with landing_progress(settings):
            return run_landers(
                settings,
                settings.land_workers,
                args.until_caught_up,
                args.accept_reset,
                releases=releases,
                skip_offsets=skips,
            )
    except OperatorRequestRefused as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    except Exception as exc:  # the lander logged the detail; say plainly that nothing is lost
        log.error("landing failed: %s (nothing committed is lost; restart to resume)", exc)
        return EXIT_FAILED


@contextmanager
def landing_progress(settings: Settings) -> Iterator[None]:
    """A running count of the messages this run lands (on a terminal; log lines otherwise).

    The workers are other processes, so the count comes from the committed batches' names: their offset
    ranges, never the files' contents. The landing zone's index (kept in memory here, not written at
    every tick) re-lists only the partition directories that changed since the last tick."""
    from continuum.progress import LOG_EVERY_SECONDS, Progress
    from streams.landing.zone import LandingZone

    every_s = 1.0 if sys.stderr.isatty() else LOG_EVERY_SECONDS
    landed = LandingZone.for_settings(settings, persist_index=False).landed_messages

    before, stop = landed(), threading.Event()
    with Progress("land", unit="messages") as progress:

        def watch() -> None:
            while not stop.wait(every_s):
                progress.advance(landed() - before - progress.done)

        watcher = threading.Thread(target=watch, name="land-progress", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()
            progress.advance(landed() - before - progress.done)
