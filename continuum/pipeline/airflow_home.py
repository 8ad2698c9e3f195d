"""Airflow for Continuum, with no server to install: AIRFLOW_HOME is CONTINUUM_HOME/airflow, the
metadata database a SQLite file in it, and the DAGs folder the repository's `dags/`.

Everything is set in the environment of the Airflow processes this module starts, from Settings;
nothing is written to airflow.cfg by hand.

`run_dag` runs the DAG once through Airflow's Python API (`dag.test()`, in a child process:
continuum/pipeline/airflow_run.py) and returns the run's state as the DagRun and its task instances hold
it. The child leads a process group of its own: whatever happens to `continuum run` (an error, Ctrl-C,
SIGTERM), the group is stopped before `run_dag` returns, so no Airflow runner, lander or dbt outlives it;
and the child dies with `continuum run` even on `kill -9` (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.settings import PROJECT_ROOT, Settings
from continuum.pipeline.env import continuum_env, die_with_parent

DAG_ID = "continuum_pipeline"
WAREHOUSE_POOL = "continuum_warehouse"  # the same name as in dags/continuum_pipeline.py
WAREHOUSE_POOL_DESCRIPTION = "tasks that open the warehouse for writing"
WATCHER_TASK = "watcher"  # fails the run when any other task failed (dags/continuum_pipeline.py)
RUN_LOCK_NAME = "continuum-run.lock"
#: After SIGTERM, how long the run's processes get to stop (a lander finishes its batch) before SIGKILL.
STOP_GRACE_S = 5.0


class AirflowCommandFailed(RuntimeError):
    """An `airflow` command exited with an error; the message holds its output."""


class AnotherRunActive(RuntimeError):
    """A `continuum run` is already running for this CONTINUUM_HOME."""


class RunStopped(Exception):
    """`continuum run` was asked to stop (SIGTERM, SIGINT); everything it started has been stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


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
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": settings.airflow_database_url
        or f"sqlite:///{home / 'airflow.db'}",
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
    """Create or migrate the metadata database and the warehouse pool (both idempotent), for
    `continuum airflow`; `continuum run` does the same through the Python API (airflow_run.py)."""
    airflow_home(settings).mkdir(parents=True, exist_ok=True)
    run_airflow(settings, "db", "migrate")
    run_airflow(settings, "pools", "set", WAREHOUSE_POOL, "1", WAREHOUSE_POOL_DESCRIPTION)
    if not settings.airflow_database_url:
        use_write_ahead_log(airflow_home(settings) / "airflow.db")


#: How long a process of `continuum airflow` waits for SQLite's write lock before it fails (pysqlite's
#: default is 5 s). Four processes (api-server, scheduler, dag-processor, triggerer) and every task's
#: calls share one SQLite file; under load a write waited longer than 5 s, a task's XCom push then failed
#: with "database is locked" on the api-server and the run stalled (bench/freshness.py, 2 busy cores).
SQLITE_BUSY_TIMEOUT_S = 60


def use_write_ahead_log(database: Path) -> None:
    """SQLite's WAL journal (kept in the file once set): readers no longer wait for a writer, nor it
    for them, so the scheduler's and the api-server's reads stop holding up the other's writes."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(database, timeout=SQLITE_BUSY_TIMEOUT_S)) as db:
        db.execute("PRAGMA journal_mode=WAL")


def service_env(settings: Settings, port: int) -> dict[str, str]:
    """The environment of `continuum airflow`'s processes: the api-server on `port`, tasks told to reach
    its execution API there (Airflow's default assumes 8080), a patient SQLite."""
    env = {
        **airflow_env(settings),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
    }
    if not settings.airflow_database_url:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] += f"?timeout={SQLITE_BUSY_TIMEOUT_S}"
    return env


@dataclass(frozen=True)
class TaskState:
    """One task instance as the metadata database holds it at the end of the run."""

    task_id: str
    map_index: int
    state: str
    try_number: int
    start: datetime | None
    end: datetime | None

    @classmethod
    def from_report(cls, row: dict[str, Any]) -> TaskState:
        return cls(
            row["task_id"],
            int(row["map_index"]),
            row["state"],
            int(row["try_number"] or 0),
            _time(row["start_date"]),
            _time(row["end_date"]),
        )


@dataclass
class RunOutcome:
    """The run's state as Airflow recorded it (`state` is "unknown" when the runner died first)."""

    run_id: str | None
    state: str
    tasks: list[TaskState] = field(default_factory=list)
    marked_failed: list[str] = field(default_factory=list)
    runner_exit: int | None = None
    log_path: Path | None = None

    @property
    def succeeded(self) -> bool:
        return self.state == "success"

    def failed_tasks(self) -> list[TaskState]:
        return [t for t in self.tasks if t.state in ("failed", "upstream_failed")]


