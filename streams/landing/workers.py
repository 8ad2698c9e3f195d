"""Running the lander: one process per core, each landing its own share of the partitions.

One Python process cannot land as fast as kafka-python can fetch: fetching and validating both need
the GIL. So `continuum land` forks `land_workers` processes, each a whole lander (consumer, contract,
writer) for the partitions its `Shard` owns (shards.py: balanced by backlog at start); no data crosses
between them, and every partition has one owner, so exactly-once holds per partition as it does for one
process.

Two guards keep a partition from ever having two landers:
- an exclusive lock on `landing/.lander.lock`, taken before anything is read and held (through the
  inherited file descriptor) by every worker until it exits: a second `continuum land` waits for it;
- each worker asks the kernel to kill it when its parent dies (Linux `PR_SET_PDEATHSIG`), so a
  `kill -9` of `continuum land` leaves no worker committing behind a restarted lander's back.

A worker that fails leaves the others landing (their partitions are theirs alone), and the command exits 1
when all are done. Only a failure of what every worker shares (the disk, the broker: `_PROCESS_WIDE`) stops
them all, since each would meet it too.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gc
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from kafka import TopicPartition
from kafka.errors import KafkaError

from common.settings import Settings
from streams.landing.dead_letters import DeadLettersNotDelivered
from streams.landing.holds import apply_operator_requests
from streams.landing.lander import EXIT_FAILED, EXIT_HELD, EXIT_OK, Lander
from streams.landing.shards import Shard, balance, listed_backlogs
from streams.landing.zone import LandingZone

log = logging.getLogger(__name__)

LOCK_NAME = ".lander.lock"
_PR_SET_PDEATHSIG = 1
#: A worker's exit code (never the command's) for a failure every worker would meet: stop them all.
_EXIT_PROCESS_WIDE = 4
#: Failures of what the workers share: the disk (full, read-only) and the broker.
_PROCESS_WIDE = (OSError, KafkaError, DeadLettersNotDelivered, MemoryError)


class LandingZoneBusy(RuntimeError):
    """Another lander holds the landing zone's lock."""


@contextlib.contextmanager
def landing_lock(landing_dir: Path, wait_s: float, mode: str = "service") -> Iterator[int]:
    """Hold the landing zone's exclusive lock; waits up to `wait_s` for another lander to let go.

    The lock is the flock, never the file: the kernel releases it when its last holder dies, so a file left
    by a killed lander is not held. Once held, the file records who holds it, as one JSON object
    (`pid`, `host`, `mode`: "service" or "bounded", `started_at`), for the DAG's land step to tell a lander
    service from a bounded lander left over from a killed run (continuum/pipeline/land.py); a reader must
    trust that record only while the flock is held."""
    landing_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(landing_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LandingZoneBusy(
                        f"another lander holds {landing_dir / LOCK_NAME}; stop it first (one lander per "
                        "landing zone: two would land the same offsets twice)"
                    ) from None
                time.sleep(0.2)
        _record_lock_holder(fd, mode)
        yield fd
        os.ftruncate(fd, 0)  # released on purpose: no holder to name any more
    finally:
        os.close(fd)


def _record_lock_holder(fd: int, mode: str) -> None:
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "mode": mode,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder).encode(), 0)


def run_landers(
    settings: Settings,
    workers: int,
    until_caught_up: bool,
    accept_reset: bool,
    lock_wait_s: float = 30.0,
    releases: Sequence[TopicPartition] = (),
    skip_offsets: Sequence[tuple[TopicPartition, int]] = (),
    while_landing: Callable[[], None] | None = None,
) -> int:
    """Land with `workers` processes (1: in this process). Returns the exit code (lander.py's).

    `releases` and `skip_offsets`: held partitions the operator releases, and records to dead-letter in
    this run (holds.py); applied under the lock, before any lander starts. Raises OperatorRequestRefused
    for one that cannot be done (then nothing is changed). `while_landing`: called in this process once
    the workers are started, when the broker listed records to land (never with one worker, which lands
    in this process): this process then only waits for them."""
    tune_gc()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with landing_lock(settings.landing_dir, lock_wait_s, "bounded" if until_caught_up else "service"):
            skips = apply_operator_requests(
                settings.landing_dir, settings.quarantine_dir, list(releases), list(skip_offsets)
            )
            if workers == 1:
                lander = Lander(
                    settings, until_caught_up=until_caught_up, accept_reset=accept_reset, skips=skips
                )
                _stop_on_signals(lander.request_stop)
                return lander.run()
            return _run_workers(settings, workers, until_caught_up, accept_reset, skips, while_landing)
    finally:
        for signum, handler in handlers.items():  # a caller (a bench, a test) gets its own back
            signal.signal(signum, handler)


