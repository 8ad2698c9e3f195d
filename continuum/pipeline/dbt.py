"""One `dbt build` for the whole project: DuckDB has a single writer, so models never build in
parallel processes. dbt's target and logs go under CONTINUUM_HOME, never into the repository.

Incremental runs (docs/pipeline.md, "Incrementality"): the build's as_of reaches dbt in an environment
variable, not `--vars`, so that a new as_of does not make dbt re-parse the whole project; and the pipeline's
own builds skip what cannot have changed since the last successful build: the unit tests when the project
is the same, and staging, the seeds and their data tests when no raw row is new either. Everything that
depends on as_of (intermediate, marts, provider views, operators, and their data tests) runs again when
as_of has moved past the next instant at which an answer can change (`next_change`); before it, with
nothing new, the build is skipped: the warehouse is exactly what a build at the new as_of would make."""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb

from common.duckdb_limits import bound
from common.files import write_atomically
from common.settings import PROJECT_ROOT, Settings
from continuum.pipeline import dbt_prestarted
from continuum.pipeline.env import continuum_env

log = logging.getLogger(__name__)

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


class DbtBuildFailed(RuntimeError):
    """`dbt build` failed; the message names the failed nodes (or holds dbt's output if it ran none)."""


def dbt_target_dir(settings: Settings) -> Path:
    """Where dbt writes its artefacts (manifest, run_results.json) for this CONTINUUM_HOME."""
    return settings.state_dir / "dbt" / "target"


#: The build's as_of for the `as_of()` macro (dbt_project/macros/as_of.sql). An environment variable read
#: only at execution, never while parsing: a `--vars` change makes dbt re-parse the whole project (5.5 s
#: more CPU than a partial parse), and the as_of changes on every run.
AS_OF_ENV = "CONTINUUM_DBT_AS_OF"


#: "true": the incremental models rebuild every key (the `rebuild_all_keys()` macro, in
#: macros/incremental_as_of.sql). An environment variable for the same reason as AS_OF_ENV: as `--vars`
#: it would make the build after a full one parse the whole project again.
REBUILD_ALL_KEYS_ENV = "CONTINUUM_DBT_REBUILD_ALL_KEYS"


#: The rows the last successful build of this project tested already: the row-by-row rules of staging
#: (`rows_since_tested: loaded`, tests/generic/row_rules.sql) read only rows loaded after this instant, and
#: its grains count only their keys. Unset: every row is tested.
TESTED_THROUGH_ENV = "CONTINUUM_DBT_TESTED_THROUGH"
#: The rows the models keeping theirs wrote before this instant (their `refreshed_at`) were tested by the
#: last successful build of this project: the grains of the row_rules marked `rows_since_tested: written`
#: (tests/generic/row_rules.sql) count only the keys written since. Unset: every key.
WRITTEN_TESTED_THROUGH_ENV = "CONTINUUM_DBT_WRITTEN_TESTED_THROUGH"


@dataclass(frozen=True)
class AlreadyTested:
    """What the last successful build of this project tested: staging's rows loaded through `loaded`,
    and the rows written (refreshed_at) before `written`. None: every row."""

    loaded: datetime | None = None
    written: datetime | None = None


#: What dbt's process gets of the caller's environment, besides what dbt_env sets: the system's basics,
#: dbt's own flags (DBT_*: an operator's DBT_LOG_LEVEL_FILE, say), and the settings the dbt project reads
#: (`env_var` in profiles.yml); never CONTINUUM_DBT_* (only the build record and its plan say those).
#: Nothing else: dbt checks every line it logs against every variable of its environment (dbt_common's
#: env_scrubber, ~7,000 lines a build), and with the ~80 variables of a `continuum run` that took 1.6 s of
#: Python in a 1 % build at 10 M events, holding the GIL its threads share (docs/benchmarks.md). And
#: secrets such as CONTINUUM_LINKAGE_SECRET have no business in dbt.
DBT_INHERITED_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "CONTINUUM_DUCKDB_MEMORY_LIMIT")
DBT_INHERITED_ENV_PREFIXES = ("LC_", "DBT_")


