-- One row per enrollment (provider + enrollment_id): from its participant.enrolled to its first
-- participant.exited at the same provider (null while open at as_of).
with enrolled as (
    select *
    from {{ ref('stg_events__participant_enrolled') }}
    where occurred_at <= {{ as_of() }}
    qualify row_number() over (partition by provider_id, enrollment_id order by occurred_at, event_id) = 1
),

first_exit as (
    select *
    from {{ ref('stg_events__participant_exited') }}
    where occurred_at <= {{ as_of() }}
    qualify row_number() over (partition by provider_id, enrollment_id order by occurred_at, event_id) = 1
)

select
    enrolled.provider_id,
    enrolled.enrollment_id,
    enrolled.participant_key,
    enrolled.event_id as enrollment_event_id,
    enrolled.program_type,
    enrolled.referral_id,
    enrolled.occurred_at as enrolled_at,
    first_exit.event_id as exit_event_id,
    first_exit.occurred_at as exited_at,
    first_exit.exit_reason
from enrolled
left join first_exit
    on first_exit.provider_id = enrolled.provider_id
    and first_exit.enrollment_id = enrolled.enrollment_id
