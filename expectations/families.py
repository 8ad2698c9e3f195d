"""The frames the suites run on: many landed files at once, read and shaped by DuckDB.

A validation run covers a group of landed files (a few per run, not one per file). DuckDB reads every
events file of the group into one table `landed` with a `row_id` (the frames' index, so that a failed
expectation's unexpected rows map back to their file and offset), then derives:

- the batch frame: one row per event with the row-level columns (the year of `time`, conflicting copies)
  and, on the first row of each file only, the file's own figures (rows beyond the offset span, re-sent
  share, share of events ahead of landing, the largest share of one `time`, volume against the provider's
  history...). Those figures are null on every other row and GX skips nulls, so a failing file shows up
  exactly once among the unexpected rows, whatever its size;
- one frame per family: the rows of its types with the `data` fields the suites need (extracted by
  DuckDB, never parsed row by row in Python) and what only the network's other events can say: whether
  an exit's enrollment, a status change's referral, a service's referral is known (in this run's files or
  in the warehouse), and whether a record's own id was claimed by another event.

What the contract check already refuses at landing (enumerations, UUIDs, required fields, conditional
fields, source/topic, dataschema/type) is not derived here: no landed row can break it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb
import pandas as pd

from common.duckdb_limits import bound
from common.files import atomic_path
from common.settings import Settings
from streams.contract import enum_values

#: Family name -> the event types it covers, in the order of the event contract.
FAMILIES: dict[str, tuple[str, ...]] = {
    "participant": ("participant.enrolled", "participant.exited"),
    "consent": ("consent.granted", "consent.revoked"),
    "referral": ("referral.requested", "referral.status_changed"),
    "service": ("service.delivered",),
    "incident": ("incident.recorded",),
    "custody_justice": ("custody.admitted", "custody.released", "justice.arrested"),
    "outcome": ("outcome.recorded",),
}

#: The suite that runs on every row of the group (envelope, lineage, each file's figures).
BATCH_SUITE = "batch"

#: A file's figures are judged on at least this many rows (a handful can share a time by chance).
MIN_ROWS_FOR_SHARES = 20
#: The provider's history counts only after this many loaded batches.
MIN_HISTORY_BATCHES = 5
LATE_DAYS = 7

log = logging.getLogger(__name__)

__all__ = ["FAMILIES", "BATCH_SUITE", "LandedFile", "GroupFrames", "enum_values", "family_of"]


def family_of(event_type: str) -> str | None:
    for family, types in FAMILIES.items():
        if event_type in types:
            return family
    return None


@dataclass(frozen=True)
class LandedFile:
    """One landed events file as the suites see it: the name and lineage its file name promises."""

    batch_name: str
    provider_id: str | None
    topic: str
    partition: int
    first_offset: int
    last_offset: int
    events_path: str


#: Reference checks: (family, count on the family frame, referring type, data field, referred type).
#: The referred type's own id field has the same name as the referring field. Counted per file (on its
#: first row of the family): they are warnings, and a per-row list of thousands would cost more to
#: serialise than to compute.
REFERENCES = (
    (
        "participant",
        "exits_of_unknown_enrollments",
        "participant.exited",
        "enrollment_id",
        "participant.enrolled",
    ),
    (
        "participant",
        "enrolments_of_unknown_referrals",
        "participant.enrolled",
        "referral_id",
        "referral.requested",
    ),
    (
        "referral",
        "changes_of_unknown_referrals",
        "referral.status_changed",
        "referral_id",
        "referral.requested",
    ),
    ("service", "services_of_unknown_referrals", "service.delivered", "referral_id", "referral.requested"),
)

#: The `data` fields a family's ROW rules read, row by row.
ROW_FIELDS = {"referral": ("to_provider_id",)}

#: Records whose own id must not be claimed by two different events: (family, type, id field).
OWN_IDS = (
    ("participant", "participant.enrolled", "enrollment_id"),
    ("consent", "consent.granted", "consent_id"),
    ("referral", "referral.requested", "referral_id"),
    ("service", "service.delivered", "service_id"),
    ("incident", "incident.recorded", "incident_id"),
)

#: Optional fields whose null share in a file is reported (a provider's export that stopped filling them).
NULL_SHARES = {
    "participant": ("participant.enrolled", ("risk_level", "birth_year", "zip3")),
    "service": ("service.delivered", ("duration_minutes",)),
}


def known_ids_query(sources: Sequence[str]) -> str:
    """DISTINCT (type, known_id): the ids of the referred types (an enrolment's `enrollment_id`, a
    request's `referral_id`) in the union of `sources`, each a query with columns `type` and `data`."""
    referred = sorted({(ref_type, field) for _, _, _, field, ref_type in REFERENCES})
    cases = " ".join(f"WHEN type = '{t}' THEN data->>'{f}'" for t, f in referred)
    types = ", ".join(f"'{t}'" for t in sorted({t for t, _ in referred}))
    union = " UNION ALL ".join(f"({source})" for source in sources)
    return f"SELECT DISTINCT type, CASE {cases} END AS known_id FROM ({union}) WHERE type IN ({types})"


def write_known_ids(
    con: duckdb.DuckDBPyConnection, events_paths: Sequence[str], loaded_events: str | None, target: Path
) -> Path:
    """Write the ids a run knows (its new events files' and, `loaded_events` a query of columns `type` and
    `data` such as `SELECT type, data FROM raw.events`, those loaded before) to `target` (Parquet,
    `atomic_path`): computed once per run, read by each validation group instead of every other group's
    files and the warehouse."""
    sources = ["SELECT type, data FROM read_parquet($paths)"] if events_paths else []
    if loaded_events:
        sources.append(loaded_events)
    query = known_ids_query(sources) if sources else "SELECT NULL::VARCHAR AS type, NULL::VARCHAR AS known_id"
    params = {"paths": list(events_paths)} if events_paths else {}
    with atomic_path(target) as tmp:
        con.execute(f"COPY ({query}) TO '{tmp}' (FORMAT parquet)", params)
    return target


def late_counts_query(events: str) -> str:
    """Per topic, the events of `events` (a relation with kafka_topic, landed_at and time) whose lateness
    can be told (`told`: both times known) and how many of them landed more than LATE_DAYS after their
    time (`late`). A topic's share of late events is its summed `late` over its summed `told`, over any
    union of such counts (the warehouse's kept ones and those of the rows loaded since)."""
    return (
        "SELECT kafka_topic, count(late) AS told, sum(late) AS late FROM (SELECT kafka_topic, "
        f"(landed_at > time + INTERVAL {LATE_DAYS} DAY)::INT AS late FROM {events}) GROUP BY kafka_topic"
    )


def write_late_counts(con: duckdb.DuckDBPyConnection, counts: str, target: Path) -> Path:
    """Write `counts` (a query of `late_counts_query`'s columns, or a union of them) to `target`, summed per
    topic (Parquet, `atomic_path`)."""
    summed = (
        "SELECT kafka_topic, sum(told)::BIGINT AS told, sum(late)::BIGINT AS late "
        f"FROM ({counts}) GROUP BY kafka_topic"
    )
    with atomic_path(target) as tmp:
        con.execute(f"COPY ({summed}) TO '{tmp}' (FORMAT parquet)")
    return target


class GroupFrames:
    """A group of landed files in DuckDB, and the frames the suites run on.

    `history_db` is the warehouse (read only) for the provider's history and the ids loaded earlier;
    `known_ids_paths` hold the run's known ids (`write_known_ids`: the warehouse's, kept between runs,
    and every new file's: continuum/pipeline/known_ids.py and discover.py), since a status change and its
    referral come from two providers and may land in two groups. Without them, ids are known from this
    group's files and the warehouse. `settings` bound DuckDB's memory (common/duckdb_limits.py)."""

    def __init__(
        self,
        files: Sequence[LandedFile],
        history_db: Path | None = None,
        known_ids_paths: Sequence[str] = (),
        settings: Settings | None = None,
        late_counts_path: str | None = None,
    ) -> None:
        self.files = list(files)
        self.late_counts_path = late_counts_path
        self.con = duckdb.connect()
        if settings is not None:
            bound(self.con, settings)
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.register("files_df", pd.DataFrame([asdict(f) for f in self.files], columns=_FILE_COLUMNS))
        self.con.execute("CREATE TEMP TABLE files AS SELECT * FROM files_df")
        self.con.unregister("files_df")
        self._read_events()
        self.has_history = history_db is not None and history_db.exists() and self._attach(history_db)
        self._history()
        self._known_ids(known_ids_paths)

    def _attach(self, history_db: Path) -> bool:
        """The warehouse, read only; False when a writer holds it (another process loading, or this
        process releasing): references and history are then judged on this run's files alone (they
        are warnings: nothing is held on them)."""
        try:
            self.con.execute(f"ATTACH '{history_db}' AS wh (READ_ONLY)")
        except duckdb.Error as exc:
            log.warning("warehouse not readable for history (%s): this run's files only", exc)
            return False
        return True

    def close(self) -> None:
        self.con.close()

    def _read_events(self) -> None:
        paths = [f.events_path for f in self.files]
        if not paths:
            raise ValueError("a group to validate needs at least one landed file")
        self.con.execute(
            """
            CREATE TEMP TABLE landed AS
            SELECT (row_number() OVER () - 1)::BIGINT AS row_id, f.batch_name, f.provider_id,
                   f.topic AS named_topic, f."partition" AS named_partition,
                   f.first_offset, f.last_offset, e.* EXCLUDE (filename)
            FROM read_parquet($paths, filename = true) AS e
            JOIN files AS f ON f.events_path = e.filename
            """,
            {"paths": paths},
        )

    @property
    def row_count(self) -> int:
        return self.con.execute("SELECT count(*) FROM landed").fetchone()[0]

    def locations(self) -> pd.DataFrame:
        """row_id -> batch_name, kafka_offset: where each unexpected row came from."""
        return self.con.execute("SELECT row_id, batch_name, kafka_offset FROM landed ORDER BY row_id").df()

    def _history(self) -> None:
        """Per provider: loaded batches, their largest size, and the share of events landed late."""
        if not self.has_history:
            self.con.execute(
                "CREATE TEMP TABLE history (provider_id VARCHAR, batches BIGINT, max_events BIGINT, "
                "late_share DOUBLE)"
            )
            return
        self.con.execute(
            f"""
            CREATE TEMP TABLE history AS
            WITH sizes AS (
                SELECT provider_id, count(*) AS batches, max(events) AS max_events
                FROM wh.raw.batches WHERE status = 'loaded' AND events > 0 GROUP BY provider_id
            ),
            lateness AS (
                SELECT kafka_topic, sum(late)::DOUBLE / nullif(sum(told), 0) AS late_share
                FROM ({self._late_counts()}) WHERE kafka_topic IN (SELECT DISTINCT topic FROM files)
                GROUP BY kafka_topic
            )
            SELECT sizes.*, l.late_share
            FROM sizes LEFT JOIN (
                SELECT f.provider_id, avg(lateness.late_share) AS late_share
                FROM lateness JOIN (SELECT DISTINCT topic, provider_id FROM files) AS f
                    ON f.topic = lateness.kafka_topic
                GROUP BY f.provider_id
            ) AS l USING (provider_id)
            WHERE sizes.provider_id IN (SELECT provider_id FROM files)
            """
        )

    def _late_counts(self) -> str:
        """The warehouse's late counts per topic: the run's file of them (`late_counts_path`, every row
        loaded before the run: continuum/pipeline/late_counts.py), else counted from every row."""
        if self.late_counts_path and Path(self.late_counts_path).exists():
            return f"SELECT * FROM read_parquet('{self.late_counts_path}')"
        return late_counts_query("wh.raw.events WHERE kafka_topic IN (SELECT DISTINCT topic FROM files)")

    def _known_ids(self, known_ids_paths: Sequence[str]) -> None:
        """Ids of enrollments and referrals known to this run: in its files or loaded before."""
        sources = ["SELECT type, data FROM landed"]
        if known_ids_paths and all(Path(p).exists() for p in known_ids_paths):
            self.con.execute(
                f"CREATE TEMP TABLE known_ids AS {known_ids_query(sources)} "
                "UNION SELECT type, known_id FROM read_parquet($paths)",
                {"paths": list(known_ids_paths)},
            )
            return
        if known_ids_paths:
            log.warning("known ids %s missing: ids known from this group and the warehouse", known_ids_paths)
        if self.has_history:
            sources.append("SELECT type, data FROM wh.raw.events")
        self.con.execute(f"CREATE TEMP TABLE known_ids AS {known_ids_query(sources)}")

    def batch_frame(self) -> pd.DataFrame:
        """Every row with the row-level columns, and each file's figures on its first row only. Only the
        columns the suites read: where a row came from is in `locations()` (strings per row in pandas
        cost most of a frame's memory)."""
        # Aggregates per file and per (source, id) joined back to the rows, not windows over every row:
        # a third of the CPU on a group of 500,000 events, the same figures (docs/pipeline.md).
        return (
            self.con.execute(
                f"""
            WITH rows AS (
                SELECT row_id, batch_name, provider_id, kafka_offset, first_offset, last_offset,
                       named_topic, named_partition, kafka_topic, kafka_partition, kafka_timestamp,
                       source, id, time, landed_at, hash(type, time, subject, data) AS content
                FROM landed
            ),
            conflicting AS (
                SELECT source, id, true AS has_conflicting_copy
                FROM rows GROUP BY source, id HAVING min(content) <> max(content)
            ),
            copies AS (  -- re-sent copies of a file: its rows beyond one per (source, id, content)
                SELECT batch_name, count(*) AS distinct_copies
                FROM (SELECT DISTINCT batch_name, source, id, content FROM rows) GROUP BY batch_name
            ),
            times AS (
                SELECT batch_name, max(rows_at_time) AS same_time_rows
                FROM (SELECT batch_name, time, count(*) AS rows_at_time FROM rows GROUP BY batch_name, time)
                GROUP BY batch_name
            ),
            per_file AS (
                SELECT batch_name, any_value(provider_id) AS provider_id,
                       min({{'offset': kafka_offset, 'row': row_id}}).row AS first_row_id,
                       count(*) AS batch_rows,
                       count(*) - (max(last_offset) - max(first_offset) + 1) AS rows_beyond_offset_span,
                       count(*) FILTER (WHERE kafka_offset NOT BETWEEN first_offset AND last_offset)
                           AS offsets_outside_name,
                       count(*) - count(DISTINCT kafka_offset) AS repeated_offsets,
                       count(*) FILTER (
                           WHERE kafka_topic <> named_topic OR kafka_partition <> named_partition
                       ) AS rows_of_another_partition,
                       avg((epoch(time) - epoch(landed_at) > 0)::INT) AS ahead_share,
                       avg((landed_at > time + INTERVAL {LATE_DAYS} DAY)::INT) AS late_share,
                       count(*) FILTER (WHERE kafka_timestamp IS NULL) AS missing_kafka_timestamps
                FROM rows GROUP BY batch_name
            ),
            figures AS (
                SELECT per_file.*,
                       (batch_rows - copies.distinct_copies) / batch_rows AS resent_share,
                       times.same_time_rows / batch_rows AS max_time_value_share,
                       CASE WHEN batch_rows >= {MIN_ROWS_FOR_SHARES}
                           THEN per_file.late_share - history.late_share END AS late_share_above_history,
                       CASE WHEN history.batches >= {MIN_HISTORY_BATCHES}
                           THEN batch_rows / history.max_events END AS volume_to_history_max
                FROM per_file
                JOIN copies USING (batch_name)
                JOIN times USING (batch_name)
                LEFT JOIN history ON history.provider_id = per_file.provider_id
            )
            SELECT rows.row_id, year(rows.time) AS time_year,
                   coalesce(c.has_conflicting_copy, false) AS has_conflicting_copy,
                   {", ".join(f"figures.{c}" for c in _PER_FILE)},
                   figures.late_share_above_history, figures.volume_to_history_max
            FROM rows
            LEFT JOIN conflicting AS c
                ON c.source IS NOT DISTINCT FROM rows.source AND c.id IS NOT DISTINCT FROM rows.id
            LEFT JOIN figures ON figures.first_row_id = rows.row_id
            ORDER BY rows.row_id
            """
            )
            .df()
            .set_index("row_id")
        )

    def family_frame(self, family: str) -> pd.DataFrame:
        """The rows of `family` with the `data` fields its ROW rules need and, on each file's first row
        of the family, its counts of unknown references and reused record ids and, on its first row of
        the type, its null shares. Per-file figures are aggregates joined back, as in `batch_frame`."""
        fields = [f"data->>'{f}' AS \"{f}\"" for f in ROW_FIELDS.get(family, ())]
        references = [
            f"CASE WHEN type = '{referring}' AND data->>'{field}' IS NOT NULL THEN "
            f"(data->>'{field}') NOT IN (SELECT known_id FROM known_ids WHERE type = '{referred}') "
            f"END AS {column}"
            for fam, column, referring, field, referred in REFERENCES
            if fam == family
        ]
        own_ids = [(t, f) for fam, t, f in OWN_IDS if fam == family]
        # A record id claimed by two events: (type, id field value) groups whose event ids differ.
        reused = [
            f"(SELECT data->>'{f}' AS own_id, min(id) <> max(id) AS {f}s_reused FROM family_rows "
            f"WHERE type = '{t}' GROUP BY own_id) AS reused_{f}"
            for t, f in own_ids
        ]
        reused_joins = "".join(
            f" LEFT JOIN {table} ON family_rows.type = '{t}' "
            f"AND reused_{f}.own_id IS NOT DISTINCT FROM family_rows.data->>'{f}'"
            for table, (t, f) in zip(reused, own_ids, strict=True)
        )
        flags = [r.rsplit(" AS ", 1)[1] for r in references] + [f"{f}s_reused" for _, f in own_ids]
        event_type, null_columns = NULL_SHARES.get(family, ("", ()))
        selected = ", ".join(
            [
                "row_id, batch_name, provider_id, kafka_offset, type",
                *fields,
                *references,
                *(f"reused_{f}.{f}s_reused" for _, f in own_ids),
                *(f"data->>'{c}' IS NULL AS {c}_is_null" for c in null_columns),
            ]
        )
        per_file = "".join(f", count(*) FILTER (WHERE {flag}) AS {flag}" for flag in flags)
        null_shares = "".join(f", avg({c}_is_null::INT) AS {c}_null_share" for c in null_columns)
        first = "min({'offset': kafka_offset, 'row': row_id}).row"
        outputs = "".join(
            [
                *(f", flagged.{f}" for f in ROW_FIELDS.get(family, ())),
                *(f", CASE WHEN flagged.row_id = f.first_row_id THEN f.{c} END AS {c}" for c in flags),
                *(
                    f", CASE WHEN flagged.row_id = t.first_row_id AND t.type_rows >= {MIN_ROWS_FOR_SHARES} "
                    f"THEN t.{c}_null_share END AS {c}_null_share"
                    for c in null_columns
                ),
            ]
        )
        return (
            self.con.execute(
                f"""
                WITH family_rows AS (
                    SELECT row_id, batch_name, provider_id, kafka_offset, type, id, data
                    FROM landed WHERE type IN (SELECT unnest($types))
                ),
                flagged AS (SELECT {selected} FROM family_rows{reused_joins}),
                per_file AS (
                    SELECT batch_name, {first} AS first_row_id{per_file} FROM flagged GROUP BY batch_name
                ),
                per_type AS (
                    SELECT batch_name, type, {first} AS first_row_id, count(*) AS type_rows{null_shares}
                    FROM flagged WHERE type = '{event_type}' GROUP BY batch_name, type
                )
                SELECT flagged.row_id, flagged.provider_id{outputs}
                FROM flagged
                JOIN per_file AS f USING (batch_name)
                LEFT JOIN per_type AS t ON t.batch_name = flagged.batch_name AND t.type = flagged.type
                ORDER BY flagged.row_id
                """,
                {"types": list(FAMILIES[family])},
            )
            .df()
            .set_index("row_id")
        )


_FILE_COLUMNS = [
    "batch_name",
    "provider_id",
    "topic",
    "partition",
    "first_offset",
    "last_offset",
    "events_path",
]
_PER_FILE = (
    "batch_rows",
    "rows_beyond_offset_span",
    "offsets_outside_name",
    "repeated_offsets",
    "rows_of_another_partition",
    "resent_share",
    "ahead_share",
    "max_time_value_share",
    "late_share",
    "missing_kafka_timestamps",
)
