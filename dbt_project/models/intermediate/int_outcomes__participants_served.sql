-- funder_outcomes.participants_served: consenting participants with an enrollment or a service in the
-- period. "An enrollment in the period" is an enrollment spell that overlaps it (enrolled before the
-- period ends, not exited before it starts; open spells run to as_of). One row per period, participant
-- and program type (null for a service, which has none), so that `all` counts a participant once and
-- each program type counts its participants. No denominator. event_ids: the enrollments and services
-- that put the participant in the period, provider_ids: who sent them (for the operators' drill-down).
-- Incremental by participant (macros/incremental_outcomes.sql): only the participants whose rows can
-- have changed since the last build are rebuilt.
{{ outcome_members_config() }}

with {{ rebuilt_consenting_participants() }}

spells as (
    select spells.*
    from {{ ref('int_participants__enrollment_spells') }} as spells
    inner join consenting on consenting.participant_key = spells.participant_key
),

services as (
    select
        services.participant_key, services.event_id, services.provider_id,
        cast(services.occurred_at as date) as served_on
    from {{ ref('stg_events__service_delivered') }} as services
    inner join consenting on consenting.participant_key = services.participant_key
    where services.occurred_at <= {{ as_of() }}
),

spell_periods as (
    select
        grains.period_grain,
        cast(unnest(generate_series(
            date_trunc(grains.period_grain, cast(spells.enrolled_at as date)),
            cast(cast(coalesce(spells.exited_at, {{ as_of() }}) as date) as timestamp),
            case grains.period_grain when 'quarter' then interval 3 month else interval 1 year end
        )) as date) as period_start,
        spells.participant_key,
        spells.program_type,
        spells.enrollment_event_id as event_id,
        spells.provider_id
    from spells
    cross join (values ('quarter'), ('year')) as grains (period_grain)
),

service_quarters as (  -- one row per participant and quarter with services; a year is its quarters
    select
        participant_key,
        cast(date_trunc('quarter', served_on) as date) as period_start,
        list(event_id) as event_ids,
        list(distinct provider_id) as provider_ids
    from services
    group by participant_key, cast(date_trunc('quarter', served_on) as date)
),

served as (  -- one row per period, participant and program type (null: the services)
    select
        period_grain, period_start, participant_key, program_type,
        list_sort(list_distinct(list(event_id))) as event_ids,
        list_sort(list_distinct(list(provider_id))) as provider_ids
    from spell_periods
    group by period_grain, period_start, participant_key, program_type
    union all
    select
        'quarter', period_start, participant_key, cast(null as varchar),
        list_sort(list_distinct(event_ids)), list_sort(provider_ids)
    from service_quarters
    union all
    select
        'year', cast(date_trunc('year', period_start) as date), participant_key, cast(null as varchar),
        list_sort(list_distinct(flatten(list(event_ids)))), list_sort(list_distinct(flatten(list(provider_ids))))
    from service_quarters
    group by participant_key, cast(date_trunc('year', period_start) as date)
)

select
    'participants_served' as measure_id,
    period_grain,
    period_start,
    participant_key as member_id,
    participant_key,
    true as is_in_numerator,
    program_type,
    cast(null as varchar) as to_provider_id,
    cast(null as varchar) as service_type,
    event_ids,
    provider_ids,
    {{ build_started_at() }} as refreshed_at  -- written by this build: what the member rows read since
from served
