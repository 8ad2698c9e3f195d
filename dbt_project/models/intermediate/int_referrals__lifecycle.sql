-- The life of each referral: one row per referral.status_changed (by as_of), in order of time, ties by
-- event id. Every status is kept; one that does not follow from the status before it (the contract's
-- Gravity referral Task life, starting at `requested`) is flagged, never dropped.
-- Incremental (docs/pipeline.md, Incremental models): a referral's rows are rebuilt when it has a status
-- change loaded since the last build or timed between the last build's as_of and this one's; the
-- post-hook drops the rows of referrals whose every change is now after as_of (as_of moved back).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='referral_id',
    post_hook=[
        "delete from {{ this }} where changed_at > {{ as_of() }}",
        "{{ save_incremental_state(['stg_events__referral_status_changed']) }}",
    ]
) }}

with status_changes as (
    select *
    from {{ ref('stg_events__referral_status_changed') }}
    where occurred_at <= {{ as_of() }}
    {% if is_incremental() %}
      and referral_id in (
          select referral_id from {{ ref('stg_events__referral_status_changed') }}
          where {{ changed_since_last_build() }}
      )
    {% endif %}
),

ordered as (
    select
        referral_id,
        event_id,
        provider_id,
        occurred_at as changed_at,
        status,
        status_reason,
        row_number() over by_time as status_seq,
        coalesce(lag(status) over by_time, 'requested') as previous_status
    from status_changes
    window by_time as (partition by referral_id order by occurred_at, event_id)
)

select
    *,
    status in ('rejected', 'completed', 'failed', 'cancelled', 'entered-in-error') as is_terminal,
    case
        when status = 'entered-in-error' then true
        when previous_status = 'requested' then status in ('accepted', 'rejected', 'cancelled')
        when previous_status = 'accepted'
            then status in ('in-progress', 'on-hold', 'completed', 'failed', 'cancelled')
        when previous_status = 'in-progress' then status in ('on-hold', 'completed', 'failed', 'cancelled')
        when previous_status = 'on-hold' then status in ('in-progress', 'completed', 'failed', 'cancelled')
        else false  -- from a terminal status only entered-in-error may follow
    end as is_valid_transition
from ordered
