"""The lander and the report app start from the very commands and environment docker-compose.yml gives
them, and answer their own healthchecks.

Only what Docker would supply differs: CONTINUUM_HOME is a temporary directory instead of the named
volume, the broker is the embedded one (PLAINTEXT: the SCRAM path is tests/test_deploy_credentials.py),
and the report app's port is a free one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from common.settings import Settings
from continuum.deploy import compose
from tests.conftest import free_port

SERVICES = compose.load({**compose.read_env_file(), "KAFKA_CLUSTER_ID": "test"})["services"]
BIN = Path(sys.executable).parent


def service_env(name: str, home: Path, broker: Settings | None = None, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUUM_")}
    env.update(compose.environment(SERVICES[name]))
    env["CONTINUUM_HOME"] = str(home)
    if broker is not None:
        for key in ("CONTINUUM_KAFKA_USERNAME", "CONTINUUM_KAFKA_PASSWORD_FILE"):
            env.pop(key, None)
        env["CONTINUUM_KAFKA_SECURITY_PROTOCOL"] = "PLAINTEXT"
        env["CONTINUUM_KAFKA_BOOTSTRAP"] = broker.bootstrap_servers
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    return {**env, **overrides}


def executable(command: list[str]) -> list[str]:
    """The compose command with its program resolved in this venv (the image has it on PATH)."""
    return [str(BIN / command[0]), *command[1:]]


def healthcheck(name: str, env: dict[str, str], **replace: str) -> subprocess.CompletedProcess:
    test = [str(word) for word in SERVICES[name]["healthcheck"]["test"]]
    assert test[0] == "CMD"
    command = [replace.get(word, word) for word in test[1:]]
    for old, new in replace.items():
        command = [word.replace(old, new) for word in command]
    return subprocess.run(executable(command), env=env, capture_output=True, text=True, timeout=60)


def wait_for(process: subprocess.Popen, predicate, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited with {process.returncode}"
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"not ready within {timeout_s}s")


def stop(process: subprocess.Popen, grace_s: float) -> int:
    process.send_signal(signal.SIGTERM)  # what `docker compose stop` sends first
    try:
        return process.wait(timeout=grace_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_lander_service_starts_lands_and_stops_within_its_grace_period(
    own_broker: Settings, tmp_path: Path
):
    home, log_path = tmp_path / "home", tmp_path / "lander.log"
    env = service_env("lander", home, own_broker)
    subprocess.run([str(BIN / "continuum"), "topics"], env=env, check=True, capture_output=True, timeout=60)
    with open(log_path, "w") as log:
        lander = subprocess.Popen(
            executable(compose.command(SERVICES["lander"])), env=env, stdout=log, stderr=log
        )
    try:
        wait_for(lander, lambda: "landing" in log_path.read_text(), timeout_s=60)
        health = healthcheck("lander", env)
        assert health.returncode == 0, health.stdout + health.stderr
        grace = float(str(SERVICES["lander"]["stop_grace_period"]).removesuffix("s"))
        assert stop(lander, grace) == 0, log_path.read_text()[-3000:]
    finally:
        if lander.poll() is None:
            lander.kill()


def test_the_dags_land_step_sees_the_lander_service(own_broker: Settings, tmp_path: Path):
    # In compose the lander and Airflow's tasks are separate containers sharing the continuum-home
    # volume: the DAG leaves landing to the service when it finds the landing lock held.
    from continuum.pipeline.land import lander_is_running

    home, log_path = tmp_path / "home", tmp_path / "lander.log"
    env = service_env("lander", home, own_broker)
    subprocess.run([str(BIN / "continuum"), "topics"], env=env, check=True, capture_output=True, timeout=60)
    with open(log_path, "w") as log:
        lander = subprocess.Popen(
            executable(compose.command(SERVICES["lander"])), env=env, stdout=log, stderr=log
        )
    try:
        wait_for(lander, lambda: "landing" in log_path.read_text(), timeout_s=60)
        assert lander_is_running(Settings(home=home))
    finally:
        stop(lander, 30)
    assert not lander_is_running(Settings(home=home))


def test_the_report_app_starts_and_answers_its_healthcheck(broker: Settings, tmp_path: Path):
    port = str(free_port())
    env = service_env("web", tmp_path / "home", broker, CONTINUUM_WEB_PORT=port)
    with open(tmp_path / "web.log", "w") as log:
        web = subprocess.Popen(executable(compose.command(SERVICES["web"])), env=env, stdout=log, stderr=log)
    try:
        answers = lambda: healthcheck("web", env, **{":8000/": f":{port}/"}).returncode == 0  # noqa: E731
        wait_for(web, answers, timeout_s=60)
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it: -SIGTERM is a clean stop.
        assert stop(web, 10) in (0, -signal.SIGTERM), (tmp_path / "web.log").read_text()[-3000:]
    finally:
        if web.poll() is None:
            web.kill()
