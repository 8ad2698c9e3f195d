-- One row per referral and provider that may see it: marts.referral_handoffs as each of the referral's
-- two providers sees it. Provider-facing readers (the web app, its downloads) read this, never the
-- mart, so that "only theirs" and 42 CFR Part 2 are decided here, once.
--
-- Part 2 (warehouse-v1: substance-use treatment records leave the provider that made them only with a
-- part2 grant): for a referral with service_type substance_use_treatment whose participant has no
-- network_sharing grant with part2 = true in force at as_of, the receiving provider's answers (its
-- status changes, the services and enrollments that connect the referral, and everything derived from
-- them) do not go back to the sender: those columns are null in the sender's row and
-- is_part2_withheld is true. The receiver's row is whole: the request was addressed to it, and the
-- answers are its own. See docs/handoffs.md.
--
-- Incremental (docs/pipeline.md, Incremental models): every row is worked out in every build (a join of
-- the referrals with the participants' Part 2 grants takes a fraction of a second) but only the referrals
-- whose rows differ from the stored ones are written again (delete+insert on referral_id): writing all
-- 1.1 M rows at 10 M events took 3.7 s of a build with nothing new. Rows are compared by a hash of every
-- column, as publishing compares them (column by column, `is distinct from`, took 0.75 s at 10 M events
-- against 0.45 s), so the table equals a full rebuild up to 64-bit hash collisions; the post-hook drops
-- the referrals that left referral_handoffs (as_of moved back).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='referral_id',
    post_hook="delete from {{ this }} where referral_id not in (select referral_id from {{ ref('referral_handoffs') }})",
) }}

{%- set columns = ['viewer_provider_id', 'direction', 'referral_id', 'participant_key', 'from_provider_id',
                   'to_provider_id', 'service_type', 'priority', 'contact_prohibited', 'requested_at',
                   'first_response_at', 'accepted_at', 'completed_at', 'closed_at', 'final_status',
                   'final_status_reason', 'hours_to_first_response', 'is_response_overdue', 'is_stalled',
                   'is_connected', 'invalid_transition_count', 'is_part2_withheld'] %}
{%- set withheld = ['first_response_at', 'accepted_at', 'completed_at', 'closed_at', 'final_status',
                    'final_status_reason', 'hours_to_first_response', 'is_response_overdue',
                    'is_stalled', 'is_connected', 'invalid_transition_count'] %}

with handoffs as (
    select * from {{ ref('referral_handoffs') }}
),

part2_consent as (
    select participant_key, has_part2_consent
    from {{ ref('int_participants__spine') }}
),

sent as (
    select
        handoffs.from_provider_id as viewer_provider_id,
        'sent' as direction,
        handoffs.service_type = 'substance_use_treatment'
            and handoffs.to_provider_id <> handoffs.from_provider_id
            and not coalesce(part2_consent.has_part2_consent, false) as is_part2_withheld,
        handoffs.*
    from handoffs
    left join part2_consent on part2_consent.participant_key = handoffs.participant_key
),

received as (
    select handoffs.to_provider_id as viewer_provider_id, 'received' as direction, false as is_part2_withheld, handoffs.*
    from handoffs
),

viewed as (
    select * from sent
    union all by name
    select * from received
),

rows_for_viewers as (
    select
        {%- for column in columns %}
        {% if column in withheld %}case when not is_part2_withheld then {{ column }} end as {{ column }}
        {%- else %}{{ column }}{% endif %}{{ ',' if not loop.last }}
        {%- endfor %}
    from viewed
)

{% if is_incremental() and not rebuild_all_keys() %}
{%- set row_hash = 'hash(' ~ columns | join(', ') ~ ') as row_hash' %}
, worked_out as (
    select referral_id, viewer_provider_id, direction, {{ row_hash }} from rows_for_viewers
),

stored as (
    select referral_id, viewer_provider_id, direction, {{ row_hash }} from {{ this }}
),

differing as (  -- the referrals with a row that is new, changed or gone
    select coalesce(worked_out.referral_id, stored.referral_id) as referral_id
    from worked_out
    full join stored
        on stored.referral_id = worked_out.referral_id
        and stored.viewer_provider_id = worked_out.viewer_provider_id
        and stored.direction = worked_out.direction
    where worked_out.row_hash is distinct from stored.row_hash
)

select * from rows_for_viewers where referral_id in (select referral_id from differing)
{% else %}
select * from rows_for_viewers
{% endif %}
