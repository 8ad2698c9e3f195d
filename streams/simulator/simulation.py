"""The simulation: participants one at a time, their messages put in the order providers send them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from common.directory import Provider
from common.settings import DEMO_LINKAGE_SECRET
from streams.contract import DEAD_LETTER_REASONS
from streams.simulator import network as n
from streams.simulator.config import SimulationConfig
from streams.simulator.draws import participant_rng
from streams.simulator.journeys import JourneyStats, draw_entry, plan_journey
from streams.simulator.malformed import UNKNOWN_PROVIDER_ID
from streams.simulator.mess import Outgoing, Scheduler, tally
from streams.simulator.ordering import SendOrder
from streams.simulator.people import draw_person
from streams.simulator.report import SimulationReport, add_counts

#: Called as progress("participants", done) while generating, every PROGRESS_EVERY participants.
Progress = Callable[[str, int], None]
PROGRESS_EVERY = 1000
#: A participant's mess draws come from a generator of their own (seed offset by this), so switching a
#: kind of mess off leaves everyone's life, ids and valid events as they were.
MESS_STREAM = 1_000_003


#: What a message is meant to be: a valid first copy, a re-sent copy, or malformed with that reason.
INTENTS = ("event", "duplicate", *DEAD_LETTER_REASONS)


@dataclass(frozen=True, slots=True)
class SimulatedMessage:
    """One Kafka message: topic, key (the subject as UTF-8, or None) and value bytes.

    `intent` and `sent_at` are what the simulator knows and a pipeline must find out: "event" (a valid
    first copy), "duplicate" (a re-sent copy) or the dead-letter reason the contract must give it; and
    the simulated time its provider sent it (seconds since the epoch, UTC). Neither is sent to Kafka.
    """

    topic: str
    key: bytes | None
    value: bytes
    intent: str = "event"
    sent_at: int = 0


class Simulation:
    """A deterministic network of `config.participants` people over `config.start` .. `config.end`.

    `messages()` yields the whole stream in send order; every call starts again and gives the same
    bytes. `report` holds the counts of the last call, complete once its generator is exhausted.
    """

    def __init__(
        self,
        config: SimulationConfig,
        directory: Mapping[str, Provider],
        linkage_secret: str = DEMO_LINKAGE_SECRET,
        progress: Progress | None = None,
        spill_dir: Path | None = None,
    ):
        if UNKNOWN_PROVIDER_ID in directory:
            raise ValueError(f"{UNKNOWN_PROVIDER_ID} is in the directory; the simulator uses it as unknown")
        self.config = config
        self.network = n.Network.from_directory(directory)
        self.linkage_secret = linkage_secret
        self.progress = progress
        self.spill_dir = spill_dir
        self.window = (int(config.start.timestamp()), int(config.end.timestamp()))
        self.report = self._empty_report()

    def _empty_report(self) -> SimulationReport:
        c = self.config
        return SimulationReport(
            participants=c.participants, seed=c.seed, start=_iso(c.start), end=_iso(c.end)
        )

    def messages(self) -> Iterator[SimulatedMessage]:
        self.report = self._empty_report()
        order = SendOrder(self.window[0], INTENTS, self.spill_dir)
        try:
            self._generate(order)
            for sent_at, topic, intent, key, value in order.drain():
                yield SimulatedMessage(topic, key, value, intent, sent_at)
        finally:
            order.close()

    def _generate(self, order: SendOrder) -> None:
        c = self.config
        scheduler = Scheduler(
            c.mess, self.network.corrections_feed, [p.provider_id for p in self.network.providers]
        )
        taken: set[str] = set()
        for index in range(c.participants):
            rng, mess_rng = participant_rng(c.seed, index), participant_rng(c.seed + MESS_STREAM, index)
            entry = draw_entry(rng, self.window)
            person = draw_person(rng, self.linkage_secret, _year(entry), taken)
            planned, stats = plan_journey(
                person, entry, rng, self.network, self.window, c.mess.invalid_transitions, mess_rng
            )
            messages = scheduler.schedule(person.key, planned, rng, mess_rng)
            for m in messages:
                order.add(m.send, m.topic, m.kind, m.key, m.value)
            self._count(messages, stats)
            if self.progress and (index + 1) % PROGRESS_EVERY == 0:
                self.progress("participants", index + 1)

    def _count(self, messages: list[Outgoing], stats: JourneyStats) -> None:
        r, counts = self.report, tally(messages)
        r.messages += len(messages)
        add_counts(r.messages_by_topic, counts.messages_by_topic)
        add_counts(r.events_by_type, counts.events_by_type)
        add_counts(r.malformed_by_reason, counts.malformed_by_reason)
        r.valid_events += sum(counts.events_by_type.values())
        r.malformed += sum(counts.malformed_by_reason.values())
        r.duplicates += counts.duplicates
        r.late_events += counts.late_events
        r.out_of_order += counts.out_of_order
        r.invalid_transitions += stats.invalid_transitions
        r.referrals += stats.referrals
        r.consent_grants = r.events_by_type["consent.granted"]
        r.consent_revocations = r.events_by_type["consent.revoked"]
        r.participants_never_consenting += stats.consents_never
        start, end = self.window
        for released, arrested in stats.prison_releases:
            if start <= released and released + n.YEAR <= end:
                r.prison_releases_followed_one_year += 1
                r.rearrested_within_one_year += arrested is not None and arrested - released <= n.YEAR


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _year(epoch_seconds: int) -> int:
    return 1970 + int(epoch_seconds // (365.2425 * 86_400))
