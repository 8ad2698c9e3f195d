{{ config(materialized='view') }}
-- Held-back records are few, and released ones leave: a view is enough.
with source as (
    select * from {{ source('raw', 'held_records') }}
),

renamed as (
    select
        kafka_topic,
        kafka_partition,
        kafka_offset,
        coalesce(provider_id, '(none)') as provider_id,
        event_type,
        held_by,
        landed_at,
        held_at,
        batch_name
    from source
    where released_at is null
)

select * from renamed
