"""The lander's loop: provider topics in, committed batches out (docs/landing.md).

The consumer thread (this loop) fetches, keeps each partition's records in hand and cuts a batch when it
holds `land_batch_events` records or its oldest record waited `land_batch_seconds`; a writer thread lands
the batches (writer.py). Where each partition starts comes from the landing zone only (offsets.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kafka import TopicPartition
from kafka.errors import CorruptRecordError, KafkaError, OffsetOutOfRangeError

from common.directory import load_directory
from common.settings import Settings
from streams.contract import Contract
from streams.landing import files
from streams.landing.batch import Batch
from streams.landing.dead_letters import DeadLetterProducer
from streams.landing.holds import PartitionHold, load_holds, save_hold
from streams.landing.notify import BatchNotifier
from streams.landing.offsets import Reset, ResumePoint, find_reset, resume_points
from streams.landing.shards import Shard
from streams.landing.source import Outage, ProviderTopics, TopicInfo, make_consumer
from streams.landing.unreadable import unreadable_stub
from streams.landing.writer import BatchWriter

log = logging.getLogger(__name__)

#: Exit codes of `run`. 3: some partitions are held (offsets that went backwards, or a record that cannot
#: be landed); every other partition was landed. Records that were dead-lettered are not a failure.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_HELD = 3
EXIT_RESET_HELD = EXIT_HELD  # the name of when only resets were held

_POLL_MS = 200
#: Bounded mode (`--until-caught-up`, the DAG's land step): how long one poll waits. The service's poll
#: (200 ms) made a run with nothing new spend a second or more learning that every partition was at its
#: end (docs/landing.md). The fetch wait stays Kafka's default (500 ms): Apache Kafka answers a fetch
#: that has records at once whatever the wait, but the embedded broker spends the wait gathering records
#: and a 10 ms wait returned none at all from a partition of 46,000 (a 10 M-event back-load stalled).
_BOUNDED_POLL_MS = 20


@dataclass(slots=True)
class PartitionState:
    epoch: int
    #: The offset after the last record taken in hand (where the partition resumes if nothing is held).
    next_offset: int
    topic_id: str | None
    records: list[Any] = field(default_factory=list)
    #: When the oldest record in hand was taken (monotonic clock): a batch is cut T seconds after.
    oldest_at: float = 0.0
    #: Bounded mode: land offsets below this (the end seen at start); None until a fetch reported it.
    target: int | None = None
    done: bool = False
    #: Start from the log start (a partition never landed, or the new life after an accepted reset).
    from_log_start: bool = False


class Lander:
    def __init__(
        self,
        settings: Settings,
        until_caught_up: bool = False,
        accept_reset: bool = False,
        contract: Contract | None = None,
        shard: Shard | None = None,
        recover: bool = True,
        skips: Mapping[TopicPartition, Mapping[int, str]] | None = None,
    ):
        self.settings = settings
        self.shard = shard or Shard(0, 1)
        self.recover = recover
        self.until_caught_up = until_caught_up
        self.accept_reset = accept_reset
        self.contract = contract or Contract(load_directory(settings.provider_directory))
        self.landing_dir = settings.landing_dir
        self.states: dict[TopicPartition, PartitionState] = {}
        #: Partitions whose offsets went backwards, held until the lander runs with --accept-reset.
        self.held: dict[TopicPartition, Reset] = {}
        #: Partitions held at a record that cannot be landed (holds.py), until an operator releases them.
        self.failed: dict[TopicPartition, PartitionHold] = {}
        self._stop = False
        self._points: dict[TopicPartition, ResumePoint] = {}
        self._topics = ProviderTopics(settings)
        self._outage = Outage("lander", settings.land_outage_log_seconds, settings.land_retry_max_seconds)
        self._next_refresh = 0.0
        self._discovered = False
        self._last_held_log = 0.0
        self._consumer = None
        self._dead_letters = DeadLetterProducer(settings, stop_requested=lambda: self._stop)
        self._writer = BatchWriter(
            self.contract,
            self._dead_letters,
            self.landing_dir,
            threaded=settings.land_writer_thread,
            skips={tp: offsets for tp, offsets in (skips or {}).items() if self.shard.owns(tp)},
        )

    def request_stop(self) -> None:
        """Finish the batches in hand and return from `run` (a signal handler calls this)."""
        self._stop = True

    # -- the loop -------------------------------------------------------------------------------------

    def run(self) -> int:
        removed = files.recover(self.landing_dir) if self.recover else []
        if removed:
            names = ", ".join(str(p.relative_to(self.landing_dir)) for p in removed)
            log.warning("removed %d uncommitted files left by a crash: %s", len(removed), names)
        self._points = resume_points(self.landing_dir, self.settings.quarantine_dir)
        self.failed = {tp: h for tp, h in load_holds(self.landing_dir).items() if self.shard.owns(tp)}
        for hold in self.failed.values():
            log.error("%s", hold.describe())
        self._consumer = make_consumer(self.settings)
        # The service tells Airflow of committed batches (notify.py); a bounded lander is the DAG's own.
        worker = f"lander-{self.shard.index}"
        notifier = None if self.until_caught_up else BatchNotifier.from_settings(self.settings, worker)
        if notifier is not None:
            self._writer.on_commit = notifier.committed
        self._writer.start()
        started = time.monotonic()
        try:
            while not self._stop:
                self._refresh_topics_if_due()
                self._poll()
                self._cut_batches(flush_all=False)
                self._hold_failed_partitions()
                self._log_held_if_due()
                if self.until_caught_up and self._caught_up():
                    break
            self._cut_batches(flush_all=True)  # the batch in hand is finished, not dropped
            self._writer.close()
            self._hold_failed_partitions()
        except BaseException:
            log.error("the lander stops; batches not committed are landed again on restart")
            raise
        finally:
            self._close_clients()
            if notifier is not None:
                notifier.close()
        elapsed = time.monotonic() - started
        log.info(
            "lander done: %d batches, %d events, %d dead letters in %.1f s",
            self._writer.batches,
            self._writer.events,
            self._writer.dead_letters,
            elapsed,
        )
        for tp, offsets in self._writer.skips_not_reached().items():
            log.warning(
                "%s[%d]: --skip-offset %s not reached in this run (not on the broker yet?): give it again",
                tp.topic,
                tp.partition,
                ", ".join(map(str, offsets)),
            )
        if self.held or self.failed:
            self._log_held()
            return EXIT_HELD
        return EXIT_OK

    def _close_clients(self) -> None:
        self._topics.close()
        self._dead_letters.close()
        if self._consumer is not None:
            self._consumer.close(autocommit=False)

    # -- topics and partitions ------------------------------------------------------------------------

    def _refresh_topics_if_due(self) -> None:
        # Bounded mode lands what existed at start: it lists topics once (retrying until it can).
        if time.monotonic() < self._next_refresh or (self.until_caught_up and self._discovered):
            return
        try:
            topics = self._topics.list()
            self._topics.ensure_dead_letter_topic()
            self._dead_letters.feedback.topics_are(self._topics.topic_names)
        except KafkaError as exc:
            self._next_refresh = time.monotonic() + self._outage.failed(exc)
            return
        self._outage.recovered()
        self._next_refresh = time.monotonic() + self.settings.land_topic_refresh_seconds
        self._discovered = True
        self._adopt(topics)

    def _adopt(self, topics: list[TopicInfo]) -> None:
        """Start new partitions where the landing zone says, and check known ones for a new topic id."""
        new = []
        for topic in topics:
            for tp in topic.topic_partitions():
                if tp in self.held or tp in self.failed or not self.shard.owns(tp):
                    continue
                state = self.states.get(tp)
                if state is None:
                    state = self._start_state(tp, topic.topic_id)
                    if state is None:
                        continue  # held
                    new.append(tp)
                elif state.topic_id is None or (state.next_offset == 0 and not state.records):
                    state.topic_id = topic.topic_id  # nothing taken from this life yet: nothing to reset
                elif topic.topic_id and state.topic_id != topic.topic_id:
                    reset = find_reset(
                        tp, state.epoch, state.next_offset, state.topic_id, topic.topic_id, None
                    )
                    self._on_reset(reset, topic.topic_id)
        if new:
            self._assign()
            for tp in new:
                state = self.states[tp]
                if state.from_log_start:
                    self._consumer.seek_to_beginning(tp)
                else:
                    self._consumer.seek(tp, state.next_offset)
            log.info("landing %d more partitions, of %d topics", len(new), len({tp.topic for tp in new}))
            log.debug("new partitions: %s", _names(new))

    def _start_state(self, tp: TopicPartition, topic_id: str | None) -> PartitionState | None:
        point = self._points.get(tp, ResumePoint(0, 0, None))
        reset = find_reset(tp, point.epoch, point.next_offset, point.topic_id, topic_id, None)
        self.states[tp] = PartitionState(
            point.epoch, point.next_offset, point.topic_id or topic_id, from_log_start=tp not in self._points
        )
        if reset is not None:
            self._on_reset(reset, topic_id, assigned=False)
            return self.states.get(tp)
        return self.states[tp]

    def _assign(self) -> None:
        active = [tp for tp in self.states if tp not in self.held]
        self._consumer.assign(sorted(active))
        # Bounded mode: partitions already at their end are paused, so fetches go where work is left.
        done = [tp for tp in active if self.states[tp].done]
        if done:
            self._consumer.pause(*done)

    # -- resets ---------------------------------------------------------------------------------------

    def _on_reset(self, reset: Reset, topic_id: str | None = None, assigned: bool = True) -> None:
        """Offsets of `reset.tp` went backwards: land what is in hand (it was read from the earlier life),
        then start a new epoch if allowed, else hold the partition and say so."""
        tp = reset.tp
        state = self.states[tp]
        self._submit(tp, state)
        if not self.accept_reset:
            log.error(
                "%s. Holding this partition: nothing more of it is landed until the lander runs with "
                "--accept-reset, which lands the new life as epoch %d (docs/landing.md)",
                reset.describe(),
                state.epoch + 1,
            )
            self.held[tp] = reset
            del self.states[tp]
            if assigned:
                self._assign()
            return
        state.epoch += 1
        state.next_offset = 0
        state.topic_id = topic_id or self._current_topic_id(tp) or state.topic_id
        state.target = None
        state.done = False
        state.from_log_start = True
        log.warning(
            "%s. --accept-reset: landing the partition's new life from its log start as epoch %d",
            reset.describe(),
            state.epoch,
        )
        if assigned:
            self._consumer.resume(tp)
            self._consumer.seek_to_beginning(tp)

    def _current_topic_id(self, tp: TopicPartition) -> str | None:
        try:
            return next((t.topic_id for t in self._topics.list() if t.name == tp.topic), None)
        except KafkaError:
            return None

    def _log_held_if_due(self) -> None:
        if self.held and time.monotonic() - self._last_held_log >= self.settings.land_outage_log_seconds:
            self._log_held()

    def _log_held(self) -> None:
        self._last_held_log = time.monotonic()
        if self.held:
            log.error(
                "%d partitions held because their offsets went backwards (run with --accept-reset to land "
                "their new life under a new epoch): %s",
                len(self.held),
                _names(self.held),
            )
        if self.failed:
            log.error(
                "%d partitions held at a record that cannot be landed (continuum status shows why; "
                "continuum land --skip-offset TOPIC:PARTITION:OFFSET or --release TOPIC:PARTITION): %s",
                len(self.failed),
                ", ".join(
                    f"{tp.topic}[{tp.partition}] at {h.offset}" for tp, h in sorted(self.failed.items())
                ),
            )

    # -- partitions held at a record ------------------------------------------------------------------

    def _hold_failed_partitions(self) -> None:
        for hold in self._writer.take_holds():
            self._hold(hold)

    def _hold(self, hold: PartitionHold) -> None:
        """Stop landing one partition at the record `hold` names, say so and write it down; every other
        partition goes on. What was taken of it after that record is dropped (not committed)."""
        save_hold(self.landing_dir, hold)
        log.error("%s", hold.describe())
        self.failed[hold.tp] = hold
        if self.states.pop(hold.tp, None) is not None:
            self._assign()

    # -- fetching -------------------------------------------------------------------------------------

    def _poll(self) -> None:
        poll_ms = _BOUNDED_POLL_MS if self.until_caught_up else _POLL_MS
        if not self.states:
            time.sleep(poll_ms / 1000)
            return
        self._writer.raise_if_failed()
        try:
            fetched = self._consumer.poll(timeout_ms=poll_ms)
        except CorruptRecordError as exc:
            # unreadable.py reads what kafka-python cannot decode; what still fails a fetch (a batch
            # shorter than its own header says) is dead-lettered by offset.
            self._pass_unreadable(exc)
            return
        except OffsetOutOfRangeError as exc:
            # The broker no longer has the position asked for (Apache Kafka's answer to a recreated topic
            # or to retention that deleted messages never landed).
            for tp, offset in exc.args[0].items():
                if tp in self.states:
                    reason = f"the broker has no offset {offset} any more (out of range)"
                    self._on_reset(Reset(tp, self.states[tp].epoch, self.states[tp].next_offset, reason))
            return
        if fetched:
            self._outage.recovered()  # records came: the broker answers, whatever the last probe said
        for tp, records in fetched.items():
            state = self.states.get(tp)
            if state is not None and records:
                self._take(tp, state, records)
        self._check_highwaters(fetched)

    def _pass_unreadable(self, error: CorruptRecordError) -> None:
        """A fetch kafka-python still could not decode (unreadable.py reads what it can; a record batch
        shorter than its own header is left): the offset it stopped at becomes an unreadable record
        without bytes, and the partition goes on from the next offset."""
        tp = failing_partition(self._consumer)
        state = self.states.get(tp) if tp is not None else None
        if state is None:
            raise error  # not one partition's: the lander fails, as before
        offset = self._consumer.position(tp, timeout_ms=1000)
        offset = state.next_offset if offset is None else offset
        log.error(
            "%s[%d] offset %d cannot be read (%s): dead-lettered without its bytes",
            tp.topic,
            tp.partition,
            offset,
            error,
        )
        self._take(tp, state, [unreadable_stub(tp, offset, repr(error))])
        self._consumer.seek(tp, offset + 1)

    def _take(self, tp: TopicPartition, state: PartitionState, records: list[Any]) -> None:
        if self.until_caught_up:
            if state.target is None:
                state.target = self._consumer.highwater(tp)
            if state.target is not None and records[-1].offset >= state.target:
                records = [r for r in records if r.offset < state.target]
        if records and records[0].offset < state.next_offset:
            # Never land an offset twice, whatever a client or broker does on a retry.
            records = [r for r in records if r.offset >= state.next_offset]
        if not records:
            return
        if not state.records:
            state.oldest_at = time.monotonic()
        state.records.extend(records)
        state.next_offset = records[-1].offset + 1

    def _check_highwaters(self, fetched: Mapping[TopicPartition, list[Any]]) -> None:
        """Find partitions whose log now ends before what was taken (offsets went backwards), and in
        bounded mode learn each partition's end and see which are done (`fetched`: the records each
        partition gave just now)."""
        for tp, state in list(self.states.items()):
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            reset = find_reset(tp, state.epoch, state.next_offset, None, None, highwater)
            if reset is not None:
                self._on_reset(reset)
                continue
            if not self.until_caught_up or state.done:
                continue
            # The end seen at start; lowered if the log shrank since (never wait for offsets gone).
            state.target = highwater if state.target is None else min(state.target, highwater)
            if state.next_offset >= state.target or self._fetched_past(tp, fetched, state.target):
                state.done = True
                self._consumer.pause(tp)

    def _fetched_past(
        self, tp: TopicPartition, fetched: Mapping[TopicPartition, list[Any]], target: int
    ) -> bool:
        """Whether fetching reached `target` though the records taken did not: the last offsets before it
        carry no record (a transaction's commit marker, compacted records). Records fetched at or past
        the target say so at once (those before it were taken: `_take`), even while a provider keeps
        sending to the partition. Else the fetch position is asked, but only after a poll that gave no
        records at all: kafka-python's position() checks every assigned partition's position on each
        call, and asked of each partition without records on every poll it cost 1 s of landing 107,000
        events on 204 partitions."""
        records = fetched.get(tp)
        if records:
            return records[-1].offset >= target
        if fetched:
            return False
        position = self._consumer.position(tp, timeout_ms=100)
        return position is not None and position >= target

    def _caught_up(self) -> bool:
        return self._discovered and all(state.done for state in self.states.values())

    # -- batches --------------------------------------------------------------------------------------

    def _cut_batches(self, flush_all: bool) -> None:
        now = time.monotonic()
        max_events, max_age = self.settings.land_batch_events, self.settings.land_batch_seconds
        for tp, state in self.states.items():
            while len(state.records) >= max_events:
                self._submit(tp, state, max_events)
            if state.records and (flush_all or state.done or now - state.oldest_at >= max_age):
                self._submit(tp, state)

    def _submit(self, tp: TopicPartition, state: PartitionState, count: int | None = None) -> None:
        if not state.records:
            return
        count = len(state.records) if count is None else count
        records, state.records = state.records[:count], state.records[count:]
        state.oldest_at = time.monotonic()
        self._writer.submit(Batch(tp.topic, tp.partition, state.epoch, state.topic_id, records))


def failing_partition(consumer: Any) -> TopicPartition | None:
    """The partition whose fetched records raised in the consumer's last poll. kafka-python does not say
    (its error names no partition); its fetcher keeps that partition's records as the next in line."""
    records = getattr(consumer._fetcher, "_next_partition_records", None)
    return getattr(records, "topic_partition", None)


def _names(tps) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(tps))
