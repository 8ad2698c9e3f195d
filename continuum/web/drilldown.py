"""Drill-down for operators: the members behind one unsuppressed cell of `marts.funder_outcomes`, from
`operators.funder_outcome_members` (one row per measure, period, group and member, the unit the measure
counts: a participant, a referral, an exit, ...; whether it is in the numerator and the denominator)
joined on member_ref to `operators.funder_outcome_member_events` (who the member is: its member_id and
pseudonymous participant key, the events that put it there and the providers that sent them, stored once
per member instead of once per group, issue 13); built from the same rows as the measure,
dbt_project/models/operators/.

A cell is named by the key the funder page already gives it: `measure|grain|period|dimension|value`.
A suppressed or unknown cell has no drill-down (404), whatever the members table holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from continuum.web.warehouse import dict_rows, require_table

MEMBERS_SCHEMA, MEMBERS_TABLE, EVENTS_TABLE = (
    "operators",
    "funder_outcome_members",
    "funder_outcome_member_events",
)
#: A cell's members as the drill-down shows them: one row per member, with who it is and its events.
CELL_MEMBERS = (
    "select events.member_id, events.participant_key, members.in_numerator, members.in_denominator, "
    "events.event_ids, events.provider_ids "
    f"from {MEMBERS_SCHEMA}.{MEMBERS_TABLE} as members "
    f"inner join {MEMBERS_SCHEMA}.{EVENTS_TABLE} as events on events.member_ref = members.member_ref"
)
KEY_COLUMNS = ("measure_id", "period_grain", "period_start", "dimension", "dimension_value")
MEMBER_LIMIT = 5000


class NoDrillDown(LookupError):
    """The cell does not exist, or it is suppressed: nothing behind it may be shown."""


@dataclass(frozen=True)
class Cell:
    measure_id: str
    period_grain: str
    period_start: date
    dimension: str
    dimension_value: str

    @classmethod
    def parse(cls, key: str) -> Cell:
        parts = key.split("|", 4)
        if len(parts) != 5:
            raise NoDrillDown("a cell is measure|grain|period|dimension|value, as the funder page names it")
        try:
            period = date.fromisoformat(parts[2])
        except ValueError:
            raise NoDrillDown(f"the period of a cell is a date (YYYY-MM-DD), not {parts[2]!r}") from None
        return cls(parts[0], parts[1], period, parts[3], parts[4])

    @property
    def key(self) -> str:
        return "|".join(str(v) for v in self.params)  # a date prints as YYYY-MM-DD, as on the funder page

    @property
    def params(self) -> list:
        return [self.measure_id, self.period_grain, self.period_start, self.dimension, self.dimension_value]


WHERE_CELL = " and ".join(f"{c} = ?" for c in KEY_COLUMNS)


def unsuppressed_cells(con: duckdb.DuckDBPyConnection) -> list[dict]:
    require_table(con, "marts", "funder_outcomes")
    rows = dict_rows(
        con,
        f"select {', '.join(KEY_COLUMNS)}, numerator, denominator from marts.funder_outcomes "
        "where not is_suppressed order by measure_id, period_grain, period_start, dimension, dimension_value",
    )
    for row in rows:
        row["cell"] = Cell(*(row[c] for c in KEY_COLUMNS)).key
    return rows


def outcome(con: duckdb.DuckDBPyConnection, cell: Cell) -> dict:
    require_table(con, "marts", "funder_outcomes")
    found = dict_rows(con, f"select * from marts.funder_outcomes where {WHERE_CELL}", cell.params)
    if not found:
        raise NoDrillDown(f"no cell {cell.key} in funder_outcomes")
    if found[0]["is_suppressed"]:
        raise NoDrillDown(f"the cell {cell.key} is suppressed: its members are not shown")
    return found[0]


def members(con: duckdb.DuckDBPyConnection, cell: Cell) -> tuple[dict, list[dict], dict[str, int]]:
    """The cell's published row, its members (the first MEMBER_LIMIT; their key columns left out: they
    are the cell's), and the counts of all of them to set beside the published numerator and denominator:
    members in each, and the distinct participants (one may be several members, e.g. several referrals)."""
    row = outcome(con, cell)
    require_table(con, MEMBERS_SCHEMA, MEMBERS_TABLE)
    require_table(con, MEMBERS_SCHEMA, EVENTS_TABLE)
    cell_members = f"{CELL_MEMBERS} where {WHERE_CELL}"
    rows = dict_rows(
        con, f"{cell_members} order by in_numerator desc, member_id limit {MEMBER_LIMIT}", cell.params
    )
    counts = dict_rows(
        con,
        "select count(*) as members, count(*) filter (in_numerator) as in_numerator, "
        "count(*) filter (in_denominator) as in_denominator, count(distinct participant_key) as participants "
        f"from ({cell_members})",
        cell.params,
    )[0]
    return row, rows, counts


def providers_in(rows: list[dict]) -> list[str]:
    """The providers whose events the rows show: whose rows the operator opened, for the audit line."""
    return sorted({provider for row in rows for provider in row["provider_ids"] or []})
