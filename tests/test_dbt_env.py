"""What dbt's process gets of the environment (continuum.pipeline.dbt.dbt_env): what dbt and the project
read, and nothing else (dbt checks every line it logs against every variable; secrets stay out)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from common.settings import PROJECT_ROOT, Settings
from continuum.pipeline import dbt

AS_OF = datetime(2026, 11, 12, 5, 0, tzinfo=UTC)
LOADED = datetime(2026, 11, 12, 4, 0, tzinfo=UTC)


@pytest.fixture
def caller_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller's environment as `continuum run` has it: system basics, dbt flags, secrets, Airflow's."""
    for name, value in {
        "PATH": "/usr/bin",
        "HOME": "/home/ops",
        "LC_ALL": "C.UTF-8",
        "DBT_LOG_LEVEL_FILE": "info",
        "CONTINUUM_LINKAGE_SECRET": "s3cret-linkage",
        "AIRFLOW__CORE__DAGS_FOLDER": "/dags",
        "SOME_TOOL_TOKEN": "t0ken",
        "CONTINUUM_DBT_REBUILD_ALL_KEYS": "true",  # left over from elsewhere: only the plan says this
        "CONTINUUM_DBT_TESTED_THROUGH": "2020-01-01T00:00:00+00:00",
    }.items():
        monkeypatch.setenv(name, value)


def test_dbt_gets_the_basics_its_flags_and_what_the_project_reads_and_nothing_else(
    caller_env: None, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, duckdb_memory_limit="3GB")
    env = dbt.dbt_env(settings, AS_OF, dbt.AlreadyTested(loaded=LOADED))

    assert {name: env.get(name) for name in ("PATH", "HOME", "LC_ALL", "DBT_LOG_LEVEL_FILE")} == {
        "PATH": "/usr/bin",
        "HOME": "/home/ops",
        "LC_ALL": "C.UTF-8",
        "DBT_LOG_LEVEL_FILE": "info",
    }
    assert env["CONTINUUM_DUCKDB_MEMORY_LIMIT"] == "3GB"
    assert env["CONTINUUM_WAREHOUSE_PATH"] == str(settings.warehouse_path)
    assert env["CONTINUUM_DBT_AS_OF"] == "2026-11-12T05:00:00+00:00"
    assert env["CONTINUUM_DBT_TESTED_THROUGH"] == "2026-11-12T04:00:00+00:00"
    for name in (
        "CONTINUUM_LINKAGE_SECRET",
        "AIRFLOW__CORE__DAGS_FOLDER",
        "SOME_TOOL_TOKEN",
        "CONTINUUM_DBT_REBUILD_ALL_KEYS",
        "CONTINUUM_DBT_WRITTEN_TESTED_THROUGH",
        "CONTINUUM_HOME",
    ):
        assert name not in env, name
    assert "s3cret-linkage" not in env.values()


def env_vars_the_project_reads() -> set[str]:
    project = PROJECT_ROOT / "dbt_project"
    names = set()
    for path in [*project.rglob("*.sql"), *project.rglob("*.yml")]:
        if "target" in path.parts or "dbt_packages" in path.parts:
            continue
        names |= set(re.findall(r"env_var\(\s*['\"](\w+)['\"]", path.read_text()))
    return names


def test_every_setting_the_dbt_project_reads_is_passed_to_dbt(caller_env: None, tmp_path: Path) -> None:
    # A setting left out would not fail the build: the profile's default would be used instead of the
    # operator's value (the memory limit has one). The plan's own variables are set per build.
    read = env_vars_the_project_reads()
    assert {"CONTINUUM_WAREHOUSE_PATH", "CONTINUUM_DUCKDB_MEMORY_LIMIT", "CONTINUUM_DBT_AS_OF"} <= read
    env = dbt.dbt_env(Settings(home=tmp_path), AS_OF, rebuild_all_keys=True)
    missing = {name for name in read if name not in env}
    assert missing == set(), f"read by the dbt project but not passed to dbt: {sorted(missing)}"
