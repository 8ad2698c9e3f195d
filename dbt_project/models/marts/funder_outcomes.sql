-- One row per measure, period and group (warehouse-v1, marts.funder_outcomes). The cohorts and
-- numerators are defined in the int_outcomes__* models (one row per measure, period and cohort member,
-- consenting participants only), gathered with every group each row counts in by
-- operators.funder_outcome_member_rows (which the operators' drill-down reads too); here they are
-- counted for `all` and for each dimension the measure lists (seed funder_measure_dimensions), then
-- small cells are suppressed.
-- Recounted whole, only in a build where a member row can have changed (funder_outcomes_recounted(),
-- macros/incremental_outcomes.sql): otherwise the stored cells are kept as they are.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where {{ funder_outcomes_recounted() }}{% endif %}",
    post_hook="{{ save_funder_outcomes_inputs() }}",
) }}
{%- set recounted = funder_outcomes_recounted() %}

with members as (  -- each member once per measure and period, with every group it counts in
    -- a participants_served member is a participant, its rows per program type (and for services) merged
    -- by int_outcomes__served_members; in every other measure a member is one member row (the
    -- int_outcomes__* grain: a referral, an exit, an enrollment, a release, a mediation)
    select measure_id, period_grain, period_start, true as is_in_numerator, groups
    from {{ ref('int_outcomes__served_members') }}
    union all
    select measure_id, period_grain, period_start, is_in_numerator, groups
    from {{ ref('funder_outcome_member_rows') }}
    where measure_id <> 'participants_served'
),

-- members with the same groups are counted together before the groups are unnested: a few thousand
-- rows per period instead of one per member and group (35 s of a 10-million-event build, unnesting
-- every member row and counting distinct member ids per group)
member_counts as (
    select
        measure_id, period_grain, period_start, groups,
        count(*) as members,
        count(*) filter (where is_in_numerator) as numerator_members
    from members
    group by measure_id, period_grain, period_start, groups
),

member_groups as (
    select
        measure_id, period_grain, period_start,
        member_group.dimension, member_group.dimension_value,
        members, numerator_members
    from (select *, unnest(groups) as member_group from member_counts)
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
where {{ recounted }}
