"""`python -m continuum.pipeline.airflow_run --conf JSON --report-fd N`: one run of the DAG through
Airflow's Python API, in a process of its own (started by `continuum run`, airflow_home.run_dag).

Airflow reads its configuration (AIRFLOW_HOME, the SQLite metadata DB, the DAGs folder) from the
environment when it is first imported, so it runs in a child whose environment is airflow_home.airflow_env;
the child is the leader of its own process group, so that `continuum run` can stop it and everything it
started (the lander, dbt) at once.

What it reports goes to file descriptor N as JSON lines (Airflow's own logging goes to stdout/stderr):
`{"event": "marked_failed", "runs": [...]}` for runs a killed `continuum run` left `running`,
`{"event": "task", ...}` as each task instance starts and ends (an Airflow listener), and at the end
`{"event": "result", ...}`: the DagRun's state and every task instance's, read from the DagRun itself.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from airflow.listeners import hookimpl

from continuum.pipeline import dbt_prestarted
from continuum.pipeline.airflow_home import DAG_ID, WAREHOUSE_POOL, WAREHOUSE_POOL_DESCRIPTION

log = logging.getLogger(__name__)


class Reporter:
    """JSON lines to `continuum run`, one per event, flushed at once."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def send(self, event: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, **fields}, default=str) + "\n")
        self.stream.flush()


class TaskListener:
    """An Airflow listener (airflow.listeners): tells `continuum run` as each task instance starts and
    ends, with the error of a failed one. Only for showing progress: the outcome is read from the DagRun."""

    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter

    def _send(self, task_instance: Any, state: str, error: object = None) -> None:
        self.reporter.send(
            "task",
            task_id=task_instance.task_id,
            map_index=getattr(task_instance, "map_index", -1),
            try_number=getattr(task_instance, "try_number", None),
            state=state,
            error=_first_line(error),
        )

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        self._send(task_instance, "running")

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        self._send(task_instance, "success")

    @hookimpl
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        self._send(task_instance, "skipped")

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: object) -> None:
        self._send(task_instance, "failed", error)


def _first_line(error: object) -> str | None:
    if error is None:
        return None
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


#: In AIRFLOW_HOME: the Airflow version that last migrated the metadata database, and the revision it left.
MIGRATED_STAMP = "continuum-db-migrated.json"


def set_up_database() -> None:
    """Create or migrate the metadata database unless this Airflow already did (database_is_current), and
    the warehouse pool (idempotent)."""
    from airflow.models.pool import Pool
    from airflow.utils import db

    if not database_is_current():
        db.upgradedb()  # what `airflow db migrate` does: creates a new database, migrates an older one
        record_migration()
    Pool.create_or_update_pool(WAREHOUSE_POOL, 1, WAREHOUSE_POOL_DESCRIPTION, include_deferred=False)


def database_is_current() -> bool:
    """Whether this Airflow version migrated the database last and its revision is still the one it left.

    `db.upgradedb()` on a database that is already current still loads every migration script and
    checks the tables: 1 to 3 s of each `continuum run` here. A stamp in AIRFLOW_HOME says which Airflow
    migrated it to which revision; the revision is read back from the database itself (one query), so a
    new or replaced database, or another Airflow version, is migrated as before."""
    stamp = _read_stamp()
    if stamp is None:
        return False
    from airflow import __version__

    return stamp.get("airflow") == __version__ and stamp.get("revision") == _database_revision()


def record_migration() -> None:
    from airflow import __version__

    stamp = {"airflow": __version__, "revision": _database_revision()}
    _stamp_path().write_text(json.dumps(stamp) + "\n")


def _stamp_path() -> Path:
    from airflow.configuration import AIRFLOW_HOME

    return Path(AIRFLOW_HOME) / MIGRATED_STAMP


