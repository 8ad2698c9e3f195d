-- One row per participant seen in any event by as_of: when first and last seen, whether consenting
-- at as_of (scope network_sharing, the latest of granted/revoked is a grant) and whether that grant
-- covers Part 2 records, and the gender and race/ethnicity of the latest enrollment.
--
-- Incremental (docs/pipeline.md, Incremental models): every column is per participant, so only the
-- participants with an event (of any type) loaded since the last build or timed between the last
-- build's as_of and this one's are rebuilt (delete+insert on participant_key); the post-hook drops
-- participants first seen after as_of (as_of moved back).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='participant_key',
    post_hook=[
        "delete from {{ this }} where first_seen_at > {{ as_of() }}",
        "{{ save_incremental_state(['int_events__unioned']) }}",
    ]
) }}
{%- set only_changed -%}
    {% if is_incremental() %}participant_key in (select participant_key from changed_participants){% else %}true{% endif %}
{%- endset %}

with
{% if is_incremental() %}
changed_participants as (
    select distinct participant_key from {{ ref('int_events__unioned') }} where {{ changed_since_last_build() }}
),
{% endif %}

events as (
    select * from {{ ref('int_events__unioned') }} where {{ only_changed }}
),

consent_at_as_of as (
    select participant_key, is_granted, is_part2
    from {{ ref('int_participants__consent_status') }}
    where consent_scope = 'network_sharing' and is_in_force_at_as_of and {{ only_changed }}
),

latest_enrollment as (
    select participant_key, gender, race_ethnicity
    from {{ ref('stg_events__participant_enrolled') }}
    where occurred_at <= {{ as_of() }} and {{ only_changed }}
    qualify row_number() over (partition by participant_key order by occurred_at desc, event_id desc) = 1
),

seen as (
    select participant_key, min(occurred_at) as first_seen_at, max(occurred_at) as last_seen_at
    from events
    group by participant_key
)

select
    seen.participant_key,
    seen.first_seen_at,
    seen.last_seen_at,
    coalesce(consent_at_as_of.is_granted, false) as is_consenting,
    coalesce(consent_at_as_of.is_granted and consent_at_as_of.is_part2, false) as has_part2_consent,
    latest_enrollment.gender,
    latest_enrollment.race_ethnicity
from seen
left join consent_at_as_of on consent_at_as_of.participant_key = seen.participant_key
left join latest_enrollment on latest_enrollment.participant_key = seen.participant_key
