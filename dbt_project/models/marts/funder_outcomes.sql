-- One row per measure, period and group (warehouse-v1, marts.funder_outcomes). The cohorts and
-- numerators are defined in the int_outcomes__* models (one row per measure, period and cohort member,
-- consenting participants only); here they are counted for `all` and for each dimension the measure
-- lists (seed funder_measure_dimensions), then small cells are suppressed.
with members as (
    select * from {{ ref('int_outcomes__participants_served') }}
    union all
    select * from {{ ref('int_outcomes__referrals') }}
    union all
    select * from {{ ref('int_outcomes__programs') }}
    union all
    select * from {{ ref('int_outcomes__reentry') }}
    union all
    select * from {{ ref('int_outcomes__mediation') }}
),

measure_dimensions as (
    select * from {{ ref('funder_measure_dimensions') }}
),

demographics as (
    select * from {{ ref('int_participants__demographics') }}
),

member_groups as (
    select measure_id, period_grain, period_start, 'all' as dimension, 'all' as dimension_value,
           member_id, is_in_numerator
    from members
    union all
    select measure_id, period_grain, period_start, 'program_type', program_type, member_id, is_in_numerator
    from members where program_type is not null
    union all
    select measure_id, period_grain, period_start, 'to_provider_id', to_provider_id, member_id, is_in_numerator
    from members where to_provider_id is not null
    union all
    select measure_id, period_grain, period_start, 'service_type', service_type, member_id, is_in_numerator
    from members where service_type is not null
    union all
    select members.measure_id, members.period_grain, members.period_start,
           demographics.dimension, demographics.dimension_value, members.member_id, members.is_in_numerator
    from members
    inner join demographics on demographics.participant_key = members.participant_key
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
