-- One row per message a provider sent that the network did not take: refused by the contract at landing
-- (a dead letter) or held back by validation (until an operator releases it). What the provider page's
-- "What we could not accept" shows, to that provider only. Never a value from the message: where it was,
-- why, when (docs/handoffs.md).
with refused as (
    select
        provider_id,
        'refused' as outcome,
        error_stage as stage,
        error_reason as reason,
        error_detail as detail,
        cast(null as varchar) as event_type,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        landed_at as received_at
    from {{ ref('stg_raw__dead_letters') }}
),

held_back as (
    select
        provider_id,
        'held back' as outcome,
        'expectations' as stage,
        'held_back' as reason,
        'held back by the network''s validation: ' || held_by as detail,
        event_type,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        landed_at as received_at
    from {{ ref('stg_raw__held_records') }}
)

select * from refused
union all
select * from held_back
