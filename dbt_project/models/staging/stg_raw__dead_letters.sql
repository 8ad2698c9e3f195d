{{ config(materialized='view') }}
-- Refused messages are few: a view is enough.
with source as (
    select * from {{ source('raw', 'dead_letters') }}
),

renamed as (
    select
        kafka_topic,
        kafka_partition,
        kafka_offset,
        coalesce(provider_id, '(none)') as provider_id,
        error_stage,
        error_reason,
        error_detail,
        kafka_timestamp,
        landed_at,
        loaded_at,
        batch_name
    from source
)

select * from renamed
