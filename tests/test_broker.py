"""The embedded broker's life: start, status, stop only our pid, and clear errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from common.directory import load_directory
from common.names import DEAD_LETTER_TOPIC
from common.settings import Settings
from infra import embedded_broker
from infra.embedded_broker import BrokerError
from streams.kafka import client_config, ensure_topics
from tests.conftest import EXTERNAL_BOOTSTRAP, free_port, make_settings

pytestmark = pytest.mark.skipif(bool(EXTERNAL_BOOTSTRAP), reason="about the embedded broker")


def test_start_is_idempotent_and_stop_ends_only_that_pid(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    first = embedded_broker.start(settings)
    try:
        assert first.running and first.pid
        assert (settings.state_dir / "broker" / "tansu.pid").read_text().strip() == str(first.pid)
        assert embedded_broker.start(settings).pid == first.pid  # already up: nothing new started
        assert embedded_broker.status(settings).running
    finally:
        assert embedded_broker.stop(settings)
    assert not embedded_broker.status(settings).running
    assert not embedded_broker.stop(settings)  # nothing left to stop


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        settings = make_settings(tmp_path, port=squatter.getsockname()[1])
        with pytest.raises(BrokerError, match="is taken by another process.*CONTINUUM_BROKER_PORT"):
            embedded_broker.start(settings)


def test_a_dead_broker_is_reported_with_where_to_look(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    state = embedded_broker.start(settings)
    os.kill(state.pid, signal.SIGKILL)
    os.waitpid(state.pid, 0)  # started by this process, so reap it here
    status = embedded_broker.status(settings)
    assert not status.running
    assert "gone" in status.detail and "tansu.log" in status.detail
    restarted = embedded_broker.start(settings)  # a stale pid file does not block a new start
    try:
        assert restarted.running and restarted.pid != state.pid
    finally:
        embedded_broker.stop(settings)


def test_an_external_broker_starts_nothing(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    state = embedded_broker.start(settings)
    assert not state.running and state.pid is None
    assert not (settings.state_dir / "broker").exists()


def test_topics_are_created_once_per_provider_and_for_dead_letters(own_broker: Settings) -> None:
    created = ensure_topics(own_broker)
    providers = load_directory(own_broker.provider_directory)
    expected = {f"providers.{p}.{kind}" for p in providers for kind in ("events", "feedback")}
    assert set(created) == expected | {DEAD_LETTER_TOPIC}
    assert ensure_topics(own_broker) == []  # idempotent
    admin = KafkaAdminClient(**client_config(own_broker))
    try:
        assert expected | {DEAD_LETTER_TOPIC} <= set(admin.list_topics())
    finally:
        admin.close()


def test_the_cli_starts_reports_and_stops(tmp_path: Path) -> None:
    env = {**os.environ, "CONTINUUM_HOME": str(tmp_path), "CONTINUUM_BROKER_PORT": str(free_port())}
    env.pop("CONTINUUM_KAFKA_BOOTSTRAP", None)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "continuum.cli", "broker", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    started = cli("start")
    assert started.returncode == 0, started.stderr
    # an events and a feedback topic per provider, and the dead letters
    assert f"{2 * len(load_directory(Settings().provider_directory)) + 1} topics created" in started.stdout
    assert "running" in cli("status").stdout
    assert cli("stop").stdout.strip() == "stopped"
    stopped = cli("status")
    assert stopped.returncode == 1 and "stopped" in stopped.stdout
