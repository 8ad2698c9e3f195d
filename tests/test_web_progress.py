"""continuum.progress: a bar or running count on a terminal, plain log lines elsewhere."""

from __future__ import annotations

import io
import logging

import pytest

from continuum import progress as progress_module
from continuum.progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_a_bar_redrawn_in_place(monkeypatch):
    monkeypatch.setattr(progress_module, "TTY_REFRESH_SECONDS", 0)
    terminal = FakeTerminal()
    with Progress("landing", total=4, unit="batches", stream=terminal) as progress:
        for _ in range(4):
            progress.advance()
    out = terminal.getvalue()
    assert "\rlanding: [" in out and "] 2/4 batches" in out
    assert "] 4/4 batches in " in out and out.endswith("s\n")


def test_terminal_without_total_gets_a_running_count(monkeypatch):
    monkeypatch.setattr(progress_module, "TTY_REFRESH_SECONDS", 0)
    terminal = FakeTerminal()
    with Progress("simulating", unit="events", stream=terminal) as progress:
        progress.advance(500)
    assert "\rsimulating: 500 events" in terminal.getvalue()


def test_pipe_gets_plain_log_lines_not_carriage_returns(caplog: pytest.LogCaptureFixture):
    pipe = io.StringIO()
    with (
        caplog.at_level(logging.INFO, logger="continuum.progress"),
        Progress("report", total=3, unit="files", stream=pipe, log_every_seconds=0) as progress,
    ):
        for _ in range(3):
            progress.advance()
    assert pipe.getvalue() == ""
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "report: started (3 files)"
    assert "report: 2/3 files" in messages
    assert messages[-1].startswith("report: done, 3/3 files in ")


def test_track_counts_what_streams_through_and_passes_it_on():
    terminal = FakeTerminal()
    with Progress("streaming", unit="messages", stream=terminal) as progress:
        assert list(progress.track(iter("abc"))) == ["a", "b", "c"]
    assert progress.done == 3
    assert "3 messages in " in terminal.getvalue()
