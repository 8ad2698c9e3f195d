"""The `continuum_pipeline` DAG: land → discover → validate (a task per group of batches) → load/quarantine →
dbt build → publish, and a watcher that fails the run when any task failed. This file only declares; the
work is in `continuum.pipeline.tasks`."""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import (
    Asset,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    dag,
    get_current_context,
    task,
)
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from common.settings import get_settings
from streams.landing.notify import LANDED_BATCHES


class _ImportedAtFirstUse:
    """A module imported when a task first uses it, not when the file is parsed: every task instance
    and the dag-processor parse this file, and importing the pipeline (lander, GX, DuckDB) took 1.3 s
    of each parse here (6 s on a loaded machine): seconds of every task of every run."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(importlib.import_module(self._name), attribute)


tasks = _ImportedAtFirstUse("continuum.pipeline.tasks")
land_errors = _ImportedAtFirstUse("continuum.pipeline.land")

#: Every 15 minutes, and as soon as the lander service says it committed batches (an asset event it posts
#: at most every CONTINUUM_LAND_NOTIFY_MIN_SECONDS, streams/landing/notify.py): events arriving during a
#: run make the next run, which loads every batch not yet in the ledger. The clock stays for a lander
#: that cannot reach Airflow, and for the `land` task when no lander service runs.
SCHEDULE = AssetOrTimeSchedule(
    timetable=CronTriggerTimetable("*/15 * * * *", timezone="UTC"), assets=[Asset(LANDED_BATCHES)]
)

#: Every task that opens the warehouse for writing runs in this pool of one slot: DuckDB has one writer.
WAREHOUSE_POOL = "continuum_warehouse"

DOC_MD = """
### continuum_pipeline: validated loads

Every 15 minutes, when the lander service posts the asset `continuum_landed_batches`, or when
triggered: land the provider topics (skipped while a lander service runs;
failed, naming its pid, while a bounded lander holds the landing lock),
find the landed batches not yet in the ledger `raw.batches`, validate each with the Great Expectations
suites (one mapped task per group of batches, one GX run per suite, whose Data Docs pages it renders),
load the ones that pass into
`raw` (rows that break a row rule held back), move the ones that fail to
`CONTINUUM_HOME/quarantine/` with their validation result, build the warehouse with one `dbt build`,
then publish a copy for readers (`published/warehouse.duckdb`) and the marts as Parquet.
A failed task does not stop the rest (batches landed before a landing failure still load), but the
`watcher` task then fails, so that the run itself is `failed`.

Trigger with `{"as_of": "2026-06-30T00:00:00Z"}` to build as of a fixed time (default: now).
Runbook: `docs/pipeline.md`. Quarantined batches: `continuum quarantine list|show|release`.
"""

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "continuum-data-engineering",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "execution_timeout": timedelta(hours=1),
}


@dag(
    dag_id="continuum_pipeline",
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=DOC_MD,
    tags=["continuum"],
    params={
        "as_of": Param(None, type=["null", "string"], description="build the warehouse as of (ISO 8601)")
    },
)
def continuum_pipeline() -> None:
    @task(doc_md="Land new events up to the end offsets seen at start, unless a lander service runs.")
    def land() -> None:
        try:
            # Asked here first, so that a skip (a lander service lands) imports no more than land.py.
            if land_errors.service_is_landing(get_settings()):
                raise AirflowSkipException("a lander service is landing for this CONTINUUM_HOME")
            # land.py alone: the rest of the pipeline (GX, DuckDB, dbt) is imported by the tasks using it.
            land_errors.land_until_caught_up(get_settings())
        except (land_errors.LandingHeld, land_errors.LandingBlocked) as exc:
            raise AirflowFailException(str(exc)) from exc  # an operator decides: retrying cannot help

    # all_done: batches landed before a landing failure are loaded all the same; the failed land task
    # stays red in the run for the operator.
    @task(pool=WAREHOUSE_POOL, trigger_rule="all_done", doc_md="Landed batches not yet in the ledger.")
    def discover() -> list[dict[str, Any]]:
        return tasks.discover_groups(get_settings())

    @task(doc_md="Run the expectation suites once over a group of batches; a result per batch, as JSON.")
    def validate(group: dict[str, Any]) -> list[dict[str, Any]]:
        return tasks.validate_group(get_settings(), group)

    @task(pool=WAREHOUSE_POOL, trigger_rule="none_failed", doc_md="Load passing batches, once each.")
    def load(verdicts: list[dict[str, Any]]) -> dict[str, int]:
        return tasks.load_passed(get_settings(), verdicts)

    @task(pool=WAREHOUSE_POOL, trigger_rule="none_failed", doc_md="Move failing batches to quarantine.")
    def quarantine(verdicts: list[dict[str, Any]]) -> list[str]:
        return tasks.quarantine_failed(get_settings(), verdicts)

    @task(pool=WAREHOUSE_POOL, trigger_rule="none_failed", doc_md="One `dbt build` of the whole project.")
    def dbt_build() -> str:
        return tasks.build_warehouse(get_settings(), get_current_context()["params"].get("as_of"))

    @task(pool=WAREHOUSE_POOL, trigger_rule="none_failed", doc_md="Publish the readers' copy and exports.")
    def publish() -> dict[str, Any]:
        return tasks.publish_all(get_settings())

    # Airflow's rule makes a run `success` when its last tasks are; with land failed and the rest done the
    # run would say `success`. The watcher runs only when some task failed, and fails: the run is failed.
    @task(trigger_rule="one_failed", retries=0, doc_md="Fails the run when any task of it failed.")
    def watcher() -> None:
        raise AirflowFailException("a task of this run failed: see the failed tasks' logs")

    landed = land()
    batches = discover()
    landed >> batches
    verdicts = validate.expand(group=batches)
    loaded, quarantined = load(verdicts), quarantine(verdicts)
    built = dbt_build()
    published = publish()
    [loaded, quarantined] >> built >> published
    [landed, batches, verdicts, loaded, quarantined, built, published] >> watcher()


continuum_pipeline()
