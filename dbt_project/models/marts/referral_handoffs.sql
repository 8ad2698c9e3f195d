-- One row per referral (warehouse-v1, marts.referral_handoffs). Not filtered by consent: a row is for
-- the referral's two providers only (from_provider_id, to_provider_id), who made the referral between
-- them. Everything is as of as_of.
--
-- Incremental (docs/pipeline.md, Incremental models): every column is per referral, so only the
-- referrals that can have changed are rebuilt (delete+insert on referral_id): those with a request,
-- status change, service or enrollment loaded since the last build or timed between the last build's
-- as_of and this one's, those whose 48 hours without a response ended in between (is_response_overdue)
-- and the open ones whose last activity is 14 days before either end (is_stalled). The post-hook
-- drops referrals requested after as_of (as_of moved back).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='referral_id',
    post_hook=[
        "delete from {{ this }} where requested_at > {{ as_of() }}",
        "{{ save_incremental_state(['stg_events__referral_requested', 'stg_events__referral_status_changed',
                                    'stg_events__service_delivered', 'stg_events__participant_enrolled']) }}",
    ]
) }}

-- depends_on: {{ ref('stg_events__referral_status_changed') }}
{%- set only_changed -%}
    {% if is_incremental() %}and referral_id in (select referral_id from changed_referrals){% endif %}
{%- endset %}

with
{% if is_incremental() %}
changed_referrals as (
    select referral_id from {{ ref('stg_events__referral_requested') }} where {{ changed_since_last_build() }}
    union
    select referral_id from {{ ref('stg_events__referral_status_changed') }}
    where {{ changed_since_last_build() }}
    union
    select referral_id from {{ ref('stg_events__service_delivered') }}
    where referral_id is not null and {{ changed_since_last_build() }}
    union
    select referral_id from {{ ref('stg_events__participant_enrolled') }}
    where referral_id is not null and {{ changed_since_last_build() }}
    union
    select referral_id from {{ this }}
    where first_response_at is null and {{ between_the_two_as_of('requested_at', 'interval 48 hour') }}
    union
    select referral_id from {{ this }}
    where closed_at is null and {{ between_the_two_as_of('requested_at', 'interval 14 day') }}
    union
    select published.referral_id
    from {{ this }} as published
    inner join {{ ref('int_referrals__lifecycle') }} as lifecycle on lifecycle.referral_id = published.referral_id
    where published.closed_at is null and {{ between_the_two_as_of('lifecycle.changed_at', 'interval 14 day') }}
),
{% endif %}

requested as (
    -- one row per referral_id: a second request reusing an id (a provider's bug) is left out here
    select *
    from {{ ref('stg_events__referral_requested') }}
    where occurred_at <= {{ as_of() }} {{ only_changed }}
    qualify row_number() over (partition by referral_id order by occurred_at, event_id) = 1
),

lifecycle as (
    select * from {{ ref('int_referrals__lifecycle') }}
    {% if is_incremental() %}where referral_id in (select referral_id from changed_referrals){% endif %}
),

life_summary as (
    select
        referral_id,
        min(changed_at) filter (where status in ('accepted', 'rejected')) as first_response_at,
        min(changed_at) filter (where status = 'accepted') as accepted_at,
        min(changed_at) filter (where status = 'completed') as completed_at,
        min(changed_at) filter (where is_terminal) as closed_at,
        max(changed_at) as last_changed_at,
        count(*) filter (where not is_valid_transition) as invalid_transition_count
    from lifecycle
    group by referral_id
),

latest_status as (  -- the latest status by time, ties by event id
    select referral_id, status as final_status, status_reason as final_status_reason
    from lifecycle
    qualify row_number() over (partition by referral_id order by changed_at desc, event_id desc) = 1
),

-- The receiving provider recorded a service or an enrollment that answers this referral.
answered_by_receiver as (
    select distinct requested.referral_id
    from requested
    inner join {{ ref('stg_events__service_delivered') }} as services
        on services.referral_id = requested.referral_id
        and services.provider_id = requested.to_provider_id
        and services.occurred_at <= {{ as_of() }}
    union
    select requested.referral_id
    from requested
    inner join {{ ref('stg_events__participant_enrolled') }} as enrollments
        on enrollments.referral_id = requested.referral_id
        and enrollments.provider_id = requested.to_provider_id
        and enrollments.occurred_at <= {{ as_of() }}
),

handoffs as (
    select
        requested.referral_id,
        requested.participant_key,
        requested.provider_id as from_provider_id,
        requested.to_provider_id,
        requested.service_type,
        requested.priority,
        requested.is_contact_prohibited as contact_prohibited,
        requested.occurred_at as requested_at,
        life_summary.first_response_at,
        life_summary.accepted_at,
        life_summary.completed_at,
        life_summary.closed_at,
        coalesce(latest_status.final_status, 'requested') as final_status,
        latest_status.final_status_reason,
        date_diff('second', requested.occurred_at, life_summary.first_response_at) / 3600.0
            as hours_to_first_response,
        coalesce(
            life_summary.first_response_at > requested.occurred_at + interval 48 hour,
            {{ as_of() }} > requested.occurred_at + interval 48 hour
        ) as is_response_overdue,
        life_summary.closed_at is null
            and greatest(requested.occurred_at, coalesce(life_summary.last_changed_at, requested.occurred_at))
                < {{ as_of() }} - interval 14 day as is_stalled,
        coalesce(latest_status.final_status = 'completed', false)
            or answered_by_receiver.referral_id is not null as is_connected,
        coalesce(life_summary.invalid_transition_count, 0) as invalid_transition_count
    from requested
    left join life_summary on life_summary.referral_id = requested.referral_id
    left join latest_status on latest_status.referral_id = requested.referral_id
    left join answered_by_receiver on answered_by_receiver.referral_id = requested.referral_id
)

select * from handoffs
