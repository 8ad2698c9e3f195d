-- One row per landed row, duplicates included (lineage only, no data): what provider_data_quality
-- counts as landed. Incremental on the loader's loaded_at like the event models
-- (macros/staging_events.sql).
with source as (
    select *
    from {{ source('raw', 'events') }}
    {% if is_incremental() %}
    where loaded_at > {{ stg_events_loaded_since() }}
    {% endif %}
),

renamed as (
    select
        kafka_topic,
        kafka_partition,
        kafka_offset,
        id as event_id,
        replace(source, 'urn:continuum:provider:', '') as provider_id,
        type as event_type,
        time as occurred_at,
        landed_at,
        loaded_at,
        batch_name
    from source
    {% if is_incremental() %}
    where not exists (
        select 1 from {{ this }} as staged
        where staged.kafka_topic = source.kafka_topic
          and staged.kafka_partition = source.kafka_partition
          and staged.kafka_offset = source.kafka_offset
    )
    {% endif %}
)

select * from renamed
