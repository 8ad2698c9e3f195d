"""continuum topics: create the provider topics and the dead-letter topic."""

from __future__ import annotations

import argparse

from common.settings import Settings

HELP = "create providers.<id>.events for every provider of the directory, and pipeline.dead-letter"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streams.kafka import ensure_topics

    created = ensure_topics(settings)
    print(f"{len(created)} topics created" + (": " + ", ".join(created) if created else " (all existed)"))
    return 0
