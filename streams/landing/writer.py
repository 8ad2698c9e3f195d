"""Committing batches: validate, send dead letters, write both files, rename.

By default in the thread that polls (`land_writer_thread` puts it on a thread of its own). kafka-python 3
does its network I/O on a background thread already, so fetching goes on while a batch is written either
way; a second thread for the writing only adds GIL hand-overs: measured with bench/landing.py, about 2 µs
of CPU per message (a tenth of the lander's) and 10-15% of its throughput.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from kafka import TopicPartition

from streams.contract import Contract, Refusal
from streams.landing import files
from streams.landing.batch import (
    Batch,
    CheckedBatch,
    DeadLetter,
    check_batch,
    dead_letters_table,
    events_table,
)
from streams.landing.dead_letters import DeadLetterProducer
from streams.landing.holds import PartitionHold, new_hold
from streams.landing.unreadable import is_unreadable

log = logging.getLogger(__name__)

_CLOSE = object()


#: `error.stage` of a record the Kafka client could not decode, and of one an operator skipped.
READ_STAGE = "read"
OPERATOR_STAGE = "operator"
#: The reason of both (streams/schemas/dead_letter_reason.json: decided before the contract).
UNREADABLE_RECORD = "unreadable_record"
#: `PartitionHold.stage` of a record whose check or tables raised.
CHECK_STAGE = "check"


@dataclass(frozen=True, slots=True)
class Committed:
    batch_name: str
    events: int
    dead_letters: int


class PartitionFailure(Exception):
    """A record of one partition cannot be landed: the records before it are, and `hold` says where
    the partition stops (holds.py)."""

    def __init__(self, hold: PartitionHold):
        super().__init__(hold.describe())
        self.hold = hold


@dataclass(frozen=True, slots=True)
class _Prepared:
    checked: CheckedBatch
    events: pa.Table
    dead_letters: pa.Table | None


def land_batch(
    batch: Batch,
    contract: Contract,
    dead_letters: DeadLetterProducer,
    landing_dir: Path,
    skips: Mapping[int, str] | None = None,
) -> Committed:
    """Land one batch exactly once: dead letters acknowledged by the broker, then the files committed
    (dead-letter file first, events file last: its rename is the commit, see files.py). A crash before
    the commit leaves only `.tmp` files, removed on restart.

    Checking the batch and building its tables touch nothing outside it: an exception there is the
    batch's own (a record nobody foresaw), so the records before the one that raises are landed and
    PartitionFailure holds the partition at it. What fails after (disk, broker) fails the lander."""
    landed_at = datetime.now(UTC)
    try:
        prepared = _prepare(batch, contract, landed_at, skips or {})
    except Exception as exc:
        if not _confined_to_the_batch(exc):
            raise
        return _land_up_to_failure(batch, contract, dead_letters, landing_dir, skips, exc)
    return _commit(prepared, dead_letters, landing_dir)


def _confined_to_the_batch(error: Exception) -> bool:
    """Checking a batch reads nothing but the batch: whatever it raises is the batch's, except running
    out of memory or an error of the machine (OSError), which are the process's."""
    return not isinstance(error, MemoryError | OSError)


def _prepare(batch: Batch, contract: Contract, landed_at: datetime, skips: Mapping[int, str]) -> _Prepared:
    """Check the batch and build its tables. Records the Kafka client could not decode, and those an
    operator skipped, are dead letters without a contract check."""
    readable, set_aside = [], []
    for record in batch.records:
        if record.offset in skips:
            set_aside.append(
                DeadLetter(record, OPERATOR_STAGE, Refusal(UNREADABLE_RECORD, skips[record.offset]))
            )
        elif is_unreadable(record):
            set_aside.append(DeadLetter(record, READ_STAGE, Refusal(UNREADABLE_RECORD, record.headers.error)))
        else:
            readable.append(record)
    if set_aside:
        checked = check_batch(replace(batch, records=readable), contract, landed_at)
        letters = sorted([*checked.dead_letters, *set_aside], key=lambda d: d.record.offset)
        checked = CheckedBatch(batch, checked.events, letters)
    else:
        checked = check_batch(batch, contract, landed_at)
    letters_table = dead_letters_table(checked, landed_at) if checked.dead_letters else None
    return _Prepared(checked, events_table(checked, landed_at), letters_table)


def _land_up_to_failure(
    batch: Batch,
    contract: Contract,
    dead_letters: DeadLetterProducer,
    landing_dir: Path,
    skips: Mapping[int, str] | None,
    error: Exception,
) -> Committed:
    """Find the first record that fails on its own, land the ones before it, raise PartitionFailure."""
    failing, cause = 0, error  # if no record fails alone, the batch is held at its start
    landed_at = datetime.now(UTC)
    for index, record in enumerate(batch.records):
        try:
            _prepare(replace(batch, records=[record]), contract, landed_at, skips or {})
        except Exception as exc:
            if not _confined_to_the_batch(exc):
                raise
            failing, cause = index, exc
            break
    if failing:
        land_batch(
            replace(batch, records=batch.records[:failing]), contract, dead_letters, landing_dir, skips
        )
    offset = batch.records[failing].offset
    log.error(
        "%s[%d] offset %d cannot be landed: %s",
        batch.topic,
        batch.partition,
        offset,
        cause,
        exc_info=(type(cause), cause, cause.__traceback__),
    )
    raise PartitionFailure(new_hold(batch.topic, batch.partition, batch.epoch, offset, CHECK_STAGE, cause))


