-- Consent over time: one row per consent.granted / consent.revoked of a participant (any provider),
-- in force from its time until the next one of the same scope (by time, ties by event id).
-- A participant is consenting at t when the row in force at t for scope network_sharing is a grant;
-- is_part2 of that grant says whether substance-use-treatment records may leave their provider.
with consent_events as (
    select event_id, participant_key, occurred_at, consent_id, consent_scope, is_part2, true as is_granted
    from {{ ref('stg_events__consent_granted') }}
    where occurred_at <= {{ as_of() }}
    union all
    select event_id, participant_key, occurred_at, consent_id, consent_scope, is_part2, false as is_granted
    from {{ ref('stg_events__consent_revoked') }}
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
