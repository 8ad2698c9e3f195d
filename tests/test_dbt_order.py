"""dbt runs the pipeline's builds longest chain first (continuum/pipeline/dbt_order.py): the scores are
worked out by hand on a small graph, and a real dbt build on one thread runs its long chain before the
short nodes beside it, where the `dbt` script runs them depth by depth, and builds the same tables."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb
import networkx as nx
import pytest

from continuum.pipeline import dbt, dbt_order, dbt_prestarted

PROFILE = """\
chains:
  target: only
  outputs:
    only:
      type: duckdb
      path: "{{ env_var('CHAINS_WAREHOUSE') }}"
      threads: 1
"""

#: root -> z1 -> z2 -> z3 (a chain) and root -> a1, a2, a3 (short nodes beside it). By depth (dbt's own
#: order, ties by name) a1, a2 and a3 run before z2; longest chain first, z1 and z2 run before them (then
#: z3, like each of them, is the last of its chain: a tie, which dbt breaks by name).
MODELS = {
    "root": "select 1 as n",
    "z1": "select n + 1 as n from {{ ref('root') }}",
    "z2": "select n + 1 as n from {{ ref('z1') }}",
    "z3": "select n + 1 as n from {{ ref('z2') }}",
    "a1": "select n * 10 as n from {{ ref('root') }}",
    "a2": "select n * 20 as n from {{ ref('root') }}",
    "a3": "select n * 30 as n from {{ ref('root') }}",
}


def test_each_node_scores_minus_the_longest_chain_from_it():
    graph = nx.DiGraph([("r", "a"), ("a", "b"), ("b", "c"), ("r", "s"), ("s", "c"), ("r", "t"), ("x", "t")])
    # by hand: c ends every chain (1); b -> c (2); a -> b -> c (3); s -> c (2); t alone (1); x -> t (2);
    # r -> a -> b -> c (4)
    expected = {"c": -1, "b": -2, "a": -3, "s": -2, "t": -1, "x": -2, "r": -4}
    assert dbt_order.longest_chain_first(graph) == expected


@pytest.fixture
def chains_project(tmp_path: Path) -> Path:
    project = tmp_path / "chains"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: chains\nversion: '1.0'\nprofile: chains\n")
    (project / "profiles.yml").write_text(PROFILE)
    for name, sql in MODELS.items():
        (project / "models" / f"{name}.sql").write_text(sql + "\n")
    return project


def build_order(tmp_path: Path, project: Path, name: str, prestarted: bool) -> tuple[list[str], dict]:
    """Build `project` with the `dbt` script (prestarted False) or as the pipeline does; the models in the
    order they ran, and every table's rows."""
    env = {
        **os.environ,
        "CHAINS_WAREHOUSE": str(tmp_path / f"{name}.duckdb"),
        "DBT_TARGET_PATH": str(tmp_path / f"{name}-target"),
        "DBT_LOG_PATH": str(tmp_path / f"{name}-logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = dbt.dbt_command("build", project_dir=project) + ["--profiles-dir", str(project)]
    if prestarted:
        done = dbt_prestarted.run(command, env, tmp_path, 120)  # none waiting: one started for it
    else:
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / f"{name}-target" / "run_results.json").read_text())["results"]
    started = {r["unique_id"].split(".")[-1]: r["timing"][0]["started_at"] for r in results}
    with duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True) as con:
        rows = {model: con.execute(f"select n from main.{model}").fetchall() for model in MODELS}
    return sorted(started, key=started.get), rows


@pytest.mark.slow
def test_the_pipelines_dbt_runs_the_long_chain_first_and_builds_the_same_tables(
    chains_project: Path, tmp_path: Path
):
    script_order, script_rows = build_order(tmp_path, chains_project, "script", prestarted=False)
    order, rows = build_order(tmp_path, chains_project, "pipeline", prestarted=True)
    assert script_order == ["root", "a1", "a2", "a3", "z1", "z2", "z3"]  # dbt's own: depth by depth
    assert order == ["root", "z1", "z2", "a1", "a2", "a3", "z3"]
    assert (
        rows
        == script_rows
        == {
            "root": [(1,)],
            "z1": [(2,)],
            "z2": [(3,)],
            "z3": [(4,)],
            "a1": [(10,)],
            "a2": [(20,)],
            "a3": [(30,)],
        }
    )
