"""The DAG's tasks as plain functions of Settings and JSON values: what Airflow calls, and what tests
call without Airflow. Each is idempotent: run twice, the second run finds its work done."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from common.settings import Settings
from common.times import parse_as_of
from continuum.pipeline import (
    dbt,
    discover,
    feedback,
    known_ids,
    land,
    late_counts,
    publish,
    quarantine,
    validate,
    warehouse,
)
from continuum.pipeline.batches import BatchRef
from continuum.pipeline.validate import BatchVerdict

log = logging.getLogger(__name__)

#: At most this many batches per run. Batches are validated in groups (`discover.in_groups`: a mapped
#: task per group of about 1 M events, so a run maps a handful of tasks whatever its number of batches)
#: and loaded many per transaction, so the bound is not Airflow's 1024 mapped instances any more. A
#: back-load of 10 M events lands in about 1,100 batches; 10,000 is nine times that, and keeps the
#: discover task's XCom (every batch's name and paths, about 400 bytes each) near 4 MB in Airflow's
#: metadata DB. A backlog beyond it (days of a lander service's 5-second batches while Airflow was
#: down) is worked off over several runs, oldest first.
MAX_BATCHES_PER_RUN = 10_000


def land_new_events(settings: Settings) -> str | None:
    """Land what the broker holds; None (nothing done) when a lander service is running. Raises
    land.LandingBlocked when a lander that is not a service holds the landing lock."""
    if land.service_is_landing(settings):
        return None
    return land.land_until_caught_up(settings)


def discover_groups(settings: Settings, limit: int = MAX_BATCHES_PER_RUN) -> list[dict[str, Any]]:
    """The new batches in a few groups, each validated by one GX run per suite (`validate_group`), and
    the ids the run knows, written once for all groups (`discover.plan_groups`)."""
    with warehouse.connect(settings) as con:
        batches = discover.new_batches(con, settings)
        if len(batches) > limit:
            log.info(
                "%d new batches: taking the first %d, the rest wait for the next run", len(batches), limit
            )
        groups = discover.plan_groups(con, settings, batches[:limit])
    log.info("%d batches in %d validation groups", min(len(batches), limit), len(groups))
    return [group.to_xcom() for group in groups]


def validate_group(settings: Settings, group: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate a group of batches and render the Data Docs pages of its GX run: here GX is loaded
    already, where the publish task, a process of its own when deployed, paid GX's import and context
    for them (about 3 s of CPU, docs/pipeline.md)."""
    found = discover.Group.from_xcom(group)
    verdicts = validate.validate_batches(
        settings, found.batches, found.known_ids_paths, found.late_counts_path
    )
    validate.render_data_docs(settings, verdicts)
    return [v.to_xcom() for v in verdicts]


def validate_one(settings: Settings, batch: dict[str, Any]) -> dict[str, Any]:
    return validate.validate_batch(settings, BatchRef.from_xcom(batch)).to_xcom()


def _verdicts(values: Iterable[Any]) -> list[BatchVerdict]:
    """Verdicts from the validate task's output: one per batch, or a list per group.

    Airflow hands a mapped task's output as a lazy sequence: read whole with one slice, not iterated.
    Iterating asks for the item one past the end, and Airflow's client logs that expected miss as an
    error ("XCom not found", apache/airflow#73175): three error lines in every healthy run's log."""
    flat: list[dict[str, Any]] = []
    for value in values[:] if isinstance(values, Sequence) else values:
        if isinstance(value, dict):
            flat.append(value)
        elif value:
            flat.extend(v for v in value if v)
    return [BatchVerdict.from_xcom(v) for v in flat]


def load_passed(settings: Settings, verdicts: Iterable[Any]) -> dict[str, int]:
    """Load the batches that passed; rows that broke a ROW rule are held in quarantine instead."""
    passed = [v for v in _verdicts(verdicts) if v.passed]
    counts = {"batches": 0, "events": 0, "dead_letters": 0, "already_loaded": 0, "rows_held": 0}
    if not passed:
        return counts
    with warehouse.connect(settings) as con:
        for outcome in quarantine.load_all_validated(con, settings, passed):
            counts["batches" if outcome.loaded else "already_loaded"] += 1
            counts["events"] += outcome.events
            counts["dead_letters"] += outcome.dead_letters
            counts["rows_held"] += outcome.held_rows
        feedback.tell_providers_of_held_records(con, settings)
        if counts["events"]:  # the rows just loaded are read now, not by the next run
            known_ids.kept_loaded_ids(con, settings)
            late_counts.kept_late_counts(con, settings)
    log.info("loaded %s", counts)
    return counts


def quarantine_failed(settings: Settings, verdicts: Iterable[Any]) -> list[str]:
    """Quarantine the batches that broke a BATCH rule or could not be read; their dead letters load."""
    failed = [v for v in _verdicts(verdicts) if not v.passed]
    if not failed:
        return []
    with warehouse.connect(settings) as con:
        for verdict in failed:
            quarantine.quarantine_batch(con, settings, verdict)
        feedback.tell_providers_of_held_records(con, settings)
    return [v.ref.name for v in failed]


def build_warehouse(settings: Settings, as_of: str | None) -> str:
    with warehouse.connect(settings):
        pass  # dbt's sources are the raw tables: make sure they exist even before the first load
    return dbt.dbt_build(settings, parse_as_of(as_of))


def publish_all(settings: Settings) -> dict[str, Any]:
    """Publish the warehouse and exports when the build made something readers do not have yet.

    A skipped build (nothing new, docs/pipeline.md "Incrementality") left the warehouse as it was
    published: the copy and exports stay as they are, not copied again. Otherwise only the tables that
    changed are written into the copy, and only the exports of marts that changed are written again
    (docs/pipeline.md, "Publishing only what changed"). The Data Docs are the validate tasks' (each
    renders its own run's pages)."""
    build = dbt.read_build_state(settings)
    if publish.is_published(settings, build):
        published = settings.published_warehouse_path
        exports = publish.published_exports(settings)
        log.info(
            "the published copy and exports are those of this build: %s",
            publish.describe_published(settings, build),
        )
    else:
        # The record is written after every export: only with it are the exports on disk those of the
        # published copy, and a mart this publish did not change may keep its export.
        exports_match_copy = publish.published_record(settings) is not None
        publish.forget_published(settings)
        beside_copy = settings.published_warehouse_path.exists()  # an update, not a first copy
        with publish.MartExports(settings, exports_match_copy, beside_copy) as mart_exports:
            published = publish.publish_changes(settings, on_changed=mart_exports.changed).path
            exports = mart_exports.finish()
        publish.record_published(settings, build, exports)
    return {
        "warehouse": str(published),
        "exports": [str(p) for p in exports],
        "data_docs": str(settings.data_docs_dir / "index.html"),
        "published": publish.describe_published(settings, build),
    }
