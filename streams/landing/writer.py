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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from streams.contract import Contract
from streams.landing import files
from streams.landing.batch import Batch, check_batch, dead_letters_table, events_table
from streams.landing.dead_letters import DeadLetterProducer

log = logging.getLogger(__name__)

_CLOSE = object()


@dataclass(frozen=True, slots=True)
class Committed:
    batch_name: str
    events: int
    dead_letters: int


def land_batch(
    batch: Batch, contract: Contract, dead_letters: DeadLetterProducer, landing_dir: Path
) -> Committed:
    """Land one batch exactly once: dead letters acknowledged by the broker, then the files committed
    (dead-letter file first, events file last: its rename is the commit, see files.py). A crash before
    the commit leaves only `.tmp` files, removed on restart."""
    landed_at = datetime.now(UTC)
    checked = check_batch(batch, contract, landed_at)
    first, last, epoch = batch.first_offset, batch.last_offset, batch.epoch

    def path(kind: str) -> Path:
        return files.batch_path(landing_dir, kind, batch.topic, batch.partition, first, last, epoch)

    # The dead letters travel to the broker while both files are written and fsynced; the first rename
    # waits for the broker's acknowledgement of every one.
    delivery = dead_letters_tmp = None
    if checked.dead_letters:
        delivery = dead_letters.send(batch.topic, checked.dead_letters)
        dead_letters_tmp = files.write_table_durably(
            dead_letters_table(checked, landed_at), path(files.DEAD_LETTERS)
        )
    events_tmp = files.write_table_durably(events_table(checked, landed_at), path(files.EVENTS))
    if delivery is not None:
        dead_letters.confirm(delivery)
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
    consumer thread keeps fetching meanwhile, or at once in the caller's thread."""

    def __init__(
        self,
        contract: Contract,
        dead_letters: DeadLetterProducer,
        landing_dir: Path,
        threaded: bool = True,
        max_waiting_batches: int = 8,
    ):
        self._contract = contract
        self._dead_letters = dead_letters
        self._landing_dir = landing_dir
        self.threaded = threaded
        # Bounded: when writing falls behind, the consumer thread waits instead of filling memory.
        self._queue: queue.Queue = queue.Queue(maxsize=max_waiting_batches)
        self._thread = threading.Thread(target=self._run, name="lander-writer", daemon=True)
        self.error: BaseException | None = None
        self.events = 0
        self.dead_letters = 0
        self.batches = 0

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
        committed = land_batch(batch, self._contract, self._dead_letters, self._landing_dir)
        self.events += committed.events
        self.dead_letters += committed.dead_letters
        self.batches += 1