def dbt_env(
    settings: Settings,
    as_of: datetime | None = None,
    tested: AlreadyTested = AlreadyTested(),
    rebuild_all_keys: bool = False,
) -> dict[str, str]:
    env = {
        name: value
        for name, value in continuum_env(settings).items()
        if name in DBT_INHERITED_ENV or name.startswith(DBT_INHERITED_ENV_PREFIXES)
    }
    return {
        **env,
        **({AS_OF_ENV: as_of.isoformat()} if as_of is not None else {}),
        **({REBUILD_ALL_KEYS_ENV: "true"} if rebuild_all_keys else {}),
        **({TESTED_THROUGH_ENV: tested.loaded.isoformat()} if tested.loaded is not None else {}),
        **({WRITTEN_TESTED_THROUGH_ENV: tested.written.isoformat()} if tested.written is not None else {}),
        "CONTINUUM_WAREHOUSE_PATH": str(settings.warehouse_path),
        "DBT_TARGET_PATH": str(dbt_target_dir(settings)),
        "DBT_LOG_PATH": str(settings.state_dir / "dbt" / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
    }


def dbt_command(subcommand: str, *args: str, project_dir: Path = DBT_PROJECT_DIR) -> list[str]:
    """`dbt <subcommand>` of the project; the as_of goes in the environment (dbt_env), see AS_OF_ENV."""
    dbt = str(Path(sys.executable).with_name("dbt"))
    return [dbt, subcommand, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir), *args]


def dbt_build_command(*args: str, project_dir: Path = DBT_PROJECT_DIR) -> list[str]:
    """`dbt build` of the project (dbt_command)."""
    return dbt_command("build", *args, project_dir=project_dir)


#: Statuses in run_results.json that fail the build (`warn` does not; `skipped` follows a failure).
FAILED_STATUSES = ("error", "fail", "runtime error")


@dataclass(frozen=True)
class NodeResult:
    """One node of dbt's run_results.json: a model, seed, snapshot or test."""

    unique_id: str
    status: str
    execution_time: float
    failures: int | None
    message: str

    def describe(self) -> str:
        first_line = (self.message or "").strip().splitlines()[:1]
        return f"{self.unique_id} ({self.status}{': ' + first_line[0] if first_line else ''})"


def run_results_path(settings: Settings) -> Path:
    return dbt_target_dir(settings) / "run_results.json"


def kept_run_results_path(settings: Settings) -> Path:
    """Where the last build's run_results.json is kept for readers (/ops), beside the published copy."""
    return settings.published_warehouse_path.parent / "dbt_run_results.json"


def read_run_results(path: Path) -> list[NodeResult]:
    results = json.loads(path.read_bytes())["results"]
    return [
        NodeResult(
            r["unique_id"],
            r["status"],
            float(r.get("execution_time") or 0),
            r.get("failures"),
            r.get("message") or "",
        )
        for r in results
    ]


def dbt_build(
    settings: Settings,
    as_of: datetime,
    *args: str,
    project_dir: Path = DBT_PROJECT_DIR,
    timeout_s: float = 3600,
) -> str:
    """Run `dbt build` with `as_of` (and extra dbt arguments, e.g. `--full-refresh`); returns a summary of
    its run_results.json and keeps that file for /ops. Raises DbtBuildFailed naming the nodes that failed.

    Without extra arguments (the pipeline's build) the build is planned: skipped when nothing is new and
    no answer can have changed since the last build's as_of (skip_reason), else only what can have
    changed is built (plan_build), and this build is recorded for the next one. A build with arguments
    forgets the record: what it built is not known, so the next planned build is a full one."""
    if args:
        plan = BuildPlan(args, "as asked")
        last = before = None
        build_state_path(settings).unlink(missing_ok=True)
    else:
        last = read_build_state(settings)
        before = BuildState(project_fingerprint(project_dir), raw_fingerprint(settings))
        skipped = skip_reason(last, before, as_of)
        if skipped is not None:
            log.info("dbt build skipped: %s", skipped)
            write_build_state(settings, replace(last, checked_as_of=as_of))
            return skipped
        plan = plan_build(last, before, project_dir)
        build_state_path(settings).unlink(missing_ok=True)  # a failed or killed build plans a full one next
    tested = rows_tested_already(last, before, as_of)
    log.info("dbt build plan: %s", plan.why)
    if tested.loaded is not None:
        log.info("staging's row-by-row tests read rows loaded after %s", tested.loaded.isoformat())
    if tested.written is not None:
        log.info("the marked uniqueness tests count keys written after %s", tested.written.isoformat())
    results = run_dbt_build(settings, as_of, plan, project_dir, timeout_s, tested)
    if before is not None:
        record_build(settings, before, as_of)
    summary = f"{summarize(results)}; {plan.why}"
    log.info("dbt build: %s", summary)
    return summary


