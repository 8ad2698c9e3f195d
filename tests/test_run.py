"""`continuum run` tells the truth and leaves nothing behind: a failed task makes it say `failed` and exit
non-zero (Airflow's DagRun says `failed` too); SIGTERM stops every process it started (the Airflow runner
and the lander the DAG started) and the next run marks the killed one failed; a landing lock held by a
bounded lander fails the land step naming its pid, while a dead holder's lock file is not held at all.
Also: the dbt step reads run_results.json and names the failed nodes, and `as_of` has one parser.

The end-to-end tests run the real DAG through Airflow (about a minute each)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psutil
import pytest

from common.settings import Settings
from common.times import parse_as_of
from continuum.pipeline import dbt, land, warehouse
from continuum.pipeline.env import continuum_env
from infra import embedded_broker

AS_OF = "2026-06-01T00:00:00+00:00"

HOLD_LOCK = """
import sys, time
from pathlib import Path
from streams.landing.workers import landing_lock
with landing_lock(Path(sys.argv[1]), 5, sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def home_settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


@contextlib.contextmanager
def lock_holder_process(settings: Settings, mode: str) -> Iterator[subprocess.Popen]:
    """A real process holding the landing lock as a lander of `mode` would."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(settings.landing_dir), mode], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "held"
        yield process
    finally:
        process.kill()
        process.wait()


def start_run(settings: Settings, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "continuum.cli", "run", "--as-of", AS_OF, *args],
        env=continuum_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def dag_runs(settings: Settings) -> dict[str, str]:
    path = settings.state_dir / "airflow" / "airflow.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return dict(db.execute("select run_id, state from dag_run").fetchall())


def task_states(settings: Settings, run_id: str) -> dict[str, str]:
    path = settings.state_dir / "airflow" / "airflow.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute("select task_id, state from task_instance where run_id = ?", (run_id,)).fetchall()
    return dict(rows)


def processes_of(home: Path, spare: set[int]) -> list[str]:
    """Live processes (not zombies, not in `spare`) whose command line or environment names `home`."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "environ", "status"]):
        info = process.info
        if info["pid"] in spare or info["status"] == psutil.STATUS_ZOMBIE:
            continue
        environ = info["environ"] or {}
        mentions = str(home) in " ".join(info["cmdline"] or ()) or any(
            str(home) in environ.get(name, "") for name in ("CONTINUUM_HOME", "AIRFLOW_HOME")
        )
        if mentions:
            found.append(f"{info['pid']}: {' '.join(info['cmdline'] or ())[:200]}")
    return found


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


# --- as_of ---------------------------------------------------------------------------------------------


def test_as_of_has_one_parser_and_it_says_what_was_wrong() -> None:
    assert parse_as_of("2026-06-30T00:00:00Z") == datetime(2026, 6, 30, tzinfo=UTC)
    assert parse_as_of("2026-06-30T02:30:00+02:00") == datetime(2026, 6, 30, 0, 30, tzinfo=UTC)
    assert parse_as_of("2026-06-30") == datetime(2026, 6, 30, tzinfo=UTC)  # no offset: UTC
    now = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    assert parse_as_of(None, now=now) == now and parse_as_of("", now=now) == now
    with pytest.raises(ValueError, match="'yesterday' is not an ISO 8601 time"):
        parse_as_of("yesterday")


# --- the runner's set-up ------------------------------------------------------------------------------

RUNNER_SET_UP = """
import json, sys, time
from pathlib import Path
import airflow.settings
import httpx
from airflow.sdk.execution_time.supervisor import in_process_api_server
from continuum.pipeline import airflow_run

home = Path(sys.argv[1])
seen = {"fresh": airflow_run.database_is_current()}
airflow_run.set_up_database()
seen["after set-up"] = airflow_run.database_is_current()
(home / "airflow.db").unlink()  # a replaced database: its revision is not the stamp's any more
airflow.settings.engine.dispose()  # as a new runner would: no connection to the unlinked file
seen["database replaced"] = airflow_run.database_is_current()
airflow_run.set_up_database()
seen["set up again"] = airflow_run.database_is_current()

def answers():
    api = in_process_api_server()
    client = httpx.Client(transport=api.transport, base_url="http://in-process.invalid./")
    ti = "00000000-0000-0000-0000-000000000001"
    version = {"airflow-api-version": "2026-06-30"}
    asked = [
        client.get("health"),
        client.get(f"task-instances/{ti}/previous-successful-dagrun"),
        client.get("variables/missing"),
        client.get("variables/missing", headers=version),
    ]
    return [[r.status_code, r.json()] for r in asked]

seen["served"] = airflow_run.serve_only_the_task_sdk_version()
seen["answers"] = answers()
seen["polls sooner"] = airflow_run.poll_sooner_in_dag_test()
started = time.monotonic()
time.sleep(0.3)  # not dag.test's: waits as long as it was asked to
seen["slept elsewhere"] = time.monotonic() - started
print(json.dumps(seen))
"""


def test_the_runner_migrates_only_a_database_it_did_not_migrate_and_serves_one_api_version(
    home_settings: Settings,
) -> None:
    """The runner skips `airflow db migrate` only when its stamp names this Airflow and the database's own
    revision, and the in-process Execution API it trims to the task SDK's version answers requests (the
    end-to-end runs below go through it for every task); dag.test's own waits are shortened and no other."""
    from continuum.pipeline.airflow_home import airflow_env, airflow_home

    home = airflow_home(home_settings)
    home.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-c", RUNNER_SET_UP, str(home)],
        env=airflow_env(home_settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = orjson.loads(done.stdout.strip().splitlines()[-1])
    assert {k: seen[k] for k in ("fresh", "after set-up", "database replaced", "set up again")} == {
        "fresh": False,
        "after set-up": True,
        "database replaced": False,
        "set up again": True,
    }
    assert seen["served"] is True  # False: Airflow's versions changed, and every run pays for all of them
    health, previous, missing, missing_versioned = seen["answers"]
    assert health == [200, {"status": "healthy"}]
    assert previous[0] == 200 and set(previous[1]) >= {"start_date", "end_date"}
    assert missing[0] == 404 and "Variable with key 'missing' not found" in str(missing[1])
    assert missing_versioned == missing
    assert seen["polls sooner"] is True  # False: dag.test no longer sleeps itself, and this needs a look
    assert seen["slept elsewhere"] >= 0.3


# --- the landing lock ----------------------------------------------------------------------------------


def test_the_lock_names_its_holder_and_a_service_is_left_to_land(home_settings: Settings) -> None:
    with lock_holder_process(home_settings, "service") as holder:
        found = land.lock_holder(home_settings)
        assert found is not None and (found.mode, found.pid) == ("service", holder.pid)
        assert land.service_is_landing(home_settings) is True


def test_a_bounded_lander_holding_the_lock_fails_the_land_step_naming_its_pid(
    home_settings: Settings,
) -> None:
    with (
        lock_holder_process(home_settings, "bounded") as holder,
        pytest.raises(
            land.LandingBlocked, match=rf"a bounded lander \(pid {holder.pid}\b.*kill {holder.pid}"
        ),
    ):
        land.service_is_landing(home_settings)


def test_a_dead_holders_lock_file_is_not_held(home_settings: Settings) -> None:
    with lock_holder_process(home_settings, "service") as holder:
        pass  # killed on leaving: SIGKILL, no clean-up of its own
    record = orjson.loads((home_settings.landing_dir / ".lander.lock").read_bytes())
    assert record["pid"] == holder.pid and record["mode"] == "service"  # the file still names it
    assert land.lock_holder(home_settings) is None
    assert land.service_is_landing(home_settings) is False
    # A record naming a live process (this one) is not trusted either when nobody holds the flock.
    (home_settings.landing_dir / ".lander.lock").write_bytes(
        orjson.dumps({"pid": os.getpid(), "host": os.uname().nodename, "mode": "bounded", "started_at": ""})
    )
    assert land.lock_holder(home_settings) is None


# --- dbt -----------------------------------------------------------------------------------------------


def test_a_failed_dbt_build_names_its_failed_nodes_and_keeps_run_results(
    home_settings: Settings, tmp_path: Path
):
    project = tmp_path / "dbt_project"
    shutil.copytree(dbt.DBT_PROJECT_DIR, project)
    broken = project / "models" / "staging" / "stg_events__consent_granted.sql"
    broken.write_text("select no_such_column from {{ source('raw', 'events') }}\n")
    with warehouse.connect(home_settings):
        pass  # the raw tables dbt reads
    as_of = parse_as_of(AS_OF)
    with pytest.raises(dbt.DbtBuildFailed) as failed:
        dbt.dbt_build(home_settings, as_of, "--select", "stg_events__consent_granted", project_dir=project)
    message = str(failed.value)
    kept = orjson.loads(dbt.kept_run_results_path(home_settings).read_bytes())["results"]
    statuses = {r["unique_id"]: r["status"] for r in kept}
    # The model errs; `build` then skips its tests (a dozen, from the YAML) instead of running them.
    assert statuses.pop("model.continuum.stg_events__consent_granted") == "error"
    tests = {status for node, status in statuses.items() if node.startswith("test.")}
    assert tests == {"skipped"}
    assert f"1 of {len(kept)} nodes failed: model.continuum.stg_events__consent_granted (error" in message
    assert "no_such_column" in message or "Runtime Error" in message


# --- continuum run, end to end -------------------------------------------------------------------------


@pytest.mark.slow
def test_a_failed_task_makes_the_run_say_failed_and_exit_non_zero(home_settings: Settings) -> None:
    # No broker is needed: the land step fails before it would reach one, and the rest runs on no data.
    with lock_holder_process(home_settings, "bounded") as holder:
        run = start_run(home_settings)
        output, _ = run.communicate(timeout=900)
    assert run.returncode == 1, output
    run_id = next(
        line.split()[1].rstrip(":") for line in output.splitlines() if line.startswith("continuum_")
    )
    assert f"continuum_pipeline {run_id}: failed" in output
    assert f"pid {holder.pid}" in output and "failed: land after 1 tries" in output
    assert dag_runs(home_settings) == {run_id: "failed"}
    states = task_states(home_settings, run_id)
    assert states["land"] == "failed" and states["dbt_build"] == "success", states  # the rest ran on


@pytest.mark.slow
def test_sigterm_stops_everything_and_the_next_run_marks_the_killed_one_failed(own_broker: Settings) -> None:
    settings = own_broker
    broker_pid = embedded_broker.status(settings).pid
    subprocess.run(
        [sys.executable, "-m", "continuum.cli", "topics"],
        env=continuum_env(settings),
        check=True,
        timeout=120,
    )
    os.kill(broker_pid, signal.SIGSTOP)  # the DAG's lander will hang on it, holding the landing lock
    try:
        run = start_run(settings)

        def lander_of_the_run() -> bool:
            holder = land.lock_holder(settings)
            run_processes = {p.pid for p in psutil.Process(run.pid).children(recursive=True)}
            return holder is not None and holder.mode == "bounded" and holder.pid in run_processes

        wait_for(lander_of_the_run, 120, "the DAG's lander to hold the landing lock")
        time.sleep(1)
        run.send_signal(signal.SIGTERM)
        output, _ = run.communicate(timeout=60)
    finally:
        os.kill(broker_pid, signal.SIGCONT)
    assert run.returncode == 128 + signal.SIGTERM, output
    assert "stopped by SIGTERM" in output
    spare = {os.getpid(), broker_pid}
    wait_for(lambda: not processes_of(settings.state_dir, spare), 10, "no process of the run left")
    assert land.lock_holder(settings) is None
    (killed_run,) = dag_runs(settings)
    assert dag_runs(settings) == {killed_run: "running"}  # what the killed run left in Airflow's DB

    again = start_run(settings)
    output, _ = again.communicate(timeout=900)
    assert f"marked failed (left `running` by a run that died): {killed_run}" in output, output
    assert again.returncode == 0, output
    runs = dag_runs(settings)
    assert runs.pop(killed_run) == "failed"
    assert list(runs.values()) == ["success"]
    assert task_states(settings, killed_run)["land"] == "failed"


REPORTING_RUNNER = """
import os, sys
with os.fdopen(int(sys.argv[sys.argv.index("--report-fd") + 1]), "w") as reports:
    reports.write('{"event": "result", "run_id": "r1", "state": "success", "tasks": []}\\n')
"""


def test_on_start_is_called_once_the_runner_has_started_and_before_its_reports(
    home_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`continuum run` imports its summary's modules on a thread from `on_start`: a thread alive at the
    runner's fork would leave its preexec_fn (Python, in the child) the thread's import locks."""
    from continuum.pipeline import airflow_home as af

    started, calls = [], []
    real_popen = subprocess.Popen

    def popen(*args, **kwargs):
        started.append(real_popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(
        af,
        "runner_command",
        lambda as_of, fd: [sys.executable, "-c", REPORTING_RUNNER, "--report-fd", str(fd)],
    )
    monkeypatch.setattr(af.subprocess, "Popen", popen)
    outcome = af.run_dag(
        home_settings,
        None,
        on_event=lambda event: calls.append(("event", event["event"])),
        on_start=lambda: calls.append(("started", len(started))),
    )
    assert calls == [("started", 1), ("event", "result")]
    assert (outcome.run_id, outcome.state) == ("r1", "success")
