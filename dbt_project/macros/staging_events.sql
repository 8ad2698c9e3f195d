{#-
  The two halves every `stg_events__<type>` model shares, so that its own file holds only what is
  particular to the type (the fields of its `data`).

  stg_events_source(type): the landed rows of one event type. On an incremental run only the batches
  loaded since the model's high-water mark (max loaded_at already staged; `>=` so that a batch loaded
  at the same instant as the last one is not missed: the anti-join below makes the overlap harmless).
  Keyed on loaded_at, never on the event's time: an event that arrives days late is in a new batch and
  is staged like any other.

  stg_events_envelope(): the renamed envelope and lineage columns.

  stg_events_one_row_per_event(): one row per source + id. The first landed copy is kept (by landed_at,
  then topic, partition, offset); later copies, in this run or in an earlier one, are dropped here and
  counted as duplicates in provider_data_quality.
-#}
{% macro stg_events_source(event_type) %}
    select *
    from {{ source('raw', 'events') }}
    where type = '{{ event_type }}'
    {% if is_incremental() %}
      and loaded_at >= (select coalesce(max(loaded_at), '-infinity'::timestamptz) from {{ this }})
    {% endif %}
{% endmacro %}

{% macro stg_events_envelope() %}
        id as event_id,
        replace(source, 'urn:continuum:provider:', '') as provider_id,
        subject as participant_key,
        time as occurred_at,
{%- endmacro %}

{% macro stg_events_lineage() %}
        landed_at,
        loaded_at,
        batch_name,
        kafka_topic,
        kafka_partition,
        kafka_offset
{%- endmacro %}

{% macro stg_events_one_row_per_event() %}
    {% if is_incremental() %}
    where not exists (
        select 1 from {{ this }} as staged
        where staged.event_id = source.id
          and staged.provider_id = replace(source.source, 'urn:continuum:provider:', '')
    )
    {% endif %}
    qualify row_number() over (
        partition by source.source, source.id
        order by source.landed_at, source.kafka_topic, source.kafka_partition, source.kafka_offset
    ) = 1
{% endmacro %}
