"""Progress of long CLI work: a running count (or a bar, when the total is known) on a terminal, and
plain log lines when the output is not a terminal (CI logs, files, pipes), so neither gets flooded.

    with Progress("landing events", total=n) as progress:
        for batch in batches:
            ...
            progress.advance(len(batch))
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

log = logging.getLogger("continuum.progress")
T = TypeVar("T")

BAR_WIDTH = 30
#: A terminal is redrawn at most this often; a log gets a line at most this often.
TTY_REFRESH_SECONDS = 0.1
LOG_EVERY_SECONDS = 10.0


class Progress:
    """Counts units of work done under a label and shows the count as it goes."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        unit: str = "",
        stream: TextIO | None = None,
        log_every_seconds: float = LOG_EVERY_SECONDS,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._on_tty = self._stream.isatty()
        self._log_every = log_every_seconds
        self._started = self._last_shown = time.monotonic()

    def __enter__(self) -> Progress:
        if not self._on_tty:
            log.info(
                "%s: started%s", self.label, f" ({self.total} {self.unit})".rstrip() if self.total else ""
            )
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.finish()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        interval = TTY_REFRESH_SECONDS if self._on_tty else self._log_every
        if now - self._last_shown >= interval:
            self._last_shown = now
            self._show()

    def track(self, items: Iterable[T]) -> Iterator[T]:
        """Yield `items`, counting each one (for work that streams through a generator)."""
        for item in items:
            self.advance()
            yield item

    def finish(self) -> None:
        elapsed = time.monotonic() - self._started
        if self._on_tty:
            self._stream.write(f"\r{self._line()} in {elapsed:.1f}s\n")
            self._stream.flush()
        else:
            log.info("%s: done, %s in %.1fs", self.label, self._count(), elapsed)

    def _show(self) -> None:
        if self._on_tty:
            self._stream.write(f"\r{self._line()}")
            self._stream.flush()
        else:
            log.info("%s: %s", self.label, self._count())

    def _count(self) -> str:
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        return f"{count} {self.unit}".rstrip()

    def _line(self) -> str:
        if not self.total:
            return f"{self.label}: {self._count()}"
        filled = min(BAR_WIDTH, BAR_WIDTH * self.done // self.total)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        return f"{self.label}: [{bar}] {self._count()}"
