"""The providers' history of late events, kept between runs as the known ids are (known_ids.py).

Validation compares each new file's share of events landed late with its provider's history
(`expectations.families`, `late_share_above_history`): per topic, the loaded events whose lateness can
be told and how many of them landed late (`late_counts_query`). Counting them over every row of
`raw.events` took 0.7 s of each validation at 10 M events, growing with the warehouse. They are kept in
`validations/late-counts/loaded-through-<instant>-<rows>.parquet` (`known_ids.kept_through`: written
again for another warehouse or after 5 % more rows), and each run's discover writes the run's file: the
kept counts and those of the rows loaded since, summed (DuckDB skips the row groups loaded before).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from common.settings import Settings
from continuum.pipeline import known_ids
from expectations.families import late_counts_query, write_late_counts
from streams.landing.zone import LandingZone


def directory(settings: Settings) -> Path:
    return LandingZone.for_settings(settings).validations_dir / "late-counts"


def kept_late_counts(con: duckdb.DuckDBPyConnection, settings: Settings) -> tuple[Path, datetime]:
    """The kept file of the warehouse's late counts and the loaded_at it counts through."""
    return known_ids.kept_through(
        con,
        directory(settings),
        lambda predicate, path: write_late_counts(
            con, late_counts_query(f"raw.events WHERE {predicate}"), path
        ),
        "late counts",
    )


def write_run_late_counts(con: duckdb.DuckDBPyConnection, settings: Settings, key: str) -> Path:
    """The run's file of late counts (`key`: the run's batches), every row loaded before the run: the kept
    counts and those of the rows loaded since (`known_ids.run_file`: earlier runs' files are removed)."""
    kept, through = kept_late_counts(con, settings)
    target = known_ids.run_file(directory(settings), key, kept)
    since = late_counts_query(f"raw.events WHERE {known_ids.loaded_after(through)}")
    return write_late_counts(con, f"SELECT * FROM read_parquet('{kept}') UNION ALL {since}", target)
