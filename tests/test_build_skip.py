"""A pipeline build with nothing new is skipped when no published answer can have changed since the last
build's as_of (continuum.pipeline.dbt: skip_reason, next_change), and publishing then leaves the published
copy and exports as they are (continuum.pipeline.tasks.publish_all).

The skip is exact only while every use of as_of in the models is one whose instants of change
next_change knows: the guard below reads every .sql file of the project's models and macros and fails
naming the file and line of any other use. The builds are real dbt builds of a hand-made network, and
the skipped warehouse is compared with a fresh full build at the later as_of (the oracle), row for row.

The network: a referral from okc-reentry to okc-housing requested at T = 2026-11-10 06:00 UTC and
never answered, a service delivered on 1 November 08:00 (its 14 days end on 15 November 08:00), and a
consent granted on 1 October. By hand, after a build at T + 47 h (12 November 05:00) the next change is
the referral's 48 h mark, 12 November 06:00 (midnight 13 November comes later, every other event's 48 h
and 14 days are past); after a build at T + 49 h it is midnight, 13 November 00:00 (the service's 14 days
end later, on 15 November 08:00); after a build just after that midnight, the next midnight.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pytest
from test_incremental import differences
from test_warehouse import RawRows, assign_batches, event_row, write_raw

from common.directory import load_directory
from common.settings import Settings
from continuum.pipeline import dbt, publish, tasks
from streams.contract import Contract, Event
from streams.producer import build_envelope

# --- the guard: every as_of use is one whose instants of change next_change computes -------------------

#: Columns that hold an event's time (raw.events.time, staged as occurred_at, renamed by the models).
#: A comparison of as_of with a column not named here fails the guard: if it holds an event's time, add
#: it; if not (a ledger time, a time read from an event's data), next_change must learn its values first.
EVENT_TIME_COLUMNS = re.compile(
    r"^(occurred_at|requested_at|changed_at|last_changed_at|first_seen_at|last_seen_at|enrolled_at|"
    r"first_response_at|valid_from_at)$"
)
#: Functions whose value is one of their arguments: a greatest() of event times is an event time.
ONE_OF_ITS_ARGUMENTS = {"greatest", "least", "coalesce"}
#: The incremental models' bookkeeping (macros/incremental_as_of.sql): which keys a build recomputes (a
#: macro comparing as_of with the last build's, `last_as_of()`) and the as_of it saw, kept in
#: intermediate.incremental_state__*, never published. Those models publish what a full build does at
#: the same as_of (tests/test_incremental.py), so these uses add no instant at which a published answer
#: changes; a skipped build leaves their state as the last build wrote it, what the next build compares.
BOOKKEEPING_MACROS = {"save_incremental_state"}
LAST_BUILDS_AS_OF = re.compile(r"\blast_as_of\s*\(")

USE = re.compile(r"\bas_of(_date)?\s*\(")
CALL = re.compile(r"\{\{-?\s*as_of(_date)?\s*\(\s*\)\s*-?\}\}")
INTERVAL = r"interval\s+'?\s*(\d+)\s*(hour|hours|day|days|minute|minutes|second|seconds)\s*'?"
COMPARISON = r"(<=|>=|<|>)"
UNITS = {"hour": "hours", "day": "days", "minute": "minutes", "second": "seconds"}


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int
    text: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.why}: {self.text.strip()}"


def blank(match: re.Match) -> str:
    """A comment replaced by spaces (newlines kept), so that positions still give line numbers."""
    return re.sub(r"[^\n]", " ", match.group(0))


def without_comments(sql: str) -> str:
    sql = re.sub(r"\{#.*?#\}", blank, sql, flags=re.S)
    return re.sub(r"--[^\n]*", blank, sql)


def exempt_spans(sql: str) -> list[tuple[int, int]]:
    """The bodies of the bookkeeping macros, and the definitions of as_of() and as_of_date() themselves."""
    spans = []
    for found in re.finditer(r"\{%-?\s*macro\s+(\w+)\s*\(.*?\{%-?\s*endmacro\s*-?%\}", sql, flags=re.S):
        body = found.group(0)[found.group(0).index("%}") :]
        if found.group(1) in BOOKKEEPING_MACROS or LAST_BUILDS_AS_OF.search(body):
            spans.append(found.span())
    for found in re.finditer(r"\{%-?\s*macro\s+as_of(_date)?\s*\(", sql):
        spans.append(found.span())
    return spans


def offset_of(number: str | None, unit: str | None) -> timedelta:
    if number is None:
        return timedelta(0)
    return timedelta(**{UNITS[unit.rstrip("s")]: int(number)})


def event_time_operand(operand: str) -> str | None:
    """None when `operand` is an event time column or a greatest/least/coalesce of them; else why not."""
    for name, call in re.findall(r"([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)\s*(\()?", operand):
        if call and name.lower() in ONE_OF_ITS_ARGUMENTS:
            continue
        if call or not EVENT_TIME_COLUMNS.match(name.split(".")[-1]):
            return f"{name!r} is not a known event time column (EVENT_TIME_COLUMNS)"
    return None if re.fullmatch(r"[\w.,()\s]+", operand) else f"{operand!r} is not a plain time"


def operand_before(text: str) -> tuple[str, str]:
    """The operand that ends `text` (an identifier, or a call with its parentheses), and what precedes it."""
    text = text.rstrip()
    if text.endswith(")"):
        depth, i = 0, len(text) - 1
        while i >= 0:
            depth += {")": 1, "(": -1}.get(text[i], 0)
            if depth == 0:
                break
            i -= 1
        name = re.search(r"[\w.]*$", text[:i]).group(0)
        start = i - len(name)
    else:
        start = len(text) - len(re.search(r"[\w.]*$", text).group(0))
    return text[start:], text[:start]


def operand_after(text: str) -> tuple[str, str]:
    """The operand that starts `text`, and what follows it."""
    text = text.lstrip()
    name = re.match(r"[\w.]*", text).group(0)
    end = len(name)
    if text[end:].lstrip().startswith("("):
        end = text.index("(", end)
        depth = 0
        for i in range(end, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                end = i + 1
                break
    return text[:end], text[end:]


ARITHMETIC_BEFORE = re.compile(r"([+\-*/|]|::|[<>=])\s*$")
ARITHMETIC_AFTER = re.compile(r"^\s*([+\-*/|<>=]|::)")


def check_timestamp_use(before: str, after: str) -> str | None:
    """None when `{{ as_of() }}`, between `before` and `after` (the SQL around it), is one of the uses
    next_change covers; else what is wrong with it."""
    if re.search(r"cast\(\s*$", before) and re.match(r"^\s*as\s+date\s*\)", after):
        return None  # cast(as_of as date): changes at UTC midnight
    if re.search(r"cast\(\s*coalesce\([^()]*,\s*$", before) and re.match(r"^\s*\)\s*as\s+date\s*\)", after):
        return None  # cast(coalesce(t, as_of) as date): as_of's date, changes at UTC midnight
    # t [+ d1] <op> as_of [- d2]
    left = re.search(rf"(\+\s*{INTERVAL}\s*)?{COMPARISON}\s*$", before)
    right_shift = re.match(rf"^\s*-\s*{INTERVAL}", after)
    if left:
        operand, preceding = operand_before(before[: left.start()])
        rest = after[right_shift.end() :] if right_shift else after
        shift = offset_of(*left.groups()[1:3]) + (
            offset_of(*right_shift.groups()) if right_shift else timedelta()
        )
        return form_problem(operand, preceding, rest, shift)
    # as_of [- d2] <op> t [+ d1]
    rest = after[right_shift.end() :] if right_shift else after
    compared = re.match(rf"^\s*{COMPARISON}", rest)
    if compared:
        operand, following = operand_after(rest[compared.end() :])
        added = re.match(rf"^\s*\+\s*{INTERVAL}", following)
        following = following[added.end() :] if added else following
        shift = (offset_of(*right_shift.groups()) if right_shift else timedelta()) + (
            offset_of(*added.groups()) if added else timedelta()
        )
        return form_problem(operand, before, following, shift)
    return "not a comparison of as_of with an event time, nor a cast of as_of to a date"


def form_problem(operand: str, preceding: str, following: str, shift: timedelta) -> str | None:
    if ARITHMETIC_BEFORE.search(preceding) or ARITHMETIC_AFTER.match(following):
        return "the comparison is part of a larger expression"
    if shift not in dbt.AS_OF_OFFSETS:
        return f"an event time {shift} from as_of: add it to continuum.pipeline.dbt.AS_OF_OFFSETS"
    return event_time_operand(operand)


def as_of_findings(project_dir: Path) -> list[Finding]:
    """Every use of as_of() or as_of_date() in the models and macros that next_change does not cover."""
    findings = []
    paths = sorted([*(project_dir / "models").rglob("*.sql"), *(project_dir / "macros").rglob("*.sql")])
    for path in paths:
        original = path.read_text()
        sql = without_comments(original)
        exempt = exempt_spans(sql)
        lines = original.splitlines()
        for use in USE.finditer(sql):
            if any(start <= use.start() < end for start, end in exempt):
                continue
            line = sql.count("\n", 0, use.start()) + 1
            why = check_use(sql, use)
            if why:
                findings.append(Finding(path.relative_to(project_dir), line, lines[line - 1], why))
    return findings


def check_use(sql: str, use: re.Match) -> str | None:
    call = next((c for c in CALL.finditer(sql) if c.start() <= use.start() < c.end()), None)
    if call is None:
        return "as_of read other than as {{ as_of() }} or {{ as_of_date() }}"
    if call.group(1):  # as_of_date(): any use of it changes at UTC midnight only
        return None
    collapse = lambda text: re.sub(r"\s+", " ", text)  # noqa: E731
    return check_timestamp_use(
        collapse(sql[max(0, call.start() - 400) : call.start()]), collapse(sql[call.end() : call.end() + 400])
    )


def clock_findings(project_dir: Path) -> list[Finding]:
    """Reads of the clock or of as_of's sources that bypass the as_of() macro (it alone may read them)."""
    clock = re.compile(
        r"\b(now\s*\(|current_timestamp|current_date|get_current_time|today\s*\(|run_started_at|"
        r"env_var\(\s*['\"]CONTINUUM_DBT_AS_OF|var\(\s*['\"]as_of)",
        re.I,
    )
    findings = []
    for path in sorted([*(project_dir / "models").rglob("*.sql"), *(project_dir / "macros").rglob("*.sql")]):
        if path.relative_to(project_dir) == Path("macros/as_of.sql"):
            continue
        original = path.read_text()
        sql = without_comments(original)
        for found in clock.finditer(sql):
            line = sql.count("\n", 0, found.start()) + 1
            why = "reads the clock or as_of without the as_of() macro"
            findings.append(
                Finding(path.relative_to(project_dir), line, original.splitlines()[line - 1], why)
            )
    return findings


