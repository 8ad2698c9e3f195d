-- funder_outcomes' reentry measures, on the release cohorts (each consenting participant's first
-- custody.released in the period; windows and outcomes in int_participants__release_cohorts):
--   reentry_linkage_30d  30 days elapsed; numerator: an enrollment or a service 0 to 30 days after
--   rearrest_12m         365 days elapsed; numerator: justice.arrested 1 to 365 days after
--   reincarceration_12m  365 days elapsed; numerator: custody.admitted, not temporary_custody, 1 to 365
--   employment_180d      180 days elapsed; numerator: employed full or part time 0 to 180 days after
-- event_ids (operators' drill-down): the release, then the events in the window that decide the numerator;
-- provider_ids: who sent them.
-- Incremental by participant (macros/incremental_outcomes.sql): only the participants whose rows can
-- have changed since the last build are rebuilt.
{{ outcome_members_config() }}

with {{ rebuilt_consenting_participants() }}

releases as (
    select releases.*
    from {{ ref('int_participants__release_cohorts') }} as releases
    inner join consenting on consenting.participant_key = releases.participant_key
),

members as (
    select 'reentry_linkage_30d' as measure_id, period_grain, period_start, release_event_id as member_id,
           participant_key, is_linked_within_30d as is_in_numerator, linkage_event_ids as window_event_ids,
           linkage_provider_ids as window_provider_ids, release_provider_id
    from releases where has_30d_elapsed
    union all
    select 'rearrest_12m', period_grain, period_start, release_event_id, participant_key,
           is_rearrested_within_365d, rearrest_event_ids,
           rearrest_provider_ids, release_provider_id
    from releases where has_365d_elapsed
    union all
    select 'reincarceration_12m', period_grain, period_start, release_event_id, participant_key,
           is_reincarcerated_within_365d, reincarceration_event_ids,
           reincarceration_provider_ids, release_provider_id
    from releases where has_365d_elapsed
    union all
    select 'employment_180d', period_grain, period_start, release_event_id, participant_key,
           is_employed_within_180d, employment_event_ids,
           employment_provider_ids, release_provider_id
    from releases where has_180d_elapsed
)

select
    measure_id,
    period_grain,
    period_start,
    member_id,
    participant_key,
    is_in_numerator,
    cast(null as varchar) as program_type,
    cast(null as varchar) as to_provider_id,
    cast(null as varchar) as service_type,
    -- the release, then the events in the window that decide the numerator
    list_concat([member_id], window_event_ids) as event_ids,
    list_sort(list_distinct(list_concat([release_provider_id], window_provider_ids))) as provider_ids,
    {{ build_started_at() }} as refreshed_at  -- written by this build: what the member rows read since
from members
