"""Drill-down for operators: the members behind one unsuppressed cell of `marts.funder_outcomes`, read
when the cell is opened from `operators.funder_outcome_member_rows` (one row per measure, period and
member row of the int_outcomes__* models, with every group it counts in: the same rows funder_outcomes
counts, dbt_project/models/operators/). A member is the unit the measure counts (a participant, a
referral, an exit, ...): one line per member_id among the rows of the cell's measure and period whose
groups hold the cell's group, with the events of those rows and the providers that sent them. Reading a
cell when it is opened, instead of building the members of every cell on every build, is what issue 13
measured (docs/benchmarks.md).

A cell is named by the key the funder page already gives it: `measure|grain|period|dimension|value`.
A suppressed or unknown cell has no drill-down (404), whatever the rows table holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb

from continuum.web.warehouse import dict_rows, require_table

MEMBERS_SCHEMA, MEMBER_ROWS_TABLE = "operators", "funder_outcome_member_rows"
#: A cell's members, with the cell's key as parameters (Cell.params): one row per member, whether it is in
#: the numerator (any of its rows in the cell is) and in the denominator (every member of a measure that
#: has one), and the events of its rows in the cell with their providers.
CELL_MEMBERS = (
    "select member_id, min(participant_key) as participant_key, bool_or(is_in_numerator) as in_numerator, "
    "any_value(measure_id) <> 'participants_served' as in_denominator, "
    "list_sort(list_distinct(flatten(list(event_ids)))) as event_ids, "
    "list_sort(list_distinct(flatten(list(provider_ids)))) as provider_ids "
    f"from {MEMBERS_SCHEMA}.{MEMBER_ROWS_TABLE} "
    "where measure_id = ? and period_grain = ? and period_start = ? "
    "and list_contains(groups, {'dimension': ?, 'dimension_value': ?}) "
    "group by member_id"
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
    require_table(con, MEMBERS_SCHEMA, MEMBER_ROWS_TABLE)
    rows = dict_rows(
        con, f"{CELL_MEMBERS} order by in_numerator desc, member_id limit {MEMBER_LIMIT}", cell.params
    )
    counts = dict_rows(
        con,
        "select count(*) as members, count(*) filter (in_numerator) as in_numerator, "
        "count(*) filter (in_denominator) as in_denominator, count(distinct participant_key) as participants "
        f"from ({CELL_MEMBERS})",
        cell.params,
    )[0]
    return row, rows, counts


def providers_in(rows: list[dict]) -> list[str]:
    """The providers whose events the rows show: whose rows the operator opened, for the audit line."""
    return sorted({provider for row in rows for provider in row["provider_ids"] or []})
