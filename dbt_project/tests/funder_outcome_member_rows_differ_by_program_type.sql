-- Drill-down (issues 13, 15): int_outcomes__member_scopes keeps two event scopes per member, all its rows
-- and its row of one program type, which is exact only while a member's rows (one measure, period and
-- member) differ by nothing but program_type: one participant key, one to_provider_id, one service_type,
-- at most one row per program type. Returns the members that break it (a new outcome model that does
-- must give the drill-down a scope per group instead).
with member_rows as (
    {{ funder_outcome_member_rows() }}
)

select measure_id, period_grain, period_start, member_id
from member_rows
group by measure_id, period_grain, period_start, member_id
having count(distinct participant_key) > 1
    or count(distinct coalesce(to_provider_id, '')) > 1
    or count(distinct coalesce(service_type, '')) > 1
    or count(*) > count(distinct program_type) + 1
    or count(*) filter (where program_type is null) > 1
