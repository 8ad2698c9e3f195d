"""Freshness: the lander service tells Airflow of committed batches, and the DAG runs on it.

- The notifier (streams/landing/notify.py) debounces: many commits in a burst make one or two asset
  events whose counts add up to the commits; an api-server that is down never blocks `committed`.
  These run against a small HTTP server that answers as Airflow's api-server does (token, asset lookup,
  event), recording what it was sent.
- End to end (slow): with the embedded broker, the lander service (`continuum land`) and Airflow
  (`continuum airflow`: api-server, scheduler, dag-processor) running, one referral a provider sends
  shows up in the published provider view, through an asset-triggered DAG run, without anyone running
  `continuum run`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import httpx
import pytest

from common.settings import PROJECT_ROOT, Settings
from streams.landing.notify import LANDED_BATCHES, BatchNotifier
from tests.conftest import free_port

ASSET_ID = 7


class FakeAirflow(BaseHTTPRequestHandler):
    """The three calls of Airflow's api-server the notifier makes; every request is recorded."""

    requests: list[tuple[str, str, dict]] = []

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def _reply(self, body: dict, status: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(("POST", self.path, body))
        if self.path == "/auth/token":
            self._reply({"access_token": "jwt"}, 201 if body["password"] == "s3cret" else 401)
        elif self.headers.get("Authorization") != "Bearer jwt":
            self._reply({}, 401)
        else:
            self._reply({"id": 1, "asset_id": body["asset_id"]})

    def do_GET(self) -> None:
        self.requests.append(("GET", self.path, {}))
        self._reply({"assets": [{"id": ASSET_ID, "name": LANDED_BATCHES}], "total_entries": 1})


@pytest.fixture
def fake_airflow(tmp_path: Path) -> Iterator[Settings]:
    FakeAirflow.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeAirflow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (tmp_path / "pw").write_text(json.dumps({"lander": "s3cret"}))
    try:
        yield Settings(
            home=tmp_path / "home",
            land_notify_airflow_url=f"http://127.0.0.1:{server.server_address[1]}",
            land_notify_username="lander",
            land_notify_password_file=tmp_path / "pw",
            land_notify_min_seconds=1.0,
        )
    finally:
        server.shutdown()


def test_no_url_no_notifier(tmp_path: Path) -> None:
    assert BatchNotifier.from_settings(Settings(home=tmp_path)) is None


def test_a_burst_of_commits_makes_few_events_that_count_every_batch(fake_airflow: Settings) -> None:
    notifier = BatchNotifier.from_settings(fake_airflow, worker="lander-0")
    for _ in range(50):
        notifier.committed(events=3)
    time.sleep(0.3)
    for _ in range(10):
        notifier.committed(events=1)
    notifier.close()
    events = [body for method, path, body in FakeAirflow.requests if path == "/api/v2/assets/events"]
    # 60 commits within the 1 s debounce: the first post, then one more for what came during it.
    assert 1 <= len(events) <= 2, events
    assert sum(e["extra"]["batches"] for e in events) == 60
    assert sum(e["extra"]["events"] for e in events) == 50 * 3 + 10
    assert all(e["asset_id"] == ASSET_ID and e["extra"]["worker"] == "lander-0" for e in events)
    tokens = [p for _, p, _ in FakeAirflow.requests if p == "/auth/token"]
    assert len(tokens) == 1  # the token is kept


def test_a_refused_password_is_counted_and_retried_not_raised(fake_airflow: Settings, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("wrong")
    notifier = BatchNotifier.from_settings(fake_airflow)
    notifier.committed(events=5)
    time.sleep(1.5)
    notifier.close()
    assert notifier.sent == 0 and notifier.failures >= 1
    assert not [p for _, p, _ in FakeAirflow.requests if p == "/api/v2/assets/events"]


def test_an_unreachable_api_server_never_slows_committing(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, land_notify_airflow_url=f"http://127.0.0.1:{free_port()}")
    notifier = BatchNotifier.from_settings(settings)
    started = time.monotonic()
    for _ in range(1000):
        notifier.committed(events=10)
    assert time.monotonic() - started < 0.5
    time.sleep(0.5)
    notifier.close()
    assert notifier.sent == 0 and notifier.failures >= 1


# -- end to end ---------------------------------------------------------------------------------------

#: Measured: 52 s and 92 s from send to the published row, one referral, on 2 cores other work shares
#: (load average about 7): the lander's batch (5 s), the debounce, then one asset-triggered run, most of
#: it dbt's full build. Runs of 150 s were seen at load 10: the bound leaves room for one such run.
FRESH_WITHIN_S = 240


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "continuum.cli", *args],
            env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group, then SIGKILL to whatever of it is left (the leader may exit first)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(20)
        time.sleep(2)
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def wait_until(check, timeout_s: float, processes: dict[str, subprocess.Popen], logs: Path) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        for name, process in processes.items():
            if process.poll() is not None:
                pytest.fail(
                    f"{name} exited {process.returncode}: {(logs / f'{name}.log').read_text()[-3000:]}"
                )
        with contextlib.suppress(Exception):
            if check():
                return time.monotonic() - started
        time.sleep(1)
    pytest.fail(f"not within {timeout_s}s; logs in {logs}")


def published_referral(settings: Settings, referral_id: str) -> bool:
    with duckdb.connect(str(settings.published_warehouse_path), read_only=True) as db:
        rows = db.execute(
            "select direction from provider_views.provider_referral_handoffs where referral_id = ?",
            [referral_id],
        ).fetchall()
    return sorted(r[0] for r in rows) == ["received", "sent"]


def dag_runs(settings: Settings) -> list[tuple[str, str]]:
    db_path = settings.state_dir / "airflow" / "airflow.db"
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
        return db.execute(
            "select run_type, state from dag_run where dag_id = 'continuum_pipeline'"
        ).fetchall()


def idle_after_a_run(settings: Settings) -> bool:
    states = [state for _, state in dag_runs(settings)]
    return bool(states) and all(state in ("success", "failed") for state in states)


@pytest.mark.slow
@pytest.mark.slowest  # make test-all
def test_a_referral_reaches_the_published_provider_view_without_continuum_run(
    settings: Settings, env: dict[str, str], tmp_path: Path
) -> None:
    from streams.producer import ProviderClient

    port = free_port()
    env = {
        **env,
        "PYTHONPATH": str(PROJECT_ROOT),
        "CONTINUUM_LAND_NOTIFY_AIRFLOW_URL": f"http://127.0.0.1:{port}",
    }
    processes: dict[str, subprocess.Popen] = {}
    try:
        processes["lander"] = start(["land"], env, tmp_path / "lander.log")
        lock = settings.landing_dir / ".lander.lock"
        wait_until(lambda: lock.exists(), 60, processes, tmp_path)
        processes["airflow"] = start(["airflow", "--port", str(port)], env, tmp_path / "airflow.log")
        health = f"http://127.0.0.1:{port}/api/v2/monitor/health"
        wait_until(lambda: httpx.get(health, timeout=3).status_code == 200, 300, processes, tmp_path)
        # The scheduler starts with a run for the clock's latest tick (catchup=False): let it finish, so
        # that what publishes the referral can only be a later run.
        wait_until(lambda: idle_after_a_run(settings), 400, processes, tmp_path)

        referral_id = str(uuid.uuid4())
        with ProviderClient("okc-street-outreach", settings) as client:
            client.send(
                "referral.requested",
                subject=uuid.uuid4().hex * 2,
                data={
                    "referral_id": referral_id,
                    "to_provider_id": "okc-trauma-hvip",
                    "service_type": "case_management",
                    "priority": "routine",
                    "contact_prohibited": False,
                },
            )
        seconds = wait_until(
            lambda: published_referral(settings, referral_id), FRESH_WITHIN_S, processes, tmp_path
        )
        print(f"a referral in the published provider view {seconds:.0f}s after it was sent")
        # What published it is a run the lander's asset event triggered (the clock's next tick is later).
        runs = dag_runs(settings)
        assert ("asset_triggered", "success") in runs or ("asset_triggered", "running") in runs, runs
    finally:
        for process in processes.values():
            stop(process)
