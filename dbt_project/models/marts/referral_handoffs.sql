-- One row per referral (warehouse-v1, marts.referral_handoffs). Not filtered by consent: a row is for
-- the referral's two providers only (from_provider_id, to_provider_id), who made the referral between
-- them. Everything is as of as_of.
with requested as (
    -- one row per referral_id: a second request reusing an id (a provider's bug) is left out here
    select *
    from {{ ref('stg_events__referral_requested') }}
    where occurred_at <= {{ as_of() }}
    qualify row_number() over (partition by referral_id order by occurred_at, event_id) = 1
),

lifecycle as (
    select * from {{ ref('int_referrals__lifecycle') }}
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
