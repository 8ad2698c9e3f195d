"""What each page shows, read from the published warehouse: the context its template renders. The app
and the static report both build the funder page here, so they cannot disagree on a number."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import pyarrow as pa

from common.directory import load_directory
from common.settings import PROJECT_ROOT, Settings
from continuum.web import drilldown, funders, measure_docs, not_accepted, ops, providers
from continuum.web.airflow_api import AirflowApi
from continuum.web.warehouse import arrow, published, require_published, require_table, version

MEASURES_DOC = PROJECT_ROOT / "docs" / "measures.md"


def provider_names(settings: Settings) -> dict[str, str]:
    return {p.provider_id: p.name for p in load_directory(settings.provider_directory).values()}


def built_at(path: Path) -> str:
    """When the published copy was made (its file time), as funders read a date."""
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")


def funder_context(settings: Settings) -> dict:
    path = settings.published_warehouse_path
    require_published(path)
    docs_version = MEASURES_DOC.stat().st_mtime_ns if MEASURES_DOC.exists() else 0
    measures = _measures(path, version(path), docs_version, settings.provider_directory)
    shown = {m.measure_id for m in measures}
    missing = [label for measure_id, label in funders.MEASURE_LABELS.items() if measure_id not in shown]
    return {
        "measures": measures,
        "missing": missing,
        "reading_guide": measure_docs.preamble(MEASURES_DOC, list(funders.MEASURE_LABELS)),
        "built_at": built_at(path),
    }


@lru_cache(maxsize=2)
def _measures(path: Path, _version: tuple, _docs_version: int, directory: Path) -> list[funders.Measure]:
    """Drawing the charts takes about a second; it is done once per published copy, not per request."""
    names = {p.provider_id: p.name for p in load_directory(directory).values()}
    with published(path) as con:
        require_table(con, "marts", "funder_outcomes")
        return funders.load_measures(con, names, MEASURES_DOC)


def funder_outcomes_table(settings: Settings) -> pa.Table:
    with published(settings.published_warehouse_path) as con:
        require_table(con, "marts", "funder_outcomes")
        return arrow(con, funders.OUTCOMES_SQL)


def provider_context(settings: Settings, provider_id: str, filters: providers.Filters) -> dict:
    path = settings.published_warehouse_path
    with published(path) as con:
        require_table(con, "provider_views", "provider_referral_handoffs")
        require_table(con, "marts", "provider_handoff_summary")
        rows, total = providers.referrals(con, provider_id, filters)
        context = {
            "summary": providers.summary(con, provider_id),
            "action": providers.needs_action(con, provider_id),
            "rows": rows,
            "total": total,
            "monthly": providers.monthly(con, provider_id),
            "service_types": providers.service_types(con, provider_id),
            "not_accepted_by_reason": not_accepted.by_reason(con, provider_id),
            "not_accepted": not_accepted.latest(con, provider_id),
        }
    names = provider_names(settings)
    return {
        **context,
        "provider_id": provider_id,
        "provider_name": names.get(provider_id, provider_id),
        "names": names,
        "filters": filters,
        "directions": providers.DIRECTIONS,
        "statuses": providers.STATUSES,
        "flags": providers.FLAGS,
    }


def not_accepted_export(settings: Settings, provider_id: str) -> pa.Table:
    with published(settings.published_warehouse_path) as con:
        require_table(con, "provider_views", "provider_not_accepted")
        return not_accepted.export(con, provider_id)


def provider_export(settings: Settings, provider_id: str) -> pa.Table:
    with published(settings.published_warehouse_path) as con:
        require_table(con, "provider_views", "provider_referral_handoffs")
        return providers.export(con, provider_id)


def ops_context(settings: Settings, api: AirflowApi) -> dict:
    context: dict = {
        "lag": ops.topic_lag(settings),
        "dag_runs": ops.dag_runs(api),
        "accesses": ops.latest_accesses(settings),
        "data_docs": ops.data_docs_index(settings) is not None,
        "data_docs_dir": settings.data_docs_dir,
        "built_at": None,
    }
    path = settings.published_warehouse_path
    if not path.exists():
        missing = ops.Part(unavailable=f"no published warehouse at {path} yet")
        return {**context, "quarantined": missing, "dead_letters": missing, "quality": missing}
    with published(path) as con:
        context |= {
            "quarantined": ops.quarantined_batches(con),
            "dead_letters": ops.dead_letters(con),
            "quality": ops.data_quality(con),
        }
    return {**context, "built_at": built_at(path)}


def drilldown_index(settings: Settings) -> dict:
    path = settings.published_warehouse_path
    with published(path) as con:
        return {"cells": drilldown.unsuppressed_cells(con), "built_at": built_at(path)}


def drilldown_context(settings: Settings, cell: drilldown.Cell) -> dict:
    """The cell and its members; raises NoDrillDown for a suppressed or unknown cell."""
    path = settings.published_warehouse_path
    with published(path) as con:
        row, members, counts = drilldown.members(con, cell)
    label = funders.MEASURE_LABELS.get(cell.measure_id, cell.measure_id)
    return {
        "cell": cell,
        "outcome": row,
        "label": label,
        "members": members,
        "counts": counts,
        "limit": drilldown.MEMBER_LIMIT,
        "built_at": built_at(path),
    }
