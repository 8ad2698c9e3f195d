"""The funder view of `marts.funder_outcomes`: per measure, the latest quarter and year, the trend over
quarters and the breakdowns, each cell as funders read it (a suppressed cell says so, never zero)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from continuum.web import charts, measure_docs
from continuum.web.warehouse import dict_rows

#: The measures in the order of warehouse-v1, with the words funders use for them. A measure the
#: warehouse publishes but this list lacks is still shown, under its id.
MEASURE_LABELS = {
    "participants_served": "Participants served",
    "referral_response_48h": "Referrals answered within 48 hours",
    "referral_loop_closed_90d": "Referrals closed within 90 days",
    "referral_connected": "Accepted referrals that connected to a service",
    "program_completion": "Programme exits that were completions",
    "violent_reinjury_12m": "Violent re-injury within 12 months of a hospital intervention",
    "reentry_linkage_30d": "Linked to a service within 30 days of release",
    "rearrest_12m": "Re-arrested within 12 months of release",
    "reincarceration_12m": "Re-incarcerated within 12 months of release",
    "mediation_no_retaliation_90d": "Mediated conflicts with no retaliation within 90 days",
    "employment_180d": "Employed within 180 days of release",
}

#: Measures that are counts (denominator null), not rates.
COUNT_MEASURES = frozenset({"participants_served"})

DIMENSION_LABELS = {
    "program_type": "Programme type",
    "to_provider_id": "Provider",
    "service_type": "Service type",
    "gender": "Gender",
    "race_ethnicity": "Race and ethnicity",
}

SUPPRESSED_TEXT = "suppressed"
SUPPRESSED_HINT = "fewer than 11 people (or hidden so that such a count cannot be worked out): not published"

OUTCOMES_SQL = """
    select measure_id, period_grain, period_start, dimension, dimension_value,
           numerator, denominator, rate, is_suppressed
    from marts.funder_outcomes
    order by measure_id, period_grain, period_start, dimension, dimension_value
"""


@dataclass(frozen=True)
class Cell:
    """One published number, with the text a reader sees for it."""

    key: str  # measure|grain|period|dimension|value: lets a test compare the app and the static site
    numerator: int | None
    denominator: int | None
    rate: float | None
    is_suppressed: bool
    is_count: bool

    @property
    def text(self) -> str:
        if self.is_suppressed:
            return SUPPRESSED_TEXT
        if self.is_count:
            return f"{self.numerator:,}" if self.numerator is not None else "none"
        if self.rate is None:
            return "no cases"
        return f"{self.rate:.1%}"

    @property
    def detail(self) -> str:
        """The counts behind a rate ("12 of 40"), empty where there are none to show."""
        if self.is_suppressed or self.is_count or self.denominator is None:
            return ""
        return f"{self.numerator:,} of {self.denominator:,}"


@dataclass
class Breakdown:
    dimension: str
    label: str
    rows: list[tuple[str, Cell | None, Cell | None]]  # (group, latest quarter, latest year)


@dataclass
class Measure:
    measure_id: str
    label: str
    is_count: bool
    latest_quarter: date | None = None
    latest_year: date | None = None
    quarter_cell: Cell | None = None
    year_cell: Cell | None = None
    trend: list[tuple[date, Cell]] = field(default_factory=list)
    breakdowns: list[Breakdown] = field(default_factory=list)
    chart_svg: str = ""
    definition_html: str = ""

    @property
    def year_is_partial(self) -> bool:
        """The latest year's row counts only the quarters published so far (its last one is not Q4)."""
        q, y = self.latest_quarter, self.latest_year
        return bool(q and y and q.year == y.year and q.month < 10)

    @property
    def suppressed_quarters(self) -> int:
        return sum(cell.is_suppressed for _, cell in self.trend)


def quarter_label(start: date) -> str:
    return f"{start.year} Q{(start.month - 1) // 3 + 1}"


