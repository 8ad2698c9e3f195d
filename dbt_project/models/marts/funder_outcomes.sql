-- One row per measure, period and group (warehouse-v1, marts.funder_outcomes). The cohorts and
-- numerators are defined in the int_outcomes__* models (one row per measure, period and cohort member,
-- consenting participants only), gathered with every group each row counts in by
-- operators.funder_outcome_member_rows (which the operators' drill-down reads too); here they are
-- counted for `all` and for each dimension the measure lists (seed funder_measure_dimensions), then
-- small cells are suppressed.
with member_groups as (  -- each member row once per group it counts in
    select
        measure_id, period_grain, period_start,
        member_group.dimension, member_group.dimension_value,
        member_id, is_in_numerator
    from (
        select *, unnest(groups) as member_group
        from {{ ref('funder_outcome_member_rows') }}
    )
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
        count(distinct member_groups.member_id) filter (where member_groups.is_in_numerator) as numerator,
        case when member_groups.measure_id = 'participants_served' then null
             else count(distinct member_groups.member_id) end as denominator
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
