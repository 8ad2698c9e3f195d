-- One row per measure, period and group (warehouse-v1, marts.funder_outcomes). The cohorts and
-- numerators are defined in the int_outcomes__* models (one row per measure, period and cohort member,
-- consenting participants only), gathered with every group each row counts in by
-- operators.funder_outcome_member_rows (which the operators' drill-down reads too) and counted per set of
-- groups by int_outcomes__member_counts; here they are summed for `all` and for each dimension the
-- measure lists (seed funder_measure_dimensions), then small cells are suppressed. A table, made again
-- in every build: from the member counts (161,000 rows at 10 M events) it takes a fraction of a second.

with member_groups as (  -- members with the same groups were counted together: now each group of them
    select
        measure_id, period_grain, period_start,
        member_group.dimension, member_group.dimension_value,
        members, numerator_members
    from (select *, unnest(groups) as member_group from {{ ref('int_outcomes__member_counts') }})
),

measure_dimensions as (
    select * from {{ ref('funder_measure_dimensions') }}
),

counted as (
    select
        member_groups.measure_id,
        member_groups.period_grain,
        member_groups.period_start,
        member_groups.dimension,
        member_groups.dimension_value,
        cast(sum(member_groups.numerator_members) as bigint) as numerator,
        case when member_groups.measure_id = 'participants_served' then null
             else cast(sum(member_groups.members) as bigint) end as denominator
    from member_groups
    inner join measure_dimensions
        on measure_dimensions.measure_id = member_groups.measure_id
        and measure_dimensions.dimension = member_groups.dimension
    group by 1, 2, 3, 4, 5
),

published as (
    {{ suppress_small_cells('counted', ['measure_id', 'period_grain', 'period_start', 'dimension'],
                            'dimension_value') }}
)

select
    measure_id,
    period_grain,
    period_start,
    dimension,
    dimension_value,
    numerator,
    denominator,
    rate,
    is_suppressed
from published
