"""Publish: readers get the warehouse's published tables in a file that is replaced atomically after each
good build, and the public marts as Parquet exports. A record beside them says which build they were made
from, so that a run whose build was skipped (nothing new, docs/pipeline.md) leaves them as they are.

Publishing writes only what changed: the published file, opened read-only, is compared first, one
digest per table, the smallest first (`first_difference`), and kept as it is when no table differs;
else the new file starts as a copy of the published one, and each table not found equal is compared
with the warehouse's by a digest per participant, or per distinct row in a table without
participant_key (a count and a sum of row hashes); only the rows of the keys whose digest differs are
deleted and inserted again. A table that is new, whose columns changed, or of which much changed is
copied whole. The result equals a fresh copy up to 64-bit hash collisions (docs/pipeline.md,
"Publishing only what changed"); an export is rewritten only for a mart that changed, on a thread of its
own while the copy is written (`MartExports`)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from common.duckdb_limits import bound
from common.files import atomic_path, write_atomically
from common.settings import Settings
from continuum.pipeline.dbt import BuildState

log = logging.getLogger(__name__)


#: What readers get of the warehouse: every schema dbt publishes for them (marts, provider views,
#: operators' models, reference lists), and of `raw` only the operators' ledgers. Never staging or
#: intermediate models, nor `raw.events`: they are most of the file and no reader needs them.
UNPUBLISHED_SCHEMAS = ("staging", "intermediate", "main", "information_schema", "pg_catalog")
PUBLISHED_RAW_TABLES = ("batches", "dead_letters")

#: A table with fewer rows than this is copied whole when it changed: its copy takes less than a second,
#: and updating it by difference would save nothing worth the deleted rows it leaves in the file.
DELTA_MIN_ROWS = 100_000
#: Above this share of a table's rows to delete or insert, copying it whole is about as fast (at 10 M
#: events, 2 busy cores: the two digests of the largest table 6.4 s, its whole copy 16.2 s).
DELTA_MAX_SHARE = 1 / 3
#: A deleted row stays in the file until its table is copied whole: above this share of a table's rows
#: deleted, it is (measured: the file stays below 1.3 to 1.4 times the size of a fresh copy).
MAX_DELETED_SHARE = 1 / 4
#: A table updated by difference is copied whole once it takes more blocks than its last whole copy did,
#: scaled to its rows, by this share: inserted rows land in partly filled blocks and deleted ones stay
#: (10 M events: the member rows took 10 % more blocks after one update of 1 % of them).
MAX_GROWTH = 0.10
#: ... and by more than these few blocks (1 MiB): a small table's one new block is no growth worth a copy.
MIN_GROWTH_BLOCKS = 4
#: What a table's comment in the copy says of its last whole copy, measured at the publish after it.
WHOLE_COPY_LAYOUT = "copied whole: {blocks} blocks for {rows} rows"
#: A copy with more of its blocks free than this (a dropped or replaced table's: a DuckDB file never
#: shrinks) is written anew, from an empty file.
MAX_FREE_SHARE = 0.10
#: The column that groups a table's rows for the comparison when it has one (one digest per participant);
#: a table without it is compared row by row (a digest per distinct row).
GROUP_COLUMN = "participant_key"
#: A table with this column (the start of the build in which a participant's rows last changed: dbt's
#: build_started_at(), macros/incremental_outcomes.sql) is compared by each group's count of rows and
#: latest stamp instead of a hash of every row: its model writes a participant's rows together, stamped
#: with the build's start (later than any stamp the copy holds) unless they came out as before (the same
#: count and sum of row hashes, which keep their stamp), so a group whose rows changed has a later stamp
#: or another count (rows only deleted). Exact up to 64-bit hash collisions, as the row hashes. Hashing
#: every row of the member rows (9 M rows with three list columns at 10 M events) took 4.4 s.
STAMP_COLUMN = "refreshed_at"
#: Published tables whose columns are a public interface (warehouse-v1), so carry no STAMP_COLUMN, but
#: whose rows of a participant are written only for the participants that another warehouse table, not
#: published, stamped since: journey_events numbers again the shared events of the participants written
#: since its last build (models/marts/journey_events.sql). Their changed participants are found from
#: those stamps (changed_by_stamp), after the stamp the copy was brought up to (kept in a comment on the
#: copy's GROUP_COLUMN, `record_stamps`); digesting every row of journey_events on both sides took 0.85 s
#: of each publish at 10 M events.
STAMPED_BY = {("marts", "journey_events"): ("intermediate", "int_journeys__shared_events")}
#: The comment on a STAMPED_BY table's GROUP_COLUMN in the copy.
STAMPED_THROUGH = "rows as of the stamps through {stamp}"


def published_tables(con: duckdb.DuckDBPyConnection, catalog: str) -> list[tuple[str, str]]:
    """(schema, table) of `catalog` that readers get, in a stable order."""
    rows = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = ? AND table_type = 'BASE TABLE' ORDER BY 1, 2",
        [catalog],
    ).fetchall()
    return [
        (schema, table)
        for schema, table in rows
        if schema not in UNPUBLISHED_SCHEMAS and (schema != "raw" or table in PUBLISHED_RAW_TABLES)
    ]


@dataclass(frozen=True)
class TableChange:
    """What publishing did to one table: "kept" (no row changed), "updated" (the rows of `keys` keys, each
    a participant or a distinct row, deleted and inserted again) or "replaced" (copied whole)."""

    action: str
    keys: int = 0


@dataclass(frozen=True)
class Publication:
    path: Path
    tables: dict[tuple[str, str], TableChange]


#: Called with (schema, table) of each table a publish finds changed, as soon as it is found.
OnChanged = Callable[[str, str], None]


def publish_warehouse(settings: Settings, delta_min_rows: int = DELTA_MIN_ROWS) -> Path:
    """The published copy, brought up to the warehouse (`publish_changes`); returns its path."""
    return publish_changes(settings, delta_min_rows).path


def publish_changes(
    settings: Settings, delta_min_rows: int = DELTA_MIN_ROWS, on_changed: OnChanged | None = None
) -> Publication:
    """Write what readers need into a file beside the published copy, fsync it, and rename it over the
    published one: a reader opens either the old file or the new one, never a half-written one.

    Tables, not the warehouse file: the warehouse keeps raw events and every staging and intermediate
    model, most of its size, which no reader opens (docs/pipeline.md). The new file starts as a copy of the
    published one and only what differs from the warehouse is written (`publish_table`): equal to a fresh
    copy up to 64-bit hash collisions (a changed group of rows whose count and sum of row hashes both stay
    the same).

    When no table differs (a build with nothing new that changed no answer), the published file is kept
    as it is: copying it and syncing the copy to disk took 1.4 s at 10 M events for no change.

    `on_changed` hears of each table not kept (updated or replaced) as soon as it is written into the copy
    (`MartExports.changed`), before the copy is synced and renamed."""
    target = settings.published_warehouse_path
    look = first_difference(settings, target)
    if look is not None and not look.differs:
        log.info("no published table differs from the warehouse's: %s kept as it is", target)
        os.utime(target)  # readers are shown the file's time as the copy's: it is this build's copy
        return Publication(target, dict.fromkeys(look.same, TableChange("kept")))
    with atomic_path(target) as tmp:
        changes, free_share = write_copy(
            settings, tmp, target, delta_min_rows, look.same if look is not None else frozenset(), on_changed
        )
        if free_share > MAX_FREE_SHARE:
            # A DuckDB file never shrinks: the blocks a dropped or replaced table freed stay in it.
            log.info("%.0f %% of the copy's blocks are free: publishing a new file", 100 * free_share)
            tmp.unlink()
            changes, _ = write_copy(settings, tmp, None, delta_min_rows, on_changed=on_changed)
    log.info("published %d tables to %s", len(changes), target)
    return Publication(target, changes)


@dataclass(frozen=True)
class FirstLook:
    """What a read-only look at the published file found: the tables it found equal to the warehouse's,
    and whether something differs (a table's rows or columns, a table or schema to drop). It stops at
    the first difference: the copy then compares the other tables key by key (changed_groups), and after
    new rows most of them differ."""

    same: frozenset[tuple[str, str]]
    differs: bool


def first_difference(settings: Settings, target: Path) -> FirstLook | None:
    """Compare the published file `target`, opened read-only, with the warehouse, the smallest tables
    first, by one digest per table (`table_digest`), not one per key: at 10 M events, when no table
    differs, 1.3 s against 6.1 s key by key. After new rows the operators' ledgers differ, and the look
    ends there. None when there is no such file or it cannot be opened."""
    if not target.exists():
        return None
    try:
        con = duckdb.connect(str(target), read_only=True)
    except duckdb.Error as error:
        log.warning("the published copy %s cannot be opened (%s)", target, error)
        return None
    with bound(con, settings):
        catalog, tables = attach_warehouse(con, settings)
        if unpublished(con, catalog, tables):
            return FirstLook(frozenset(), True)
        same = []
        for schema, table in sorted(tables, key=lambda t: estimated_rows(con, "source", *t)):
            if table_digest(con, catalog, schema, table) != table_digest(con, "source", schema, table):
                return FirstLook(frozenset(same), True)
            same.append((schema, table))
        return FirstLook(frozenset(same), False)


def table_digest(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> tuple:
    """One digest of a table's rows: its columns, count(*) and the sum of its row hashes (its latest
    STAMP_COLUMN instead, in a table that has one); only its (no) columns when there is no such table.
    Equal digests mean every key's digest is equal (changed_groups) up to 64-bit hash collisions: a row's
    hash covers its key too, and in a stamped table a changed key has a stamp later than every stamp of
    the copy or, rows only deleted, fewer rows."""
    columns = table_columns(con, catalog, schema, table)
    if not columns:
        return ()
    fingerprint = group_fingerprint([column for column, _ in columns])
    rows = con.execute(f"SELECT count(*), {fingerprint} FROM {quoted(catalog, schema, table)}").fetchone()
    return tuple(columns), *rows


def attach_warehouse(con: duckdb.DuckDBPyConnection, settings: Settings) -> tuple[str, list[tuple[str, str]]]:
    """Attach the warehouse read-only as `source` to `con` (a published file or its copy); returns the
    catalog `con` opened and the warehouse's published tables."""
    con.execute(f"ATTACH '{settings.warehouse_path}' AS source (READ_ONLY)")
    catalog = con.execute("SELECT current_database()").fetchone()[0]
    return catalog, published_tables(con, "source")


