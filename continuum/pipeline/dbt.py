"""One `dbt build` for the whole project: DuckDB has a single writer, so models never build in
parallel processes. dbt's target and logs go under CONTINUUM_HOME, never into the repository."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from common.files import write_atomically
from common.settings import PROJECT_ROOT, Settings
from continuum.pipeline.env import continuum_env, die_with_parent

log = logging.getLogger(__name__)

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


class DbtBuildFailed(RuntimeError):
    """`dbt build` failed; the message names the failed nodes (or holds dbt's output if it ran none)."""


def dbt_target_dir(settings: Settings) -> Path:
    """Where dbt writes its artefacts (manifest, run_results.json) for this CONTINUUM_HOME."""
    return settings.state_dir / "dbt" / "target"


def dbt_env(settings: Settings) -> dict[str, str]:
    return {
        **continuum_env(settings),
        "CONTINUUM_WAREHOUSE_PATH": str(settings.warehouse_path),
        "DBT_TARGET_PATH": str(dbt_target_dir(settings)),
        "DBT_LOG_PATH": str(settings.state_dir / "dbt" / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
    }


def dbt_build_command(as_of: datetime, *args: str, project_dir: Path = DBT_PROJECT_DIR) -> list[str]:
    dbt = str(Path(sys.executable).with_name("dbt"))
    variables = json.dumps({"as_of": as_of.isoformat()})
    return [
        dbt,
        "build",
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--vars",
        variables,
        *args,
    ]


#: Statuses in run_results.json that fail the build (`warn` does not; `skipped` follows a failure).
FAILED_STATUSES = ("error", "fail", "runtime error")


@dataclass(frozen=True)
class NodeResult:
    """One node of dbt's run_results.json: a model, seed, snapshot or test."""

    unique_id: str
    status: str
    execution_time: float
    failures: int | None
    message: str

    def describe(self) -> str:
        first_line = (self.message or "").strip().splitlines()[:1]
        return f"{self.unique_id} ({self.status}{': ' + first_line[0] if first_line else ''})"


def run_results_path(settings: Settings) -> Path:
    return dbt_target_dir(settings) / "run_results.json"


def kept_run_results_path(settings: Settings) -> Path:
    """Where the last build's run_results.json is kept for readers (/ops), beside the published copy."""
    return settings.published_warehouse_path.parent / "dbt_run_results.json"


def read_run_results(path: Path) -> list[NodeResult]:
    results = json.loads(path.read_bytes())["results"]
    return [
        NodeResult(
            r["unique_id"],
            r["status"],
            float(r.get("execution_time") or 0),
            r.get("failures"),
            r.get("message") or "",
        )
        for r in results
    ]


def dbt_build(
    settings: Settings,
    as_of: datetime,
    *args: str,
    project_dir: Path = DBT_PROJECT_DIR,
    timeout_s: float = 3600,
) -> str:
    """Run `dbt build` with `as_of` (and extra dbt arguments, e.g. `--full-refresh`); returns a summary of
    its run_results.json and keeps that file for /ops. Raises DbtBuildFailed naming the nodes that failed."""
    command = dbt_build_command(as_of, *args, project_dir=project_dir)
    results_path = run_results_path(settings)
    results_path.unlink(missing_ok=True)  # a failure before dbt writes one must not read the last build's
    log.info("running %s", " ".join(command))
    done = subprocess.run(
        command,
        env=dbt_env(settings),
        cwd=settings.state_dir,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        preexec_fn=die_with_parent,
    )
    output = (done.stdout + done.stderr).strip()
    log.debug("dbt build:\n%s", output)
    if not results_path.exists():  # dbt stopped before running anything (a project that does not parse)
        tail = "\n".join(output.splitlines()[-20:])
        raise DbtBuildFailed(f"dbt build exited with {done.returncode} before running any node:\n{tail}")
    write_atomically(kept_run_results_path(settings), results_path.read_bytes())
    results = read_run_results(results_path)
    failed = [r for r in results if r.status in FAILED_STATUSES]
    if failed or done.returncode != 0:
        raise DbtBuildFailed(
            f"dbt build exited with {done.returncode}: {len(failed)} of {len(results)} nodes failed: "
            + "; ".join(r.describe() for r in failed)
            + f" (all results: {kept_run_results_path(settings)})"
        )
    summary = summarize(results)
    log.info("dbt build: %s", summary)
    return summary


def summarize(results: list[NodeResult]) -> str:
    counts = Counter(r.status for r in results)
    seconds = sum(r.execution_time for r in results)
    by_status = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return f"{len(results)} nodes ({by_status}) in {seconds:.1f} s of node time"
