"""A provider's referral handoffs: its rows of `provider_views.provider_referral_handoffs` (the referrals
of `marts.referral_handoffs` it sent or received, with Part 2 applied), and nothing else. Every query
here is filtered by `viewer_provider_id` first."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from continuum.web.warehouse import arrow, dict_rows, scalar
from streams.contract import enum_values

DIRECTIONS = ("all", "sent", "received")
FLAGS = ("any", "overdue", "stalled", "open", "contact_prohibited")
# "requested" first (a referral with no status change yet), then the contract's statuses in its order.
STATUSES = ("requested", *enum_values("referral.status_changed", "status"))
TABLE_LIMIT = 200
ACTION_LIMIT = 25

#: Why the action list is in this order: an unanswered referral to you is yours to answer; then the
#: most urgent priority (FHIR's order: stat, asap, urgent, routine); then the one waiting longest.
ACTION_ORDER = """
    (to_provider_id = ? and first_response_at is null) desc,
    case priority when 'stat' then 0 when 'asap' then 1 when 'urgent' then 2 else 3 end,
    requested_at
"""

#: Where provider-facing reads come from: the dbt model that applies "only theirs" and Part 2.
VIEW = "provider_views.provider_referral_handoffs"

COLUMNS = """
    direction, referral_id, participant_key, from_provider_id, to_provider_id, service_type, priority,
    contact_prohibited, requested_at, first_response_at, accepted_at, completed_at, closed_at,
    final_status, final_status_reason, hours_to_first_response, is_response_overdue, is_stalled,
    is_connected, invalid_transition_count, is_part2_withheld
"""


@dataclass(frozen=True)
class Filters:
    direction: str = "all"
    status: str = ""
    flag: str = "any"
    service_type: str = ""

    @classmethod
    def parse(cls, direction: str, status: str, flag: str, service_type: str) -> Filters:
        """Unknown values fall back to "no filter" rather than an error: they come from a URL."""
        return cls(
            direction if direction in DIRECTIONS else "all",
            status if status in STATUSES else "",
            flag if flag in FLAGS else "any",
            service_type.strip()[:64],
        )

    def where(self, provider_id: str) -> tuple[str, list]:
        """A WHERE clause (always restricted to the provider) and its parameters."""
        sql, params = ["viewer_provider_id = ?"], [provider_id]
        if self.direction != "all":
            sql.append("direction = ?")
            params.append(self.direction)
        flag_sql = {
            "overdue": "is_response_overdue",
            "stalled": "is_stalled",
            "open": "closed_at is null and not is_part2_withheld",
            "contact_prohibited": "contact_prohibited",
        }
        if self.flag in flag_sql:
            sql.append(flag_sql[self.flag])
        if self.status:
            sql.append("final_status = ?")
            params.append(self.status)
        if self.service_type:
            sql.append("service_type = ?")
            params.append(self.service_type)
        return " and ".join(sql), params


def summary(con: duckdb.DuckDBPyConnection, provider_id: str) -> list[dict]:
    """Sent and received: counts, overdue, stalled, median time to first response, loop closure. Referrals
    whose answers are withheld under Part 2 are counted apart and left out of the rates."""
    return dict_rows(
        con,
        f"""
        select direction,
               count(*) as referrals,
               count(*) filter (where is_response_overdue) as overdue,
               count(*) filter (where is_stalled) as stalled,
               count(*) filter (where closed_at is null and not is_part2_withheld) as open,
               median(hours_to_first_response) as median_hours_to_first_response,
               count(*) filter (where closed_at is not null)
                   / nullif(count(*) filter (where not is_part2_withheld), 0) as loop_closure_rate,
               count(*) filter (where is_connected) as connected,
               count(*) filter (where is_part2_withheld) as part2_withheld
        from {VIEW}
        where viewer_provider_id = ? and final_status is distinct from 'entered-in-error'
        group by direction
        order by direction desc
        """,
        [provider_id],
    )


def needs_action(con: duckdb.DuckDBPyConnection, provider_id: str) -> list[dict]:
    """Open referrals that are overdue or stalled, most pressing first."""
    return dict_rows(
        con,
        f"""
        select {COLUMNS} from {VIEW}
        where viewer_provider_id = ? and closed_at is null and (is_response_overdue or is_stalled)
        order by {ACTION_ORDER}
        limit {ACTION_LIMIT}
        """,
        [provider_id, provider_id],
    )


def referrals(con: duckdb.DuckDBPyConnection, provider_id: str, filters: Filters) -> tuple[list[dict], int]:
    """The newest referrals that pass the filters (at most TABLE_LIMIT), and how many pass in all."""
    where, params = filters.where(provider_id)
    total = scalar(con, f"select count(*) from {VIEW} where {where}", params)
    rows = dict_rows(
        con,
        f"select {COLUMNS} from {VIEW} where {where} "
        f"order by requested_at desc, referral_id limit {TABLE_LIMIT}",
        params,
    )
    return rows, total or 0


def service_types(con: duckdb.DuckDBPyConnection, provider_id: str) -> list[str]:
    rows = con.execute(
        f"select distinct service_type from {VIEW} where viewer_provider_id = ? order by 1", [provider_id]
    ).fetchall()
    return [r[0] for r in rows]


def monthly(con: duckdb.DuckDBPyConnection, provider_id: str) -> list[dict]:
    """`provider_handoff_summary` for this provider, both directions, newest month first."""
    return dict_rows(
        con,
        """
        select month,
               sum(referrals_requested) filter (where from_provider_id = ?) as sent,
               sum(referrals_requested) filter (where to_provider_id = ?) as received,
               sum(responded_within_48h) filter (where to_provider_id = ?) as answered_within_48h,
               sum(connected) filter (where to_provider_id = ?) as connected,
               sum(stalled) filter (where to_provider_id = ? or from_provider_id = ?) as stalled
        from marts.provider_handoff_summary
        where from_provider_id = ? or to_provider_id = ?
        group by month
        order by month desc
        limit 12
        """,
        [provider_id] * 8,
    )


def export(con: duckdb.DuckDBPyConnection, provider_id: str) -> pa.Table:
    """All of the provider's referrals, for the CSV and Parquet downloads."""
    return arrow(
        con,
        f"select {COLUMNS} from {VIEW} where viewer_provider_id = ? order by requested_at, referral_id",
        [provider_id],
    )
