-- Drill-down (issue 15): for every unsuppressed cell of funder_outcomes, its members in
-- operators.funder_outcome_members add up to its numerator and denominator; a suppressed cell has no
-- member, and no member belongs to a cell funder_outcomes does not have. Returns the cells that break it.
with cells as (
    select * from {{ ref('funder_outcomes') }}
),

member_counts as (
    select
        measure_id, period_grain, period_start, dimension, dimension_value,
        count(*) filter (where in_numerator) as numerator_members,
        count(*) filter (where in_denominator) as denominator_members
    from {{ ref('funder_outcome_members') }}
    group by all
)

select
    coalesce(cells.measure_id, member_counts.measure_id) as measure_id,
    coalesce(cells.period_grain, member_counts.period_grain) as period_grain,
    coalesce(cells.period_start, member_counts.period_start) as period_start,
    coalesce(cells.dimension, member_counts.dimension) as dimension,
    coalesce(cells.dimension_value, member_counts.dimension_value) as dimension_value,
    cells.is_suppressed,
    cells.numerator,
    cells.denominator,
    member_counts.numerator_members,
    member_counts.denominator_members
from cells
full outer join member_counts
    on member_counts.measure_id = cells.measure_id
    and member_counts.period_grain = cells.period_grain
    and member_counts.period_start = cells.period_start
    and member_counts.dimension = cells.dimension
    and member_counts.dimension_value = cells.dimension_value
where cells.measure_id is null                                   -- members of a cell that does not exist
   or (cells.is_suppressed and member_counts.measure_id is not null)  -- members of a suppressed cell
   or (not cells.is_suppressed and (
          coalesce(member_counts.numerator_members, 0) <> cells.numerator
          or coalesce(member_counts.denominator_members, 0) <> coalesce(cells.denominator, 0)))