@contextlib.contextmanager
def run_lock(settings: Settings) -> Iterator[None]:
    """One `continuum run` per CONTINUUM_HOME: what lets the next one mark a `running` run failed."""
    home = airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / RUN_LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AnotherRunActive(
                f"another `continuum run` holds {home / RUN_LOCK_NAME}: wait for it to finish"
            ) from None
        yield
    finally:
        os.close(fd)


def runner_command(as_of: datetime | None, report_fd: int) -> list[str]:
    conf = json.dumps({"as_of": as_of.isoformat()} if as_of else {})
    module = "continuum.pipeline.airflow_run"
    return [sys.executable, "-m", module, "--conf", conf, "--report-fd", str(report_fd)]


def run_dag(
    settings: Settings,
    as_of: datetime | None,
    on_event: Callable[[dict[str, Any]], None] = lambda event: None,
    airflow_log: bool = False,
    on_start: Callable[[], None] = lambda: None,
) -> RunOutcome:
    """Run the DAG once; `on_event` gets the runner's reports as they come (airflow_run.py), `on_start`
    is called once the runner has started (this process only waits for it from then on). Airflow's own
    output goes to a log file under AIRFLOW_HOME/logs/continuum-run (or here, with `airflow_log`).
    Raises RunStopped on SIGTERM/SIGINT once every process of the run is stopped."""
    log_dir = airflow_home(settings) / "logs" / "continuum-run"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{datetime.now(UTC):%Y%m%dT%H%M%S}.log"
    with run_lock(settings), open(log_path, "w") as log:
        reports: list[dict[str, Any]] = []
        read_fd, write_fd = os.pipe()
        try:
            runner = subprocess.Popen(
                runner_command(as_of, write_fd),
                env=airflow_env(settings),
                stdout=None if airflow_log else log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                start_new_session=True,  # its own process group: stopped as one, below
                preexec_fn=die_with_parent,
            )
        finally:
            os.close(write_fd)  # the runner has its copy: the pipe ends when the runner does
        try:
            on_start()
            with os.fdopen(read_fd) as lines, _stop_signals_raise():
                for line in lines:
                    reports.append(json.loads(line))
                    on_event(reports[-1])
                runner.wait()
        finally:
            stop_process_group(runner)
    return _outcome(reports, runner.returncode, log_path)


@contextlib.contextmanager
def _stop_signals_raise() -> Iterator[None]:
    def stop(signum: int, _frame: object) -> None:
        raise RunStopped(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stop_process_group(leader: subprocess.Popen, grace_s: float = STOP_GRACE_S) -> None:
    """Stop every process of the group `leader` leads: SIGTERM (a lander finishes its batch), then
    SIGKILL after `grace_s` to whatever is left, including processes whose leader has already exited."""
    with contextlib.suppress(ProcessLookupError):
        if leader.poll() is None:
            os.killpg(leader.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                leader.wait(grace_s)
        os.killpg(leader.pid, signal.SIGKILL)
    leader.wait()


def _outcome(reports: list[dict[str, Any]], runner_exit: int, log_path: Path) -> RunOutcome:
    marked = [run for r in reports if r["event"] == "marked_failed" for run in r["runs"]]
    result = next((r for r in reports if r["event"] == "result"), None)
    if result is None:
        return RunOutcome(None, "unknown", [], marked, runner_exit, log_path)
    tasks = [TaskState.from_report(row) for row in result["tasks"]]
    return RunOutcome(result["run_id"], result["state"], tasks, marked, runner_exit, log_path)


@dataclass(frozen=True)
class TaskTiming:
    task_id: str
    instances: int
    states: tuple[str, ...]
    seconds: float  # from the first instance's start to the last one's end
    busy_seconds: float  # the instances' durations added up
    started: datetime | None


def task_timings(tasks: list[TaskState]) -> list[TaskTiming]:
    by_task: dict[str, list[TaskState]] = {}
    for task in tasks:
        by_task.setdefault(task.task_id, []).append(task)
    timings = [_timing(task_id, instances) for task_id, instances in by_task.items()]
    return sorted(timings, key=lambda t: t.started or datetime.max.replace(tzinfo=UTC))


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _timing(task_id: str, instances: list[TaskState]) -> TaskTiming:
    spans = [(i.start, i.end) for i in instances if i.start and i.end]
    seconds = (max(e for _, e in spans) - min(s for s, _ in spans)).total_seconds() if spans else 0.0
    busy = sum((e - s).total_seconds() for s, e in spans)
    states = tuple(sorted({i.state for i in instances}))
    started = min((s for s, _ in spans), default=None)
    return TaskTiming(task_id, len(instances), states, seconds, busy, started)