def rows_tested_already(last: BuildState | None, now: BuildState | None, as_of: datetime) -> AlreadyTested:
    """What the last successful build of this very project tested (AlreadyTested(): test every row).

    - `loaded`: the loaded_at through which it tested staging's rows. Staging only appends, and a row's
      own values do not change once staged, so a row-by-row test (not null, accepted values) that passed
      on a row passes on it again; a grain counts only the keys of those rows (over the whole table);
      references still read every row.
    - `written`: when it finished. Every row a model wrote before (its `refreshed_at` is the start of
      the build that wrote it) was in the tables that build tested, so a grain marked
      `rows_since_tested: written` need count only the keys written since (a row written since shares a
      key with an older one, or not).
    A changed project (its tests may have changed), an unplanned build (`--full-refresh`) or a failed one
    leaves no mark (a failed build removes the record, and the next is a full one): all rows. A build
    whose as_of is before the last one's gets no `written` mark: journey_events then renumbers
    participants whose shared events it did not write, and its tests count the keys of those written."""
    if last is None or now is None or last.project != now.project:
        return AlreadyTested()
    as_of_moved_back = last.as_of is not None and as_of < last.as_of
    return AlreadyTested(loaded=last.tested_through, written=None if as_of_moved_back else last.built_at)


def run_dbt_build(
    settings: Settings,
    as_of: datetime,
    plan: BuildPlan,
    project_dir: Path,
    timeout_s: float,
    tested: AlreadyTested = AlreadyTested(),
) -> list[NodeResult]:
    command = dbt_build_command(*plan.args, project_dir=project_dir)
    results_path = run_results_path(settings)
    results_path.unlink(missing_ok=True)  # a failure before dbt writes one must not read the last build's
    every_key = f", {REBUILD_ALL_KEYS_ENV}=true" if plan.rebuild_all_keys else ""
    log.info("running %s (as_of %s%s)", " ".join(command), as_of.isoformat(), every_key)
    env = dbt_env(settings, as_of, tested, plan.rebuild_all_keys)
    done = dbt_prestarted.run(command, env, settings.state_dir, timeout_s)
    output = (done.stdout + done.stderr).strip()
    log.debug("dbt build:\n%s", output)
    if not results_path.exists():  # dbt stopped before running anything (a project that does not parse)
        tail = "\n".join(output.splitlines()[-20:])
        raise DbtBuildFailed(f"dbt build exited with {done.returncode} before running any node:\n{tail}")
    write_atomically(kept_run_results_path(settings), results_path.read_bytes())
    results = read_run_results(results_path)
    failed = [r for r in results if r.status in FAILED_STATUSES]
    if failed or done.returncode != 0:
        raise DbtBuildFailed(
            f"dbt build exited with {done.returncode}: {len(failed)} of {len(results)} nodes failed: "
            + "; ".join(r.describe() for r in failed)
            + f" (all results: {kept_run_results_path(settings)})"
        )
    return results


# --- planning: leave out what cannot have changed since the last successful build -----------------------


@dataclass(frozen=True)
class BuildState:
    """What a successful planned build started from: the project (code, seeds, dbt and DuckDB versions)
    and the raw tables (plus the staged row count, so that a replaced warehouse is not taken for this one);
    and what it built: its as_of, the next instant at which an answer can change (next_change), when it
    finished, and the latest as_of at which a skipped build found it current (checked_as_of)."""

    project: str
    raw: dict[str, str] | None
    as_of: datetime | None = None
    next_change: datetime | None = None
    built_at: datetime | None = None
    checked_as_of: datetime | None = None
    tested_through: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "raw": self.raw,
            **{name: _iso(getattr(self, name)) for name in TIMES_OF_A_BUILD},
        }

    @classmethod
    def from_json(cls, recorded: dict[str, Any]) -> BuildState:
        times = {name: _time(recorded.get(name)) for name in TIMES_OF_A_BUILD}
        return cls(recorded["project"], recorded["raw"], **times)


