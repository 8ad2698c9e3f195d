{#-
  One row per event of a consenting participant (warehouse-v1, marts.journey_events).
  Incremental: history grows, and a small batch must not rebuild it. A participant's rows are rebuilt
  (delete+insert on participant_key) when int_journeys__shared_events wrote shared events of theirs since
  this model's last build (`refreshed_at`): new events, events that arrived days late (their seq moves
  the later ones along), all the events of a participant whose consent changed. Which participants is
  decided by what the shared events wrote, never by event time. A participant who is no longer
  consenting at as_of is removed by the post-hook (a revocation takes effect at the next build). When
  as_of moves back, a participant with a published event after it is rebuilt.
-#}
-- depends_on: {{ ref('int_participants__spine') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='participant_key',
    post_hook=[
        """
        delete from {{ this }} as published
        where not exists (
            select 1 from {{ ref('int_participants__spine') }} as spine
            where spine.participant_key = published.participant_key and spine.is_consenting
        )
        """,
        "delete from {{ this }} where occurred_at > {{ as_of() }}",
        "{{ save_incremental_state(['int_journeys__shared_events'], refreshed_from='int_journeys__shared_events') }}",
    ]
) }}

with shared_events as (
    select * from {{ ref('int_journeys__shared_events') }}
),

{% if is_incremental() %}
changed_participants as (
    select participant_key from shared_events where {{ refreshed_since_last_build() }}
    union
    -- as_of moved back (a backfill): participants with a published event after it are renumbered
    -- (those left with no shareable event at all are not consenting at as_of: the post-hook drops them)
    select participant_key from {{ this }} where occurred_at > {{ as_of() }}
),
{% endif %}

sequenced as (
    select
        shared_events.participant_key,
        cast(row_number() over (
            partition by shared_events.participant_key
            order by shared_events.occurred_at, shared_events.event_id, shared_events.provider_id
        ) as integer) as seq,
        shared_events.event_id,
        shared_events.occurred_at,
        shared_events.event_type,
        shared_events.provider_id,
        shared_events.program_type,
        shared_events.stage
    from shared_events
    {% if is_incremental() %}
    inner join changed_participants on changed_participants.participant_key = shared_events.participant_key
    {% endif %}
)

select * from sequenced
