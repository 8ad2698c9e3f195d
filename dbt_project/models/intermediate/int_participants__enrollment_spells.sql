-- One row per enrollment (provider + enrollment_id): from its participant.enrolled to its first
-- participant.exited at the same provider (null while open at as_of).
--
-- Incremental (docs/pipeline.md, Incremental models): an enrollment is rebuilt when an enrollment or an
-- exit of it was loaded since the last build or is timed between the last build's as_of and this one's
-- (delete+insert on provider_id + enrollment_id: its first of each by as_of can only change so); the
-- post-hook drops the enrollments first enrolled after as_of (as_of moved back). Built whole, it took
-- 4.5 s of every build at 10 M events, a build with nothing new included.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['provider_id', 'enrollment_id'],
    post_hook=[
        "delete from {{ this }} where enrolled_at > {{ as_of() }}",
        "{{ save_incremental_state(['stg_events__participant_enrolled', 'stg_events__participant_exited']) }}",
    ]
) }}

with
{% if is_incremental() %}
changed_enrollments as (
    select provider_id, enrollment_id from {{ ref('stg_events__participant_enrolled') }}
    where {{ changed_since_last_build() }}
    union
    select provider_id, enrollment_id from {{ ref('stg_events__participant_exited') }}
    where {{ changed_since_last_build() }}
),
{% endif %}

enrolled as (
    select enrollments.*
    from {{ ref('stg_events__participant_enrolled') }} as enrollments
    {% if is_incremental() %}semi join changed_enrollments using (provider_id, enrollment_id){% endif %}
    where enrollments.occurred_at <= {{ as_of() }}
    qualify row_number() over (partition by provider_id, enrollment_id order by occurred_at, event_id) = 1
),

first_exit as (
    select exits.*
    from {{ ref('stg_events__participant_exited') }} as exits
    {% if is_incremental() %}semi join changed_enrollments using (provider_id, enrollment_id){% endif %}
    where exits.occurred_at <= {{ as_of() }}
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
