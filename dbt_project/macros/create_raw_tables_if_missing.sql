{#-
  The raw tables' DDL, written once. The loader (continuum.pipeline) owns schema `raw` and fills its
  tables; it creates them by running this macro's body as it is (continuum/pipeline/warehouse.py,
  raw_ddl()), and this hook runs the same statements so that a first `dbt build` on an empty warehouse
  works (the sources exist and every model builds with zero rows). `if not exists` never touches a table
  the loader made. Keep the body plain SQL, no Jinja. raw.events and raw.dead_letters must have the
  columns of the landing zone's Parquet schemas (streams/landing/files.py), which the loader inserts by
  name: tests/test_warehouse.py fails when they disagree.
-#}
{% macro create_raw_tables_if_missing() %}
create schema if not exists raw;
create table if not exists raw.events (
    "specversion" varchar not null,
    "id" varchar not null,
    "source" varchar not null,
    "type" varchar not null,
    "time" timestamptz not null,
    "subject" varchar not null,
    "dataschema" varchar not null,
    "datacontenttype" varchar,
    "data" varchar not null,
    "kafka_topic" varchar not null,
    "kafka_partition" integer not null,
    "kafka_offset" bigint not null,
    "kafka_timestamp" timestamptz,
    "landed_at" timestamptz not null,
    "batch_name" varchar not null,
    "loaded_at" timestamptz not null
);
create table if not exists raw.dead_letters (
    "provider_id" varchar,
    "error_stage" varchar not null,
    "error_reason" varchar not null,
    "error_detail" varchar not null,
    "kafka_topic" varchar not null,
    "kafka_partition" integer not null,
    "kafka_offset" bigint not null,
    "kafka_timestamp" timestamptz,
    "landed_at" timestamptz not null,
    "batch_name" varchar not null,
    "loaded_at" timestamptz not null
);
create table if not exists raw.batches (
    batch_name varchar primary key,
    topic varchar not null,
    provider_id varchar,
    kafka_partition integer not null,
    first_offset bigint not null,
    last_offset bigint not null,
    status varchar not null check (status in ('loaded', 'quarantined')),
    events bigint not null,
    dead_letters bigint not null,
    failed_expectations varchar,
    validated_at timestamptz not null,
    loaded_at timestamptz,
    validation_result_path varchar not null
);
create table if not exists raw.held_records (
    provider_id varchar,
    kafka_topic varchar not null,
    kafka_partition integer not null,
    kafka_offset bigint not null,
    event_type varchar,
    landed_at timestamptz not null,
    held_by varchar not null,
    batch_name varchar not null,
    held_at timestamptz not null,
    released_at timestamptz,
    feedback_sent_at timestamptz
)
{% endmacro %}
