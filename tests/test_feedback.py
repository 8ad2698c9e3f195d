"""Feedback to the sender (contract v1.1, issue 14): with the lander running as a service, a provider
learns within seconds which of its messages were refused, on its own feedback topic only, without any
value from the message's `data`.

The broker may be the session's, shared with other tests: a feedback topic can hold older feedback, so
each test looks for the feedback of the very record it sent (topic, partition, offset)."""

from __future__ import annotations

import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from common.names import provider_topic
from common.settings import PROJECT_ROOT, Settings
from streams.feedback import Feedback, read_feedback
from streams.kafka import ensure_topics
from streams.landing.lander import EXIT_OK
from tests.test_landing import envelope, land_env, land_until_caught_up, producer, start_lander, subject

PROVIDER = "okc-gvi"
OTHER = "okc-housing"
#: A value that must never come back: it sits in a field the contract does not allow.
SECRET = "Zebulon Quartermaine"
#: The lander cuts a batch after this many seconds; feedback follows its dead letters (docs/landing.md).
BATCH_SECONDS = 1


def follow(settings: Settings, provider_id: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "continuum.cli", "feedback", "--provider", provider_id, "--follow", "--json"],
        env=land_env(settings),
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=open(log, "ab"),  # noqa: SIM115 (the child owns it)
    )


def lines_until(
    process: subprocess.Popen, found: Callable[[Feedback], bool], timeout_s: float
) -> list[Feedback]:
    """What `process` prints until a line satisfies `found`, or `timeout_s` passes."""
    deadline, told = time.monotonic() + timeout_s, []
    while not (told and found(told[-1])):
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = process.stdout.readline()
        assert line, "the feedback reader exited"
        assert SECRET.encode() not in line  # a value from data never comes back
        told.append(Feedback(**orjson.loads(line)))
    return told


def at(topic: str, partition: int, offset: int) -> Callable[[Feedback], bool]:
    return lambda f: (f.topic, f.partition, f.offset) == (topic, partition, offset)


def test_a_refused_message_reaches_its_provider_within_seconds_and_no_one_else(
    settings: Settings, tmp_path: Path
):
    ensure_topics(settings)
    # The session's broker holds other tests' records: landed first, so that the service starts at the
    # end and the 5 s below are the refused message's way, not a backlog's (longer on a busy machine).
    assert land_until_caught_up(settings, log=tmp_path / "backlog.log") == EXIT_OK
    lander = start_lander(settings, log=tmp_path / "lander.log", land_batch_seconds=BATCH_SECONDS)
    mine = follow(settings, PROVIDER, tmp_path / "mine.log")
    theirs = follow(settings, OTHER, tmp_path / "theirs.log")
    try:
        time.sleep(3)  # the lander lists topics and assigns partitions; the readers reach their ends
        bad = envelope(1, PROVIDER)
        bad["data"] = {**bad["data"], "first_name": SECRET}
        send = producer(settings)
        sent = send.send(provider_topic(PROVIDER), key=subject(1).encode(), value=orjson.dumps(bad)).get(10)
        sent_at = time.monotonic()
        send.close()
        this_one = at(provider_topic(PROVIDER), sent.partition, sent.offset)

        told = lines_until(mine, this_one, timeout_s=5.0)
        waited = time.monotonic() - sent_at
        log = (tmp_path / "lander.log").read_text()[-3000:]
        assert told and this_one(told[-1]), f"no feedback within 5 s; lander log:\n{log}"
        assert waited <= 5.0
        assert (told[-1].stage, told[-1].reason) == ("validate", "data_invalid")
        assert "first_name" in told[-1].detail  # the field is named; its value never (lines_until)
        # Another provider's reader gets only its own provider's feedback, never this one.
        assert {f.provider_id for f in lines_until(theirs, lambda f: False, timeout_s=1.0)} <= {OTHER}
    finally:
        for process in (mine, theirs, lander):
            process.terminate()
        for process in (mine, theirs, lander):
            process.wait(timeout=30)


def test_feedback_carries_the_dead_letter_headers_and_a_reader_stops_at_the_end(
    settings: Settings, tmp_path: Path
):
    ensure_topics(settings)
    send = producer(settings)
    sent = send.send(provider_topic(OTHER), key=b"k", value=b"{not json").get(timeout=10)
    send.close()
    lander = start_lander(settings, "--until-caught-up", log=tmp_path / "lander.log")
    assert lander.wait(timeout=120) == 0
    started = time.monotonic()
    told = list(read_feedback(settings, OTHER))  # without follow: returns at the topic's end
    assert time.monotonic() - started < 10
    ours = [f for f in told if at(provider_topic(OTHER), sent.partition, sent.offset)(f)]
    assert [(f.reason, f.stage) for f in ours] == [("not_json", "validate")]
    assert {f.provider_id for f in told} == {OTHER}
    headers = dict(ours[0].headers())
    names = ["error.topic", "error.partition", "error.offset", "error.stage", "error.reason", "error.detail"]
    assert list(headers) == names
    assert headers["error.reason"] == b"not_json" and headers["error.offset"] == str(sent.offset).encode()


def test_records_held_back_by_validation_reach_their_provider_once(settings: Settings):
    from datetime import datetime

    from tests.test_pipeline import run_once
    from tests.test_pipeline_support import valid_events, write_batch

    ensure_topics(settings)
    events = valid_events(settings, OTHER, 30, seed=31)
    events[5] = {**events[5], "time": datetime(1, 1, 1, tzinfo=events[5]["time"].tzinfo)}
    batch = write_batch(settings, OTHER, 2, 5000, events)
    run_once(settings)
    run_once(settings)  # a second run tells nothing twice
    ours = [f for f in read_feedback(settings, OTHER) if f.stage == "expectations" and f.topic == batch.topic]
    ours = [f for f in ours if (f.partition, f.offset) == (2, 5005)]
    assert len(ours) == 1
    assert ours[0].reason == "held_back" and "time_year" in ours[0].detail
