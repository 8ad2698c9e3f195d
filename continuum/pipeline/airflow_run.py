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
import json
import os
import sys
from datetime import UTC, datetime
from typing import IO, Any

from airflow.listeners import hookimpl

from continuum.pipeline.airflow_home import DAG_ID, WAREHOUSE_POOL, WAREHOUSE_POOL_DESCRIPTION


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


def set_up_database() -> None:
    """Create or migrate the metadata database, and the warehouse pool (both idempotent)."""
    from airflow.models.pool import Pool
    from airflow.utils import db

    db.upgradedb()  # what `airflow db migrate` does: creates a new database, migrates an older one
    Pool.create_or_update_pool(WAREHOUSE_POOL, 1, WAREHOUSE_POOL_DESCRIPTION, include_deferred=False)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m continuum.pipeline.airflow_run")
    parser.add_argument("--conf", default="{}", help='the run\'s conf (JSON), e.g. {"as_of": "..."}')
    parser.add_argument("--report-fd", type=int, required=True, help="file descriptor for the JSON lines")
    args = parser.parse_args(argv)
    reporter = Reporter(os.fdopen(args.report_fd, "w", buffering=1))

    set_up_database()
    reporter.send("marked_failed", runs=fail_dead_runs())
    dag = load_dag()
    from airflow.sdk.listener import get_listener_manager

    get_listener_manager().add_listener(TaskListener(reporter))
    dag_run = dag.test(run_conf=json.loads(args.conf))
    reporter.send("result", **run_outcome(dag_run.run_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
