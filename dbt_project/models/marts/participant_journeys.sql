-- One row per consenting participant (warehouse-v1, marts.participant_journeys), from the same
-- shareable events as journey_events (consent at as_of; Part 2 records only with a Part 2 grant).
--
-- Incremental (docs/pipeline.md, Incremental models): every column is per participant, so only these
-- participants are rebuilt (delete+insert on participant_key): those with an event loaded since the
-- last build or timed between the last build's as_of and this one's (a consent change among them),
-- those with a referral request whose referral has a status change, service or enrollment so (its
-- is_connected may change), and those whose 365 days after the latest release end between the two
-- as_of (rearrested_within_365d_of_latest_release). The post-hook drops participants not consenting
-- at as_of, as journey_events does.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='participant_key',
    post_hook=[
        "delete from {{ this }} as published where not exists (
            select 1 from {{ ref('int_participants__spine') }} as spine
            where spine.participant_key = published.participant_key and spine.is_consenting)",
        "{{ save_incremental_state(['int_events__unioned']) }}",
    ]
) }}
-- depends_on: {{ ref('int_participants__spine') }}

with
{% if is_incremental() %}
changed_events as (
    select participant_key, referral_id
    from {{ ref('int_events__unioned') }}
    where {{ changed_since_last_build() }}
),

changed_participants as (
    select participant_key from changed_events
    union
    select requests.participant_key
    from {{ ref('int_events__unioned') }} as requests
    inner join changed_events on changed_events.referral_id = requests.referral_id
    where requests.event_type = 'referral.requested'
    union
    select participant_key from {{ this }}
    where {{ date_between_the_two_as_of('cast(latest_release_at as date) + 365') }}
    union
    select participant_key from {{ this }} where {{ as_of_moved_back() }}
),
{% endif %}

shared_events as (
    select * from {{ ref('int_journeys__shared_events') }}
    {% if is_incremental() %}
    where participant_key in (select participant_key from changed_participants)
    {% endif %}
),

connected_referrals as (
    select referral_id from {{ ref('referral_handoffs') }} where is_connected
),

counts as (
    select
        shared_events.participant_key,
        min(shared_events.occurred_at) as first_seen_at,
        max(shared_events.occurred_at) as last_seen_at,
        count(distinct shared_events.provider_id) as providers_engaged,
        count(*) filter (where shared_events.event_type = 'participant.enrolled') as enrollments,
        count(*) filter (where shared_events.event_type = 'service.delivered') as services_received,
        count(*) filter (where shared_events.event_type = 'referral.requested') as referrals_requested,
        count(distinct connected_referrals.referral_id) as referrals_connected,
        max(shared_events.occurred_at) filter (where shared_events.event_type = 'custody.released')
            as latest_release_at,
        -- the first enrollment and the latest event, in the order of (time, event id, provider): one
        -- pass over the events (two window sorts took 40 % of this model at 10 million events)
        arg_min(
            {'provider_id': shared_events.provider_id, 'program_type': shared_events.program_type},
            {'occurred_at': shared_events.occurred_at, 'event_id': shared_events.event_id,
             'provider_id': shared_events.provider_id}
        ) filter (where shared_events.event_type = 'participant.enrolled') as first_enrollment,
        arg_max(
            shared_events.stage,
            {'occurred_at': shared_events.occurred_at, 'event_id': shared_events.event_id,
             'provider_id': shared_events.provider_id}
        ) as current_stage
    from shared_events
    left join connected_referrals
        on shared_events.event_type = 'referral.requested'
        and connected_referrals.referral_id = shared_events.referral_id
    group by shared_events.participant_key
),

after_release as (
    select
        counts.participant_key,
        min(cast(later.occurred_at as date)) filter (
            where later.event_type in ('participant.enrolled', 'service.delivered')
        ) as first_service_on,
        bool_or(
            later.event_type = 'justice.arrested'
            and cast(later.occurred_at as date)
                between cast(counts.latest_release_at as date) + 1 and cast(counts.latest_release_at as date) + 365
        ) as is_rearrested
    from counts
    inner join shared_events as later
        on later.participant_key = counts.participant_key
        and later.occurred_at > counts.latest_release_at
    group by counts.participant_key
)

select
    counts.participant_key,
    counts.first_seen_at,
    counts.last_seen_at,
    counts.first_enrollment.provider_id as first_provider_id,
    counts.first_enrollment.program_type as first_program_type,
    counts.providers_engaged,
    counts.enrollments,
    counts.services_received,
    counts.referrals_requested,
    counts.referrals_connected,
    counts.latest_release_at,
    cast(date_diff('day', cast(counts.latest_release_at as date), after_release.first_service_on) as integer)
        as days_release_to_first_service,
    case
        when counts.latest_release_at is null then null
        when cast(counts.latest_release_at as date) + 365 >= {{ as_of_date() }} then null
        else coalesce(after_release.is_rearrested, false)
    end as rearrested_within_365d_of_latest_release,
    counts.current_stage
from counts
left join after_release on after_release.participant_key = counts.participant_key
