"""The continuum_pipeline DAG: it imports cleanly, and a whole run through Airflow (`continuum run`, i.e.
Airflow's `dag.test()` on an embedded SQLite metadata DB) against the embedded broker and a simulated
network loads every valid event of every passing batch exactly once, quarantines a spoiled batch while
the others load, changes nothing when run again, and loads the corrected batch once on release.

Airflow runs in subprocesses with AIRFLOW_HOME under the test's CONTINUUM_HOME, so that this pytest
process never reads or writes an Airflow configuration of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_pipeline_support import run_continuum

from common.directory import load_directory
from common.settings import PROJECT_ROOT, Settings
from continuum.pipeline import airflow_home
from streams.landing.files import EVENTS_SCHEMA, LandedBatch, commit, committed_batches, write_table_durably

AS_OF = "2026-06-01T00:00:00+00:00"

DAGBAG_PROBE = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=%r)
dag = bag.dags.get("continuum_pipeline")
print(json.dumps({
    "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "dag_ids": sorted(bag.dags),
    "max_active_runs": dag.max_active_runs,
    "schedule": str(dag.timetable),
    "has_doc_md": bool(dag.doc_md),
    "tasks": {t.task_id: {"pool": t.pool, "retries": t.retries, "owner": t.owner} for t in dag.tasks},
    "upstream": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
    "trigger_rules": {t.task_id: getattr(t.trigger_rule, "value", t.trigger_rule) for t in dag.tasks},
}))
"""


