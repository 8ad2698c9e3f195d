"""The ids the warehouse knows (enrolments' and referral requests', `expectations.families.REFERENCES`),
kept between runs in `validations/known-ids/`, so that a run reads only the rows loaded since.

Reading the ids of every row of `raw.events` took 0.7 to 1.1 s at 10 M events, in every run with new
batches, for a few new rows. `raw.events` is only appended to, and every load stamps `loaded_at` later
than every load before it, so the kept ids and those of the rows loaded after their instant are every id
loaded. The load task brings the file up to date after it loads (`tasks.load_passed`): the ids of the
rows a run loads are read in that run, not in the next one's discover (docs/pipeline.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from common.settings import Settings
from expectations.families import write_known_ids
from streams.landing.zone import LandingZone

log = logging.getLogger(__name__)

#: A kept file (`kept_through`): the ids (or late counts, late_counts.py) of the rows of `raw.events`
#: loaded at or before THROUGH (microseconds since 1970), ROWS rows.
KEPT_FILE = "loaded-through-{through}-{rows}.parquet"
#: ... matched: "." is the only character of its name that a pattern reads otherwise.
KEPT_FILE_PATTERN = KEPT_FILE.replace(".", r"\.").format(through=r"(\d+)", rows=r"(\d+)")
#: The kept file is written again once the rows loaded since it are more than this share of its rows:
#: until then a run reads them (DuckDB skips the row groups loaded before THROUGH).
KEPT_RENEW_SHARE = 0.05
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def directory(settings: Settings) -> Path:
    return LandingZone.for_settings(settings).validations_dir / "known-ids"


def kept_loaded_ids(con: duckdb.DuckDBPyConnection, settings: Settings) -> tuple[Path, datetime]:
    """The kept file of the warehouse's ids and the loaded_at it holds them through (`kept_through`)."""
    return kept_through(
        con,
        directory(settings),
        lambda predicate, path: write_known_ids(con, [], events_loaded(predicate), path),
        "known ids",
    )


def kept_through(
    con: duckdb.DuckDBPyConnection, kept_dir: Path, write: Callable[[str, Path], object], what: str
) -> tuple[Path, datetime]:
    """The file in `kept_dir` of what `write(predicate, path)` reads from the rows of raw.events that
    `predicate` keeps, and the loaded_at it holds them through. Written again (from every row) when there
    is none, when it is not this warehouse's (another count of rows loaded through its instant: a
    warehouse replaced or rebuilt) or when the rows loaded since are more than KEPT_RENEW_SHARE of
    its rows."""
    latest, total = con.execute("SELECT max(loaded_at), count(*) FROM raw.events").fetchone()
    for path in sorted(kept_dir.glob(KEPT_FILE.format(through="*", rows="*"))):
        found = re.fullmatch(KEPT_FILE_PATTERN, path.name)
        if found is None:
            continue
        through, rows = _EPOCH + timedelta(microseconds=int(found[1])), int(found[2])
        counted = f"SELECT count(*) FROM raw.events WHERE NOT {loaded_after(through)}"
        is_this_warehouses = con.execute(counted).fetchone()[0] == rows
        if is_this_warehouses and total - rows <= KEPT_RENEW_SHARE * rows:
            return path, through
    through = latest or _EPOCH
    micros = (through - _EPOCH) // timedelta(microseconds=1)
    path = kept_dir / KEPT_FILE.format(through=micros, rows=total)
    write(f"NOT {loaded_after(through)}", path)
    for old in kept_dir.glob(KEPT_FILE.format(through="*", rows="*")):
        if old != path:
            old.unlink(missing_ok=True)
    log.info("the warehouse's %s written again, %d rows loaded through %s", what, total, through.isoformat())
    return path, through


def run_file(kept_dir: Path, key: str, kept: Path) -> Path:
    """The path of a run's file in `kept_dir` (`key`: the run's batches), beside the kept file `kept`. The
    files of earlier runs are removed: max_active_runs=1, so no other run's tasks read them."""
    target = kept_dir / f"{key}.parquet"
    for old in kept_dir.glob("*.parquet"):
        if old not in (target, kept):
            old.unlink(missing_ok=True)
    return target


def loaded_after(instant: datetime) -> str:
    """A predicate on raw.events' loaded_at: after `instant`, a constant (not a parameter), so that DuckDB
    compares it with each row group's range of loaded_at and skips the row groups loaded before."""
    return f"loaded_at > '{instant.isoformat()}'::timestamptz"


def events_loaded(predicate: str) -> str:
    """The query `write_known_ids` reads the warehouse's ids from: the rows of raw.events that `predicate`
    keeps (`loaded_after` an instant, or not)."""
    return f"SELECT type, data FROM raw.events WHERE {predicate}"