def year_label(start: date) -> str:
    return str(start.year)


def load_measures(
    con: duckdb.DuckDBPyConnection, provider_names: dict[str, str], docs_path: Path
) -> list[Measure]:
    """Every measure of the published table, in warehouse-v1's order, ready to render."""
    rows = dict_rows(con, OUTCOMES_SQL)
    definitions = measure_docs.sections(docs_path, list(MEASURE_LABELS) + [r["measure_id"] for r in rows])
    ids = [m for m in MEASURE_LABELS if any(r["measure_id"] == m for r in rows)]
    ids += sorted({r["measure_id"] for r in rows} - set(ids))
    measures = []
    for measure_id in ids:
        measure = _build(measure_id, [r for r in rows if r["measure_id"] == measure_id], provider_names)
        measure.definition_html = definitions.get(measure_id, "")
        measures.append(measure)
    return measures


def _build(measure_id: str, rows: list[dict], provider_names: dict[str, str]) -> Measure:
    # A count has no denominator. Known by name, because a measure whose every cell is suppressed
    # shows no denominator either.
    is_count = measure_id in COUNT_MEASURES or (
        measure_id not in MEASURE_LABELS and all(r["denominator"] is None for r in rows)
    )
    measure = Measure(measure_id, MEASURE_LABELS.get(measure_id, measure_id), is_count)
    cells = {(r["period_grain"], r["period_start"], r["dimension"], r["dimension_value"]): r for r in rows}

    def cell(grain: str, start: date | None, dimension: str, value: str) -> Cell | None:
        row = cells.get((grain, start, dimension, value))
        return _cell(row, is_count) if row else None

    quarters = sorted({r["period_start"] for r in rows if r["period_grain"] == "quarter"})
    years = sorted({r["period_start"] for r in rows if r["period_grain"] == "year"})
    measure.latest_quarter = quarters[-1] if quarters else None
    measure.latest_year = years[-1] if years else None
    measure.quarter_cell = cell("quarter", measure.latest_quarter, "all", "all")
    measure.year_cell = cell("year", measure.latest_year, "all", "all")
    measure.trend = [(q, c) for q in quarters if (c := cell("quarter", q, "all", "all"))]
    for dimension in sorted({r["dimension"] for r in rows} - {"all"}, key=_dimension_order):
        values = sorted({r["dimension_value"] for r in rows if r["dimension"] == dimension})
        breakdown_rows = sorted(
            (
                (
                    _group_label(dimension, value, provider_names),
                    cell("quarter", measure.latest_quarter, dimension, value),
                    cell("year", measure.latest_year, dimension, value),
                )
                for value in values
            ),
            key=lambda row: row[0],
        )
        label = DIMENSION_LABELS.get(dimension, dimension)
        measure.breakdowns.append(Breakdown(dimension, label, breakdown_rows))
    measure.chart_svg = charts.trend_svg(measure.label, _trend_points(measure), is_count)
    return measure


def _cell(row: dict, is_count: bool) -> Cell:
    key = "|".join(
        str(row[k]) for k in ("measure_id", "period_grain", "period_start", "dimension", "dimension_value")
    )
    return Cell(key, row["numerator"], row["denominator"], row["rate"], bool(row["is_suppressed"]), is_count)


def _trend_points(measure: Measure) -> list[charts.Point]:
    return [
        charts.Point(
            quarter_label(start),
            None if cell.is_suppressed else (cell.numerator if measure.is_count else cell.rate),
            cell.is_suppressed,
        )
        for start, cell in measure.trend
    ]


def _dimension_order(dimension: str) -> tuple[int, str]:
    order = list(DIMENSION_LABELS)
    return (order.index(dimension) if dimension in order else len(order), dimension)


def _group_label(dimension: str, value: str, provider_names: dict[str, str]) -> str:
    if dimension.endswith("provider_id"):
        return provider_names.get(value, value)
    return value.replace("_", " ")