def test_the_dag_imports_without_errors_and_declares_its_rules(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    done = subprocess.run(
        [sys.executable, "-c", DAGBAG_PROBE % str(PROJECT_ROOT / "dags")],
        env=airflow_home.airflow_env(settings),
        capture_output=True,
        text=True,
        check=True,
    )
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["import_errors"] == {}
    assert probe["dag_ids"] == ["continuum_pipeline"]
    assert probe["max_active_runs"] == 1 and probe["has_doc_md"]
    assert "*/15 * * * *" in probe["schedule"]
    tasks = probe["tasks"]
    work = {"land", "discover", "validate", "load", "quarantine", "dbt_build", "publish"}
    assert set(tasks) == work | {airflow_home.WATCHER_TASK}
    writers = {"discover", "load", "quarantine", "dbt_build", "publish"}
    assert {t for t, v in tasks.items() if v["pool"] == airflow_home.WAREHOUSE_POOL} == writers
    assert all(v["owner"] == "continuum-data-engineering" for v in tasks.values())
    assert all(tasks[t]["retries"] >= 1 for t in work) and tasks[airflow_home.WATCHER_TASK]["retries"] == 0
    assert probe["upstream"]["discover"] == ["land"]
    assert probe["upstream"]["dbt_build"] == ["load", "quarantine"]
    assert probe["upstream"]["publish"] == ["dbt_build"]
    # The watcher fails the run when any task failed: it must watch every one of them.
    assert probe["upstream"][airflow_home.WATCHER_TASK] == sorted(work)
    assert probe["trigger_rules"][airflow_home.WATCHER_TASK] == "one_failed"


def spoil(batch: LandedBatch) -> pa.Table:
    """Stamp every event of a committed batch with one time (a bulk mis-load); returns the original."""
    original = pq.read_table(batch.events_path)
    times = pa.array([original["time"][0].as_py()] * original.num_rows, EVENTS_SCHEMA.field("time").type)
    spoiled = original.set_column(original.schema.get_field_index("time"), "time", times)
    commit(write_table_durably(spoiled, batch.events_path))
    return original


def warehouse_rows(settings: Settings) -> dict[str, list]:
    """Every row of every table of the warehouse, sorted: what 'changes nothing' compares."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' ORDER BY 1, 2"
        ).fetchall()
        return {
            f"{s}.{t}": sorted(map(repr, con.execute(f'SELECT * FROM "{s}"."{t}"').fetchall()))
            for s, t in tables
        }


def raw_offsets(settings: Settings) -> dict[str, list[tuple[int, str]]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute("SELECT batch_name, kafka_offset, id FROM raw.events").fetchall()
    by_batch: dict[str, list[tuple[int, str]]] = {}
    for name, offset, event_id in rows:
        by_batch.setdefault(name, []).append((offset, event_id))
    return {name: sorted(rows) for name, rows in by_batch.items()}


def file_offsets(path: Path) -> list[tuple[int, str]]:
    table = pq.read_table(path, columns=["kafka_offset", "id"])
    return sorted(zip(table["kafka_offset"].to_pylist(), table["id"].to_pylist(), strict=True))


def ledger(settings: Settings) -> dict[str, str]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return dict(con.execute("SELECT batch_name, status FROM raw.batches").fetchall())


@pytest.mark.slow
def test_a_whole_run_loads_validated_batches_once(own_broker: Settings) -> None:
    from streams.simulator.config import SimulationConfig
    from streams.simulator.output import produce
    from streams.simulator.simulation import Simulation

    # One partition per topic and small batches: a few batches per provider, so that the spoiled
    # batch is not the last of its partition (the lander resumes after the last one it finds).
    settings = own_broker.model_copy(update={"topic_partitions": 1, "land_batch_events": 80})
    config = SimulationConfig(participants=60, seed=11, end=datetime(2026, 5, 1, tzinfo=UTC))
    produce(Simulation(config, load_directory(settings.provider_directory)).messages(), settings)

    # Land first (the DAG's land step will find nothing new) so that a batch can be spoiled before
    # the DAG validates it.
    run_continuum(settings, "land", "--until-caught-up")
    batches = committed_batches(settings.landing_dir)
    victim = next(
        b
        for b, after in zip(batches, batches[1:], strict=False)
        if after.topic == b.topic and pq.ParquetFile(b.events_path).metadata.num_rows >= 40
    )
    original = spoil(victim)

    run = run_continuum(settings, "run", "--as-of", AS_OF)
    assert "continuum_pipeline" in run.stdout and ": success" in run.stdout
    # load and quarantine read the mapped validate task's output without asking past its end
    # (tasks._verdicts): Airflow logs such a miss as an error line in an otherwise healthy run.
    (run_log,) = (airflow_home.airflow_home(settings) / "logs" / "continuum-run").glob("*.log")
    assert "XCom not found" not in run_log.read_text()

    statuses = ledger(settings)
    assert statuses[victim.name] == "quarantined"
    from continuum.pipeline.summary import reconciliation  # landed = loaded + quarantined, per provider

    counts = reconciliation(settings)
    assert counts and all(c.reconciles and c.pending == 0 for c in counts.values()), counts
    assert sum(c.quarantined for c in counts.values()) == original.num_rows
    assert set(statuses) == {b.name for b in batches}
    loaded = raw_offsets(settings)
    assert victim.name not in loaded
    for batch in committed_batches(settings.landing_dir):  # the victim is in quarantine now
        assert statuses[batch.name] == "loaded"
        assert loaded.get(batch.name, []) == file_offsets(batch.events_path), batch.name

    before = warehouse_rows(settings)
    run_continuum(settings, "run", "--as-of", AS_OF)
    assert warehouse_rows(settings) == before

    held = settings.quarantine_dir / victim.name
    assert (held / "validation.json").exists()
    pq.write_table(original, held / "events.parquet")  # the data engineer's correction
    run_continuum(settings, "quarantine", "release", victim.name)
    assert ledger(settings)[victim.name] == "loaded"
    assert raw_offsets(settings)[victim.name] == file_offsets(victim.events_path)
    assert sorted(raw_offsets(settings)[victim.name]) == sorted(
        zip(original["kafka_offset"].to_pylist(), original["id"].to_pylist(), strict=True)
    )