def _commit(prepared: _Prepared, dead_letters: DeadLetterProducer, landing_dir: Path) -> Committed:
    checked = prepared.checked
    batch = checked.batch
    first, last, epoch = batch.first_offset, batch.last_offset, batch.epoch

    def path(kind: str) -> Path:
        return files.batch_path(landing_dir, kind, batch.topic, batch.partition, first, last, epoch)

    # The dead letters travel to the broker while both files are written and fsynced; the first rename
    # waits for the broker's acknowledgement of every one.
    delivery = dead_letters_tmp = None
    if checked.dead_letters:
        delivery = dead_letters.send(batch.topic, checked.dead_letters)
        dead_letters_tmp = files.write_table_durably(prepared.dead_letters, path(files.DEAD_LETTERS))
    events_tmp = files.write_table_durably(prepared.events, path(files.EVENTS))
    if delivery is not None:
        dead_letters.confirm(delivery)
        dead_letters.tell_providers(batch.topic, checked.dead_letters)
        files.commit(dead_letters_tmp)
    committed = files.commit(events_tmp)
    log.info(
        "landed %s[%d] offsets %d..%d%s: %d events, %d dead letters",
        batch.topic,
        batch.partition,
        first,
        last,
        f" (epoch {epoch})" if epoch else "",
        len(checked.events),
        len(checked.dead_letters),
    )
    return Committed(committed.name, len(checked.events), len(checked.dead_letters))


class BatchWriter:
    """Lands batches in the order they are handed over: on a thread of its own (`threaded`), so that the
    consumer thread keeps fetching meanwhile, or at once in the caller's thread.

    A batch that raises PartitionFailure holds its partition: later batches of it are dropped (nothing of
    them is committed, so the partition resumes at the hold), and the consumer thread learns of the hold
    from `take_holds`. Any other error stops the writer, and the lander with it."""

    def __init__(
        self,
        contract: Contract,
        dead_letters: DeadLetterProducer,
        landing_dir: Path,
        threaded: bool = True,
        max_waiting_batches: int = 8,
        skips: Mapping[TopicPartition, Mapping[int, str]] | None = None,
    ):
        self._contract = contract
        self._dead_letters = dead_letters
        self._landing_dir = landing_dir
        self.threaded = threaded
        #: Offsets an operator told this run to dead-letter, per partition (holds.py).
        self._skips = {tp: dict(offsets) for tp, offsets in (skips or {}).items()}
        # Bounded: when writing falls behind, the consumer thread waits instead of filling memory.
        self._queue: queue.Queue = queue.Queue(maxsize=max_waiting_batches)
        self._thread = threading.Thread(target=self._run, name="lander-writer", daemon=True)
        self.error: BaseException | None = None
        self.events = 0
        self.dead_letters = 0
        self.batches = 0
        self._held: set[TopicPartition] = set()
        self._new_holds: list[PartitionHold] = []
        self._lock = threading.Lock()
        #: Called with the events of each committed batch (notify.py: tells the orchestrator). Best effort.
        self.on_commit: Callable[[int], None] | None = None

    def start(self) -> None:
        if self.threaded:
            self._thread.start()

    def submit(self, batch: Batch) -> None:
        """Land a batch, or queue it (blocking while the queue is full). Raises the writer's error."""
        if not self.threaded:
            self._land(batch)
            return
        while True:
            self.raise_if_failed()
            try:
                self._queue.put(batch, timeout=0.5)
                return
            except queue.Full:
                continue

    def take_holds(self) -> list[PartitionHold]:
        """The partitions held since the last call."""
        with self._lock:
            holds, self._new_holds = self._new_holds, []
        return holds

    def skips_not_reached(self) -> dict[TopicPartition, list[int]]:
        return {tp: sorted(offsets) for tp, offsets in self._skips.items() if offsets}

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"the landing writer failed: {self.error}") from self.error

    def close(self) -> None:
        """Land what is queued, then stop the thread. Raises the writer's error if it failed."""
        if self._thread.is_alive():
            while self.error is None:
                try:
                    self._queue.put(_CLOSE, timeout=0.5)
                    break
                except queue.Full:
                    continue
            self._thread.join()
        self.raise_if_failed()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is _CLOSE:
                return
            try:
                self._land(batch)
            except BaseException as exc:  # handed to the consumer thread, which stops the lander
                log.error("landing %s[%d] failed: %s", batch.topic, batch.partition, exc, exc_info=True)
                self.error = exc
                return

    def _land(self, batch: Batch) -> None:
        tp = TopicPartition(batch.topic, batch.partition)
        if tp in self._held:
            return  # the partition is held at an earlier offset: nothing after it is landed
        skips = self._skips.get(tp)
        try:
            committed = land_batch(batch, self._contract, self._dead_letters, self._landing_dir, skips)
        except PartitionFailure as failure:
            with self._lock:
                self._held.add(tp)
                self._new_holds.append(failure.hold)
            return
        if skips:
            for record in batch.records:
                skips.pop(record.offset, None)
        self.events += committed.events
        self.dead_letters += committed.dead_letters
        self.batches += 1
        if self.on_commit is not None:
            self.on_commit(committed.events)
