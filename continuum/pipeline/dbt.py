"""One `dbt build` for the whole project: DuckDB has a single writer, so models never build in
parallel processes. dbt's target and logs go under CONTINUUM_HOME, never into the repository."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from common.settings import PROJECT_ROOT, Settings
from continuum.pipeline.env import continuum_env

log = logging.getLogger(__name__)

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


class DbtBuildFailed(RuntimeError):
    """`dbt build` exited with an error; the message holds dbt's output."""


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


def dbt_build(settings: Settings, as_of: datetime, *args: str, timeout_s: float = 3600) -> str:
    """Run `dbt build` with `as_of` (and extra dbt arguments, e.g. `--full-refresh`); returns its output,
    raises DbtBuildFailed with it on failure."""
    command = dbt_build_command(as_of, *args)
    log.info("running %s", " ".join(command))
    done = subprocess.run(
        command,
        env=dbt_env(settings),
        cwd=settings.state_dir,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise DbtBuildFailed(f"dbt build exited with {done.returncode}:\n{output}")
    log.debug("dbt build:\n%s", output)
    log.info("dbt build: %s", output.splitlines()[-1] if output else "no output")
    return output
