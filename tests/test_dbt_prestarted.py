"""A prestarted dbt process (continuum/pipeline/dbt_prestarted.py) runs the command it is given as the
`dbt` script would: with the environment and directory of the request, not its own, and the same exit
code. The oracle is the script itself, run as a new process on the same project."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from continuum.pipeline import dbt, dbt_prestarted

PROFILE = """\
tiny:
  target: only
  outputs:
    only:
      type: duckdb
      path: "{{ env_var('TINY_WAREHOUSE') }}"
      threads: 1
"""


@pytest.fixture
def tiny_project(tmp_path: Path) -> Path:
    """A dbt project of one model whose warehouse path comes from the environment (TINY_WAREHOUSE)."""
    project = tmp_path / "work" / "tiny"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: tiny\nversion: '1.0'\nprofile: tiny\n")
    (project / "profiles.yml").write_text(PROFILE)
    (project / "models" / "answer.sql").write_text("select 42 as answer\n")
    return project


def tiny_command(*args: str) -> list[str]:
    # A relative project directory: it is found only from the request's directory (`cwd`).
    return dbt.dbt_command("build", *args, project_dir=Path("tiny")) + ["--profiles-dir", "tiny"]


def tiny_env(tmp_path: Path, name: str) -> dict[str, str]:
    return {
        **os.environ,
        "TINY_WAREHOUSE": str(tmp_path / f"{name}.duckdb"),
        "DBT_TARGET_PATH": str(tmp_path / f"{name}-target"),
        "DBT_LOG_PATH": str(tmp_path / f"{name}-logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def answer_in(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select answer from main.answer").fetchone()[0]


@pytest.mark.slow
def test_the_prestarted_process_builds_with_the_requests_environment_and_directory(
    tiny_project: Path, tmp_path: Path
):
    dbt_prestarted.prestart()
    prestarted = dbt_prestarted._waiting
    done = dbt_prestarted.run(tiny_command(), tiny_env(tmp_path, "prestarted"), tiny_project.parent, 120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert prestarted is not None and prestarted.returncode == 0  # it was this process that ran, and ended
    assert dbt_prestarted._waiting is None  # one build each
    # It closed the warehouse before exiting: DuckDB folded its WAL into the file, as at a normal exit.
    assert not (tmp_path / "prestarted.duckdb.wal").exists()
    assert answer_in(tmp_path / "prestarted.duckdb") == 42
    assert (tmp_path / "prestarted-target" / "run_results.json").exists()
    assert "Completed successfully" in done.stdout


@pytest.mark.slow
def test_a_command_dbt_refuses_exits_as_the_dbt_script_does(tiny_project: Path, tmp_path: Path):
    command = tiny_command("--no-such-option")
    script = subprocess.run(
        command, env=tiny_env(tmp_path, "script"), cwd=tiny_project.parent, capture_output=True, text=True
    )
    dbt_prestarted.prestart()
    done = dbt_prestarted.run(command, tiny_env(tmp_path, "prestarted"), tiny_project.parent, 120)
    assert script.returncode == 2  # click's usage error
    assert done.returncode == script.returncode
    assert "No such option '--no-such-option'" in script.stderr
    assert done.stderr == script.stderr


def test_a_prestarted_process_no_build_uses_is_stopped_at_once_when_discarded():
    dbt_prestarted.prestart()
    prestarted = dbt_prestarted._waiting
    started = time.monotonic()
    dbt_prestarted.discard()  # while it still imports dbt (about 1.5 s of CPU)
    assert prestarted is not None and prestarted.returncode is not None  # ended
    assert time.monotonic() - started < 1.0  # without waiting for the imports
    assert dbt_prestarted._waiting is None
