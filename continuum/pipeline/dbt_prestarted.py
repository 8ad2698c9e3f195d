"""A dbt process started before its build is due, so that the build does not wait for dbt's imports.

Starting `dbt` costs about 1.5 s of CPU before it reads a file of the project: the imports of dbt-core
and its DuckDB adapter (docs/benchmarks.md). `continuum run` runs every task of the DAG in one process,
so it starts this process as the run begins (`prestart`), while the land task mostly waits on the broker,
and the dbt_build task hands it its command line (`run`). The process imports dbt, then waits for one
request on its standard input (`{"args": [...], "env": {...}, "cwd": "..."}`), takes that environment
and directory, and runs dbt exactly as the `dbt` script does (click's standalone mode: the same output
and exit code). It serves one build: a task that finds none waiting (a deployment, where each task is a
process of its own; a retry) starts dbt as before. If no build comes (the run skipped it or failed
earlier), the runner stops it (`discard`), as it would with its process group.

    python -m continuum.pipeline.dbt_prestarted   # what `prestart` starts; reads one request
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from common.settings import PROJECT_ROOT
from continuum.pipeline.env import die_with_parent

_waiting: subprocess.Popen[str] | None = None


def prestart() -> None:
    """Start a dbt process for the next `run` of this process (replacing one not used yet)."""
    global _waiting
    discard()
    _waiting = subprocess.Popen(
        [sys.executable, "-m", __name__],
        cwd=PROJECT_ROOT,  # where `-m` finds this module; each request says its own directory
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=die_with_parent,
    )


def discard() -> None:
    """Stop a prestarted process that no build will use. It took no request, so nothing of it is lost, and
    a run that ends early (its build skipped, a task failed) does not wait for dbt's imports to finish."""
    global _waiting
    process, _waiting = _waiting, None
    if process is not None:
        process.kill()
        process.communicate()


def run(
    command: Sequence[str], env: dict[str, str], cwd: Path, timeout_s: float
) -> subprocess.CompletedProcess:
    """`command` (`dbt` and its arguments) as `subprocess.run(..., capture_output=True, text=True)` would
    run it, in the prestarted process when one is waiting (it is then used up), else in a new one."""
    global _waiting
    process, _waiting = _waiting, None
    if process is None or process.poll() is not None:
        return subprocess.run(
            list(command),
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            preexec_fn=die_with_parent,
        )
    request = json.dumps({"args": list(command[1:]), "env": env, "cwd": str(cwd)}) + "\n"
    try:
        stdout, stderr = process.communicate(request, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return subprocess.CompletedProcess(list(command), process.returncode, stdout, stderr)


def main() -> None:
    import dbt.adapters.duckdb  # noqa: F401  (loaded by dbt for the profile; imported now too)
    from dbt.cli.main import cli  # the imports this process is started early for

    line = sys.stdin.readline()
    if not line:  # the run needed no build
        return
    request = json.loads(line)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = ["dbt", *request["args"]]
    try:
        # As the `dbt` script runs it: click prints and exits with dbt's exit code. The name, or click
        # takes it from `python -m` (its usage lines would name this module).
        cli(prog_name="dbt")
    except SystemExit as stopped:
        exit_without_teardown(stopped.code)


def exit_without_teardown(code: int | str | None) -> None:
    """Close the warehouse and dbt's log, then exit without the interpreter's teardown of dbt's objects
    (0.5 s after every build). dbt-duckdb keeps its DuckDB open until its exit handler lets go of it;
    closed here, DuckDB writes its last checkpoint (the WAL folded into the file, as at a normal exit)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with contextlib.suppress(Exception):  # none was opened (dbt refused its arguments)
        DuckDBConnectionManager.env().close()
    logging.shutdown()
    if isinstance(code, str):  # as sys.exit("...") would: the message, and 1
        print(code, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


if __name__ == "__main__":
    main()