TIMES_OF_A_BUILD = ("as_of", "next_change", "built_at", "checked_as_of", "tested_through")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class BuildPlan:
    args: tuple[str, ...]
    why: str
    rebuild_all_keys: bool = False  # REBUILD_ALL_KEYS_ENV


NO_UNIT_TESTS = ("--exclude", "resource_type:unit_test")
# Models outside staging whose rows depend on the raw rows alone, never on as_of (their config says so):
# a build with nothing new leaves them, and the data tests on them, as built.
INDEPENDENT_OF_AS_OF = "tag:independent_of_as_of"
# A build with nothing new is about 50 small nodes (most of a model's or test's time is dbt's own Python,
# between two short queries): twice profiles.yml's threads let one node's query run while another's
# Python does (at 10 M events, on one home one after the other: dbt's clock 7.5-10.2 s in four builds with
# 4 threads, 9.4-11.5 s in three with 2). Not for the other builds: their big queries use every core
# already, and each thread's query holds memory.
SMALL_NODES_THREADS = ("--threads", "4")
#: A build after new raw rows runs with SMALL_NODES_THREADS too when the raw events grew by at most this
#: share since the last build: its nodes are small then (a 1 % build at 10 M events, replayed in turns:
#: dbt's clock 13.5 s on average with 4 threads, 14.0 s with 2). Not a back-load's, whose nodes are as big
#: as a full build's (4 threads made a full build at 10 M events 162.1 s instead of 137.4 to 140.5 s).
SMALL_INCREMENT_SHARE = 0.05


def skip_reason(last: BuildState | None, now: BuildState, as_of: datetime) -> str | None:
    """Why this build need not run at all, or None when it must.

    It need not when the project and the raw tables are those of the last successful planned build and
    as_of lies in [its as_of, its next_change): every published answer depends on as_of only through
    comparisons that change at next_change at the earliest (next_change), so the warehouse is already
    exactly what a build at this as_of would make. An as_of before the last build's is rebuilt."""
    if last is None or now.raw is None or last.as_of is None or last.next_change is None:
        return None
    if last.project != now.project or last.raw != now.raw:
        return None
    if as_of < last.as_of or (as_of != last.as_of and as_of >= last.next_change):
        return None
    return (
        f"nothing new and as_of {as_of.isoformat()} before the next change at "
        f"{last.next_change.isoformat()}: the warehouse is as built at {last.as_of.isoformat()}"
    )


def plan_build(last: BuildState | None, now: BuildState, project_dir: Path = DBT_PROJECT_DIR) -> BuildPlan:
    """The dbt arguments for this build, given the last successful planned build.

    - No such build, or the project changed: everything (models, seeds, data tests, unit tests), and
      every key of the incremental models that depend on as_of (REBUILD_ALL_KEYS_ENV: their kept rows may
      have been made by other code).
    - Same project, new raw rows: everything but the unit tests, which test code (with their own inputs
      and as_of) and passed on this very project in an earlier build.
    - Same project, same raw tables (and as_of past the next change, else skip_reason skips the build):
      only the models outside staging (which never depends on as_of) and the data tests on them,
      selected by folder so that a test that also reads staging or a seed still runs, but for those
      tagged independent of as_of. Staging, the seeds, those models and the tests that read only them
      are exactly as last built."""
    if last is None or now.raw is None:
        return BuildPlan((), "full build: no successful build recorded for this warehouse", True)
    if last.project != now.project:
        return BuildPlan(
            (), "full build: the dbt project (or dbt, DuckDB) changed since the last build", True
        )
    if last.raw != now.raw:
        why = "new raw rows: all models and data tests, unit tests passed already"
        if is_small_increment(last, now):
            return BuildPlan((*NO_UNIT_TESTS, *SMALL_NODES_THREADS), f"{why} (a small increment)")
        return BuildPlan(NO_UNIT_TESTS, why)
    folders = sorted(p.name for p in (project_dir / "models").iterdir() if p.is_dir() and p.name != "staging")
    return BuildPlan(
        (
            "--select",
            *(f"path:models/{name}" for name in folders),
            *NO_UNIT_TESTS,
            INDEPENDENT_OF_AS_OF,
            *SMALL_NODES_THREADS,
        ),
        "nothing new: the models that depend on as_of and their data tests; the others and seeds as built",
    )


