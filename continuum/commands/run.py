"""continuum run [--as-of TIME]"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime

from common.settings import Settings

HELP = "run the continuum_pipeline DAG once through Airflow (embedded SQLite metadata DB), printing progress"

#: Lines of `airflow dags test` worth showing: task starts and ends, and the pipeline's own log lines.
_PROGRESS = re.compile(r"\[DAG TEST\] (starting|end task)|\[continuum\.|\[error|DagRun Finished")
_TIMESTAMPED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def as_of_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO 8601 time (e.g. 2026-06-30T00:00:00Z)"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of", type=as_of_time, help="build the warehouse as of this time (ISO 8601; default: now)"
    )
    parser.add_argument("--airflow-log", action="store_true", help="print all of Airflow's output")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from continuum.pipeline import airflow_home as af
    from continuum.pipeline.summary import print_summary

    print(f"Airflow home {af.airflow_home(settings)}: migrating the metadata database, creating the pool")
    af.set_up(settings)
    print(f"running {af.DAG_ID} once" + (f" as of {args.as_of.isoformat()}" if args.as_of else ""))
    failed = False
    in_traceback = False
    try:
        for line in af.stream_dag_test(settings, args.as_of):
            # A traceback runs until Airflow's next timestamped line: show it whole.
            in_traceback = line.startswith("Traceback") or (in_traceback and not _TIMESTAMPED.match(line))
            # Airflow logs a harmless "XCom not found" at the end of every mapped task's results.
            shown = in_traceback or (_PROGRESS.search(line) and "XCom not found" not in line)
            if args.airflow_log or shown:
                print(_shorten(line), flush=True)
    except af.AirflowCommandFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        failed = True
    dag_run = af.latest_run(settings)
    print(f"\n{af.DAG_ID} {dag_run['run_id']}: {dag_run['state']}")
    timings = af.task_timings(settings, dag_run["run_id"])
    print_timings(timings)
    print_summary(settings)
    # A failed land step does not stop the loads (the DAG goes on with what is landed), but it is news.
    task_failed = any("failed" in state for t in timings for state in t.states)
    return 1 if failed or task_failed or dag_run["state"] != "success" else 0


def _shorten(line: str) -> str:
    # Airflow's structured lines end in key=value noise (loc=..., ti_id=...): keep the message.
    return re.sub(r"\s+(loc|correlation_id|ti_id|hostname)=\S+", "", line.rstrip())


def print_timings(timings: list) -> None:
    print(f"\n{'task':<14} {'instances':>9} {'wall s':>8} {'busy s':>8}  state")
    for t in timings:
        print(
            f"{t.task_id:<14} {t.instances:>9} {t.seconds:>8.1f} {t.busy_seconds:>8.1f}  {','.join(t.states)}"
        )