def tune_gc() -> None:
    """Fewer, later garbage collections. A lander holds many container objects (records in hand, parsed
    events) and with Python's default thresholds the collector keeps re-scanning them: measured here as
    about a sixth of the lander's CPU per message (and a fifth of a plain kafka-python consumer's). The
    lander makes no reference cycles of its own, so later collections cost only memory it frees anyway."""
    gc.freeze()  # everything imported so far lives as long as the process: out of every collection
    gc.set_threshold(100_000, 50, 100)


def _run_workers(
    settings: Settings,
    workers: int,
    until_caught_up: bool,
    accept_reset: bool,
    skips: dict,
    while_landing: Callable[[], None] | None = None,
) -> int:
    # Crash leftovers are removed here, once, before any worker writes: a worker's clean-up must never
    # meet another worker's temporary file.
    removed = LandingZone.for_settings(settings).recover()  # and the readers' index: rebuilt from the tree
    if removed:
        log.warning(
            "removed %d uncommitted files left by a crash: %s", len(removed), _relative(removed, settings)
        )
    backlogs = listed_backlogs(settings)
    plan = balance(backlogs, workers)
    # fork once the plan's Kafka clients are closed: workers start at once, sharing nothing live.
    context = multiprocessing.get_context("fork")
    parent = os.getpid()
    processes = [
        context.Process(
            target=_worker,
            args=(settings, Shard(i, workers, plan), until_caught_up, accept_reset, parent, skips),
            name=f"lander-{i}",
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    # Only now: a thread started before the fork would leave the workers whatever locks it held.
    if while_landing is not None and any(backlogs.values()):
        while_landing()

    def stop_all(signum: int) -> None:
        for process in processes:
            if process.pid and process.is_alive():
                os.kill(process.pid, signum)

    def forward(signum: int, _frame: object) -> None:
        log.info("%s: asking %d lander workers to finish their batches", signal.Signals(signum).name, workers)
        stop_all(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    running = list(processes)
    while running:
        multiprocessing.connection.wait([p.sentinel for p in running])
        for process in [p for p in running if p.exitcode is not None]:
            running.remove(process)
            if process.exitcode == _EXIT_PROCESS_WIDE and running:
                # The disk or the broker failed it: the others would meet the same. Stop them (they
                # finish their batches) so that the failure is the command's, stated once.
                log.error("lander worker %s failed on what all share: stopping the others", process.name)
                stop_all(signal.SIGTERM)
            elif process.exitcode not in (EXIT_OK, EXIT_HELD) and running:
                # Its partitions stay unlanded until a restart; the others' partitions are no reason
                # to stop: they keep landing, and the command exits 1 when they are done.
                log.error(
                    "lander worker %s failed (exit %s): its partitions wait for a restart; the other "
                    "workers keep landing",
                    process.name,
                    process.exitcode,
                )
    codes = [process.exitcode for process in processes]
    if any(code not in (EXIT_OK, EXIT_HELD) for code in codes):
        return EXIT_FAILED
    return max(codes)


def _worker(
    settings: Settings, shard: Shard, until_caught_up: bool, accept_reset: bool, parent: int, skips: dict
) -> None:
    _die_with_parent(parent)
    lander = Lander(
        settings,
        until_caught_up=until_caught_up,
        accept_reset=accept_reset,
        shard=shard,
        recover=False,
        skips=skips,
    )
    _stop_on_signals(lander.request_stop)
    try:
        code = lander.run()
    except Exception as exc:
        log.error(
            "lander worker %d failed: %s (nothing committed is lost; restart to resume)", shard.index, exc
        )
        code = _EXIT_PROCESS_WIDE if is_process_wide(exc) else EXIT_FAILED
    logging.shutdown()
    sys.exit(code)


def is_process_wide(error: BaseException) -> bool:
    """Whether `error` (or what caused it: the writer thread's error comes wrapped) is of the disk or the
    broker, which every worker shares."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, _PROCESS_WIDE):
            return True
        seen = seen.__cause__
    return False


def _die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGKILL when the parent dies (Linux); exit now if it died already."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(EXIT_FAILED)


def _relative(paths: list[Path], settings: Settings) -> str:
    return ", ".join(str(p.relative_to(settings.landing_dir)) for p in paths)


def _stop_on_signals(stop) -> None:
    def handler(signum: int, _frame: object) -> None:
        log.info("%s: finishing the batches in hand, then exiting", signal.Signals(signum).name)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