def _read_stamp() -> dict[str, Any] | None:
    try:
        stamp = json.loads(_stamp_path().read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _database_revision() -> str | None:
    from airflow.utils.session import create_session
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with create_session() as session:
            return session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError:  # no such table: a database never migrated
        return None


def fail_dead_runs() -> list[str]:
    """Mark failed the runs of `continuum run` (dag.test) still `running`, and their unfinished task
    instances: only one `continuum run` runs per CONTINUUM_HOME (airflow_home.run_lock), so such a run's
    process died. Runs of a scheduler are the scheduler's to judge and are left alone."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, State, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType
    from sqlalchemy import select

    now = datetime.now(UTC)
    with create_session() as session:
        runs = session.scalars(
            select(DagRun).where(
                DagRun.dag_id == DAG_ID,
                DagRun.state == DagRunState.RUNNING,
                DagRun.triggered_by == DagRunTriggeredByType.TEST,
            )
        ).all()
        for run in runs:
            for ti in run.get_task_instances(session=session):
                if ti.state not in State.finished:
                    ti.state = TaskInstanceState.FAILED
                    ti.end_date = now
            run.set_state(DagRunState.FAILED)
            run.end_date = now
        return [run.run_id for run in runs]


def load_dag() -> Any:
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=conf.get("core", "dags_folder"))
    dag = bag.dags.get(DAG_ID)
    if dag is None:
        raise SystemExit(f"{DAG_ID} did not load from {conf.get('core', 'dags_folder')}: {bag.import_errors}")
    return dag


def run_outcome(run_id: str) -> dict[str, Any]:
    """The run's state and its task instances', read back from the metadata database."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = DagRun.find(dag_id=DAG_ID, run_id=run_id, session=session)[0]
        tis = run.get_task_instances(session=session)
        return {
            "run_id": run.run_id,
            "state": str(run.state),
            "tasks": [
                {
                    "task_id": ti.task_id,
                    "map_index": ti.map_index,
                    "state": str(ti.state) if ti.state else "none",
                    "try_number": ti.try_number,
                    "start_date": ti.start_date.isoformat() if ti.start_date else None,
                    "end_date": ti.end_date.isoformat() if ti.end_date else None,
                }
                for ti in tis
            ],
        }


def serve_only_the_task_sdk_version() -> bool:
    """Make the in-process Execution API (what dag.test's tasks talk to) route only the API version the
    task SDK speaks. Returns False, changing nothing, unless that version is the newest one Airflow has
    and Airflow's head version changes nothing, so that its routes are exactly the head routes.

    Why: on its first request the Execution API (a Cadwyn app) builds the routes and schemas of every API
    version it has ever had (nine in Airflow 3.3) so that old task SDKs can talk to it. In a process that
    only ever runs this Airflow's own task SDK in-process, that is never used, and it cost 4 to 12 s of
    every `continuum run`, inside the first task (land): about half of a run with nothing new."""
    from airflow.api_fastapi.execution_api.app import CadwynWithOpenAPICustomization
    from airflow.api_fastapi.execution_api.versions import bundle
    from airflow.sdk.api.datamodels._generated import API_VERSION
    from cadwyn.route_generation import _DELETED_ROUTE_TAG
    from fastapi.routing import APIRoute

    newest = bundle.versions[0].value if bundle.versions else None
    if str(newest) != API_VERSION or bundle.head_version.changes:
        log.info("the Execution API serves every version (task SDK %s, newest %s)", API_VERSION, newest)
        return False

    def initialize(app) -> None:
        head = app._latest_version_router
        router = type(head)(dependency_overrides_provider=app._dependency_overrides_provider)
        # Routes kept only for older versions are not part of the newest one (Cadwyn drops them too).
        router.routes = [
            route
            for route in head.routes
            if not (isinstance(route, APIRoute) and _DELETED_ROUTE_TAG in route.tags)
        ]
        app._add_versioned_routers(router, version=API_VERSION)
        app._cadwyn_initialized = True

    CadwynWithOpenAPICustomization._cadwyn_initialize = initialize
    return True


#: How soon dag.test() looks again for a task to run after a pass that found none (Airflow waits 1 s).
DAG_TEST_POLL_S = 0.05


def poll_sooner_in_dag_test() -> bool:
    """Make dag.test() look again for tasks to run after DAG_TEST_POLL_S instead of a second. Returns
    False, changing nothing, when dag.test no longer calls time.sleep itself.

    Why: a pass of dag.test's loop that finds no task to run sleeps a second. Here that happens in every
    run with nothing to validate: the pass that marks the empty `validate` map skipped has already judged
    `load` and `quarantine`, which only the next pass schedules; a second of a run with nothing new.
    Nothing runs beside dag.test for that sleep to wait on (no triggerer, no other worker: a deferred
    task runs inline), so looking sooner changes nothing else. Only dag.test's own sleeps are shortened:
    the tasks run in this process, and their sleeps stay as they are."""
    from airflow.sdk.definitions.dag import DAG

    loop = DAG.test.__code__
    if "sleep" not in loop.co_names:
        return False
    sleep = time.sleep

    def sleep_shorter_in_dag_test(seconds: float) -> None:
        sleep(min(seconds, DAG_TEST_POLL_S) if sys._getframe(1).f_code is loop else seconds)

    time.sleep = sleep_shorter_in_dag_test
    return True


#: What the validate task imports first (Great Expectations: 3 to 4 s of this machine's CPU).
VALIDATION_MODULE = "expectations.runner"


def import_validation_while_landing() -> None:
    """Import validation's modules in a thread while the land task's workers land new records.

    Here, unlike a deployment, every task of the run runs in this one process (dag.test), and the land
    task only waits for its workers (processes of their own); the validate task that follows, in a run
    with new records, imported GX first (3 s of a run after 1 % new events at 10 M). Only once the workers
    are started (a thread alive at the fork would leave them its locks) and only when the broker listed
    records to land: a run with nothing new validates nothing. The validate task's own import waits for
    this one (Python's import lock) if it has not finished."""
    from continuum.pipeline import land

    def start() -> None:
        threading.Thread(
            target=importlib.import_module, args=(VALIDATION_MODULE,), name="import-validation", daemon=True
        ).start()

    land.while_landing = start


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    """Say in Airflow's log of the run how long a phase of the runner took (docs/benchmarks.md)."""
    started = time.monotonic()
    yield
    log.info("continuum run: %s took %.2f s", name, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m continuum.pipeline.airflow_run")
    parser.add_argument("--conf", default="{}", help='the run\'s conf (JSON), e.g. {"as_of": "..."}')
    parser.add_argument("--report-fd", type=int, required=True, help="file descriptor for the JSON lines")
    args = parser.parse_args(argv)
    reporter = Reporter(os.fdopen(args.report_fd, "w", buffering=1))
    # dbt's imports (1.5 s of CPU) on the other core while Airflow sets up and the land task waits on the
    # broker: the dbt_build task of this run then finds dbt imported (continuum/pipeline/dbt_prestarted.py).
    dbt_prestarted.prestart()

    with phase("setting up the database"):
        set_up_database()
    with phase("marking dead runs failed"):
        reporter.send("marked_failed", runs=fail_dead_runs())
    with phase("loading the DAG"):
        dag = load_dag()
    from airflow.sdk.listener import get_listener_manager

    get_listener_manager().add_listener(TaskListener(reporter))
    serve_only_the_task_sdk_version()
    poll_sooner_in_dag_test()
    import_validation_while_landing()
    with phase("dag.test"):
        dag_run = dag.test(run_conf=json.loads(args.conf))
    dbt_prestarted.discard()  # a run whose build was skipped
    reporter.send("result", **run_outcome(dag_run.run_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
