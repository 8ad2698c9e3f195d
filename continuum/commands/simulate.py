"""continuum simulate: stream the simulated provider network to Kafka, or write it to NDJSON."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.settings import Settings

HELP = "simulate the Oklahoma provider network: contract events, with the feeds' mess, to Kafka or NDJSON"
DEFAULT_PARTICIPANTS = 2000  # streams.simulator.config.DEMO_PARTICIPANTS (kept here so --help stays fast)
MESS_FLAGS = {
    "late": "late events (sent 3 to 30 days after they happened)",
    "out_of_order": "events held back behind a later event of another provider",
    "duplicates": "re-sent copies of events (same id, same bytes)",
    "invalid_transitions": "referral statuses that break the referral life",
    "malformed": "messages of every dead-letter reason",
}

log = logging.getLogger("continuum.simulate")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--participants",
        metavar="N",
        type=int,
        default=DEFAULT_PARTICIPANTS,
        help="people (default %(default)s)",
    )
    add("--seed", metavar="S", type=int, default=7, help="same seed, same bytes (default %(default)s)")
    add("--end", metavar="ISO", type=_parse_end, help="end of simulated time (default today 00:00 UTC)")
    add("--out", metavar="FILE", type=Path, help="write NDJSON (one message value per line), not to Kafka")
    add("--report-json", metavar="FILE", type=Path, help="also write the report as JSON to this file")
    mess = parser.add_argument_group("mess of real feeds (all on by default, at small known rates)")
    for name, what in MESS_FLAGS.items():
        mess.add_argument(f"--no-{name.replace('_', '-')}", action="store_true", help=f"no {what}")
    mess.add_argument("--clean", action="store_true", help="no mess at all")


def _parse_end(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--end {text!r} is not an ISO 8601 date or time") from exc
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def build_config(args: argparse.Namespace) -> Any:
    from streams.simulator import MessConfig, SimulationConfig

    mess = MessConfig.clean() if args.clean else MessConfig()
    off = {name: 0.0 for name in MESS_FLAGS if getattr(args, f"no_{name}")}
    mess = MessConfig(**{**mess.__dict__, **off})
    end = {"end": args.end} if args.end else {}
    return SimulationConfig(participants=args.participants, seed=args.seed, mess=mess, **end)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from common.directory import load_directory
    from continuum.progress import Progress
    from infra.embedded_broker import broker_answers
    from streams.simulator import Simulation, produce, write_ndjson

    try:
        config = build_config(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if config.end > datetime.now(UTC):
        log.warning(
            "--end %s is in the future: a lander running now refuses events over 24h ahead", config.end
        )
    if args.out is None and not broker_answers(settings):
        print(
            f"error: no Kafka broker answers at {settings.bootstrap_servers}; start one with "
            "`continuum broker start` (or set CONTINUUM_KAFKA_BOOTSTRAP), or write a file with --out FILE",
            file=sys.stderr,
        )
        return 1
    generated = Progress("simulate: participants generated", total=config.participants, unit="participants")
    sim = Simulation(
        config,
        load_directory(settings.provider_directory),
        settings.linkage_secret,
        progress=lambda _phase, done: generated.advance(done - generated.done),
    )
    started = time.monotonic()
    sent = Progress("simulate: messages streamed", unit="messages")
    messages = sent.track(sim.messages())
    if args.out:
        delivery = write_ndjson(messages, args.out)
        destination = str(args.out)
    else:
        delivery = produce(messages, settings)
        destination = settings.bootstrap_servers
    generated.finish()
    sent.finish()
    seconds = time.monotonic() - started
    report = {**sim.report.to_dict(), "destination": destination, "seconds": round(seconds, 1)}
    report["delivery"] = delivery.to_dict()
    print(format_report(report))
    if args.report_json:
        args.report_json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _table(title: str, counts: dict[str, int]) -> list[str]:
    width = max([len(k) for k in counts] + [len(title)])
    lines = [f"{title:<{width}}  {'count':>10}"]
    lines += [f"{name:<{width}}  {count:>10,}" for name, count in counts.items()]
    return lines + [f"{'total':<{width}}  {sum(counts.values()):>10,}", ""]


def format_report(report: dict[str, Any]) -> str:
    """The report as plain tables: per topic, per event type, and the mess."""
    mess = {
        "duplicates": report["duplicates"],
        "late_events": report["late_events"],
        "out_of_order": report["out_of_order"],
        "invalid_transitions": report["invalid_transitions"],
        **{f"malformed: {reason}": n for reason, n in report["malformed_by_reason"].items()},
    }
    r, rate = report, report["one_year_rearrest_rate"]
    lines = [
        f"{r['participants']:,} participants, seed {r['seed']}, {r['start']} .. {r['end']}: "
        f"{r['messages']:,} messages to {r['destination']} in {r['seconds']}s",
        "",
        *_table("topic", dict(sorted(report["messages_by_topic"].items()))),
        *_table("valid event type (first copies)", report["events_by_type"]),
        *_table("mess", mess),
        f"referrals {r['referrals']:,}; consents granted {r['consent_grants']:,}, "
        f"revoked {r['consent_revocations']:,}; never consenting {r['participants_never_consenting']:,}",
        f"prison releases followed a year {r['prison_releases_followed_one_year']:,}, rearrested within "
        f"a year {r['rearrested_within_one_year']:,}" + (f" ({rate:.1%})" if rate is not None else ""),
    ]
    return "\n".join(lines)