def test_every_as_of_use_in_the_project_is_one_the_next_change_covers() -> None:
    findings = [*as_of_findings(dbt.DBT_PROJECT_DIR), *clock_findings(dbt.DBT_PROJECT_DIR)]
    assert not findings, "as_of uses that a skipped build could get wrong:\n" + "\n".join(map(str, findings))
    uses = sum(len(USE.findall(p.read_text())) for p in dbt.DBT_PROJECT_DIR.rglob("models/**/*.sql"))
    assert uses >= 20, "the guard should see the models' as_of uses"


ALTERATIONS = [
    # (file, text to append, what the guard must say)
    ("models/marts/referral_handoffs.sql", "\n-- x\n-- {{ as_of() }} in a comment is fine\n", None),
    ("models/marts/referral_handoffs.sql", "\n{# select {{ as_of() }} #}\n", None),
    ("models/marts/referral_handoffs.sql", "\nselect {{ as_of() }} as built_as_of\n", "not a comparison"),
    (
        "models/marts/referral_handoffs.sql",
        "\nselect 1 where occurred_at + interval 72 hour <= {{ as_of() }}\n",
        "AS_OF_OFFSETS",
    ),
    (
        "models/marts/referral_handoffs.sql",
        "\nselect 1 where loaded_at <= {{ as_of() }}\n",
        "event time column",
    ),
    (
        "models/intermediate/int_referrals__lifecycle.sql",
        "\nselect date_diff('hour', requested_at, {{ as_of() }}) as hours_open\n",
        "not a comparison",
    ),
    ("models/marts/journey_events.sql", "\nselect 1 where occurred_at <= now()\n", "reads the clock"),
    ("macros/staging_events.sql", "\n{% set t = as_of() %}\n", "other than as {{ as_of() }}"),
    ("models/marts/referral_handoffs.sql", "\nselect 1 where occurred_at - {{ as_of() }} < 5\n", "larger"),
    (
        "models/marts/referral_handoffs.sql",
        "\nselect 1 where {{ as_of() }} > requested_at + interval 48 hour\n",
        None,
    ),
    (
        "models/marts/referral_handoffs.sql",
        "\nselect 1 where requested_at < {{ as_of() }} - interval 14 day\n",
        None,
    ),
]


