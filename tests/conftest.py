"""Shared fixtures: a real broker for the session, and a fresh CONTINUUM_HOME per test.

By default the session starts its own embedded tansu broker on a free port. Set
CONTINUUM_KAFKA_BOOTSTRAP to run the same tests against any other Kafka (e.g. Apache Kafka).
Tests that need a broker of their own (to pause or restart it) use `own_broker`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.settings import Settings
from infra import embedded_broker

EXTERNAL_BOOTSTRAP = os.environ.get("CONTINUUM_KAFKA_BOOTSTRAP")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_settings(home: Path, port: int | None = None, **overrides) -> Settings:
    return Settings(
        home=home, broker_port=port or free_port(), kafka_bootstrap=EXTERNAL_BOOTSTRAP, **overrides
    )


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings of a broker shared by the session (embedded unless CONTINUUM_KAFKA_BOOTSTRAP is set)."""
    settings = make_settings(tmp_path_factory.mktemp("broker-home"))
    embedded_broker.start(settings)
    yield settings
    embedded_broker.stop(settings)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Settings]:
    """An embedded broker for this test alone (it may be paused, killed or restarted)."""
    if EXTERNAL_BOOTSTRAP:
        pytest.skip("needs an embedded broker it can pause and restart")
    settings = make_settings(tmp_path / "home")
    embedded_broker.start(settings)
    yield settings
    embedded_broker.stop(settings)


@pytest.fixture
def settings(broker: Settings, tmp_path: Path) -> Settings:
    """Settings for one test: the session's broker, and a CONTINUUM_HOME of its own."""
    return broker.model_copy(update={"home": tmp_path / "home"})


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    """The environment that points a `continuum` subprocess at `settings`."""
    return {
        **os.environ,
        "CONTINUUM_HOME": str(settings.home),
        "CONTINUUM_BROKER_PORT": str(settings.broker_port),
        **({"CONTINUUM_KAFKA_BOOTSTRAP": EXTERNAL_BOOTSTRAP} if EXTERNAL_BOOTSTRAP else {}),
    }
