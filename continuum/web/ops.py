"""The operator view: lag per topic, the last DAG runs, quarantined batches, dead letters, data quality
and the latest accesses of the audit trail. Each part is read on its own and says why when it cannot be
shown, so that one missing source (no broker, no Airflow api-server) does not hide the others."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from common.settings import Settings
from continuum.web import audit, lag
from continuum.web.airflow_api import AirflowApi, AirflowApiError
from continuum.web.warehouse import dict_rows, has_table, scalar

DAG_RUN_LIMIT = 10
QUALITY_LIMIT = 200
QUARANTINE_LIMIT = 50
AUDIT_LIMIT = 20


@dataclass
class Part:
    """One part of the page: its rows, or the reason there are none to show."""

    rows: list[dict] = field(default_factory=list)
    unavailable: str = ""
    note: str = ""  # shown above the rows: what is partial about them


def topic_lag(settings: Settings) -> Part:
    try:
        topics = lag.per_topic(settings)
    except Exception as error:  # whatever breaks here must not take the rest of the page with it
        return Part(unavailable=f"lag unavailable: {error}")
    note = f"broker not reachable, end offsets unknown: {topics.broker_error}" if topics.broker_error else ""
    return Part(rows=topics.rows, unavailable=note if not topics.rows else "", note=note)


def dag_runs(api: AirflowApi) -> Part:
    """The last DAG runs and their outcome, with the tasks that failed, from Airflow's own REST API."""
    try:
        return Part(rows=api.dag_runs(DAG_RUN_LIMIT))
    except AirflowApiError as error:
        return Part(unavailable=str(error))


def latest_accesses(settings: Settings) -> Part:
    """The newest lines of the audit trail; `continuum access audit` reads all of it."""
    rows = [
        {k: record.get(k) for k in ("at", "credential", "role", "action", "path", "rows_of", "client")}
        for record in audit.latest(settings.audit_log_path, AUDIT_LIMIT)
    ]
    note = f"the newest {AUDIT_LIMIT}; `continuum access audit` shows all" if len(rows) == AUDIT_LIMIT else ""
    return Part(rows=rows, note=note)


def quarantined_batches(con: duckdb.DuckDBPyConnection) -> Part:
    if not has_table(con, "raw", "batches"):
        return Part(unavailable="the published warehouse has no raw.batches ledger yet")
    count = scalar(con, "select count(*) from raw.batches where status = 'quarantined'")
    rows = dict_rows(
        con,
        "select batch_name, provider_id, events, dead_letters, failed_expectations, validated_at "
        "from raw.batches where status = 'quarantined' order by validated_at desc, batch_name limit ?",
        [QUARANTINE_LIMIT],
    )
    for row in rows:
        row["failed_expectations"] = _expectation_names(row["failed_expectations"])
    note = (
        f"the {len(rows)} most recent of {count}; `continuum quarantine list` shows all"
        if count > len(rows)
        else ""
    )
    return Part(rows=rows, note=note)


def _expectation_names(failed: object) -> list[str]:
    """The ledger keeps the failing expectations as a JSON list of lines ("table: expectation(column):
    n of m rows, e.g. [...]"): the examples are left to the validation result, the page keeps the rest."""
    try:
        items = json.loads(failed) if isinstance(failed, str) else failed
    except ValueError:
        return [str(failed)]
    if not isinstance(items, list):
        return [str(items)] if items else []
    return [str(item).split(", e.g.")[0] for item in items]


def dead_letters(con: duckdb.DuckDBPyConnection) -> Part:
    if not has_table(con, "raw", "dead_letters"):
        return Part(unavailable="the published warehouse has no raw.dead_letters table yet")
    return Part(
        rows=dict_rows(
            con,
            "select coalesce(provider_id, '(no provider)') as provider_id, error_reason, "
            "count(*) as dead_letters from raw.dead_letters group by all order by provider_id, error_reason",
        )
    )


def data_quality(con: duckdb.DuckDBPyConnection) -> Part:
    if not has_table(con, "marts", "provider_data_quality"):
        return Part(unavailable="the published warehouse has no marts.provider_data_quality yet")
    return Part(
        rows=dict_rows(
            con,
            f"select * from marts.provider_data_quality order by landed_on desc, provider_id "
            f"limit {QUALITY_LIMIT}",
        )
    )


def data_docs_index(settings: Settings) -> Path | None:
    index = settings.data_docs_dir / "index.html"
    return index if index.exists() else None
