{#- A table, not a view: journey_events reads it twice and participant_journeys four times.
    Incremental by participant: a participant's shared events are decided by their events and their
    consent at as_of (a consent change is an event of theirs), so a build rebuilds the participants with
    an event int_events__unioned (re)wrote since this model's last build (`refreshed_at`: loaded since,
    timed between the two as_of, or an exit's program or a status change's service derived again),
    and every participant when as_of moved back (events and consent after it leave). The pre-hook
    finds them (a temporary table) and deletes their rows, and the model appends their rows anew (a
    participant who revoked has none). From a table DuckDB knows how few they are: behind a subquery it
    joined every event with the spine before keeping theirs (1.5-2.7 s at 10 M events with nobody to
    rebuild, 0.01 s from the table). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='sync_all_columns',
    pre_hook="""
        {% if is_incremental() %}
        create or replace temp table {{ rebuilt_participants_relation() }} as
        select distinct participant_key from {{ ref('int_events__unioned') }} where {{ refreshed_since_last_build() }};
        delete from {{ this }}
        where {{ as_of_moved_back() }}
           or participant_key in (select participant_key from {{ rebuilt_participants_relation() }})
        {% endif %}
    """,
    post_hook="{{ save_incremental_state(['int_events__unioned'], refreshed_from='int_events__unioned') }}"
) }}
-- The events that may be shared across providers (warehouse-v1, Consent): those of participants
-- consenting at as_of, and, among them, substance-use-treatment (Part 2) records only when the grant in
-- force has part2 = true. Otherwise a Part 2 record stays with the provider that made it.
with events as (
    select * from {{ ref('int_events__unioned') }}
    {% if is_incremental() %}
    where {{ as_of_moved_back() }}
       or participant_key in (select participant_key from {{ rebuilt_participants_relation() }})
    {% endif %}
),

spine as (
    select * from {{ ref('int_participants__spine') }}
)

select events.* replace ({{ build_started_at() }} as refreshed_at)
from events
inner join spine on spine.participant_key = events.participant_key
where spine.is_consenting
  and (not events.is_part2_record or spine.has_part2_consent)

