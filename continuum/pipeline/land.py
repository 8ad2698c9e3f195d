"""The DAG's land step: land what the broker holds now, unless a lander service is already landing.

A lander service (`continuum land` without `--until-caught-up`) writes its pid to `lander_pid_path`;
while that process lives, the DAG leaves landing to it. Otherwise the step runs
`continuum land --until-caught-up`, which lands everything up to the end it saw at start and exits.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from continuum.pipeline.env import continuum_env
from continuum.settings import Settings

log = logging.getLogger(__name__)


#: `continuum land`'s exit code when some partitions are held because their offsets went backwards
#: (streams.landing.lander.EXIT_RESET_HELD): everything else was landed; an operator must decide.
EXIT_RESET_HELD = 3


class LandingFailed(RuntimeError):
    """`continuum land --until-caught-up` exited with an error; its output is in the message."""


class LandingHeld(LandingFailed):
    """Some partitions are held (offsets went backwards); retrying will not help: see docs/landing.md."""


def lander_pid_path(settings: Settings) -> Path:
    return settings.landing_dir / "lander.pid"


def running_lander(settings: Settings) -> int | None:
    """The pid of a live lander service for this CONTINUUM_HOME, or None."""
    try:
        pid = int(lander_pid_path(settings).read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # it exists, under another user
    return pid


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
