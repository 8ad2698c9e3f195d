{{ config(materialized='view') }}
-- One row per validated batch (a few per provider per run): a view is enough.
with source as (
    select * from {{ source('raw', 'batches') }}
),

renamed as (
    select
        batch_name,
        topic as kafka_topic,
        provider_id,
        kafka_partition,
        first_offset,
        last_offset,
        status as batch_status,
        events as events_count,
        dead_letters as dead_letters_count,
        failed_expectations,
        validated_at,
        loaded_at,
        validation_result_path
    from source
)

select * from renamed
