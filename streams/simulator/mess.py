"""From one participant's planned events to the messages their providers send, with the feeds' mess.

Every event gets an id, bytes exactly as `ProviderClient` would send them, and a send time: its time
plus the provider's data-entry lag, kept in time order per participant (so that a clean stream has no
out-of-order event at all). Then, at the rates of `MessConfig`, each event may be:

- late: sent LATE_AFTER (3 days) to 30 days after its time;
- out of order: held back until just after the participant's next event from another provider, when
  that is less than LATE_AFTER after its time (a late event is counted as late only);
- re-sent: a duplicate, same topic, key and bytes, minutes to two days after the first copy;
- the template of a malformed message: a broken copy with a fresh id (it does not replace the event).

The counts are made here by the report's definitions (docs/simulator.md), not by counting the dice:
`late` is send - time >= LATE_AFTER, `out_of_order` is "sent after a valid event of the same
participant that happened later, and not late".
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from common.names import provider_topic
from streams.contract import DEAD_LETTER_REASONS
from streams.producer import build_envelope
from streams.simulator import network as n
from streams.simulator.config import MessConfig
from streams.simulator.draws import uniform_days, uuid4_from
from streams.simulator.journeys import Planned
from streams.simulator.malformed import BUILDERS, Template

LATE_AFTER = 3 * n.DAY
_LAG_MEDIAN_S = n.ENTRY_LAG_HOURS[0] * 3600
_LAG_CAP_S = n.ENTRY_LAG_HOURS[1] * 3600


@dataclass(slots=True)
class Outgoing:
    """A message to send: `kind` is "event" (a valid first copy), "duplicate" or a dead-letter reason."""

    send: int
    topic: str
    key: bytes | None
    value: bytes
    kind: str
    planned: Planned | None = None
    late: bool = False


@dataclass
class Tally:
    """Counts of one participant's messages, added into the report."""

    events_by_type: dict[str, int] = field(default_factory=dict)
    messages_by_topic: dict[str, int] = field(default_factory=dict)
    malformed_by_reason: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    late_events: int = 0
    out_of_order: int = 0


def entry_lag(rng: random.Random, provider_id: str, corrections_feed: str, t: int) -> int:
    """Seconds from an event's time to its sending: a nightly batch for the corrections feed, a
    log-normal lag (median ENTRY_LAG_HOURS[0], capped) for people typing it in elsewhere."""
    if provider_id == corrections_feed:
        next_night = (t // n.DAY + 1) * n.DAY + n.FEED_BATCH_HOUR * 3600
        return next_night - t + rng.randrange(1800)
    return int(min(_LAG_MEDIAN_S * math.exp(rng.gauss(0, 1.2)), _LAG_CAP_S))


class Scheduler:
    """Turns planned events into outgoing messages. One per simulation: it keeps the malformed
    reasons' round-robin, so that every reason appears as soon as there are 14 malformed messages."""

    def __init__(self, mess: MessConfig, corrections_feed: str, provider_ids: Sequence[str]):
        self.mess = mess
        self.corrections_feed = corrections_feed
        self.provider_ids = tuple(provider_ids)
        self.malformed_sent = 0

    def schedule(
        self, subject: str, planned: list[Planned], rng: random.Random, mess_rng: random.Random
    ) -> list[Outgoing]:
        """Ids and lags come from the participant's `rng`, the mess from `mess_rng`: with the mess
        switched off (or changed) the valid events keep their ids, bytes and send times."""
        planned.sort(key=lambda p: p.time)  # stable: events at the same second keep their plan order
        events = [self.first_copy(subject, p, rng) for p in planned]
        self.keep_in_order(events)
        self.delay(events, mess_rng)
        extras = [m for e in events for m in self.extras(e, mess_rng)]
        return events + extras

    def first_copy(self, subject: str, p: Planned, rng: random.Random) -> Outgoing:
        when = datetime.fromtimestamp(p.time, UTC)
        envelope = build_envelope(p.provider_id, p.type, subject, p.data, when, uuid4_from(rng))
        send = p.time + entry_lag(rng, p.provider_id, self.corrections_feed, p.time)
        return Outgoing(
            send, provider_topic(p.provider_id), subject.encode(), orjson.dumps(envelope), "event", p
        )

    @staticmethod
    def keep_in_order(events: list[Outgoing]) -> None:
        # Without mess a participant's events arrive in the order they happened, whatever the lags.
        for before, after in zip(events, events[1:], strict=False):
            if after.send <= before.send:
                after.send = before.send + 1

    def delay(self, events: list[Outgoing], rng: random.Random) -> None:
        late, out_of_order = self.mess.late, self.mess.out_of_order
        baseline = [e.send for e in events]
        for i, event in enumerate(events):
            u = rng.random()
            if u < late:
                event.send = event.planned.time + uniform_days(rng, 3, 30)
            elif u < late + out_of_order:
                self.hold_back(events, baseline, i, rng)
            event.late = event.send - event.planned.time >= LATE_AFTER

    @staticmethod
    def hold_back(events: list[Outgoing], baseline: list[int], i: int, rng: random.Random) -> None:
        """Send event i just after the participant's next event, if that one is from another provider
        (a provider's own events stay in order on its topic) and it can be done within LATE_AFTER of
        event i's time. Most events are days apart, so the effective rate is below the configured one."""
        if i + 1 == len(events) or events[i + 1].topic == events[i].topic:
            return
        held = baseline[i + 1] + rng.randint(60, 6 * 3600)
        if i + 2 < len(events):  # pass one event only: never a later event of the same provider
            held = min(held, baseline[i + 2] - 1)
        if baseline[i + 1] < held and held - events[i].planned.time < LATE_AFTER:
            events[i].send = held

    def extras(self, event: Outgoing, rng: random.Random) -> list[Outgoing]:
        out = []
        if rng.random() < self.mess.duplicates:
            resend = event.send + rng.randint(60, 2 * n.DAY)
            out.append(Outgoing(resend, event.topic, event.key, event.value, "duplicate"))
        if rng.random() < self.mess.malformed:
            out.append(self.malformed(event, rng))
        return out

    def malformed(self, event: Outgoing, rng: random.Random) -> Outgoing:
        reason = DEAD_LETTER_REASONS[self.malformed_sent % len(DEAD_LETTER_REASONS)]
        self.malformed_sent += 1
        envelope = {**orjson.loads(event.value), "id": uuid4_from(rng)}
        template = Template(envelope, event.planned.provider_id, self.provider_ids)
        broken = BUILDERS[reason](rng, template)
        return Outgoing(event.send + rng.randrange(3600), broken.topic, broken.key, broken.value, reason)


def tally(messages: list[Outgoing]) -> Tally:
    """Count one participant's messages by the report's definitions."""
    counts = Tally()
    by_topic, by_type, by_reason = counts.messages_by_topic, counts.events_by_type, counts.malformed_by_reason
    latest = None  # the latest event time among valid messages sent so far
    for m in sorted(messages, key=lambda m: m.send):  # stable, as the stream's own sort
        by_topic[m.topic] = by_topic.get(m.topic, 0) + 1
        if m.kind == "event":
            p = m.planned
            by_type[p.type] = by_type.get(p.type, 0) + 1
            if m.late:
                counts.late_events += 1
            elif latest is not None and p.time < latest:
                counts.out_of_order += 1
            latest = p.time if latest is None else max(latest, p.time)
        elif m.kind == "duplicate":
            counts.duplicates += 1
        else:
            by_reason[m.kind] = by_reason.get(m.kind, 0) + 1
    return counts