def is_small_increment(last: BuildState, now: BuildState) -> bool:
    """Whether the raw events grew by at most SMALL_INCREMENT_SHARE of those of the last build (False when
    either count is not known)."""
    before, after = raw_event_rows(last), raw_event_rows(now)
    if before is None or after is None or before == 0:
        return False
    return after - before <= SMALL_INCREMENT_SHARE * before


def raw_event_rows(state: BuildState) -> int | None:
    """The row count of raw.events in a build state's fingerprint (`table_fingerprint`), if it has one."""
    recorded = (state.raw or {}).get("events", "")
    count = recorded.split(" ", 1)[0]
    return int(count) if count.isdigit() else None


def project_fingerprint(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """A hash of every file of the dbt project (not dbt's target and logs) and of the versions of dbt and
    DuckDB: equal fingerprints, equal unit test results."""
    digest = hashlib.sha256()
    for package in ("dbt-core", "dbt-duckdb", "duckdb"):
        digest.update(f"{package}=={metadata.version(package)}\n".encode())
    for path in sorted(project_dir.rglob("*")):
        relative = path.relative_to(project_dir)
        if path.is_file() and relative.parts[0] not in ("target", "logs", "dbt_packages"):
            digest.update(f"{relative}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def read_warehouse(settings: Settings) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse, bounded like every DuckDB the pipeline opens, in UTC."""
    conn = bound(duckdb.connect(str(settings.warehouse_path), read_only=True), settings)
    conn.execute("set enable_progress_bar = false; set TimeZone = 'UTC'")
    return conn


def raw_fingerprint(settings: Settings) -> dict[str, str] | None:
    """Row count and a hash of every row of every table in the raw schema (the loader's), and the row
    count of staging.stg_raw__landed_rows ("none" before the first build); None when the warehouse or its
    raw tables are missing or the file cannot be read (then the build is a full one). A table with the
    landed-row lineage (topic, partition, offset, loaded_at) is hashed on those columns: its rows are only
    ever appended, and hashing whole rows of raw.events (their JSON data) took 4 s at 2.6 M rows."""
    if not settings.warehouse_path.exists():
        return None
    try:
        with read_warehouse(settings) as conn:
            return fingerprint_of(conn)
    except duckdb.Error as error:
        log.info("no raw fingerprint (a full build follows): %s", error)
        return None


def fingerprint_of(conn: duckdb.DuckDBPyConnection) -> dict[str, str] | None:
    tables = [t for (t,) in conn.execute(TABLES_OF_SCHEMA, ["raw"]).fetchall()]
    if not tables:
        return None
    found = {table: table_fingerprint(conn, table) for table in tables}
    staged = "none"
    if ("stg_raw__landed_rows",) in conn.execute(TABLES_OF_SCHEMA, ["staging"]).fetchall():
        staged = str(conn.execute("select count(*) from staging.stg_raw__landed_rows").fetchone()[0])
    return {**found, STAGED: staged}


LINEAGE = ("kafka_topic", "kafka_partition", "kafka_offset", "loaded_at")


def table_fingerprint(conn: duckdb.DuckDBPyConnection, table: str) -> str:
    query = "select column_name from information_schema.columns where table_schema = 'raw' and table_name = ?"
    columns = {c for (c,) in conn.execute(query, [table]).fetchall()}
    hashed = ", ".join(f"t.{c}" for c in LINEAGE) if set(LINEAGE) <= columns else "t"
    rows, digest = conn.execute(
        f'select count(*), bit_xor(hash({hashed})) from raw."{table}" as t'
    ).fetchone()
    return f"{rows} rows, hash {digest}"


STAGED = "staged landed rows"
TABLES_OF_SCHEMA = (
    "select table_name from information_schema.tables "
    "where table_catalog = current_database() and table_schema = ? order by table_name"
)


#: How long after an event's time the models compare it with as_of: `occurred_at <= as_of` (0),
#: `requested_at + interval 48 hour <= as_of` (a response overdue), `last change < as_of - interval 14 day`
#: (a referral stalled). tests/test_build_skip.py fails when a model compares as_of in another way.
AS_OF_OFFSETS = (timedelta(0), timedelta(hours=48), timedelta(days=14))


def next_change(conn: duckdb.DuckDBPyConnection, as_of: datetime) -> datetime:
    """The earliest as_of, at or after `as_of`, at which an answer of a build on these raw tables may differ
    from the answer at `as_of`: the next UTC midnight (as_of_date() and casts of as_of to a date), or the
    time of any event plus any of AS_OF_OFFSETS, whichever comes first.

    Conservative: every raw event counts (not only those a model compares with that offset), and an
    instant equal to `as_of` counts (a strict `as_of > t + 48 h` changes right after it): a threshold
    too many only costs a build."""
    as_of = as_of.astimezone(UTC)
    midnight = datetime.combine(as_of.date() + timedelta(days=1), datetime.min.time(), UTC)
    earliest = ", ".join(
        f"min(time) filter (where time >= $as_of::timestamptz - interval '{seconds} seconds')"
        for seconds in (int(offset.total_seconds()) for offset in AS_OF_OFFSETS)
    )
    found = conn.execute(f"select {earliest} from raw.events", {"as_of": as_of}).fetchone()
    thresholds = [
        t.astimezone(UTC) + offset for t, offset in zip(found, AS_OF_OFFSETS, strict=True) if t is not None
    ]
    return min([midnight, *thresholds])


def latest_loaded_at(conn: duckdb.DuckDBPyConnection) -> datetime | None:
    """The last loaded_at of the raw rows staging reads (events and dead letters): every row loaded at or
    before it was staged, and tested, by a build that started after it was loaded."""
    found = conn.execute(
        "select greatest((select max(loaded_at) from raw.events), "
        "(select max(loaded_at) from raw.dead_letters))"
    ).fetchone()[0]
    return found.astimezone(UTC) if found is not None else None


def record_build(settings: Settings, before: BuildState, as_of: datetime) -> None:
    """Record a successful planned build for the next one: the raw tables it built from, with the staged
    row count after it, its as_of and the next instant an answer can change. Nothing is recorded when
    raw rows arrived during the build (the next build then stages them) or the warehouse cannot be read."""
    try:
        with read_warehouse(settings) as conn:
            after = fingerprint_of(conn)
            changes_at = next_change(conn, as_of)
            loaded_through = latest_loaded_at(conn)
    except duckdb.Error as error:
        log.info("build not recorded (a full build follows): %s", error)
        return
    if before.raw is None or after is None:
        return
    if {k: v for k, v in after.items() if k != STAGED} != {
        k: v for k, v in before.raw.items() if k != STAGED
    }:
        log.info("raw rows arrived during the build: the next build stages them")
        return
    built = BuildState(
        before.project,
        after,
        as_of=as_of,
        next_change=changes_at,
        built_at=datetime.now(UTC),
        tested_through=loaded_through,
    )
    log.info("built as of %s; with nothing new, the next change is at %s", as_of, changes_at)
    write_build_state(settings, built)


def build_state_path(settings: Settings) -> Path:
    return settings.state_dir / "dbt" / "last_build.json"


def read_build_state(settings: Settings) -> BuildState | None:
    path = build_state_path(settings)
    if not path.exists():
        return None
    return BuildState.from_json(json.loads(path.read_bytes()))


def write_build_state(settings: Settings, state: BuildState) -> None:
    path = build_state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(state.to_json(), indent=1).encode())


def summarize(results: list[NodeResult]) -> str:
    counts = Counter(r.status for r in results)
    seconds = sum(r.execution_time for r in results)
    by_status = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return f"{len(results)} nodes ({by_status}) in {seconds:.1f} s of node time"
