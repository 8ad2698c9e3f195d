"""Airflow for Continuum, with no server to install: AIRFLOW_HOME is CONTINUUM_HOME/airflow, the
metadata database a SQLite file in it, and the DAGs folder the repository's `dags/`.

Everything is set in the environment of the Airflow processes this module starts, from Settings;
nothing is written to airflow.cfg by hand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from common.settings import PROJECT_ROOT, Settings
from continuum.pipeline.env import continuum_env

DAG_ID = "continuum_pipeline"
WAREHOUSE_POOL = "continuum_warehouse"  # the same name as in dags/continuum_pipeline.py


class AirflowCommandFailed(RuntimeError):
    """An `airflow` command exited with an error; the message holds its output."""


def airflow_home(settings: Settings) -> Path:
    return settings.state_dir / "airflow"


def airflow_env(settings: Settings) -> dict[str, str]:
    home = airflow_home(settings)
    env = continuum_env(settings)
    return {
        **env,
        # `airflow standalone` starts its components as `airflow …` from PATH: the venv's must come first.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "PYTHONPATH": str(PROJECT_ROOT),
    }


def airflow_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("airflow")), *args]


def run_airflow(settings: Settings, *args: str, timeout_s: float = 600) -> str:
    done = subprocess.run(
        airflow_command(*args), env=airflow_env(settings), capture_output=True, text=True, timeout=timeout_s
    )
    if done.returncode != 0:
        raise AirflowCommandFailed(f"airflow {' '.join(args)} exited with {done.returncode}:\n{done.stderr}")
    return done.stdout


def set_up(settings: Settings) -> None:
    """Create or migrate the metadata database and the warehouse pool (both idempotent)."""
    airflow_home(settings).mkdir(parents=True, exist_ok=True)
    run_airflow(settings, "db", "migrate")
    run_airflow(settings, "pools", "set", WAREHOUSE_POOL, "1", "tasks that open the warehouse for writing")


def dag_test_command(as_of: datetime | None) -> list[str]:
    conf = json.dumps({"as_of": as_of.isoformat()} if as_of else {})
    return airflow_command("dags", "test", DAG_ID, "--conf", conf)


def stream_dag_test(settings: Settings, as_of: datetime | None) -> Iterator[str]:
    """Run the DAG once with `airflow dags test` and yield its output lines as they come."""
    process = subprocess.Popen(
        dag_test_command(as_of),
        env=airflow_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert process.stdout is not None
    yield from process.stdout
    if process.wait() != 0:
        raise AirflowCommandFailed(f"airflow dags test exited with {process.returncode}")


@dataclass(frozen=True)
class TaskTiming:
    task_id: str
    instances: int
    states: tuple[str, ...]
    seconds: float  # from the first instance's start to the last one's end
    busy_seconds: float  # the instances' durations added up
    started: datetime | None


def _json_output(stdout: str) -> list[dict]:
    # Airflow may print warnings (e.g. "Could not import graphviz") before its JSON: take the JSON line.
    lines = [line for line in stdout.splitlines() if line.startswith("[")]
    return json.loads(lines[-1]) if lines else []


def latest_run(settings: Settings) -> dict:
    runs = _json_output(run_airflow(settings, "dags", "list-runs", DAG_ID, "-o", "json"))
    if not runs:
        raise AirflowCommandFailed(f"{DAG_ID} has no runs in {airflow_home(settings)}")
    return max(runs, key=lambda r: r.get("start_date") or "")


def task_timings(settings: Settings, run_id: str) -> list[TaskTiming]:
    rows = _json_output(run_airflow(settings, "tasks", "states-for-dag-run", DAG_ID, run_id, "-o", "json"))
    by_task: dict[str, list[dict]] = {}
    for row in rows:
        by_task.setdefault(row["task_id"], []).append(row)
    timings = [_timing(task_id, instances) for task_id, instances in by_task.items()]
    return sorted(timings, key=lambda t: t.started or datetime.max.replace(tzinfo=UTC))


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value and value != "None" else None


def _timing(task_id: str, instances: list[dict]) -> TaskTiming:
    spans = [(_time(i.get("start_date")), _time(i.get("end_date"))) for i in instances]
    spans = [(s, e) for s, e in spans if s and e]
    seconds = (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds() if spans else 0.0
    busy = sum((e - s).total_seconds() for s, e in spans)
    states = tuple(sorted({str(i["state"]) for i in instances}))
    started = min((s for s, _ in spans), default=None)
    return TaskTiming(task_id, len(instances), states, seconds, busy, started)
