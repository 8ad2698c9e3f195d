"""continuum broker start|stop|status"""

from __future__ import annotations

import argparse
import sys

from common.settings import Settings

HELP = "start, stop or show the embedded Kafka-compatible broker (tansu)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["start", "stop", "status"])


def run(args: argparse.Namespace, settings: Settings) -> int:
    from infra import embedded_broker
    from streams.kafka import ensure_topics

    if args.action == "status":
        state = embedded_broker.status(settings)
        pid = f" pid {state.pid}" if state.pid else ""
        print(f"{'running' if state.running else 'stopped'}: {state.bootstrap}{pid} ({state.detail})")
        return 0 if state.running else 1
    if args.action == "stop":
        stopped = embedded_broker.stop(settings)
        print("stopped" if stopped else "no embedded broker was running for this CONTINUUM_HOME")
        return 0
    if not settings.uses_embedded_broker:
        print(f"CONTINUUM_KAFKA_BOOTSTRAP is set: using {settings.bootstrap_servers}, nothing started")
    try:
        state = embedded_broker.start(settings)
    except embedded_broker.BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    created = ensure_topics(settings)
    print(f"broker up at {state.bootstrap} (pid {state.pid}); {len(created)} topics created")
    return 0
