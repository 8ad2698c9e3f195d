"""Environments for the processes the pipeline starts (the lander, dbt, Airflow), from Settings.

Settings are read from the environment once, in the parent; a child gets them back as CONTINUUM_*
variables so that it sees the same configuration even when the parent's came from code (tests)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from common.settings import Settings


def continuum_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    for name, value in settings.model_dump().items():
        key = f"CONTINUUM_{name.upper()}"
        if value is None:
            env.pop(key, None)
        else:
            env[key] = _text(name, value)
    return env


def _text(name: str, value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()  # the child needs the secret itself, not pydantic's mask
    if name == "home":
        return str(Path(value).resolve())
    return str(value)


_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """For `preexec_fn`: ask the kernel to SIGKILL the child when the process that started it dies (Linux),
    so that a `kill -9` of `continuum run` or of the task that started dbt leaves no dbt behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