@pytest.mark.parametrize(("relative", "appended", "said"), ALTERATIONS)
def test_the_guard_names_the_file_and_line_of_a_use_it_does_not_cover(
    tmp_path: Path, relative: str, appended: str, said: str | None
) -> None:
    project = tmp_path / "dbt_project"
    shutil.copytree(dbt.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    altered = project / relative
    before = altered.read_text()
    altered.write_text(before + appended)
    findings = [*as_of_findings(project), *clock_findings(project)]
    if said is None:
        assert findings == []
        return
    (finding,) = findings
    assert finding.path == Path(relative)
    assert finding.line == before.count("\n") + appended.rstrip("\n").count("\n") + 1
    assert said in str(finding)


# --- next_change and skip_reason by hand, no dbt -------------------------------------------------------


def events_at(*times: str) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("set TimeZone = 'UTC'; create schema raw; create table raw.events (time timestamptz)")
    for time in times:
        conn.execute("insert into raw.events values (?::timestamptz)", [time])
    return conn


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_the_next_change_is_the_first_event_48_hours_14_days_or_midnight_to_come() -> None:
    conn = events_at("2026-11-01 10:00", "2026-11-02 09:00")
    # By hand: thresholds 1 Nov 10:00, 2 Nov 09:00; +48 h: 3 Nov 10:00, 4 Nov 09:00; +14 d: 15 Nov 10:00,
    # 16 Nov 09:00; and every midnight.
    assert dbt.next_change(conn, utc("2026-11-01 09:00")) == utc("2026-11-01 10:00")
    assert dbt.next_change(conn, utc("2026-11-01 10:00")) == utc("2026-11-01 10:00")  # at: counts
    assert dbt.next_change(conn, utc("2026-11-02 09:30")) == utc("2026-11-03 00:00")
    assert dbt.next_change(conn, utc("2026-11-03 09:30")) == utc("2026-11-03 10:00")
    assert dbt.next_change(conn, utc("2026-11-15 00:00")) == utc("2026-11-15 10:00")
    assert dbt.next_change(conn, utc("2026-11-20 00:00")) == utc("2026-11-21 00:00")
    assert dbt.next_change(events_at(), utc("2026-11-20 23:59")) == utc("2026-11-21 00:00")


RAW = {"events": "3 rows, hash 1", "staged landed rows": "3"}
LAST = dbt.BuildState("p", RAW, utc("2026-11-12 05:00"), utc("2026-11-12 06:00"), utc("2026-11-12 05:10"))


def test_a_build_is_skipped_only_with_nothing_new_and_as_of_in_the_last_builds_span() -> None:
    same = dbt.BuildState("p", RAW)
    skipped = dbt.skip_reason(LAST, same, utc("2026-11-12 05:01"))
    assert skipped == (
        "nothing new and as_of 2026-11-12T05:01:00+00:00 before the next change at 2026-11-12T06:00:00+00:00:"
        " the warehouse is as built at 2026-11-12T05:00:00+00:00"
    )
    assert dbt.skip_reason(LAST, same, utc("2026-11-12 05:00")) is not None
    assert dbt.skip_reason(LAST, same, utc("2026-11-12 05:59:59")) is not None
    assert dbt.skip_reason(LAST, same, utc("2026-11-12 06:00")) is None  # the next change itself
    assert dbt.skip_reason(LAST, same, utc("2026-11-12 04:59")) is None  # as_of moved back
    assert dbt.skip_reason(LAST, dbt.BuildState("q", RAW), utc("2026-11-12 05:01")) is None
    assert (
        dbt.skip_reason(LAST, dbt.BuildState("p", {**RAW, "events": "4 rows"}), utc("2026-11-12 05:01"))
        is None
    )
    assert dbt.skip_reason(LAST, dbt.BuildState("p", None), utc("2026-11-12 05:01")) is None
    assert dbt.skip_reason(None, same, utc("2026-11-12 05:01")) is None
    assert dbt.skip_reason(dbt.BuildState("p", RAW), same, utc("2026-11-12 05:01")) is None  # older record


def test_the_build_record_keeps_its_times(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    dbt.write_build_state(settings, LAST)
    assert dbt.read_build_state(settings) == LAST


# --- real builds of a hand-made network -----------------------------------------------------------------

FROM, TO = "okc-reentry", "okc-housing"
TOPIC = f"providers.{FROM}.events"
T = datetime(2026, 11, 10, 6, 0, tzinfo=UTC)
SERVICE = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
CONSENT = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
PARTICIPANT = hashlib.sha256(b"participant skip").hexdigest()
REFERRAL_ID = "00000000-0000-4000-8000-00000000aa01"
LOADED = T + timedelta(hours=1)


def envelopes() -> list[dict]:
    consent = {
        "consent_id": "00000000-0000-4000-8000-00000000cc01",
        "scope": "network_sharing",
        "part2": False,
    }
    service = {
        "service_id": "00000000-0000-4000-8000-00000000dd01",
        "service_type": "case_management",
        "referral_id": None,
        "duration_minutes": 30,
    }
    referral = {
        "referral_id": REFERRAL_ID,
        "to_provider_id": TO,
        "service_type": "housing",
        "priority": "routine",
        "contact_prohibited": False,
    }
    return [
        build_envelope(
            FROM, "consent.granted", PARTICIPANT, consent, CONSENT, "00000000-0000-4000-8000-0000000000c1"
        ),
        build_envelope(
            FROM, "service.delivered", PARTICIPANT, service, SERVICE, "00000000-0000-4000-8000-0000000000d1"
        ),
        build_envelope(
            FROM, "referral.requested", PARTICIPANT, referral, T, "00000000-0000-4000-8000-0000000000e1"
        ),
    ]


def raw_rows(
    events: list[dict], first_offset: int = 0, topic: str = TOPIC, loaded_at: datetime = LOADED
) -> RawRows:
    """The events as one load stamps them (`loaded_at`: a later load, a later stamp, as the loader's
    wall clock gives)."""
    contract = Contract(load_directory(Settings().provider_directory))
    raw = RawRows()
    for offset, envelope in enumerate(events, start=first_offset):
        event = contract.check(orjson.dumps(envelope), topic, now=LOADED + timedelta(days=30))
        assert isinstance(event, Event), f"a hand-made event breaks the contract: {event}"
        lineage = {
            "kafka_topic": topic,
            "kafka_partition": 0,
            "kafka_offset": offset,
            "kafka_timestamp": LOADED,
            "landed_at": LOADED,
            "loaded_at": loaded_at,
        }
        raw.events.append(event_row(event, lineage))
    assign_batches(raw, loaded_at)
    return raw


def home(root: Path, name: str, *loads: RawRows) -> Settings:
    settings = Settings(home=root / name)
    settings.state_dir.mkdir(parents=True)
    for load in loads:
        write_raw(settings.warehouse_path, load)
    return settings


def overdue(settings: Settings) -> list[tuple[str, bool]]:
    with duckdb.connect(str(settings.published_warehouse_path), read_only=True) as conn:
        return conn.execute("select referral_id, is_response_overdue from marts.referral_handoffs").fetchall()


def published_files(settings: Settings) -> dict[str, tuple[int, bytes]]:
    """Each published file (the copy and the exports) with its modification time and bytes."""
    paths = [settings.published_warehouse_path, *sorted(publish.exports_dir(settings).glob("*.parquet"))]
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in paths}


def kept_run_results(settings: Settings) -> bytes:
    return dbt.kept_run_results_path(settings).read_bytes()


@pytest.mark.slow
def test_a_build_with_nothing_new_is_skipped_until_an_answer_can_change(tmp_path: Path) -> None:
    network = raw_rows(envelopes())
    settings = home(tmp_path, "pipeline", network)

    # First build at T + 47 h: the referral is not overdue yet.
    first = T + timedelta(hours=47)
    assert "full build" in tasks.build_warehouse(settings, first.isoformat())
    tasks.publish_all(settings)
    assert overdue(settings) == [(REFERRAL_ID, False)]
    recorded = dbt.read_build_state(settings)
    assert (recorded.as_of, recorded.next_change) == (first, T + timedelta(hours=48))  # by hand

    # A minute later, nothing new: no dbt, and the published files stay as they are, byte for byte.
    files, results = published_files(settings), kept_run_results(settings)
    later = first + timedelta(minutes=1)
    said = tasks.build_warehouse(settings, later.isoformat())
    assert said.startswith(f"nothing new and as_of {later.isoformat()} before the next change at")
    published = tasks.publish_all(settings)
    assert published_files(settings) == files and kept_run_results(settings) == results
    assert f"nothing new since, and as_of {later.isoformat()}" in published["published"]

    # The oracle: a fresh full build at the later as_of publishes exactly the same rows.
    oracle = home(tmp_path, "oracle", network)
    tasks.build_warehouse(oracle, later.isoformat())
    tasks.publish_all(oracle)
    assert differences(settings.published_warehouse_path, oracle.published_warehouse_path) == {}

    # T + 49 h: past the referral's 48 h without a response, the build runs and the flag flips.
    past = T + timedelta(hours=49)
    assert "nothing new: the models that depend on as_of" in tasks.build_warehouse(settings, past.isoformat())
    tasks.publish_all(settings)
    assert overdue(settings) == [(REFERRAL_ID, True)]
    assert published_files(settings) != files
    assert dbt.read_build_state(settings).next_change == datetime(2026, 11, 13, tzinfo=UTC)  # by hand

    # After midnight: as_of's date moved, the build runs even though nothing is new.
    after_midnight = datetime(2026, 11, 13, 0, 0, 30, tzinfo=UTC)
    assert "nothing new: the models" in tasks.build_warehouse(settings, after_midnight.isoformat())
    assert dbt.read_build_state(settings).next_change == datetime(2026, 11, 14, tzinfo=UTC)  # by hand

    # A new raw row, as_of before the next change: the build runs, and the row is published.
    answer = {"referral_id": REFERRAL_ID, "status": "accepted", "status_reason": None}
    accepted = build_envelope(TO, "referral.status_changed", PARTICIPANT, answer, T + timedelta(hours=50))
    write_raw(
        settings.warehouse_path,
        raw_rows(
            [accepted], topic=f"providers.{TO}.events", loaded_at=after_midnight + timedelta(seconds=10)
        ),
    )
    newer = after_midnight + timedelta(minutes=1)
    assert "new raw rows" in tasks.build_warehouse(settings, newer.isoformat())
    tasks.publish_all(settings)
    with duckdb.connect(str(settings.published_warehouse_path), read_only=True) as conn:
        assert conn.execute("select final_status from marts.referral_handoffs").fetchall() == [("accepted",)]
