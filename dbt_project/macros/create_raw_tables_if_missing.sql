{#-
  The loader (continuum.pipeline) owns schema `raw` and its tables: it creates and fills them.
  This hook only creates them, empty, when they are missing, so that a first `dbt build` on an empty
  warehouse works (the sources exist and every model builds with zero rows). The DDL is the loader's,
  column for column; `if not exists` never touches a table the loader made.
-#}
{% macro create_raw_tables_if_missing() %}
create schema if not exists raw;
create table if not exists raw.events (
    specversion varchar,
    id varchar,
    source varchar,
    type varchar,
    time timestamptz,
    subject varchar,
    dataschema varchar,
    datacontenttype varchar,
    data varchar,
    kafka_topic varchar,
    kafka_partition integer,
    kafka_offset bigint,
    kafka_timestamp timestamptz,
    landed_at timestamptz,
    batch_name varchar,
    loaded_at timestamptz
);
create table if not exists raw.dead_letters (
    provider_id varchar,
    error_stage varchar,
    error_reason varchar,
    error_detail varchar,
    kafka_topic varchar,
    kafka_partition integer,
    kafka_offset bigint,
    kafka_timestamp timestamptz,
    landed_at timestamptz,
    batch_name varchar,
    loaded_at timestamptz
);
create table if not exists raw.batches (
    batch_name varchar,
    topic varchar,
    provider_id varchar,
    kafka_partition integer,
    first_offset bigint,
    last_offset bigint,
    status varchar,
    events bigint,
    dead_letters bigint,
    failed_expectations integer,
    validated_at timestamptz,
    loaded_at timestamptz,
    validation_result_path varchar
)
{% endmacro %}
