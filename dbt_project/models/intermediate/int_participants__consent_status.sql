-- Consent over time: one row per consent.granted / consent.revoked of a participant (any provider),
-- in force from its time until the next one of the same scope (by time, ties by event id).
-- A participant is consenting at t when the row in force at t for scope network_sharing is a grant;
-- is_part2 of that grant says whether substance-use-treatment records may leave their provider.
--
-- Incremental (docs/pipeline.md, Incremental models): a participant's rows are rebuilt when a consent
-- event of theirs was loaded since the last build or is timed between the last build's as_of and this
-- one's (delete+insert on participant_key: their rows are numbered and chained together, and change
-- only so); the post-hook drops the rows after as_of (it moved back). Built whole, it took 1.2 s of
-- every build at 10 M events, at the head of the chain every model waits for.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='participant_key',
    on_schema_change='sync_all_columns',
    post_hook=[
        "delete from {{ this }} where valid_from_at > {{ as_of() }}",
        "{{ save_incremental_state(['stg_events__consent_granted', 'stg_events__consent_revoked']) }}",
    ]
) }}

with
{% if is_incremental() %}
changed_participants as (
    select participant_key from {{ ref('stg_events__consent_granted') }} where {{ changed_since_last_build() }}
    union
    select participant_key from {{ ref('stg_events__consent_revoked') }} where {{ changed_since_last_build() }}
),
{% endif %}

consent_events as (
    select event_id, participant_key, occurred_at, consent_id, consent_scope, is_part2, true as is_granted
    from {{ ref('stg_events__consent_granted') }}
    {% if is_incremental() %}semi join changed_participants using (participant_key){% endif %}
    where occurred_at <= {{ as_of() }}
    union all
    select event_id, participant_key, occurred_at, consent_id, consent_scope, is_part2, false as is_granted
    from {{ ref('stg_events__consent_revoked') }}
    {% if is_incremental() %}semi join changed_participants using (participant_key){% endif %}
    where occurred_at <= {{ as_of() }}
),

ordered as (
    select
        participant_key,
        consent_scope,
        event_id as consent_event_id,
        consent_id,
        is_granted,
        is_part2,
        occurred_at as valid_from_at,
        lead(occurred_at) over by_time as valid_to_at,
        row_number() over by_time as consent_seq
    from consent_events
    window by_time as (partition by participant_key, consent_scope order by occurred_at, event_id)
)

select
    *,
    -- the last change by as_of is the one in force at as_of
    valid_to_at is null as is_in_force_at_as_of
from ordered
