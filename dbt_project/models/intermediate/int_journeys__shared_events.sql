{#- A table, not a view: journey_events reads it twice and participant_journeys four times. -#}
-- The events that may be shared across providers (warehouse-v1, Consent): those of participants
-- consenting at as_of, and, among them, substance-use-treatment (Part 2) records only when the grant in
-- force has part2 = true. Otherwise a Part 2 record stays with the provider that made it.
with events as (
    select * from {{ ref('int_events__unioned') }}
),

spine as (
    select * from {{ ref('int_participants__spine') }}
)

select events.*
from events
inner join spine on spine.participant_key = events.participant_key
where spine.is_consenting
  and (not events.is_part2_record or spine.has_part2_consent)
