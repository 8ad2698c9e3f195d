-- funder_outcomes' programme measures, one row per measure, period and member, for consenting
-- participants:
--   program_completion    exits in the period (of an enrollment the warehouse knows), exit_reason not
--                         deceased; numerator: exit_reason completed. Grouped by program_type.
--   violent_reinjury_12m  enrollments in hospital_violence_intervention in the period whose 365 days
--                         have elapsed; numerator: a gunshot, stab or assault injury as a victim
--                         (recorded by any provider) 1 to 365 days after the enrollment.
-- event_ids (operators' drill-down): the exit; the enrollment and the injuries that decide the numerator;
-- provider_ids: who sent them (an exit comes from the provider of its enrollment).
-- Incremental by participant (macros/incremental_outcomes.sql): only the participants whose rows can
-- have changed since the last build are rebuilt.
{{ outcome_members_config() }}

with {{ rebuilt_consenting_participants() }}

spells as (
    select spells.*, cast(spells.enrolled_at as date) as enrolled_on, cast(spells.exited_at as date) as exited_on
    from {{ ref('int_participants__enrollment_spells') }} as spells
    inner join consenting on consenting.participant_key = spells.participant_key
),

exits as (
    select * from spells where exited_at is not null and exit_reason <> 'deceased'
),

hvi_enrollments as (
    select * from spells where program_type = 'hospital_violence_intervention'
),

injured_on as (
    select participant_key, event_id, provider_id, cast(occurred_at as date) as injured_on
    from {{ ref('stg_events__incident_recorded') }}
    where occurred_at <= {{ as_of() }}
      and incident_type in ('gunshot_injury', 'stab_injury', 'assault_injury')
      and participant_role = 'victim'
),

program_completion as (
    select
        'program_completion' as measure_id, period_grain, period_start, exit_event_id as member_id,
        participant_key, exit_reason = 'completed' as is_in_numerator, program_type,
        [exit_event_id] as event_ids,  -- the exit (its reason decides the numerator)
        [provider_id] as provider_ids
    from ({{ in_periods('exits', 'exits.exited_on') }})
),

hvi_followed as (  -- each HVI enrollment with its injuries as a victim on days 1 to 365
    select
        hvi.*,
        (
            select list(
                {'event_id': injured_on.event_id, 'provider_id': injured_on.provider_id}
                order by injured_on.injured_on, injured_on.event_id
            )
            from injured_on
            where injured_on.participant_key = hvi.participant_key
              and injured_on.injured_on between hvi.enrolled_on + 1 and hvi.enrolled_on + 365
        ) as injuries
    from ({{ in_periods('hvi_enrollments', 'hvi_enrollments.enrolled_on') }}) as hvi
    where hvi.enrolled_on + 365 < {{ as_of_date() }}
),

violent_reinjury_12m as (
    select
        'violent_reinjury_12m', period_grain, period_start, enrollment_event_id, participant_key,
        injuries is not null, program_type,
        -- the enrollment, then the injuries that put it in the numerator
        list_concat([enrollment_event_id], {{ event_ids_of('injuries') }}),
        list_sort(list_distinct(list_concat([provider_id], {{ provider_ids_of('injuries') }})))
    from hvi_followed
)

select
    measure_id,
    period_grain,
    period_start,
    member_id,
    participant_key,
    is_in_numerator,
    -- only program_completion is grouped by program type
    case when measure_id = 'program_completion' then program_type end as program_type,
    cast(null as varchar) as to_provider_id,
    cast(null as varchar) as service_type,
    event_ids,
    provider_ids,
    {{ build_started_at() }} as refreshed_at  -- written by this build: what the member rows read since
from (select * from program_completion union all select * from violent_reinjury_12m)
