"""continuum run [--as-of TIME]"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
from typing import Any

from common.settings import Settings
from common.times import parse_as_of

HELP = "run the continuum_pipeline DAG once through Airflow (embedded SQLite metadata DB), printing progress"

#: How many lines of the Airflow log to show when the runner died before reporting the run's state.
LOG_TAIL_LINES = 30


def as_of_time(value: str):
    try:
        return parse_as_of(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as-of", type=as_of_time, help="build the warehouse as of this time (ISO 8601; default: now)"
    )
    parser.add_argument("--airflow-log", action="store_true", help="print all of Airflow's output")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 only when Airflow recorded the run as `success`; 1 when it failed (or its state is unknown);
    128 + the signal's number when stopped by SIGTERM or Ctrl-C (everything it started is stopped)."""
    from continuum.pipeline import airflow_home as af

    print(f"Airflow home {af.airflow_home(settings)}: running {af.DAG_ID} once" + _as_of_text(args.as_of))
    try:
        outcome = af.run_dag(
            settings,
            args.as_of,
            on_event=print_event,
            airflow_log=args.airflow_log,
            on_start=import_summary_while_running,
        )
    except af.AnotherRunActive as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except af.RunStopped as exc:
        print(
            f"\nstopped by {exc}: the run's processes are stopped; the next `continuum run` marks the run "
            "failed in Airflow's database",
            file=sys.stderr,
        )
        return 128 + exc.signum
    print(f"\n{af.DAG_ID} {outcome.run_id or '(no run)'}: {outcome.state}")
    if outcome.run_id is None:
        print_log_tail(outcome)
        return 1
    print_timings(af.task_timings(outcome.tasks))
    for task in outcome.failed_tasks():
        if task.task_id == af.WATCHER_TASK:
            continue  # it failed because the others did
        print(f"{task.state}: {_instance(task.task_id, task.map_index)} after {task.try_number} tries")
    print(f"Airflow's log of this run: {outcome.log_path}")
    from continuum.pipeline.summary import print_summary  # imported by now, or waits for the thread's import

    print_summary(settings)
    return 0 if outcome.succeeded else 1


def import_summary_while_running() -> None:
    """Import the summary's modules (DuckDB, pyarrow, the quarantine's: 0.75 s) on a thread while the
    runner runs, instead of before it: this process only waits for the runner's reports meanwhile, and
    the runner's own start (importing Airflow) keeps one core busy. Started after the runner's fork: its
    preexec_fn runs Python in the child, which a thread holding an import lock at the fork would stop."""
    args = ("continuum.pipeline.summary",)
    threading.Thread(target=importlib.import_module, args=args, name="import-summary", daemon=True).start()


def _as_of_text(as_of: Any) -> str:
    return f" as of {as_of.isoformat()}" if as_of else ""


def _instance(task_id: str, map_index: int) -> str:
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


def print_event(event: dict[str, Any]) -> None:
    """One line per report of the runner: runs marked failed, and each task instance as it ends."""
    if event["event"] == "marked_failed" and event["runs"]:
        print(f"marked failed (left `running` by a run that died): {', '.join(event['runs'])}", flush=True)
    elif event["event"] == "task" and event["state"] != "running":
        error = f": {event['error']}" if event.get("error") else ""
        attempt = f" (try {event['try_number']})" if event.get("try_number") else ""
        print(
            f"  {_instance(event['task_id'], event['map_index'])} {event['state']}{attempt}{error}",
            flush=True,
        )
    elif event["event"] == "task" and event["map_index"] < 0:
        print(f"  {event['task_id']} running", flush=True)


def print_log_tail(outcome: Any) -> None:
    print(
        f"the Airflow runner exited with {outcome.runner_exit} before reporting the run's state; the end of"
    )
    print(f"its log ({outcome.log_path}):")
    lines = outcome.log_path.read_text(errors="replace").splitlines() if outcome.log_path else []
    print("\n".join(lines[-LOG_TAIL_LINES:]))


def print_timings(timings: list) -> None:
    print(f"\n{'task':<14} {'instances':>9} {'wall s':>8} {'busy s':>8}  state")
    for t in timings:
        print(
            f"{t.task_id:<14} {t.instances:>9} {t.seconds:>8.1f} {t.busy_seconds:>8.1f}  {','.join(t.states)}"
        )
