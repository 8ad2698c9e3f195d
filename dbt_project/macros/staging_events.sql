{#-
  The halves every `stg_events__<type>` model shares, so that its own file holds only what is
  particular to the type (the fields of its `data`). docs/pipeline.md, "Staging at scale", says why
  each is written the way it is, with the measurements.

  stg_events_source(type, fields): the landed rows of one event type, with `data` parsed ONCE into a
  struct `fields` (json_transform with the type's keys; `->>` per field parsed the document once per
  field). `fields` maps each key of `data` to its json_transform type ('VARCHAR', or ['VARCHAR'] for a
  list of strings): 'VARCHAR' gives exactly what `data ->> key` gave (the string, or a number's or
  boolean's text; NULL when missing or JSON null), so a model casts it as before. On an incremental run only the batches loaded since the model's
  high-water mark (stg_events_loaded_since). Keyed on loaded_at, never on the event's time: an event
  that arrives days late is in a new batch and is staged like any other.

  stg_events_envelope(), stg_events_lineage(): the renamed envelope and lineage columns.

  stg_events_one_row_per_event(): one row per source + id. The first landed copy is kept (by landed_at,
  then topic, partition, offset); later copies, in this run or in an earlier one, are dropped here and
  counted as duplicates in provider_data_quality.
-#}
{% macro stg_events_source(event_type, fields) %}
    select *, json_transform(data, '{{ tojson(fields) }}') as fields
    from {{ source('raw', 'events') }}
    where type = '{{ event_type }}'
    {% if is_incremental() %}
      and loaded_at > {{ stg_events_loaded_since() }}
    {% endif %}
{% endmacro %}

{#-
  The model's high-water mark (max loaded_at already staged), read when the model runs and written into
  its SQL as a constant. Rows loaded after it are read (`>`): every load commits its rows at once with a
  loaded_at later than any before it (continuum.pipeline.load.next_loaded_at), so no row is ever loaded
  at or before the mark once the mark is staged. It was `>=`, in case a load shared the last one's
  instant; that read the last load again in every build (at 10 M events a back-load's last load of
  880,000 rows, parsed and anti-joined again by each of the 13 staging models). A constant, unlike a
  subquery, lets DuckDB skip the row groups of raw.events loaded before it by their min/max (raw.events
  is appended in load order), so an incremental run reads the new batches, not all of history.
  Microseconds survive the text round trip (the profile's TimeZone is UTC).
-#}
{% macro stg_events_loaded_since() -%}
    {%- if execute -%}
        {%- set found = run_query(
            "select coalesce(max(loaded_at), '-infinity'::timestamptz)::varchar from " ~ this
        ).columns[0].values()[0] -%}
        '{{ found }}'::timestamptz
    {%- else -%}
        '-infinity'::timestamptz
    {%- endif -%}
{%- endmacro %}

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

{#-
  Incremental: the new rows' (source, id) that are staged already are dropped. DuckDB builds the join's
  hash table on the new batch (small) and scans the staged provider_id, event_id against it (two columns
  of history; 0.25 s of CPU for the whole service.delivered query at 1.33 M staged rows), so it grows
  with history, but cheaply (docs/pipeline.md, "Staging at scale").
-#}
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
