-- Release cohorts: each participant's first custody.released in each quarter and each year (by as_of),
-- with whether each follow-up window has fully elapsed by as_of and what happened in it: the events in
-- each window (*_event_ids and who sent them, *_provider_ids, for the operators' drill-down) and whether
-- there were any.
-- "N days after" compares UTC dates; day 0 is the date of the release. A window of N days has elapsed
-- when as_of's date is after day N.
-- Incremental by participant as the outcome members are (macros/incremental_outcomes.sql): a
-- participant's cohorts are decided by their own events and as_of's date (the 30, 180 and 365 days
-- after a release elapse), so only the participants whose rows can have changed are rebuilt.
{{ outcome_members_config() }}

with {{ rebuilt_participants_cte() }}

releases as (
    select
        participant_key, event_id, provider_id, occurred_at as released_at, cast(occurred_at as date) as released_on
    from {{ ref('stg_events__custody_released') }}
    where occurred_at <= {{ as_of() }} and {{ outcome_member_is_rebuilt() }}
),

first_release_in_period as (
    {{ in_periods('releases', 'released_on') }}
    qualify row_number() over (
        partition by releases.participant_key, grains.period_grain,
                     cast(date_trunc(grains.period_grain, releases.released_on) as date)
        order by releases.released_at, releases.event_id
    ) = 1
),

linkage_on as (  -- an enrollment or a service with any provider
    select participant_key, event_id, provider_id, cast(occurred_at as date) as linked_on
    from {{ ref('stg_events__participant_enrolled') }}
    where occurred_at <= {{ as_of() }} and {{ outcome_member_is_rebuilt() }}
    union all
    select participant_key, event_id, provider_id, cast(occurred_at as date)
    from {{ ref('stg_events__service_delivered') }}
    where occurred_at <= {{ as_of() }} and {{ outcome_member_is_rebuilt() }}
),

arrested_on as (
    select participant_key, event_id, provider_id, cast(occurred_at as date) as arrested_on
    from {{ ref('stg_events__justice_arrested') }}
    where occurred_at <= {{ as_of() }} and {{ outcome_member_is_rebuilt() }}
),

admitted_on as (  -- reincarceration: any admission but temporary custody
    select participant_key, event_id, provider_id, cast(occurred_at as date) as admitted_on
    from {{ ref('stg_events__custody_admitted') }}
    where occurred_at <= {{ as_of() }} and admission_reason <> 'temporary_custody' and {{ outcome_member_is_rebuilt() }}
),

employed_on as (
    select participant_key, event_id, provider_id, cast(occurred_at as date) as employed_on
    from {{ ref('stg_events__outcome_recorded') }}
    where occurred_at <= {{ as_of() }}
      and outcome_domain = 'employment'
      and outcome_status in ('employed_full_time', 'employed_part_time')
      and {{ outcome_member_is_rebuilt() }}
),

followed as (
    select
        cohort.*,
        (
            select list({'event_id': l.event_id, 'provider_id': l.provider_id} order by l.linked_on, l.event_id)
            from linkage_on as l
            where l.participant_key = cohort.participant_key
              and l.linked_on between cohort.released_on and cohort.released_on + 30
        ) as linkage_events,
        (
            select list({'event_id': a.event_id, 'provider_id': a.provider_id} order by a.arrested_on, a.event_id)
            from arrested_on as a
            where a.participant_key = cohort.participant_key
              and a.arrested_on between cohort.released_on + 1 and cohort.released_on + 365
        ) as rearrest_events,
        (
            select list({'event_id': a.event_id, 'provider_id': a.provider_id} order by a.admitted_on, a.event_id)
            from admitted_on as a
            where a.participant_key = cohort.participant_key
              and a.admitted_on between cohort.released_on + 1 and cohort.released_on + 365
        ) as reincarceration_events,
        (
            select list({'event_id': e.event_id, 'provider_id': e.provider_id} order by e.employed_on, e.event_id)
            from employed_on as e
            where e.participant_key = cohort.participant_key
              and e.employed_on between cohort.released_on and cohort.released_on + 180
        ) as employment_events
    from first_release_in_period as cohort
)

select
    period_grain,
    period_start,
    participant_key,
    event_id as release_event_id,
    released_at,
    released_on,
    released_on + 30 < {{ as_of_date() }} as has_30d_elapsed,
    released_on + 180 < {{ as_of_date() }} as has_180d_elapsed,
    released_on + 365 < {{ as_of_date() }} as has_365d_elapsed,
    linkage_events is not null as is_linked_within_30d,
    rearrest_events is not null as is_rearrested_within_365d,
    reincarceration_events is not null as is_reincarcerated_within_365d,
    employment_events is not null as is_employed_within_180d,
    provider_id as release_provider_id,
    {{ event_ids_of('linkage_events') }} as linkage_event_ids,
    {{ provider_ids_of('linkage_events') }} as linkage_provider_ids,
    {{ event_ids_of('rearrest_events') }} as rearrest_event_ids,
    {{ provider_ids_of('rearrest_events') }} as rearrest_provider_ids,
    {{ event_ids_of('reincarceration_events') }} as reincarceration_event_ids,
    {{ provider_ids_of('reincarceration_events') }} as reincarceration_provider_ids,
    {{ event_ids_of('employment_events') }} as employment_event_ids,
    {{ provider_ids_of('employment_events') }} as employment_provider_ids
from followed
