"""The network simulator: deterministic, contract-exact, calibrated, and honest about its mess.

Every count of the report is recounted here from the messages themselves, by the definitions of
docs/simulator.md, with code that shares nothing with the simulator but the contract.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from common.directory import load_directory
from common.names import provider_topic
from common.settings import Settings
from streams.contract import DEAD_LETTER_REASONS, EVENT_TYPES, Contract, Event, Refusal
from streams.kafka import client_config
from streams.producer import build_envelope
from streams.simulator import (
    LATE_AFTER,
    UNKNOWN_PROVIDER_ID,
    MessConfig,
    SimulatedMessage,
    Simulation,
    SimulationConfig,
    produce,
    read_ndjson,
    write_ndjson,
)

END = datetime(2026, 11, 1, tzinfo=UTC)
DIRECTORY = load_directory(Settings().provider_directory)
CONTRACT = Contract(DIRECTORY)

#: The referral life of events-v1 section 4, written out again here (not imported from the simulator).
NEXT = {
    "requested": {"accepted", "rejected", "cancelled"},
    "accepted": {"in-progress", "on-hold", "completed", "failed", "cancelled"},
    "in-progress": {"on-hold", "completed", "failed", "cancelled"},
    "on-hold": {"in-progress", "completed", "failed", "cancelled"},
}


def simulate(participants: int, seed: int = 7, mess: MessConfig | None = None) -> tuple[Simulation, list]:
    config = SimulationConfig(participants=participants, seed=seed, end=END, mess=mess or MessConfig())
    sim = Simulation(config, DIRECTORY)
    return sim, list(sim.messages())


@pytest.fixture(scope="module")
def network() -> tuple[Simulation, list[SimulatedMessage]]:
    """A network big enough for every kind of mess and every dead-letter reason (~15k messages)."""
    return simulate(600)


@pytest.fixture(scope="module")
def checked(network) -> list[tuple[SimulatedMessage, Event | Refusal]]:
    # Landed "now" = END: the simulated moment; nothing valid is after it.
    return [(m, CONTRACT.check(m.value, m.topic, now=END)) for m in network[1]]


def valid_events(checked) -> list[tuple[SimulatedMessage, Event]]:
    return [(m, verdict) for m, verdict in checked if isinstance(verdict, Event)]


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not():
    _, first = simulate(60, seed=11)
    _, again = simulate(60, seed=11)
    _, other = simulate(60, seed=12)
    assert first == again
    assert [m.value for m in first] != [m.value for m in other]


def test_every_message_gets_exactly_its_intended_verdict(network, checked):
    sim, _ = network
    for message, verdict in checked:
        if message.intent in ("event", "duplicate"):
            assert isinstance(verdict, Event), (message.intent, verdict)
        else:
            assert isinstance(verdict, Refusal) and verdict.reason == message.intent, (message, verdict)
    refused = Counter(v.reason for _, v in checked if isinstance(v, Refusal))
    assert refused == Counter({r: n for r, n in sim.report.malformed_by_reason.items() if n})
    assert set(refused) == set(DEAD_LETTER_REASONS), "every dead-letter reason at least once"
    assert sum(refused.values()) == sim.report.malformed


def test_valid_messages_are_what_the_provider_sdk_would_send(checked):
    for message, event in valid_events(checked)[:2000]:
        assert message.key == event.subject.encode()
        assert message.topic == provider_topic(event.provider_id)
        envelope = orjson.loads(message.value)
        rebuilt = build_envelope(
            event.provider_id, event.type, event.subject, event.data, event.time, event.id
        )
        assert orjson.dumps(rebuilt) == message.value
        assert envelope["time"].endswith("+00:00") and event.time <= END


def test_counts_of_the_report_match_a_recount(network, checked):
    sim, messages = network
    report = sim.report
    valid = valid_events(checked)
    seen, duplicates, by_type = set(), 0, Counter()
    for _, event in valid:
        if (event.source, event.id) in seen:
            duplicates += 1
        else:
            seen.add((event.source, event.id))
            by_type[event.type] += 1
    assert report.messages == len(messages)
    assert report.messages_by_topic == dict(Counter(m.topic for m in messages))
    assert report.duplicates == duplicates > 0
    assert report.valid_events == len(seen)
    assert report.events_by_type == {t: by_type[t] for t in EVENT_TYPES}
    assert report.late_events == recount_late(valid) > 0
    assert report.out_of_order == recount_out_of_order(valid) > 0
    assert report.invalid_transitions == recount_invalid_transitions(valid) > 0


def first_copies(valid) -> list[tuple[SimulatedMessage, Event]]:
    seen, out = set(), []
    for message, event in valid:
        if event.id not in seen:
            seen.add(event.id)
            out.append((message, event))
    return out


def recount_late(valid) -> int:
    late = LATE_AFTER // 86_400
    return sum(m.sent_at - e.time.timestamp() >= late * 86_400 for m, e in first_copies(valid))


def recount_out_of_order(valid) -> int:
    latest: dict[str, datetime] = {}
    count = 0
    for message, event in first_copies(valid):
        is_late = message.sent_at - event.time.timestamp() >= LATE_AFTER
        if not is_late and event.subject in latest and event.time < latest[event.subject]:
            count += 1
        latest[event.subject] = max(latest.get(event.subject, event.time), event.time)
    return count


def recount_invalid_transitions(valid) -> int:
    lives: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for _, event in first_copies(valid):
        if event.type == "referral.status_changed":
            lives[event.data["referral_id"]].append((event.time, event.data["status"]))
    invalid = 0
    for life in lives.values():
        previous = "requested"
        for _, status in sorted(life):
            if status != "entered-in-error" and status not in NEXT.get(previous, set()):
                invalid += 1
            previous = status
    return invalid


def test_all_event_types_and_every_provider_appear(network, checked):
    sim, messages = network
    assert all(sim.report.events_by_type[t] > 0 for t in EVENT_TYPES), sim.report.events_by_type
    topics = {m.topic for m in messages}
    assert {provider_topic(p) for p in DIRECTORY} <= topics
    assert provider_topic(UNKNOWN_PROVIDER_ID) in topics  # the unknown_provider dead letters
    feed = [p for p, provider in DIRECTORY.items() if provider.publishes_custody_events]
    custody = {"custody.admitted", "custody.released", "justice.arrested"}
    assert {e.provider_id for _, e in valid_events(checked) if e.type in custody} == set(feed)


def test_a_second_provider_of_a_kind_gets_its_share():
    extra = replace(DIRECTORY["okc-street-outreach"], provider_id="okc-eastside-outreach")
    sim = Simulation(SimulationConfig(participants=150, end=END), {**DIRECTORY, extra.provider_id: extra})
    topics = Counter(m.topic for m in sim.messages())
    assert topics[extra.topic] > 0 and topics[provider_topic("okc-street-outreach")] > 0


def test_the_stream_is_in_send_order_and_nothing_is_after_end(network, checked):
    _, messages = network
    sent = [m.sent_at for m in messages]
    assert sent == sorted(sent)
    assert max(e.time for _, e in valid_events(checked)) <= END


def test_referrals_live_their_full_life(checked):
    statuses = Counter(
        e.data["status"] for _, e in valid_events(checked) if e.type == "referral.status_changed"
    )
    assert set(statuses) == {
        "accepted",
        "rejected",
        "in-progress",
        "on-hold",
        "completed",
        "failed",
        "cancelled",
        "entered-in-error",
    }
    answering = [
        e for _, e in valid_events(checked) if e.type == "service.delivered" and e.data["referral_id"]
    ]
    enrolled_by_referral = [
        e for _, e in valid_events(checked) if e.type == "participant.enrolled" and e.data["referral_id"]
    ]
    assert answering and enrolled_by_referral


@pytest.mark.parametrize("kind", ["late", "out_of_order", "duplicates", "invalid_transitions", "malformed"])
def test_each_kind_of_mess_switches_off(kind):
    sim, messages = simulate(300, mess=replace(MessConfig(), **{kind: 0.0}))
    counted = {
        "late": sim.report.late_events,
        "out_of_order": sim.report.out_of_order,
        "duplicates": sim.report.duplicates,
        "invalid_transitions": sim.report.invalid_transitions,
        "malformed": sim.report.malformed,
    }
    assert counted[kind] == 0
    assert sum(counted.values()) > 0, "the other kinds stay on"
    checked = [(m, CONTRACT.check(m.value, m.topic, now=END)) for m in messages]
    recounts = {
        "late": recount_late(valid_events(checked)),
        "out_of_order": recount_out_of_order(valid_events(checked)),
        "invalid_transitions": recount_invalid_transitions(valid_events(checked)),
        "malformed": sum(isinstance(v, Refusal) for _, v in checked),
    }
    assert recounts.get(kind, 0) == 0


def test_a_clean_network_has_no_mess_at_all():
    sim, messages = simulate(300, mess=MessConfig.clean())
    checked = [(m, CONTRACT.check(m.value, m.topic, now=END)) for m in messages]
    assert all(isinstance(v, Event) for _, v in checked)
    assert len({v.id for _, v in checked}) == len(checked)
    valid = valid_events(checked)
    assert recount_late(valid) == recount_out_of_order(valid) == recount_invalid_transitions(valid) == 0
    report = sim.report
    assert report.duplicates == report.late_events == report.out_of_order == report.malformed == 0


def test_mess_leaves_the_valid_events_as_they_were():
    # Late, out-of-order, duplicate and malformed messages draw from the mess's own generator: a messy
    # run's valid first copies are exactly a clean run's messages, so tests can compare the two.
    clean = simulate(100, mess=MessConfig.clean())[1]
    messy = simulate(100, mess=replace(MessConfig(), invalid_transitions=0.0))[1]
    assert {m.value for m in clean} == {m.value for m in messy if m.intent == "event"}
    assert len(clean) == sum(m.intent == "event" for m in messy)


def test_one_year_rearrest_rate_is_calibrated_to_bjs():
    """At 3,000 participants about 1,200 prison releases have a full year of follow-up. The binomial
    standard error of a 1/3 rate is then ~0.014; the tolerance of 0.06 is about four of them, plus
    room for the small downward pull of technical revocations (people back in prison cannot be
    arrested), so the test fails only if the calibration is wrong, not by bad luck."""
    sim, messages = simulate(3000, mess=MessConfig.clean())
    releases, arrests = defaultdict(list), defaultdict(list)
    for m in messages:
        event = CONTRACT.check(m.value, m.topic, now=END)
        if event.type == "custody.released" and event.data["facility_type"] == "prison":
            releases[event.subject].append(event.time)
        elif event.type == "justice.arrested":
            arrests[event.subject].append(event.time)
    year = timedelta(days=365)
    followed = [(s, t) for s, times in releases.items() for t in times if t + year <= END]
    rearrested = [(s, t) for s, t in followed if any(t < a <= t + year for a in arrests[s])]
    rate = len(rearrested) / len(followed)
    assert len(followed) > 800
    assert abs(rate - 1 / 3) < 0.06, rate
    assert (len(followed), len(rearrested)) == (
        sim.report.prison_releases_followed_one_year,
        sim.report.rearrested_within_one_year,
    )


def test_demographics_reflect_oklahoma(checked):
    people = {}
    for _, event in valid_events(checked):
        if event.type == "participant.enrolled":
            people[event.subject] = event.data["race_ethnicity"]
    share = Counter(r for races in people.values() for r in races)
    american_indian = share["american_indian_alaska_native"] / len(people)
    assert 0.09 < american_indian < 0.25, american_indian  # Census: ~9% alone, ~16% in combination
    assert 0.08 < share["hispanic_latino"] / len(people) < 0.2


def test_consent_most_grant_some_never_a_few_revoke(network, checked):
    sim, _ = network
    granted = {e.subject for _, e in valid_events(checked) if e.type == "consent.granted"}
    part2 = {e.subject for _, e in valid_events(checked) if e.type == "consent.granted" and e.data["part2"]}
    revoked = {e.subject for _, e in valid_events(checked) if e.type == "consent.revoked"}
    enrolled = {e.subject for _, e in valid_events(checked) if e.type == "participant.enrolled"}
    assert 0.7 < len(granted & enrolled) / len(enrolled) < 0.95
    assert part2 and revoked and revoked <= granted
    assert sim.report.consent_revocations == sum(
        1 for _, e in first_copies(valid_events(checked)) if e.type == "consent.revoked"
    )


def test_ndjson_round_trips_every_value(network, tmp_path: Path):
    sim, messages = network
    path = tmp_path / "network.ndjson"
    written = write_ndjson(iter(messages), path)
    assert list(read_ndjson(path)) == [m.value for m in messages]
    awkward = sum(b"\n" in m.value or not is_utf8(m.value) for m in messages)
    assert written.wrapped_base64 == awkward > 0
    assert written.messages_by_topic == sim.report.messages_by_topic


def is_utf8(value: bytes) -> bool:
    try:
        value.decode()
        return True
    except UnicodeDecodeError:
        return False


def count_topics(settings: Settings, topics: set[str], expected: int, timeout_s: float = 60) -> Counter:
    """Read every partition of `topics` from the beginning until each is at its high watermark.

    `highwater` comes with fetch responses; the embedded broker under-reports `end_offsets`."""
    consumer = KafkaConsumer(**client_config(settings, enable_auto_commit=False, group_id=None))
    try:
        consumer.topics()  # fetch metadata
        partitions = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        counts: Counter[str] = Counter()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500, max_records=5000).items():
                counts[tp.topic] += len(records)
            caught_up = all(
                consumer.highwater(tp) is not None and consumer.position(tp) >= consumer.highwater(tp)
                for tp in partitions
            )
            if caught_up and sum(counts.values()) >= expected:
                break
        return counts
    finally:
        consumer.close()


def test_produce_sends_every_message_to_the_broker(own_broker: Settings):
    sim, messages = simulate(150)
    delivered = produce(iter(messages), own_broker)
    assert delivered.messages_by_topic == sim.report.messages_by_topic
    counts = count_topics(own_broker, set(sim.report.messages_by_topic), sim.report.messages)
    assert dict(counts) == sim.report.messages_by_topic


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "continuum.cli", "simulate", "--end", "2026-11-01", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_cli_default_size_is_the_demo_size():
    from continuum.commands import simulate as command
    from streams.simulator.config import DEMO_PARTICIPANTS

    assert command.DEFAULT_PARTICIPANTS == DEMO_PARTICIPANTS


def test_cli_writes_ndjson_and_a_json_report(env, tmp_path: Path):
    out, report_path = tmp_path / "n.ndjson", tmp_path / "report.json"
    done = run_cli(
        env, "--participants", "80", "--out", str(out), "--report-json", str(report_path), "--no-late"
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(report_path.read_text())
    assert report["late_events"] == 0 and report["messages"] == len(out.read_bytes().splitlines())
    assert "valid event type" in done.stdout and "malformed: bad_time" in done.stdout


def test_cli_produces_to_the_broker(own_broker: Settings, env, tmp_path: Path):
    # A broker of its own: other tests count what is on the session broker's topics.
    own_env = {
        **env,
        "CONTINUUM_HOME": str(own_broker.home),
        "CONTINUUM_BROKER_PORT": str(own_broker.broker_port),
    }
    report_path = tmp_path / "report.json"
    done = run_cli(own_env, "--participants", "40", "--clean", "--report-json", str(report_path))
    assert done.returncode == 0, done.stderr
    report = json.loads(report_path.read_text())
    assert report["delivery"]["messages"] == report["messages"] == report["valid_events"]
    counts = count_topics(own_broker, set(report["messages_by_topic"]), report["messages"])
    assert dict(counts) == report["messages_by_topic"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_says_how_to_start_the_broker_when_none_answers(env, tmp_path: Path):
    if env.get("CONTINUUM_KAFKA_BOOTSTRAP"):
        pytest.skip("an external broker is configured")
    done = run_cli({**env, "CONTINUUM_BROKER_PORT": str(free_port())}, "--participants", "5")
    assert done.returncode == 1
    assert "continuum broker start" in done.stderr
