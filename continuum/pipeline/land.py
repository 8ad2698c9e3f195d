"""The DAG's land step: land what the broker holds now, unless a lander service is landing.

Every lander (service or bounded) holds an exclusive flock on `landing/.lander.lock` for as long as it
runs, and records in the file who it is (streams/landing/workers.py `landing_lock`). The step probes the
flock first and reads the record only while the flock is held, so a file left by a dead lander is simply
not held:
- held by a lander SERVICE: the service lands, the step is skipped;
- held by a BOUNDED lander (`continuum land --until-caught-up`, or one left over from a killed run): the
  step fails, naming that lander's pid, for an operator to stop it or wait for it;
- not held: the step lands in its own process with `streams.landing.workers.run_landers`, up to the end
  offsets it saw at start, and dies with the task that runs it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from common.settings import Settings
from streams.landing.lander import EXIT_OK, EXIT_RESET_HELD
from streams.landing.workers import LOCK_NAME, run_landers
from streams.landing.zone import LandingZone

log = logging.getLogger(__name__)

#: How long a probe waits for a new holder to write its record (it writes it just after taking the flock).
RECORD_WAIT_S = 2.0


class LandingFailed(RuntimeError):
    """The bounded lander exited with an error (its log lines are in the task's log)."""


class LandingHeld(LandingFailed):
    """Some partitions are held (offsets went backwards); retrying will not help: see docs/landing.md."""


class LandingBlocked(LandingFailed):
    """A lander that is not a service holds the lock: retrying will not help until an operator acts."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds the landing lock, as it recorded itself (only ever read while the flock is held)."""

    mode: str  # "service", "bounded", or "unknown" (no readable record)
    pid: int | None = None
    host: str = ""
    started_at: str = ""

    @property
    def is_service(self) -> bool:
        return self.mode == "service"

    def describe(self) -> str:
        where = f" on {self.host}" if self.host and self.host != socket.gethostname() else ""
        since = f", started {self.started_at}" if self.started_at else ""
        return f"a {self.mode} lander (pid {self.pid}{where}{since})"


def lock_holder(settings: Settings) -> LockHolder | None:
    """The lander holding the landing lock now, or None when no process holds it (whatever the file
    says). Probed without waiting; the probe's own lock, if it gets it, is released at once."""
    path = settings.landing_dir / LOCK_NAME
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _recorded_holder(fd)
        return None  # nobody holds it: a record in the file is a dead lander's
    finally:
        os.close(fd)  # closing releases the probe's lock, if it got it


def _recorded_holder(fd: int) -> LockHolder:
    """The holder's record; waits briefly when it is missing or names a dead process of this host (the
    holder has taken the flock but not yet replaced the previous holder's record)."""
    deadline = time.monotonic() + RECORD_WAIT_S
    while True:
        holder = _parse_record(os.pread(fd, 4096, 0))
        if holder is not None and _plausible(holder):
            return holder
        if time.monotonic() >= deadline:
            return holder if holder is not None else LockHolder("unknown")
        time.sleep(0.1)


def _parse_record(raw: bytes) -> LockHolder | None:
    try:
        record = json.loads(raw)
        return LockHolder(
            str(record["mode"]), int(record["pid"]), str(record["host"]), str(record["started_at"])
        )
    except (ValueError, KeyError, TypeError):
        return None


def _plausible(holder: LockHolder) -> bool:
    if holder.host != socket.gethostname() or holder.pid is None:
        return True  # another host's (container's) pid cannot be checked from here
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lander_is_running(settings: Settings) -> bool:
    """Whether some lander holds the landing zone's lock."""
    return lock_holder(settings) is not None


def service_is_landing(settings: Settings) -> bool:
    """True when a lander service holds the lock (leave landing to it), False when nobody does; raises
    LandingBlocked when any other process holds it: landing would wait for it, and skipping would hide
    it (a bounded lander left over from a killed run would keep every later run from landing)."""
    holder = lock_holder(settings)
    if holder is None:
        return False
    if holder.is_service:
        log.info(
            "%s holds %s: it is landing, not this task", holder.describe(), settings.landing_dir / LOCK_NAME
        )
        return True
    raise LandingBlocked(
        f"{holder.describe()} holds {settings.landing_dir / LOCK_NAME}, so this run cannot land. If it is "
        f"left over from a killed run, stop it (`kill {holder.pid}`) and run again; if someone is running "
        "`continuum land --until-caught-up`, run again when it has finished."
    )


#: What this process does while its lander workers land new records (workers.run_landers): nothing, but
#: in `continuum run`, whose tasks all run in one process (airflow_run.import_validation_while_landing).
while_landing: Callable[[], None] | None = None


def land_until_caught_up(settings: Settings, lock_wait_s: float = 30.0) -> str:
    """Land up to the end offsets seen at start, in this process (workers forked as `continuum land`
    does: they die with it). Returns what was landed; raises LandingHeld or LandingFailed."""
    before = len(LandingZone.for_settings(settings).committed_batches())
    kafka_log = logging.getLogger("kafka")
    level = kafka_log.level
    # kafka-python logs every failed request; the lander says itself what it cannot get past.
    kafka_log.setLevel(logging.CRITICAL)
    try:
        code = run_landers(
            settings,
            settings.land_workers,
            until_caught_up=True,
            accept_reset=False,
            lock_wait_s=lock_wait_s,
            while_landing=while_landing,
        )
    finally:
        kafka_log.setLevel(level)
    if code == EXIT_RESET_HELD:
        raise LandingHeld(
            "the lander holds some partitions for an operator to decide (`continuum status` says which and "
            "why; docs/landing.md); everything else was landed"
        )
    if code != EXIT_OK:
        raise LandingFailed(
            f"the bounded lander exited with {code} (its log lines above say why; nothing committed is lost)"
        )
    landed = len(LandingZone.for_settings(settings).committed_batches()) - before
    log.info("landed %d new batches", landed)
    return f"landed {landed} new batches"
