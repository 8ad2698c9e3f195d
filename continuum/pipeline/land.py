"""The DAG's land step: land what the broker holds now, unless a lander is already landing.

Every `continuum land` (service or bounded) holds an exclusive lock on `landing/.lander.lock` for as
long as it runs (streams/landing/workers.py). If that lock is held, a lander service is at work and the
DAG leaves landing to it; otherwise the step runs `continuum land --until-caught-up`, which lands
everything up to the end it saw at start and exits.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys

from common.settings import Settings
from continuum.pipeline.env import continuum_env

log = logging.getLogger(__name__)


#: `continuum land`'s exit code when some partitions are held because their offsets went backwards
#: (streams.landing.lander.EXIT_RESET_HELD): everything else was landed; an operator must decide.
EXIT_RESET_HELD = 3


class LandingFailed(RuntimeError):
    """`continuum land --until-caught-up` exited with an error; its output is in the message."""


class LandingHeld(LandingFailed):
    """Some partitions are held (offsets went backwards); retrying will not help: see docs/landing.md."""


def lander_is_running(settings: Settings) -> bool:
    """Whether some lander holds the landing zone's lock (probed without waiting, released at once)."""
    from streams.landing.workers import LOCK_NAME

    lock = settings.landing_dir / LOCK_NAME
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases the probe's lock, if it got it
    return False


def land_until_caught_up(settings: Settings, timeout_s: float = 1800) -> str:
    """Run the bounded lander; returns its output. Raises LandingFailed with the output on failure."""
    command = [sys.executable, "-m", "continuum.cli", "land", "--until-caught-up"]
    done = subprocess.run(
        command, env=continuum_env(settings), capture_output=True, text=True, timeout=timeout_s
    )
    output = (done.stdout + done.stderr).strip()
    if done.returncode == EXIT_RESET_HELD:
        raise LandingHeld(
            f"partitions held, `continuum land --accept-reset` decides (docs/landing.md):\n{output}"
        )
    if done.returncode != 0:
        raise LandingFailed(f"`{' '.join(command[2:])}` exited with {done.returncode}:\n{output}")
    log.info("landed:\n%s", output)
    return output