def estimated_rows(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> int:
    """DuckDB's row count of a table from its storage, without reading it (deleted rows included)."""
    return con.execute(
        "SELECT estimated_size FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
        "AND table_name = ?",
        [catalog, schema, table],
    ).fetchone()[0]


@dataclass(frozen=True)
class Comparison:
    """The groups of rows that differ between `catalog`'s table and the warehouse's (`changed_groups`,
    whose keys are in temp table `changed`), grouped by `key`; `latest_stamp`: the copy's latest
    STAMP_COLUMN, in a table that has one (insert_changed_rows)."""

    key: str
    groups: int
    rows_out: int
    rows_in: int
    latest_stamp: datetime | None = None


def compare_table(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> Comparison | None:
    """Compare `catalog`'s table with the warehouse's (attached as `source`); None when it is new there or
    its columns differ (names, types, order): then no group comparison says anything."""
    columns = table_columns(con, "source", schema, table)
    if table_columns(con, catalog, schema, table) != columns:
        return None
    name, names = quoted(schema, table), [column for column, _ in columns]
    key = group_key(names)
    stamps = latest = None
    if STAMP_COLUMN in names:
        stamps, latest = name, latest_stamp_of(con, name)
    elif GROUP_COLUMN in names and (stamps := stamped_by(con, schema, table)) is not None:
        latest = stamped_through(con, catalog, schema, table)
    found = changed_by_stamp(con, name, key, latest, stamps) if latest is not None else None
    if stamps is not None and found is None:
        log.info("%s: compared group by group (no stamp to go by, or a key's rows deleted unstamped)", name)
    if found is None:
        found = changed_groups(con, name, key, columns)
    return Comparison(key, *found, latest_stamp=latest if stamps == name else None)


def write_copy(
    settings: Settings,
    tmp: Path,
    start_from: Path | None,
    delta_min_rows: int,
    same: Collection[tuple[str, str]] = frozenset(),
    on_changed: OnChanged | None = None,
) -> tuple[dict[tuple[str, str], TableChange], float]:
    """Make `tmp` hold the warehouse's published tables, starting from a copy of `start_from` (None: from
    an empty file). The tables in `same` (found equal in `start_from`, first_difference) are kept
    without comparing them again; `on_changed` hears of each table not kept once it is written. Returns
    what was done to each table and the share of the file's blocks left free."""
    with open_copy(start_from, tmp, settings) as con:
        # A table has no row order (every reader says its own ORDER BY); keeping the source's lets
        # DuckDB write a table with one thread only: a quarter of the copy's time at 100,000.
        con.execute("SET preserve_insertion_order = false")
        # DuckDB's vacuum merges row groups with deleted rows at a checkpoint: it rewrote up to the whole
        # table into new blocks and left the old ones free in the file (up to 1.64 times a fresh copy's
        # size in 12 publishes of 1 M rows, 5 % changed each). MAX_DELETED_SHARE bounds them instead.
        con.execute("SET max_vacuum_tasks = 0")
        catalog, tables = attach_warehouse(con, settings)
        drop_unpublished(con, catalog, tables)
        changes = {}
        for schema, table in tables:
            if start_from is not None and (schema, table) in same:
                changes[schema, table] = TableChange("kept")
                continue
            changes[schema, table] = publish_table(con, catalog, schema, table, delta_min_rows)
            if on_changed is not None and changes[schema, table].action != "kept":
                on_changed(schema, table)
        record_stamps(con, catalog)
        con.execute("DETACH source")
        con.execute("CHECKPOINT")
        total, free = con.execute("SELECT total_blocks, free_blocks FROM pragma_database_size()").fetchone()
    return changes, free / total if total else 0.0


def open_copy(target: Path | None, tmp: Path, settings: Settings) -> duckdb.DuckDBPyConnection:
    """`tmp` opened as a copy of the published file `target` (so that unchanged tables are not written
    again), or as a new empty file when there is none or it cannot be opened."""
    # A publish that crashed may have left its log: replayed into this file, it would change it.
    wal_of(tmp).unlink(missing_ok=True)
    if target is not None and target.exists():
        shutil.copyfile(target, tmp)
    try:
        con = duckdb.connect(str(tmp))
    except duckdb.Error as error:  # not a DuckDB file, a damaged one, or of a storage version unknown
        log.warning("the published copy %s cannot be opened (%s): publishing a new one", target, error)
        tmp.unlink(missing_ok=True)
        wal_of(tmp).unlink(missing_ok=True)
        con = duckdb.connect(str(tmp))
    return bound(con, settings)


def wal_of(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def unpublished(
    con: duckdb.DuckDBPyConnection, catalog: str, tables: list[tuple[str, str]]
) -> list[tuple[str, str | None]]:
    """What `catalog` has and the warehouse no longer publishes: (schema, table) of each such table, and
    (schema, None) of each such schema."""
    published = set(tables)
    schemas = {schema for schema, _ in tables}
    held = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = ? AND table_type = 'BASE TABLE'",
        [catalog],
    ).fetchall()
    held_schemas = con.execute(
        "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ? AND NOT internal", [catalog]
    ).fetchall()
    return [t for t in held if t not in published] + [(s, None) for (s,) in held_schemas if s not in schemas]


def drop_unpublished(con: duckdb.DuckDBPyConnection, catalog: str, tables: list[tuple[str, str]]) -> None:
    """Drop what the copy has and the warehouse no longer publishes; create the schemas it lacks."""
    for schema, table in unpublished(con, catalog, tables):
        con.execute(
            f"DROP TABLE {quoted(schema, table)}" if table else f"DROP SCHEMA {quoted(schema)} CASCADE"
        )
    schemas = {schema for schema, _ in tables}
    for schema in sorted(schemas):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted(schema)}")
    con.execute("CHECKPOINT")  # the dropped tables' blocks are free for the tables written next


def publish_table(
    con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str, delta_min_rows: int
) -> TableChange:
    """Make the copy's table equal to the warehouse's: keep it, delete and insert the groups of rows that
    differ, or replace it whole (`reason_to_replace`)."""
    name = quoted(schema, table)
    found = compare_table(con, catalog, schema, table)
    if found is None:
        return replace_table(con, name, "new, or other columns")
    key, groups, rows_out, rows_in = found.key, found.groups, found.rows_out, found.rows_in
    if groups == 0:
        log.info("%s: kept (no row changed)", name)
        return TableChange("kept")
    rows = con.execute(f"SELECT count(*) FROM source.{name}").fetchone()[0]
    deleted = deleted_rows(con, catalog, schema, table)
    why = reason_to_replace(rows, rows_out, rows_in, deleted, delta_min_rows) or grown_too_much(
        con, catalog, schema, table
    )
    if why:
        return replace_table(con, name, why)
    con.execute(f"DELETE FROM {name} WHERE {in_changed(key)}")
    insert_changed_rows(con, name, key, rows_in, found.latest_stamp)
    log.info("%s: updated %d keys (%d rows deleted, %d inserted)", name, groups, rows_out, rows_in)
    return TableChange("updated", groups)


def latest_stamp_of(con: duckdb.DuckDBPyConnection, name: str) -> datetime | None:
    """The latest STAMP_COLUMN of table `name` (None for an empty table)."""
    return con.execute(f"SELECT max({quoted(STAMP_COLUMN)}) FROM {name}").fetchone()[0]


def stamped_after(stamp: datetime) -> str:
    """A predicate on STAMP_COLUMN: after `stamp`, a constant, not a parameter: DuckDB compares it with
    each row group's range of stamps and skips the row groups written before."""
    return f"{quoted(STAMP_COLUMN)} > '{stamp.isoformat()}'::timestamptz"


def insert_changed_rows(
    con: duckdb.DuckDBPyConnection, name: str, key: str, rows_in: int, after_stamp: datetime | None
) -> None:
    """Insert the warehouse's rows of the keys in temp table `changed` (`rows_in` of them).

    With `after_stamp` (the copy's latest stamp, in a table with STAMP_COLUMN), only the rows stamped
    after it are read: a model writes all of a participant's rows with one stamp, so every row of a
    changed key is stamped after any the copy holds, and DuckDB skips the row groups written before
    (at 10 M events 0.27 s against 1.04 s reading every member row). The count checks it: if the rows
    found are not all `rows_in`, they are taken out again and every row is searched."""
    changed = in_changed(key)
    if after_stamp is not None:
        newer = stamped_after(after_stamp)
        found = con.execute(f"INSERT INTO {name} SELECT * FROM source.{name} WHERE {newer} AND {changed}")
        if found.fetchone()[0] == rows_in:
            return
        log.warning("%s: a changed key has rows stamped before the copy's latest stamp: all searched", name)
        con.execute(f"DELETE FROM {name} WHERE {newer}")  # the rows just inserted: no other is as new
    con.execute(f"INSERT INTO {name} SELECT * FROM source.{name} WHERE {changed}")


def reason_to_replace(
    rows: int, rows_out: int, rows_in: int, deleted: int, delta_min_rows: int
) -> str | None:
    """Why a table of `rows` rows that changed is better copied whole than updated by deleting `rows_out`
    rows and inserting `rows_in` (None: it is not), its copy holding `deleted` deleted rows already."""
    if rows < delta_min_rows:
        return f"{rows} rows, fewer than {delta_min_rows}"
    if max(rows_out, rows_in) > rows * DELTA_MAX_SHARE:
        return f"{max(rows_out, rows_in)} of {rows} rows changed"
    if deleted + rows_out > rows * MAX_DELETED_SHARE:
        return f"{deleted + rows_out} deleted rows would stay in the file, for {rows} rows"
    return None


def grown_too_much(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> str | None:
    """Why the copy's table should be copied whole because it grew (None: it did not grow past
    MAX_GROWTH): its blocks against those of its last whole copy, scaled to its rows. The whole copy's
    layout is kept in the table's comment, written by the first publish that finds none (the table is
    then as it was copied: every update by difference comes after that publish)."""
    name = quoted(schema, table)
    comment = con.execute(
        "SELECT comment FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
        [catalog, schema, table],
    ).fetchone()[0]
    blocks = table_blocks(con, schema, table)
    rows = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    whole = parse_layout(comment)
    if whole is None:
        layout = WHOLE_COPY_LAYOUT.format(blocks=blocks, rows=rows)
        con.execute(f"COMMENT ON TABLE {name} IS '{layout}'")
        return None
    whole_blocks, whole_rows = whole
    expected = whole_blocks * rows / whole_rows if whole_rows else whole_blocks
    if blocks > max((1 + MAX_GROWTH) * expected, expected + MIN_GROWTH_BLOCKS):
        return f"{blocks} blocks, {blocks / max(expected, 1):.2f} times its whole copy's for as many rows"
    return None


def table_blocks(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> int:
    """The storage blocks the copy's table uses (as of the last checkpoint)."""
    qualified = f"{schema}.{table}".replace("'", "''")
    return con.execute(
        f"SELECT count(DISTINCT block_id) FROM pragma_storage_info('{qualified}') WHERE block_id >= 0"
    ).fetchone()[0]


def parse_layout(comment: str | None) -> tuple[int, int] | None:
    """(blocks, rows) of a WHOLE_COPY_LAYOUT comment; None for any other comment."""
    found = re.fullmatch(WHOLE_COPY_LAYOUT.format(blocks=r"(\d+)", rows=r"(\d+)"), comment or "")
    return (int(found[1]), int(found[2])) if found else None


def replace_table(con: duckdb.DuckDBPyConnection, name: str, why: str) -> TableChange:
    con.execute(f"DROP TABLE IF EXISTS {name}")
    # Frees the old table's blocks for the new one: without it, the file would hold both.
    con.execute("CHECKPOINT")
    con.execute(f"CREATE TABLE {name} AS FROM source.{name}")
    log.info("%s: replaced (%s)", name, why)
    return TableChange("replaced")


def deleted_rows(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> int:
    """Rows deleted from the copy's table that its file still holds (its estimated size counts them)."""
    stored = estimated_rows(con, catalog, schema, table)
    return max(stored - con.execute(f"SELECT count(*) FROM {quoted(schema, table)}").fetchone()[0], 0)


def table_columns(
    con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str
) -> list[tuple[str, str]]:
    """(name, type) of each column in order; empty if there is no such table."""
    return con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = ? AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [catalog, schema, table],
    ).fetchall()


def group_key(columns: list[str]) -> str:
    """The expression that groups a table's rows: a participant's rows together when the table has
    participant_key (hash(NULL) is a value, so rows without one form a group too), else each distinct row
    by itself."""
    if GROUP_COLUMN in columns:
        return f"hash({quoted(GROUP_COLUMN)})"
    return row_hash(columns)


def group_fingerprint(columns: list[str]) -> str:
    """What a digest takes of a group of rows (changed_groups) or of a whole table (table_digest) besides
    their count: the latest STAMP_COLUMN in a table that has one, else the sum of the rows' hashes."""
    return f"max({quoted(STAMP_COLUMN)})" if STAMP_COLUMN in columns else f"sum({row_hash(columns)})"


def in_changed(key: str) -> str:
    """A predicate on a row's group `key`: its group is one of temp table `changed`."""
    return f"{key} IN (SELECT k FROM changed)"


def row_hash(columns: list[str]) -> str:
    return f"hash({', '.join(quoted(c) for c in columns)})"


def changed_groups(
    con: duckdb.DuckDBPyConnection, name: str, key: str, columns: list[tuple[str, str]]
) -> tuple[int, int, int]:
    """Fill temp table `changed` with the keys whose group differs between the copy's table and the
    warehouse's: another count of rows, or another sum of row hashes (another latest stamp, in a table
    with STAMP_COLUMN); a group on one side only, too.
    Returns (groups, rows to delete from the copy, rows to insert from the warehouse)."""
    fingerprint = group_fingerprint([column for column, _ in columns])
    digest = f"SELECT {key} AS k, count(*) AS n, {fingerprint} AS h FROM {{}} GROUP BY 1"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE changed AS "
        f"WITH published AS ({digest.format(name)}), warehouse AS ({digest.format('source.' + name)}) "
        "SELECT k, published.n AS n_copy, warehouse.n AS n_warehouse "
        "FROM published FULL JOIN warehouse USING (k) "
        "WHERE published.n IS DISTINCT FROM warehouse.n OR published.h IS DISTINCT FROM warehouse.h"
    )
    return con.execute(
        "SELECT count(*), coalesce(sum(n_copy), 0), coalesce(sum(n_warehouse), 0) FROM changed"
    ).fetchone()


def changed_by_stamp(
    con: duckdb.DuckDBPyConnection, name: str, key: str, latest: datetime, stamps: str
) -> tuple[int, int, int] | None:
    """changed_groups for a table with STAMP_COLUMN, or STAMPED_BY another table (`stamps`: the table
    itself or that one), without a digest of every group: the changed keys are those of the warehouse's
    rows of `stamps` stamped after `latest` (the copy's latest stamp; DuckDB reads only the row groups
    written since), and the rows of every other key must then balance: the copy's rows but the changed
    keys' as many as the warehouse's. They do not when a key's rows were all deleted (no row carries a new
    stamp): None, and the caller compares every group; None too when the warehouse's stamps are older than
    `latest` (another warehouse). At 10 M events, for the member rows, 0.24 to 0.49 s against 0.47 s read
    alone, 1.7 s during a build's publish.
    Exact on the same terms as changed_groups: a key whose rows changed has a later stamp, or fewer rows."""
    if stamps != name and (latest_stamp_of(con, f"source.{stamps}") or latest) < latest:
        return None
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE changed AS "
        f"SELECT DISTINCT {key} AS k FROM source.{stamps} WHERE {stamped_after(latest)}"
    )
    changed = in_changed(key)
    groups, rows_out, rows_in, copy_rows, warehouse_rows = con.execute(
        f"SELECT (SELECT count(*) FROM changed), (SELECT count(*) FROM {name} WHERE {changed}), "
        f"(SELECT count(*) FROM source.{name} WHERE {changed}), (SELECT count(*) FROM {name}), "
        f"(SELECT count(*) FROM source.{name})"
    ).fetchone()
    if copy_rows - rows_out != warehouse_rows - rows_in:
        return None
    return groups, rows_out, rows_in


def stamped_by(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> str | None:
    """The warehouse table that stamps the participants of STAMPED_BY table `schema.table` (None: not
    such a table, or the warehouse has no such stamps)."""
    stamps = STAMPED_BY.get((schema, table))
    if stamps is None or STAMP_COLUMN not in {c for c, _ in table_columns(con, "source", *stamps)}:
        return None
    return quoted(*stamps)


def stamped_through(con: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str) -> datetime | None:
    """The stamp through which the copy's STAMPED_BY table holds the warehouse's rows (record_stamps);
    None when the copy does not say (a table copied whole since, or a copy older than this)."""
    comment = con.execute(
        "SELECT comment FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? AND table_name = ? "
        "AND column_name = ?",
        [catalog, schema, table, GROUP_COLUMN],
    ).fetchone()
    found = re.fullmatch(STAMPED_THROUGH.format(stamp="(.+)"), (comment and comment[0]) or "")
    try:
        return datetime.fromisoformat(found[1]) if found else None
    except ValueError:  # a comment someone changed by hand says nothing to go by
        return None


def record_stamps(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """Say on each STAMPED_BY table of the copy, now equal to the warehouse's, the latest stamp of the
    table that stamps its participants: the next publish looks for participants stamped after it."""
    for schema, table in STAMPED_BY:
        if GROUP_COLUMN not in {c for c, _ in table_columns(con, catalog, schema, table)}:
            continue
        stamps = stamped_by(con, schema, table)
        latest = latest_stamp_of(con, f"source.{stamps}") if stamps is not None else None
        comment = STAMPED_THROUGH.format(stamp=latest.isoformat()) if latest is not None else ""
        con.execute(f"COMMENT ON COLUMN {quoted(schema, table, GROUP_COLUMN)} IS '{comment}'")


def quoted(*names: str) -> str:
    """A (qualified) identifier in double quotes."""
    return ".".join('"' + name.replace('"', '""') + '"' for name in names)


def exports_dir(settings: Settings) -> Path:
    return settings.published_warehouse_path.parent / "exports"


class MartExports:
    """Each table of the warehouse's schema `marts` as Parquet in `exports_dir`, written on a thread of
    its own while the published copy is written, each export as soon as the copy finds its mart changed
    (`changed`, publish_changes' `on_changed`); `finish` waits for them.

    From the warehouse, not from the copy: the copy is brought to the warehouse's tables (equal up to
    64-bit hash collisions), so the rows are the same, and an export need not wait for the copy to be
    written and synced. At 10 M events the exports took 2.0 s of a 1 % run's 5.1 s publish, after the
    copy's 3.1 s (journey_events 1.9 s of them: docs/benchmarks.md).

    With `keep_unchanged` (the exports on disk are known to match the last published copy) a mart the
    copy did not change keeps its export, unless it is missing; without, every mart is exported.

    Only beside a copy that is updated (`beside_copy`: a published file exists): a first copy writes
    every table whole, and its DuckDB and the exports' each take up to the memory bound; then the exports
    start when the copy is done, as they did before (the full run's peak RSS, docs/benchmarks.md)."""

    def __init__(self, settings: Settings, keep_unchanged: bool, beside_copy: bool = True):
        self.settings = settings
        self.keep_unchanged = keep_unchanged
        self.beside_copy = beside_copy
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mart-exports")
        self._con: duckdb.DuckDBPyConnection | None = None  # the thread's own, opened there
        self._exports: dict[str, Future[Path]] = {}
        self._after_copy: list[str] = []  # changed, to start in `finish` (not beside_copy)

    def __enter__(self) -> MartExports:
        exports_dir(self.settings).mkdir(parents=True, exist_ok=True)
        if not self.keep_unchanged:
            for mart in self._marts():
                self.changed("marts", mart)
        return self

    def __exit__(self, *exc_info: object) -> None:
        # After an error the exports not started are dropped; one being written finishes or fails whole.
        self._thread.shutdown(wait=True, cancel_futures=exc_info[0] is not None)
        if self._con is not None:
            self._con.close()

    def changed(self, schema: str, table: str) -> None:
        """Export `table` if it is a mart and not exported already by this publish (now, or when the copy
        is done)."""
        if schema != "marts" or table in self._exports or table in self._after_copy:
            return
        if self.beside_copy:
            self._start(table)
        else:
            self._after_copy.append(table)

    def finish(self) -> list[Path]:
        """Wait for every export (writing those missing on disk); returns every mart's export, written
        or kept. Raises the error of an export that failed."""
        for mart in self._after_copy:  # the copy is done
            self._start(mart)
        marts = self._marts()
        out = exports_dir(self.settings)
        for mart in marts:
            if mart not in self._exports and not (out / f"{mart}.parquet").exists():
                self._start(mart)
        written = [self._exports[mart].result() for mart in marts if mart in self._exports]
        log.info("exported %d marts to %s (%d unchanged kept)", len(written), out, len(marts) - len(written))
        return [out / f"{mart}.parquet" for mart in marts]

    def _start(self, mart: str) -> None:
        self._exports[mart] = self._thread.submit(self._export, mart)

    def _marts(self) -> list[str]:
        return self._thread.submit(self._list_marts).result()

    def _connection(self) -> duckdb.DuckDBPyConnection:  # only ever called on the export thread
        if self._con is None:
            con = duckdb.connect(str(self.settings.warehouse_path), read_only=True)
            self._con = bound(con, self.settings)
            # As in the copy (write_copy): an export's rows have no order, and keeping the table's
            # would leave DuckDB fewer threads for the Parquet (journey_events at 10 M events: 2.44 s,
            # 2.24 without).
            self._con.execute("SET preserve_insertion_order = false")
        return self._con

    def _list_marts(self) -> list[str]:
        rows = self._connection().execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'marts' AND table_type = 'BASE TABLE' ORDER BY 1"
        )
        return [table for (table,) in rows.fetchall()]

    def _export(self, mart: str) -> Path:
        path = exports_dir(self.settings) / f"{mart}.parquet"
        with atomic_path(path) as tmp:
            self._connection().execute(
                f"COPY (SELECT * FROM marts.{quoted(mart)}) TO '{tmp}' (FORMAT parquet)"
            )
        return path


# --- which build the published copy is of ---------------------------------------------------------------


def published_build_path(settings: Settings) -> Path:
    return settings.published_warehouse_path.parent / "published_build.json"


def record_published(settings: Settings, build: BuildState | None, exports: list[Path]) -> None:
    """Record which build the published copy and `exports` were made from (nothing for a build that was
    not recorded: what it built is not known, and the next run publishes again)."""
    if build is None or build.built_at is None or build.as_of is None:
        return
    record = {
        "as_of": build.as_of.isoformat(),
        "built_at": build.built_at.isoformat(),
        "exports": [p.name for p in exports],
    }
    write_atomically(published_build_path(settings), json.dumps(record, indent=1).encode())


def forget_published(settings: Settings) -> None:
    """Before the published files are replaced: a record must never describe files it does not match."""
    published_build_path(settings).unlink(missing_ok=True)


def published_record(settings: Settings) -> dict | None:
    path = published_build_path(settings)
    return json.loads(path.read_bytes()) if path.exists() else None


def published_exports(settings: Settings) -> list[Path]:
    record = published_record(settings) or {}
    return [exports_dir(settings) / name for name in record.get("exports", [])]


def is_published(settings: Settings, build: BuildState | None) -> bool:
    """Whether the published copy and every export were made from `build` (the warehouse's last build):
    then publishing again would copy the same rows."""
    record = published_record(settings)
    if build is None or build.built_at is None or record is None:
        return False
    if record.get("built_at") != build.built_at.isoformat() or not settings.published_warehouse_path.exists():
        return False
    return all(path.exists() for path in published_exports(settings))


def describe_published(settings: Settings, build: BuildState | None) -> str | None:
    """One line on what readers have: the as_of the published copy is built at, when it was built, and
    the latest as_of a skipped build found it current at (None before the first recorded publish)."""
    record = published_record(settings)
    if record is None or not settings.published_warehouse_path.exists():
        return None
    built_at = datetime.fromisoformat(record["built_at"])
    line = f"published copy built as of {record['as_of']} (built {built_at:%Y-%m-%d %H:%M:%S} UTC)"
    if build is not None and build.built_at == built_at and build.checked_as_of is not None:
        line += (
            f"; nothing new since, and as_of {build.checked_as_of.isoformat()} is before the next change "
            f"at {build.next_change.isoformat() if build.next_change else '?'}: the same answers"
        )
    return line
